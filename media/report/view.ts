// The report page's markup, as pure functions of the data (unit-tested in Node); charts are
// drawn into the canvases afterwards by charts.ts.
import { escapeHtml } from '../../src/shared/format';
import type { Histogram, ReportChartName, ReportViewData, SentencePoint } from '../../src/shared/reportProtocol';

/** Rows a numbers table shows at most; the exports carry every row. */
export const TABLE_ROW_LIMIT = 300;

export const fixed = (value: number | null | undefined, digits = 3): string => (typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '–');
const percent = (share: number): string => `${(share * 100).toFixed(1)}%`;
const count = (value: number): string => value.toLocaleString('en-US');

function table(caption: string, header: string[], rows: string[][], total = rows.length): string {
  const head = `<tr>${header.map((cell) => `<th scope="col">${escapeHtml(cell)}</th>`).join('')}</tr>`;
  const body = rows.map((row) => `<tr>${row.map((cell) => `<td>${cell}</td>`).join('')}</tr>`).join('');
  const more = total > rows.length ? `<p class="muted">Showing ${count(rows.length)} of ${count(total)} rows; the CSV export has all.</p>` : '';
  return `<details class="numbers"><summary>Numbers: ${escapeHtml(caption)}</summary><table><caption>${escapeHtml(caption)}</caption><thead>${head}</thead><tbody>${body}</tbody></table>${more}</details>`;
}

function histogramTable(caption: string, histogram: Histogram): string {
  const total = histogram.counts.reduce((a, b) => a + b, 0);
  return table(caption, ['bin', 'tokens', 'share'], histogram.labels.map((label, i) => [escapeHtml(label), count(histogram.counts[i] as number), total > 0 ? percent((histogram.counts[i] as number) / total) : '–']));
}

function figure(name: ReportChartName, title: string, description: string, numbers: string, png: boolean): string {
  const button = png ? `<button type="button" class="png" data-action="png" data-chart="${name}" aria-label="Save ${escapeHtml(title)} as PNG">PNG</button>` : '';
  return `<figure class="chart" id="figure-${name}"><figcaption><span class="title">${escapeHtml(title)}</span>${button}</figcaption><p class="muted">${escapeHtml(description)}</p><div class="canvas-box"><canvas id="chart-${name}" role="img" aria-label="${escapeHtml(`${title}: ${description}`)}" tabindex="0"></canvas></div>${numbers}</figure>`;
}

export function sentenceButton(point: SentencePoint): string {
  return `<button type="button" class="sentence" data-action="reveal" data-start="${point.start}" data-end="${point.end}" aria-label="Reveal sentence ${point.index + 1} in the editor">${escapeHtml(point.preview || '(empty)')}</button>`;
}

function summaryHtml(data: ReportViewData): string {
  const { report, comparison } = data;
  const s = report.summary;
  const coverage = report.documentChars > 0 ? report.scoredChars / report.documentChars : 0;
  const items: Array<[string, string]> = [
    ['model', `${escapeHtml(report.model)} (${escapeHtml(report.dtype)})`],
    ['tokens', count(s.tokens)],
    ['mean loss', `${fixed(s.meanLoss)} nats`],
    ['perplexity', fixed(s.perplexity, 2)],
    ['mean entropy', `${fixed(s.meanEntropy)} nats`],
    ...report.rankBuckets.labels.map((label, i): [string, string] => [label, percent(s.bucketShares[i] as number)]),
  ];
  if (data.settled) items.push(['mean settled layer', fixed(data.settled.mean, 2)]);
  if (comparison) items.push([`loss under ${escapeHtml(comparison.modelB)}`, `${fixed(comparison.lossB)} nats`]);
  if (comparison && comparison.ratio !== null) items.push(['cross-entropy', `${fixed(comparison.crossEntropy)} nats`], ['cross-perplexity ratio', fixed(comparison.ratio, 4)]);
  const scored = `${count(report.sentenceCount)} sentences scored, ${percent(coverage)} of ${count(report.documentChars)} characters${report.complete ? '' : ' — re-scoring, the numbers are partial'}`;
  return `<section class="summary" aria-label="Summary"><p class="coverage" id="coverage">${scored}</p><dl>${items.map(([term, value]) => `<div><dt>${term}</dt><dd>${value}</dd></div>`).join('')}</dl>${comparisonLines(data)}</section>`;
}

/** What the comparison means, and, where part of it could not be computed, one line saying why (as the panel's degrade notes do). */
function comparisonLines({ report, comparison }: ReportViewData): string {
  if (!comparison) return '';
  const [a, b] = [escapeHtml(report.model), escapeHtml(comparison.modelB)];
  const explanation =
    comparison.ratio === null
      ? `Loss per sentence under ${a} and ${b}, each the mean over its own tokens of the sentence (a model with another tokenizer splits the text into other tokens).`
      : `Cross-perplexity ratio (Binoculars): the log-perplexity under ${a} divided by the cross-entropy of its predictions under ${b}. Text both models find as predictable as a model's own output scores low; human writing usually scores higher.`;
  const note = comparison.note ? `<p class="note muted" id="comparison-note">${escapeHtml(comparison.note)}</p>` : '';
  return `<p class="explain">${explanation}</p>${note}`;
}

/** The whole page body for one report; `interactive` adds the buttons that talk to the extension. */
export function renderReport(data: ReportViewData, documentName: string, interactive: boolean): string {
  const { report, comparison, settled } = data;
  // Its label turns into "Cancel settled layers" while they are computed (main.ts, from the status).
  const settledButton = `<button type="button" data-action="settled" title="The first layer from which each token’s final prediction stays the top guess (logit lens; about six times the scoring’s cost)">${settled ? 'Recompute settled layers' : 'Settled layers'}</button>`;
  const toolbar = interactive
    ? `<div class="toolbar" role="toolbar" aria-label="Report actions"><button type="button" data-action="compare">${comparison ? 'Compare with another model…' : 'Compare with a second model…'}</button>${comparison ? '<button type="button" data-action="clearCompare">Stop comparing</button>' : ''}${settledButton}<button type="button" data-action="export" data-format="html">Export HTML</button><button type="button" data-action="export" data-format="tokens-csv">CSV: tokens</button><button type="button" data-action="export" data-format="sentences-csv">CSV: sentences</button><button type="button" data-action="export" data-format="json">JSON</button></div>`
    : '';
  const sentenceRows = report.sentences.slice(0, TABLE_ROW_LIMIT).map((point) => [String(point.index + 1), fixed(point.loss), fixed(point.perplexity, 1), String(point.tokenCount), ...(comparison ? [fixed(comparison.sentences[point.index]?.lossB)] : []), ...(settled ? [fixed(settled.sentenceMeans[point.index], 2)] : []), interactive ? sentenceButton(point) : escapeHtml(point.preview)]);
  const surprising = report.surprising.map((point) => `<li><span class="num">loss ${fixed(point.loss)} · perplexity ${fixed(point.perplexity, 1)}</span> ${interactive ? sentenceButton(point) : escapeHtml(point.preview)}</li>`).join('');
  // A long document's series comes thinned from the model process: say so.
  const sentenceNote = report.sentences.length < report.sentenceCount ? ` ${count(report.sentences.length)} of ${count(report.sentenceCount)} sentences drawn, evenly spread.` : '';
  const scatter = report.scatter;
  const scatterNote = scatter.points.length < scatter.totalTokens ? `Every ${count(Math.ceil(scatter.totalTokens / scatter.points.length))}th token of ${count(scatter.totalTokens)}.` : `All ${count(scatter.totalTokens)} tokens.`;
  const charts = [
    figure('rank-buckets', 'Rank of each actual token', 'GLTR: how many tokens were among the model’s top 10, top 100, top 1000 guesses, or beyond.', histogramTable('tokens per rank bucket', report.rankBuckets), interactive),
    figure('frac', 'p(token) ÷ p(top 1)', 'How close each token came to the model’s first choice (1 = it was the first choice).', histogramTable('p(token) ÷ p(top 1)', report.fracHistogram), interactive),
    figure('top10-entropy', 'Entropy of the top 10', 'How spread the model’s ten best guesses were (nats; 0 = one clear favourite).', histogramTable('entropy of the top 10', report.top10EntropyHistogram), interactive),
    figure(
      'sentence-loss',
      'Loss per sentence',
      `${comparison ? `Mean token loss of each sentence under ${report.model} and ${comparison.modelB}` : 'Mean token loss (nats) of each sentence along the document'}${settled ? ', and its mean settled layer (right axis)' : ''}; click a point to reveal the sentence.${sentenceNote}`,
      table('loss per sentence', ['#', 'loss', 'perplexity', 'tokens', ...(comparison ? [`loss (${comparison.modelB})`] : []), ...(settled ? ['mean settled layer'] : []), 'sentence'], sentenceRows, report.sentenceCount),
      interactive,
    ),
    figure(
      'surprisal-entropy',
      'Surprisal against entropy',
      `Each token’s surprisal (−log p) against the entropy of the prediction: high entropy means the model was unsure anyway; low entropy and high surprisal means it was sure and wrong. ${scatterNote}`,
      table('surprisal and entropy per token', ['token start', 'surprisal', 'entropy'], scatter.points.slice(0, TABLE_ROW_LIMIT).map((point) => [String(point.start), fixed(point.surprisal), fixed(point.entropy)]), scatter.points.length),
      interactive,
    ),
  ];
  if (settled) {
    charts.push(
      figure(
        'settled-layers',
        'Settled at layer',
        `Logit lens: for each token, the first layer from which the model’s final prediction stays its top guess (embeddings = already there, the last block = only at the end). Mean ${fixed(settled.mean, 2)}.`,
        histogramTable('tokens per settled layer', settled.histogram),
        interactive,
      ),
    );
  }
  return `<header><h1>Document report: ${escapeHtml(documentName)}</h1><p class="status" id="status" role="status" aria-live="polite"></p></header>${toolbar}${summaryHtml(data)}<section class="surprising" aria-label="Most surprising sentences"><h2>Most surprising sentences</h2><ol>${surprising || '<li class="muted">No scored sentences yet.</li>'}</ol></section><section class="charts">${charts.join('')}</section>`;
}
