import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { summarizeComparison } from '../core/compare';
import { loadEngine } from '../core/engine';
import type { Backend } from '../core/backend';
import { LocalBackend } from '../core/local/localBackend';
import { LmLensError } from '../core/errors';
import { buildReport, reportableSentences } from '../core/report';
import type { Histogram } from '../core/report';
import { readReportAssets, reportJson, standaloneHtml } from '../core/reportExport';
import type { ReportData } from '../core/reportExport';
import { scoreSentences } from '../core/sentenceLoss';
import { settledLayersOfText, withSettled } from '../core/settledLayers';
import { splitSentences } from '../core/sentences';
import type { SentenceSpan } from '../core/sentences';
import { scoreSentencesOnServer, summarizeServerComparison } from '../core/compareServer';
import type { ComparisonSummary } from '../core/compare';
import type { ReportSentenceInput } from '../core/report';
import { createRemoteBackend } from '../core/remote';
import type { CliValues, ServerValues } from './commands';
import { noticeLog } from './notices';
import { formatFixed as fixed } from '../shared/format';

/** Which Markdown/LaTeX parts are prose depends on the language, as in the editor. */
export function languageOfFile(file: string | undefined): string {
  const extension = path.extname(file ?? '').toLowerCase();
  if (extension === '.md' || extension === '.markdown') return 'markdown';
  if (extension === '.tex') return 'latex';
  if (extension === '.rst') return 'restructuredtext';
  return 'plaintext';
}

const percent = (share: number): string => `${(share * 100).toFixed(1)}%`;

function histogramLines(title: string, histogram: Histogram): string[] {
  const total = histogram.counts.reduce((a, b) => a + b, 0);
  const width = Math.max(...histogram.labels.map((label) => label.length));
  return [title, ...histogram.labels.map((label, i) => {
    const count = histogram.counts[i] as number;
    const bar = '█'.repeat(total > 0 ? Math.round((count / total) * 40) : 0);
    return `  ${label.padEnd(width)}  ${String(count).padStart(6)}  ${bar}`;
  })];
}

function textReport(data: ReportData): string {
  const { report, comparison } = data;
  const s = report.summary;
  const lines = [
    `${report.model} (${report.dtype}): ${s.tokens} tokens in ${report.sentenceCount} sentences, ${report.scoredChars} of ${report.documentChars} characters in sentences`,
    `mean loss ${fixed(s.meanLoss, 4)} nats  perplexity ${fixed(s.perplexity, 2)}  mean entropy ${fixed(s.meanEntropy)}`,
    `tokens per bucket: ${report.rankBuckets.labels.map((label, i) => `${label} ${percent(s.bucketShares[i] as number)}`).join(', ')}`,
    '',
    ...histogramLines('rank of the actual token (GLTR)', report.rankBuckets),
    ...histogramLines('p(token) ÷ p(top 1)', report.fracHistogram),
    ...histogramLines('entropy of the top 10 (nats)', report.top10EntropyHistogram),
    '',
    'most surprising sentences',
    ...report.surprising.map((point) => `  #${point.index + 1}  loss ${fixed(point.loss)}  perplexity ${fixed(point.perplexity, 1)}  ${JSON.stringify(point.preview)}`),
  ];
  if (data.settled) {
    lines.push('', ...histogramLines(`settled at layer (logit lens; mean ${fixed(data.settled.mean, 2)})`, data.settled.histogram));
  }
  if (comparison) {
    lines.push(
      '',
      `compared with ${comparison.modelB}: loss ${fixed(comparison.lossA, 4)} vs ${fixed(comparison.lossB, 4)}, cross-entropy ${fixed(comparison.crossEntropy, 4)}`,
      comparison.ratio === null && comparison.note
        ? comparison.note
        : `cross-perplexity ratio (Binoculars) ${fixed(comparison.ratio, 4)}: log-perplexity under ${report.model} ÷ cross-entropy of its predictions under ${comparison.modelB}; lower reads as more machine-like`,
    );
  }
  return lines.join('\n');
}

/** The flags a comparison server's errors name (its key comes from the environment, never a flag). */
const COMPARE_HINTS = { url: '--compare', key: 'the LM_LENS_API_KEY environment variable', model: '--compare-model', api: '--compare-api' };

async function compareOnServer(server: ServerValues, text: string, spans: readonly SentenceSpan[], sentences: readonly ReportSentenceInput[]): Promise<ComparisonSummary> {
  const backend = createRemoteBackend(server.api, { url: server.url, model: server.model, apiKey: server.apiKey, hints: COMPARE_HINTS });
  try {
    return summarizeServerComparison(await scoreSentencesOnServer(backend, text, spans), sentences);
  } finally {
    await backend.dispose();
  }
}

/** `lm-lens report FILE`: the document report as text, JSON (`--json`) or a self-contained page (`--html OUT`). */
export async function reportCommand(backend: Backend, text: string, values: CliValues): Promise<string> {
  // The report's histograms and the comparison need the model's whole distribution, which only the local engine has.
  if (!backend.capabilities.exactRank || !backend.capabilities.logits) throw new LmLensError('internal', 'lm-lens report runs on the local engine only: drop --server.');
  const spans = splitSentences(text, { languageId: values.language ?? languageOfFile(values.file) });
  const scored = await scoreSentences(backend, text, { spans });
  let sentences = reportableSentences(scored.sentences);
  const { info } = backend;
  let settled: ReportData['settled'];
  // `--layers`: every token's settled layer, matched to the report's tokens by start offset.
  if (values.layers) ({ sentences, settled } = withSettled(sentences, await settledLayersOfText(backend, text)));
  const report = buildReport(sentences, { model: info.model, dtype: info.dtype ?? '', documentChars: text.length, complete: true });
  const data: ReportData = { report, ...(settled ? { settled } : {}) };
  if (values.compareServer) data.comparison = await compareOnServer(values.compareServer, text, spans, sentences);
  if (values.compare) {
    const other = new LocalBackend(await loadEngine({ model: values.compare, dtype: values.dtype, cacheDir: values.cacheDir, allowDownloads: !values.offline, threads: values.threads, onLog: noticeLog(values.verbose ?? false) }));
    try {
      data.comparison = summarizeComparison(other.info.model, await backend.compareText(other, text), sentences);
    } finally {
      await other.dispose();
    }
  }
  if (values.html) {
    writeFileSync(values.html, standaloneHtml(data, readReportAssets(__dirname), `LM Lens report: ${path.basename(values.file ?? 'text')}`));
    return `wrote ${values.html}`;
  }
  if (values.json) return reportJson(data, sentences);
  return textReport(data);
}
