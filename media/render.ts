// The panel's markup as pure functions of the view model: strings, so the unit tests read them in
// Node. Every model-produced string is escaped. No inline styles (the CSP forbids them): bar
// widths travel as `data-w` and main.ts applies them through the CSSOM.
import { CONTROL_LIMITS, SAMPLE_LIMITS } from '../src/shared/panelProtocol';
import type { ChipView, ModelStatusView, PanelState, PredictionView, RowView, SamplesView, SequenceView } from '../src/shared/panelProtocol';
import { chipAttention } from './layers';
import { escapeHtml, formatMegabytes, formatNumber, formatProbability, formatJointProbability, tokenLabel } from '../src/shared/format';

interface InputSpec {
  id: string;
  label: string;
  title: string;
  limit: { min: number; max: number; step: number };
}

const controlInputs: InputSpec[] = [
  { id: 'k', label: 'Rows', title: 'How many next tokens to list', limit: CONTROL_LIMITS.k },
  { id: 'temperature', label: 'Temperature', title: 'Divides the logits before softmax: below 1 sharpens, above 1 flattens', limit: CONTROL_LIMITS.temperature },
  { id: 'topP', label: 'Top-p', title: 'Keeps the smallest set of tokens whose probabilities add up to p', limit: CONTROL_LIMITS.topP },
  { id: 'samplingTopK', label: 'Top-k', title: 'Keeps only the k most likely tokens (0 = off)', limit: CONTROL_LIMITS.samplingTopK },
];

const sampleInputs: InputSpec[] = [
  { id: 'n', label: 'Samples', title: 'How many continuations to sample', limit: SAMPLE_LIMITS.n },
  { id: 'maxNewTokens', label: 'Max new tokens', title: 'Longest continuation, in tokens', limit: SAMPLE_LIMITS.maxNewTokens },
];

/** Ids of the number inputs, in the order the keys of the controls and sample options use. */
export const CONTROL_INPUT_IDS = controlInputs.map((input) => input.id);
export const SAMPLE_INPUT_IDS = sampleInputs.map((input) => input.id);

function numberInput(spec: InputSpec): string {
  const { min, max, step } = spec.limit;
  return `<label class="field" title="${escapeHtml(spec.title)}"><span>${spec.label}</span><input id="${spec.id}" type="number" min="${min}" max="${max}" step="${step}" inputmode="decimal"></label>`;
}

/** The static frame: controls and empty regions that `renderState` fills. */
export function renderShell(): string {
  return `<div id="busy" class="busy" aria-hidden="true"></div>
<header class="toolbar">
  <fieldset class="controls"><legend>Distribution</legend>${controlInputs.map(numberInput).join('')}</fieldset>
  <div class="actions">
    <button type="button" class="secondary" data-action="copy-markdown">Copy as Markdown</button>
    <button type="button" class="secondary" data-action="copy-json">Copy as JSON</button>
  </div>
</header>
<div id="status" role="status"></div>
<section id="prediction" aria-label="Next-token distribution"></section>
<section id="layers" class="layers" aria-label="What each layer predicts, and attention"></section>
<section class="sampler" aria-label="Sample continuations">
  <div class="toolbar">
    <fieldset class="controls"><legend>Sampling</legend>${sampleInputs.map(numberInput).join('')}</fieldset>
    <div class="actions"><button type="button" id="sample" data-action="sample">Sample</button></div>
  </div>
  <div id="samples"></div>
</section>`;
}

function notice(body: string, extraClass = ''): string {
  return `<div class="notice ${extraClass}">${body}</div>`;
}

function renderModelStatus(model: ModelStatusView): string {
  switch (model.kind) {
    case 'error': {
      const settings = model.code?.startsWith('server-') ? '<button type="button" class="secondary" data-action="openSettings">Open settings</button>' : '';
      return notice(
        `<p>${escapeHtml(model.message)}</p><div class="actions"><button type="button" data-action="retry">Retry</button>${settings}<button type="button" class="secondary" data-action="selectModel">Select model</button></div>`,
        'error',
      );
    }
    case 'loading': {
      if (model.phase === 'download') {
        const known = model.totalBytes !== undefined && model.totalBytes > 0;
        const file = model.file ? ` ${escapeHtml(model.file)}` : '';
        const amount = known ? `${formatMegabytes(model.loadedBytes ?? 0)} of ${formatMegabytes(model.totalBytes ?? 0)}` : formatMegabytes(model.loadedBytes ?? 0);
        const bar = known ? `<progress max="${model.totalBytes}" value="${model.loadedBytes ?? 0}"></progress>` : '<progress></progress>';
        return notice(`<p>Downloading the model${file}…</p>${bar}<p class="muted">${amount}</p>`);
      }
      return notice('<p>Loading the model…</p><progress></progress>');
    }
    case 'starting':
      return notice('<p>Starting the model…</p>');
    case 'ready':
      return '';
  }
}

/** The status region: what keeps the table from showing, or nothing. */
export function renderStatus(state: PanelState): string {
  if (state.model.kind === 'error') return renderModelStatus(state.model);
  if (!state.hasEditor) return notice('<p>Open a text editor to see predictions.</p>');
  // A table on screen stays; a model (re)load shows above it.
  if (state.model.kind === 'loading' || !state.prediction) return renderModelStatus(state.model);
  return '';
}

function chip(text: string, sub: string, label: string, shade?: number): string {
  const attended = shade === undefined ? '' : ` attended" data-shade="${shade}`;
  return `<span class="chip${attended}" role="listitem" title="${escapeHtml(label)}" aria-label="${escapeHtml(label)}"><span class="chip-text">${escapeHtml(tokenLabel(text))}</span><span class="chip-sub">${sub}</span></span>`;
}

function contextChip(token: ChipView, attention?: { shade: number; label: string }): string {
  const prob = token.prob === undefined ? 'first token: no probability' : `probability ${formatProbability(token.prob)} given the tokens before it`;
  return chip(token.text, String(token.id), `“${tokenLabel(token.text)}” id ${token.id}, ${prob}${attention?.label ?? ''}`, attention?.shade);
}

function rowHtml(row: RowView, index: number, sampled: boolean): string {
  const label = `Rank ${index + 1}: “${tokenLabel(row.text)}”, id ${row.id}, ${formatProbability(row.prob)}${sampled ? `, sampled ${formatProbability(row.sampledProb ?? 0)}` : ''}. Insert at the cursor.`;
  const bars = `<span class="bar raw" data-w="${row.prob}"></span>${sampled ? `<span class="bar sampled" data-w="${row.sampledProb ?? 0}"></span>` : ''}`;
  const percent = `<span>${formatProbability(row.prob)}</span>${sampled ? `<span class="sampled-value">${formatProbability(row.sampledProb ?? 0)}</span>` : ''}`;
  return `<button type="button" class="row" data-action="insert-prediction" data-index="${index}" data-focus="p${index}" aria-label="${escapeHtml(label)}" title="logit ${formatNumber(row.logit)}">
<span class="rank">${index + 1}</span><span class="token"><code>${escapeHtml(tokenLabel(row.text))}</code></span><span class="num id">${row.id ?? '–'}</span><span class="bars">${bars}</span><span class="num pct">${percent}</span><span class="num logprob">${formatNumber(row.logprob)}</span></button>${branchActions(row, index)}`;
}

/** Beside each row: put its token in place of the word after the cursor, and that then continued by ghost text. */
function branchActions(row: RowView, index: number): string {
  const token = escapeHtml(tokenLabel(row.text));
  const button = (action: string, icon: string, label: string): string =>
    `<button type="button" class="row-action" data-action="${action}" data-index="${index}" title="${label}" aria-label="${label}">${icon}</button>`;
  return `<span class="row-actions">${button('replace-prediction', '⇄', `Replace the word after the cursor with “${token}” (insert it where no word follows)`)}${button('continue-prediction', '↪', `Replace the word after the cursor with “${token}” and continue with ghost text`)}</span>`;
}

function summary(prediction: PredictionView): string {
  const parts = [
    `<span>${escapeHtml(prediction.fileName)} Ln ${prediction.line}, Col ${prediction.column}</span>`,
    `<span>${prediction.contextTokens} context token${prediction.contextTokens === 1 ? '' : 's'}${prediction.truncated ? ' <em>(cut to the window)</em>' : ''}</span>`,
    `<span>entropy ${formatNumber(prediction.entropy)} nats</span>`,
  ];
  if (prediction.sampling) {
    parts.push(`<span class="sampled-value">sampling: ${prediction.sampling.keptTokens ?? 'unknown'} tokens kept, entropy ${formatNumber(prediction.sampling.entropy)} nats</span>`);
  }
  if (prediction.engine) parts.push(`<span class="engine">${escapeHtml(prediction.engine)}</span>`);
  parts.push(`<span class="muted">${Math.round(prediction.elapsedMs)} ms</span>`);
  // What the engine could not give (a server's cap, no entropy), said once under the summary.
  const notes = (prediction.notes ?? []).map((note) => `<p class="note muted">${escapeHtml(note)}</p>`).join('');
  return `<p class="summary">${parts.join('<span class="sep" aria-hidden="true">·</span>')}</p>${notes}`;
}

/** The prediction region: summary, context chips, the table. Empty when the status hides it. */
export function renderPrediction(state: PanelState): string {
  const prediction = state.prediction;
  if (!prediction || !state.hasEditor || state.model.kind === 'error') return '';
  const sampled = prediction.sampling !== undefined;
  const empty = prediction.emptyContext
    ? notice('<p>The text before the cursor is empty, so the model predicts from <code>&lt;|endoftext|&gt;</code> alone: the token GPT-2 saw between documents, its usual start of a text.</p>', 'info')
    : '';
  const chips = prediction.tail.length
    ? `<div class="chips" role="list" aria-label="Last context tokens">${prediction.tail.length < prediction.contextTokens ? '<span class="muted" aria-hidden="true">…</span>' : ''}${prediction.tail.map((token, i) => contextChip(token, chipAttention(state, i, prediction.tail.length))).join('')}</div>`
    : '';
  const legend = sampled ? '<p class="legend"><span class="swatch raw"></span>model <span class="swatch sampled"></span>sampling distribution</p>' : '';
  const head = `<div class="row head" aria-hidden="true"><span class="rank">#</span><span class="token">token</span><span class="num id">id</span><span class="bars"></span><span class="num pct">prob</span><span class="num logprob">log-prob</span></div><span class="row-actions head" aria-hidden="true"></span>`;
  return `${summary(prediction)}${empty}${chips}${legend}<div class="table${sampled ? ' with-sampling' : ''}" role="group" aria-label="Next-token candidates, most likely first">${head}${prediction.rows.map((row, index) => rowHtml(row, index, sampled)).join('')}</div>`;
}

function sequenceHtml(sequence: SequenceView, index: number): string {
  const tokens = sequence.tokens.map((token) => chip(token.text, formatProbability(token.prob), `“${tokenLabel(token.text)}” id ${token.id}: model ${formatProbability(token.prob)}, sampled with ${formatProbability(token.sampledProb)}, normed ${formatProbability(token.normedProb)}`)).join('');
  const stats = `p ${formatJointProbability(sequence.prob)} · sampled p ${formatJointProbability(sequence.sampledProb)} · share ${formatProbability(sequence.share)} · normed ${formatJointProbability(sequence.normedProd)}`;
  const label = `Sample ${index + 1}: “${tokenLabel(sequence.text)}”, ${stats}. Insert at the cursor.`;
  return `<button type="button" class="sequence" data-action="insert-sample" data-index="${index}" data-focus="s${index}" aria-label="${escapeHtml(label)}"><span class="chips" role="list">${tokens || '<span class="muted">(no tokens)</span>'}</span><span class="seq-stats">${stats}</span></button>`;
}

export function renderSamples(state: PanelState): string {
  const samples: SamplesView | undefined = state.samples;
  if (state.sampling) return '<p class="muted">Sampling…</p>';
  if (!samples) return '';
  const stale = samples.stale ? '<p class="muted">Sampled for an earlier cursor position; Sample again to refresh.</p>' : '';
  // A server's top alternatives fix the sampled probabilities only with top-k on, within its cap.
  const unknown = samples.sequences.some((sequence) => sequence.sampledProb === null)
    ? '<p class="note muted">The server’s answer does not determine the sampled probabilities with these settings (set Top-k, within its cap): sampled p, share and normed are unknown (–).</p>'
    : '';
  return `${stale}${unknown}<div class="sequences" role="group" aria-label="Sampled continuations">${samples.sequences.map(sequenceHtml).join('')}</div><p class="muted">p: the model's probability of the whole continuation; sampled p: its probability under the sampling settings; share: sampled p over the ${samples.sequences.length} samples; normed: the product of each token's sampled p over the sum across the samples at that step. ${Math.round(samples.elapsedMs)} ms</p>`;
}
