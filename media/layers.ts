// The panel's Layers view markup (issue 23): a real <table> (layers down, top tokens across,
// shaded by probability) that screen readers read with its headers, the final prediction's rank
// per layer, entropy and KL per layer as a small chart, and the attention pickers. Pure strings,
// escaped; shades and bar widths travel as data-* attributes (main.ts applies them).
import { DEFAULT_LENS_CONTROLS } from '../src/shared/layersView';
import type { LayersView, LensRowView } from '../src/shared/layersView';
import type { PanelState } from '../src/shared/panelProtocol';
import { escapeHtml, formatNumber, formatProbability, tokenLabel } from '../src/shared/format';

const layerName = (layer: number): string => (layer === 0 ? 'embeddings' : `block ${layer}`);

function toggle(show: boolean): string {
  return `<button type="button" class="secondary" data-action="toggle-layers" data-focus="lens-toggle" aria-pressed="${show}" title="What each layer would predict here (logit lens), and which context tokens the next token attends to">${show ? 'Hide layers' : 'Show layers'}</button>`;
}

function rowHtml(row: LensRowView, top: number): string {
  const cells = Array.from({ length: top }, (_, i) => {
    const token = row.top[i];
    if (!token) return '<td></td>';
    return `<td class="lens-cell" data-shade="${token.prob}"><code>${escapeHtml(tokenLabel(token.text))}</code><span class="num lens-prob">${formatProbability(token.prob)}</span></td>`;
  }).join('');
  const entropyCell = `<td class="num">${formatNumber(row.entropy)}</td>`;
  const klCell = `<td class="num">${formatNumber(row.klToFinal)}</td>`;
  return `<tr><th scope="row">${layerName(row.layer)}</th>${cells}<td class="num${row.finalRank === 1 ? ' settled' : ''}">${row.finalRank}</td>${entropyCell}${klCell}</tr>`;
}

/** Entropy and KL per layer as two lines; decorative (the table holds the numbers). */
function chart(rows: LensRowView[]): string {
  const width = 240;
  const height = 60;
  const max = Math.max(1e-9, ...rows.flatMap((row) => [row.entropy, row.klToFinal]));
  const x = (i: number): number => (rows.length > 1 ? (i / (rows.length - 1)) * (width - 8) + 4 : width / 2);
  const y = (value: number): number => height - 4 - (value / max) * (height - 8);
  const line = (values: number[], cls: string): string => `<polyline class="${cls}" points="${values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}"></polyline>`;
  return `<figure class="lens-chart"><svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" aria-hidden="true" focusable="false">${line(
    rows.map((row) => row.entropy),
    'entropy',
  )}${line(
    rows.map((row) => row.klToFinal),
    'kl',
  )}</svg><figcaption><span class="swatch entropy"></span>entropy <span class="swatch kl"></span>KL to final, nats, embeddings → block ${rows.length - 1}</figcaption></figure>`;
}

function pickers(view: LayersView): string {
  const layers = Array.from({ length: view.layerCount }, (_, i) => `<option value="${i + 1}"${view.layer === i + 1 ? ' selected' : ''}>block ${i + 1}</option>`).join('');
  const heads = [`<option value="0"${view.head === 0 ? ' selected' : ''}>mean of ${view.headCount} heads</option>`, ...Array.from({ length: view.headCount }, (_, i) => `<option value="${i + 1}"${view.head === i + 1 ? ' selected' : ''}>head ${i + 1}</option>`)].join('');
  return `<div class="lens-pickers"><label>Attention of <select id="lens-layer" data-lens="layer" data-focus="lens-layer">${layers}</select></label><label><select id="lens-head" data-lens="head" data-focus="lens-head">${heads}</select></label><span class="muted">shades the context tokens below and in the editor by how much the next token attends to them</span></div>`;
}

function grid(view: LayersView): string {
  const top = Math.max(0, ...view.rows.map((row) => row.top.length));
  const headers = Array.from({ length: top }, (_, i) => `<th scope="col">top ${i + 1}</th>`).join('');
  const caption = `What each layer predicts next (logit lens), embeddings to block ${view.rows.length - 1}`;
  const explained = `<p class="muted lens-explained">Final prediction “${escapeHtml(tokenLabel(view.finalText))}”: its rank in each layer's distribution, marked from where it is the top (rank 1). Cells are shaded by probability.</p>`;
  return `${explained}<div class="lens-scroll"><table class="lens-grid"><caption>${caption}</caption><thead><tr><th scope="col">layer</th>${headers}<th scope="col" title="Rank of the final prediction in this layer's distribution">final rank</th><th scope="col">entropy</th><th scope="col" title="KL(final ‖ layer), nats">KL to final</th></tr></thead><tbody>${view.rows
    .map((row) => rowHtml(row, top))
    .join('')}</tbody></table></div>`;
}

/** The Layers region: the toggle, then (when on) the grid, the chart and the pickers, or the line saying why not. */
export function renderLayers(state: PanelState): string {
  const lens = state.lens ?? DEFAULT_LENS_CONTROLS;
  if (!state.hasEditor || state.model.kind === 'error' || !state.prediction) return '';
  const head = `<div class="lens-head"><h2>Layers</h2>${toggle(lens.show)}</div>`;
  if (!lens.show) return head;
  if (state.layersNote) return `${head}<p class="note muted">${escapeHtml(state.layersNote)}</p>`;
  const view = state.layers;
  if (!view) return `${head}<p class="muted">Computing the layers…</p>`;
  return `${head}${grid(view)}${chart(view.rows)}${pickers(view)}`;
}

/** A context chip's attention shade: the weight relative to the row's largest, and a label part. */
export function chipAttention(state: PanelState, tailIndex: number, tailLength: number): { shade: number; label: string } | undefined {
  const view = state.layers;
  if (!state.lens?.show || !view || view.id !== state.prediction?.id) return undefined;
  const position = view.contextTokens - tailLength + tailIndex;
  const weight = view.attention[position];
  if (weight === undefined) return undefined;
  const max = Math.max(1e-12, ...view.attention);
  return { shade: weight / max, label: `, attention ${formatProbability(weight)} (block ${view.layer}, ${view.head === 0 ? 'mean of heads' : `head ${view.head}`})` };
}
