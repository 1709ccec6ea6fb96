/**
 * The document report: GLTR's three histograms, the loss of every sentence, the most
 * surprising sentences, surprisal against entropy per token and a summary, aggregated from the
 * per-token scores the sentence-loss feature already computed (no model work here).
 *
 * Each sentence's share is computed once and kept while the sentence object lives (results
 * that survive an edit keep their identity), so a re-score after typing re-aggregates only the
 * sentences that changed plus a merge over the per-sentence parts.
 */
import { LmLensError } from './errors';
import type { SentenceScore } from './sentenceLoss';
import type { DocumentReport, ReportMeta, ScatterPoint, SentencePoint } from '../shared/reportProtocol';
export type { DocumentReport, Histogram, ReportMeta, ReportSummary, ScatterPoint, SentencePoint } from '../shared/reportProtocol';

/** The per-token numbers the report reads (a subset of `ScoredToken`). */
export interface ReportTokenInput {
  start: number;
  end: number;
  logprob: number;
  rank: number;
  entropy: number;
  topLogprob: number;
  top10Entropy: number;
  /** The logit lens's "settled at layer k" (settledLayers.ts), when the report was asked for it. */
  settledLayer?: number;
}

/** A scored sentence as the report reads it: the sentence-loss feature's own fields, tokens narrowed to what the report needs. */
export type ReportSentenceInput = Pick<SentenceScore, 'start' | 'end' | 'text' | 'loss' | 'perplexity' | 'tokenCount'> & { tokens: readonly ReportTokenInput[] };

/** GLTR's rank buckets (Gehrmann et al., 2019): top 10, top 100, top 1000, the rest. */
export const RANK_BUCKET_LIMITS = [10, 100, 1000] as const;
export const RANK_BUCKET_LABELS = ['top 10', 'top 100', 'top 1000', 'beyond 1000'] as const;
/** p(token) ÷ p(top 1) lies in (0, 1]: ten equal bins, as GLTR draws it. */
export const FRAC_BINS = 10;
/** The entropy of ten renormalised probabilities lies in [0, ln 10]: fixed bins keep reports comparable. */
export const TOP10_ENTROPY_BINS = 8;
export const TOP10_ENTROPY_MAX = Math.log(10);
/** Points the surprisal/entropy scatter draws at most; larger documents are thinned evenly. */
export const MAX_SCATTER_POINTS = 2000;
/** Sentence points a report sent to a view carries at most (a chart is a few hundred pixels wide). */
export const MAX_SENTENCE_POINTS = 2000;
export const SURPRISING_SENTENCES = 10;

/** One sentence's contribution, mergeable by addition. */
interface SentencePart {
  rank: number[];
  frac: number[];
  top10: number[];
  lossSum: number;
  entropySum: number;
  count: number;
}

const parts = new WeakMap<object, SentencePart>();

export const REPORT_NEEDS_LOCAL = "The document report needs each token's whole distribution, which only the local engine gives: switch lmLens.backend to local.";

/** A token as scored by a backend, whose distribution numbers may be missing (a server gives only its top few). */
type MaybeReportToken = { [K in keyof ReportTokenInput]: ReportTokenInput[K] | null };

/**
 * The report needs every token's rank, entropy and top-10 statistics, which only the local engine
 * computes; from a server's scores it refuses with one line rather than draw partial histograms.
 */
export function reportableSentences<S extends Omit<ReportSentenceInput, 'tokens'> & { tokens: readonly MaybeReportToken[] }>(
  sentences: readonly S[],
): Array<Omit<S, 'tokens'> & { tokens: ReadonlyArray<S['tokens'][number] & ReportTokenInput> }> {
  for (const sentence of sentences) {
    for (const token of sentence.tokens) {
      if (token.rank === null || token.entropy === null || token.topLogprob === null || token.top10Entropy === null) {
        throw new LmLensError('internal', REPORT_NEEDS_LOCAL);
      }
    }
  }
  return sentences as unknown as Array<Omit<S, 'tokens'> & { tokens: ReadonlyArray<S['tokens'][number] & ReportTokenInput> }>;
}

export function rankBucketOf(rank: number): number {
  const index = RANK_BUCKET_LIMITS.findIndex((limit) => rank <= limit);
  return index < 0 ? RANK_BUCKET_LIMITS.length : index;
}

/** Bin of `value` among `bins` equal bins over [0, max]; the top edge belongs to the last bin. */
export function binOf(value: number, bins: number, max: number): number {
  if (!(value > 0)) return 0;
  return Math.min(bins - 1, Math.floor((value / max) * bins));
}

function partOf(sentence: ReportSentenceInput): SentencePart {
  const cached = parts.get(sentence);
  if (cached) return cached;
  const part: SentencePart = { rank: [0, 0, 0, 0], frac: new Array<number>(FRAC_BINS).fill(0), top10: new Array<number>(TOP10_ENTROPY_BINS).fill(0), lossSum: 0, entropySum: 0, count: 0 };
  for (const token of sentence.tokens) {
    (part.rank[rankBucketOf(token.rank)] as number)++;
    (part.frac[binOf(Math.exp(token.logprob - token.topLogprob), FRAC_BINS, 1)] as number)++;
    (part.top10[binOf(token.top10Entropy, TOP10_ENTROPY_BINS, TOP10_ENTROPY_MAX)] as number)++;
    part.lossSum -= token.logprob;
    part.entropySum += token.entropy;
    part.count++;
  }
  parts.set(sentence, part);
  return part;
}

const edges = (bins: number, max: number): number[] => Array.from({ length: bins + 1 }, (_, i) => (i * max) / bins);
const rangeLabels = (values: number[], digits: number): string[] => values.slice(0, -1).map((low, i) => `${low.toFixed(digits)}–${(values[i + 1] as number).toFixed(digits)}`);
const add = (into: number[], from: readonly number[]): void => from.forEach((value, i) => (into[i] = (into[i] as number) + value));

export function sentencePreview(text: string, length = 80): string {
  const flat = text.replace(/\s+/gu, ' ').trim();
  return flat.length > length ? `${flat.slice(0, length - 1)}…` : flat;
}

export function buildReport(sentences: readonly ReportSentenceInput[], meta: ReportMeta): DocumentReport {
  const total: SentencePart = { rank: [0, 0, 0, 0], frac: new Array<number>(FRAC_BINS).fill(0), top10: new Array<number>(TOP10_ENTROPY_BINS).fill(0), lossSum: 0, entropySum: 0, count: 0 };
  let scoredChars = 0;
  const points: SentencePoint[] = [];
  sentences.forEach((sentence, index) => {
    const part = partOf(sentence);
    add(total.rank, part.rank);
    add(total.frac, part.frac);
    add(total.top10, part.top10);
    total.lossSum += part.lossSum;
    total.entropySum += part.entropySum;
    total.count += part.count;
    scoredChars += sentence.end - sentence.start;
    const { start, end, loss, perplexity, tokenCount } = sentence;
    points.push({ index, start, end, loss, perplexity, tokenCount, preview: sentencePreview(sentence.text) });
  });
  const meanLoss = total.count > 0 ? total.lossSum / total.count : Number.NaN;
  const fracEdges = edges(FRAC_BINS, 1);
  const entropyEdges = edges(TOP10_ENTROPY_BINS, TOP10_ENTROPY_MAX);
  return {
    ...meta,
    scoredChars,
    sentenceCount: points.length,
    summary: {
      tokens: total.count,
      meanLoss,
      perplexity: Math.exp(meanLoss),
      bucketShares: total.rank.map((count) => (total.count > 0 ? count / total.count : 0)),
      meanEntropy: total.count > 0 ? total.entropySum / total.count : Number.NaN,
    },
    rankBuckets: { edges: [], labels: [...RANK_BUCKET_LABELS], counts: total.rank },
    fracHistogram: { edges: fracEdges, labels: rangeLabels(fracEdges, 1), counts: total.frac },
    top10EntropyHistogram: { edges: entropyEdges, labels: rangeLabels(entropyEdges, 2), counts: total.top10 },
    sentences: points,
    surprising: mostSurprising(points, SURPRISING_SENTENCES),
    scatter: { points: scatterPoints(sentences, total.count, MAX_SCATTER_POINTS), totalTokens: total.count },
  };
}

/** The `count` sentences with the highest loss, highest first (sentences without tokens never). */
export function mostSurprising(points: readonly SentencePoint[], count: number): SentencePoint[] {
  return points
    .filter((point) => point.tokenCount > 0 && Number.isFinite(point.loss))
    .sort((a, b) => b.loss - a.loss || a.index - b.index)
    .slice(0, count);
}

/** Every token when they fit, else every k-th token so the whole document stays represented. */
function scatterPoints(sentences: readonly ReportSentenceInput[], tokenCount: number, limit: number): ScatterPoint[] {
  const step = Math.max(1, Math.ceil(tokenCount / limit));
  const points: ScatterPoint[] = [];
  let seen = 0;
  for (const sentence of sentences) {
    for (const token of sentence.tokens) {
      if (seen++ % step === 0) points.push({ surprisal: -token.logprob, entropy: token.entropy, start: token.start, end: token.end });
    }
  }
  return points;
}

/**
 * The report with at most `limit` sentence points, every k-th kept (the most surprising ones
 * stay listed on their own): what a view of a long document draws, at a size it can take.
 */
export function thinSentences(report: DocumentReport, limit = MAX_SENTENCE_POINTS): DocumentReport {
  if (report.sentences.length <= limit) return report;
  const step = Math.ceil(report.sentences.length / limit);
  return { ...report, sentences: report.sentences.filter((point) => point.index % step === 0) };
}
