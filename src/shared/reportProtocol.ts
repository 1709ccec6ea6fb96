/**
 * The document report as data: what the model process aggregates (src/core/report.ts,
 * compare.ts build it) and answers, and the messages between the report's webview and the
 * extension. Plain data; the webview only draws it.
 */

export interface Histogram {
  /** Bin edges (`counts.length + 1` of them) or, for the rank buckets, none. */
  edges: number[];
  labels: string[];
  counts: number[];
}

export interface SentencePoint {
  index: number;
  start: number;
  end: number;
  loss: number;
  perplexity: number;
  tokenCount: number;
  /** The sentence's first characters, whitespace collapsed. */
  preview: string;
}

export interface ScatterPoint {
  surprisal: number;
  entropy: number;
  /** Offset of the token in the document, to reveal it. */
  start: number;
  end: number;
}

export interface ReportSummary {
  tokens: number;
  meanLoss: number;
  perplexity: number;
  /** Share of tokens per rank bucket, summing to 1 (empty document: zeros). */
  bucketShares: number[];
  meanEntropy: number;
}

export interface ReportMeta {
  model: string;
  dtype: string;
  /** Characters in the document, scored or not. */
  documentChars: number;
  /** Whether every sentence has its scores (false while a re-score is running). */
  complete: boolean;
}

export interface DocumentReport extends ReportMeta {
  summary: ReportSummary;
  /** Characters covered by scored sentences. */
  scoredChars: number;
  /** Scored sentences; `sentences` may hold fewer of them (see `thinSentences`). */
  sentenceCount: number;
  rankBuckets: Histogram;
  fracHistogram: Histogram;
  top10EntropyHistogram: Histogram;
  sentences: SentencePoint[];
  surprising: SentencePoint[];
  scatter: { points: ScatterPoint[]; totalTokens: number };
}

export interface ComparisonSentence {
  index: number;
  lossA: number;
  lossB: number;
}

export interface ComparisonSummary {
  modelB: string;
  /** Tokens compared: the text's (both models') for a local model; the server's tokens in the sentences for a server. */
  tokens: number;
  /** Mean −log p_A: the log-perplexity under A. */
  lossA: number;
  lossB: number;
  /** Mean H(p_A, p_B): the log cross-perplexity; null when B is a server (see compareServer.ts). */
  crossEntropy: number | null;
  /** Binoculars' score: `lossA / crossEntropy`; low values mean text both models find typical of a model. Null with crossEntropy. */
  ratio: number | null;
  /** One line saying what the comparison could not compute, and why. */
  note?: string;
  sentences: ComparisonSentence[];
}

export interface ReportData {
  report: DocumentReport;
  comparison?: ComparisonSummary;
  /** Logit lens (`lm-lens report --layers`): tokens per settled layer, the mean, and each sentence's mean. */
  settled?: { histogram: Histogram; mean: number; sentenceMeans: number[] };
}

/** What the report's webview draws: the report and, when one was computed, the comparison. */
export type ReportViewData = ReportData;

export type ExportFormat = 'html' | 'tokens-csv' | 'sentences-csv' | 'json';

export type ToReportView =
  /** Extension → webview: the report of the document's latest scores (sent again after every re-score). */
  | { type: 'report'; documentName: string; data: ReportViewData }
  /** Extension → webview: one line about scoring, comparing or an error (empty clears it). */
  | { type: 'status'; text: string; busy: boolean; /** Settled layers are being computed: their button cancels. */ settling?: boolean }
  /** Extension → webview: send this chart's picture back (as the PNG button does). */
  | { type: 'png'; chart: ReportChartName };

export type FromReportView =
  /** Webview → extension: the script runs and can take a report. */
  | { type: 'ready' }
  /** Webview → extension: select this range of the document in its editor. */
  | { type: 'reveal'; start: number; end: number }
  | { type: 'export'; format: ExportFormat }
  /** Webview → extension: save this chart's picture (a `data:image/png;base64,` URL). */
  | { type: 'png'; chart: string; dataUrl: string }
  | { type: 'compare' }
  | { type: 'clearCompare' }
  /** Webview → extension: compute every token's settled layer (logit lens), or stop computing them. */
  | { type: 'settled' }
  | { type: 'cancelSettled' };

/** Names of the report's charts: ids in the page, names of PNG exports. */
export const REPORT_CHARTS = ['rank-buckets', 'frac', 'top10-entropy', 'sentence-loss', 'surprisal-entropy', 'settled-layers'] as const;
export type ReportChartName = (typeof REPORT_CHARTS)[number];

export function isFromReportView(value: unknown): value is FromReportView {
  if (typeof value !== 'object' || value === null) return false;
  const message = value as Record<string, unknown>;
  switch (message.type) {
    case 'ready':
    case 'compare':
    case 'clearCompare':
    case 'settled':
    case 'cancelSettled':
      return true;
    case 'reveal':
      return Number.isInteger(message.start) && Number.isInteger(message.end) && (message.start as number) >= 0 && (message.end as number) >= (message.start as number);
    case 'export':
      return ['html', 'tokens-csv', 'sentences-csv', 'json'].includes(message.format as string);
    case 'png':
      return (REPORT_CHARTS as readonly unknown[]).includes(message.chart) && typeof message.dataUrl === 'string' && message.dataUrl.startsWith('data:image/png;base64,');
    default:
      return false;
  }
}
