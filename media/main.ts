// The next-token panel's webview script (bundled to dist/webview.js). It renders the state the
// extension sends and turns clicks and keys into messages; the extension decides everything else.
import type { ExtensionMessage, PanelControls, PanelState, SampleOptions, WebviewMessage } from '../src/shared/panelProtocol';
import { CONTROL_INPUT_IDS, SAMPLE_INPUT_IDS, renderPrediction, renderSamples, renderShell, renderStatus } from './render';
import { renderLayers } from './layers';

interface VsCodeApi {
  postMessage(message: WebviewMessage): void;
  getState(): unknown;
  setState(state: PanelState): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
// The webview owns its markup: the extension's HTML document carries only the policy and this script.
document.body.insertAdjacentHTML('afterbegin', renderShell());
let state: PanelState | undefined;

const byId = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

/** Replaces a region's markup, keeping keyboard focus on the same logical row if it had it. */
function fill(region: HTMLElement, html: string): void {
  const focused = document.activeElement instanceof HTMLElement && region.contains(document.activeElement) ? document.activeElement.dataset.focus : undefined;
  region.innerHTML = html;
  // Inline style attributes are blocked by the CSP; CSSOM writes are not.
  region.querySelectorAll<HTMLElement>('[data-w]').forEach((bar) => {
    bar.style.width = `${Math.max(0, Math.min(1, Number(bar.dataset.w))) * 100}%`;
  });
  region.querySelectorAll<HTMLElement>('[data-shade]').forEach((cell) => {
    cell.style.setProperty('--shade', String(Math.max(0, Math.min(1, Number(cell.dataset.shade)))));
  });
  if (focused) region.querySelector<HTMLElement>(`[data-focus="${focused}"]`)?.focus();
}

/** Input values follow the state, except the one being edited. */
function syncInputs(ids: string[], values: PanelControls | SampleOptions): void {
  for (const id of ids) {
    const input = byId<HTMLInputElement>(id);
    const value = (values as unknown as Record<string, number>)[id];
    if (input && value !== undefined && document.activeElement !== input) input.value = String(value);
  }
}

function setBusy(updating: boolean): void {
  byId('busy').classList.toggle('active', updating);
  byId('prediction').setAttribute('aria-busy', String(updating));
}

function render(next: PanelState): void {
  state = next;
  vscode.setState(next);
  fill(byId('status'), renderStatus(next));
  fill(byId('prediction'), renderPrediction(next));
  fill(byId('layers'), renderLayers(next));
  fill(byId('samples'), renderSamples(next));
  syncInputs(CONTROL_INPUT_IDS, next.controls);
  syncInputs(SAMPLE_INPUT_IDS, next.sampleOptions);
  setBusy(next.updating);
  byId<HTMLButtonElement>('sample').disabled = next.sampling || !next.hasEditor || next.model.kind === 'error';
  document.querySelectorAll<HTMLButtonElement>('[data-action^="copy-"]').forEach((button) => {
    // Only what is on screen can be copied.
    button.disabled = !next.prediction || !next.hasEditor || next.model.kind === 'error';
  });
}

function isPanelState(value: unknown): value is PanelState {
  return typeof value === 'object' && value !== null && 'controls' in value && 'model' in value && 'sampleOptions' in value;
}

window.addEventListener('message', (event: MessageEvent<ExtensionMessage>) => {
  const message = event.data;
  if (message.type === 'state') render(message.state);
  else if (message.type === 'busy' && state) {
    state = { ...state, updating: message.updating };
    vscode.setState(state);
    setBusy(message.updating);
  }
});

document.addEventListener('click', (event) => {
  const target = event.target instanceof Element ? event.target.closest<HTMLElement>('[data-action]') : null;
  if (!target || (target instanceof HTMLButtonElement && target.disabled)) return;
  const index = Number(target.dataset.index);
  switch (target.dataset.action) {
    case 'insert-prediction':
      if (state?.prediction) vscode.postMessage({ type: 'insert', source: 'prediction', resultId: state.prediction.id, index });
      break;
    case 'replace-prediction':
    case 'continue-prediction':
      if (state?.prediction) vscode.postMessage({ type: 'insert', source: 'prediction', resultId: state.prediction.id, index, replace: true, continueAfter: target.dataset.action === 'continue-prediction' });
      break;
    case 'insert-sample':
      if (state?.samples) vscode.postMessage({ type: 'insert', source: 'samples', resultId: state.samples.id, index });
      break;
    case 'copy-markdown':
      vscode.postMessage({ type: 'copy', format: 'markdown' });
      break;
    case 'copy-json':
      vscode.postMessage({ type: 'copy', format: 'json' });
      break;
    case 'sample':
      vscode.postMessage({ type: 'sample' });
      break;
    case 'retry':
      vscode.postMessage({ type: 'retry' });
      break;
    case 'selectModel':
      vscode.postMessage({ type: 'selectModel' });
      break;
    case 'openSettings':
      vscode.postMessage({ type: 'openSettings' });
      break;
    case 'toggle-layers':
      vscode.postMessage({ type: 'setLens', lens: { show: !state?.lens?.show } });
      break;
  }
});

// Arrow keys move between rows (Enter and Space already press the focused button).
document.addEventListener('keydown', (event) => {
  const current = event.target instanceof HTMLElement ? event.target.closest<HTMLElement>('.row, .sequence') : null;
  if (!current?.parentElement) return;
  const siblings = Array.from(current.parentElement.querySelectorAll<HTMLElement>(`:scope > .${current.classList.contains('row') ? 'row' : 'sequence'}:not(.head)`));
  const at = siblings.indexOf(current);
  const moves: Record<string, number> = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: siblings.length - 1 };
  const to = moves[event.key];
  if (to === undefined) return;
  event.preventDefault();
  siblings[Math.max(0, Math.min(siblings.length - 1, to))]?.focus();
});

function watchInputs(ids: string[], send: (values: Record<string, number>) => void): void {
  for (const id of ids) {
    const input = byId<HTMLInputElement>(id);
    input.addEventListener('change', () => {
      if (Number.isFinite(input.valueAsNumber)) send({ [id]: input.valueAsNumber });
    });
    // The extension clamps what was typed; show its value once the user leaves the field.
    input.addEventListener('blur', () => {
      if (state) syncInputs(ids, ids === CONTROL_INPUT_IDS ? state.controls : state.sampleOptions);
    });
  }
}

// The attention pickers are re-rendered with the state: listen where they live.
document.addEventListener('change', (event) => {
  const select = event.target instanceof HTMLSelectElement ? event.target : null;
  const key = select?.dataset.lens;
  if (select && (key === 'layer' || key === 'head')) vscode.postMessage({ type: 'setLens', lens: { [key]: Number(select.value) } });
});

watchInputs(CONTROL_INPUT_IDS, (controls) => vscode.postMessage({ type: 'setControls', controls }));
watchInputs(SAMPLE_INPUT_IDS, (options) => vscode.postMessage({ type: 'setSampleOptions', options }));

// After a reload the last view shows at once; the extension's fresh state follows the handshake.
const saved = vscode.getState();
if (isPanelState(saved)) render({ ...saved, updating: false, sampling: false });
vscode.postMessage({ type: 'ready' });
