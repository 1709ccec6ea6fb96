/**
 * Messages between the next-token panel's extension side (nextTokenPanel.ts) and its webview
 * (media/main.ts). No `vscode` import: the webview bundle and the Node unit tests use it too.
 * The extension owns all state and sends it whole (`state`); the webview only renders it and
 * asks for actions. Everything the webview sends is untrusted: `parseWebviewMessage` is the
 * only way in. The view builders at the end turn model-process answers into what the panel shows.
 */
import type { ModelState, NextTokenResponse, SampleResponse, SamplingParams } from './hostProtocol';
import type { LayersView, LensControls } from './layersView';
import { SETTINGS } from './settings';
import type { NumberSettingKey } from './settings';

export const PANEL_VIEW_TYPE = 'lmLens.nextToken';

/** What the panel's controls set; mirrors the `lmLens.nextToken.*` settings. */
export interface PanelControls {
  /** Rows listed. */
  k: number;
  temperature: number;
  topP: number;
  /** Top-k truncation of the sampling distribution; 0 = off. */
  samplingTopK: number;
}

export interface SampleOptions {
  /** Continuations per run. */
  n: number;
  maxNewTokens: number;
}

interface Limit {
  min: number;
  max: number;
  step: number;
  integer: boolean;
}

/** The setting each control persists to. */
export const CONTROL_SETTINGS: { readonly [K in keyof PanelControls]: NumberSettingKey } = {
  k: 'nextToken.topK',
  temperature: 'nextToken.temperature',
  topP: 'nextToken.topP',
  samplingTopK: 'nextToken.samplingTopK',
};

function settingLimit(key: NumberSettingKey, step: number): Limit {
  const spec = SETTINGS[key];
  return { min: spec.minimum, max: spec.maximum, step, integer: spec.type === 'integer' };
}

/** Input ranges, shared by the webview's inputs and the extension's clamping: the settings' own. */
export const CONTROL_LIMITS: { readonly [K in keyof PanelControls]: Limit } = {
  k: settingLimit(CONTROL_SETTINGS.k, 1),
  temperature: settingLimit(CONTROL_SETTINGS.temperature, 0.05),
  topP: settingLimit(CONTROL_SETTINGS.topP, 0.01),
  samplingTopK: settingLimit(CONTROL_SETTINGS.samplingTopK, 1),
};

export const SAMPLE_LIMITS: { readonly [K in keyof SampleOptions]: Limit } = {
  n: { min: 1, max: 10, step: 1, integer: true },
  maxNewTokens: { min: 1, max: 64, step: 1, integer: true },
};

export const DEFAULT_SAMPLE_OPTIONS: SampleOptions = { n: 3, maxNewTokens: 10 };

/** A last context token, shown as a chip. */
export interface ChipView {
  id: number;
  text: string;
  /** Its own probability given the tokens before it; absent for the first context token. */
  prob?: number;
}

export interface RowView {
  /** null when a server names tokens by text only. */
  id: number | null;
  text: string;
  prob: number;
  logprob: number;
  /** null from a server: it gives log-probabilities, not logits. */
  logit: number | null;
  /** Probability under the sampling distribution (0 when truncated away); only when sampling is not the identity. */
  sampledProb?: number;
}

export interface PredictionView {
  /** Identifies this result in `insert` messages, so a click on an outdated row is ignored. */
  id: number;
  /** The text before the cursor was empty: the model conditioned on `<|endoftext|>`. */
  emptyContext: boolean;
  contextTokens: number;
  /** The context was cut to the model's window (or to the panel's character budget). */
  truncated: boolean;
  /** Nats; null when the engine returns only its top alternatives. */
  entropy: number | null;
  rows: RowView[];
  sampling?: { entropy: number | null; keptTokens: number | null };
  /** What the engine could not give, one line each (shown under the rows). */
  notes?: string[];
  /** Which engine answered: "local" or "model @ host". */
  engine?: string;
  tail: ChipView[];
  elapsedMs: number;
  /** Where the prediction was made, for the header and exports; line and column count from 1. */
  fileName: string;
  line: number;
  column: number;
}

export interface SampledTokenView {
  id: number | null;
  text: string;
  prob: number;
  /** null where a server's alternatives do not determine it. */
  sampledProb: number | null;
  /** `sampledProb` over the sum across the samples at this step. */
  normedProb: number | null;
}

export interface SequenceView {
  text: string;
  tokens: SampledTokenView[];
  prob: number;
  sampledProb: number | null;
  logprob: number;
  share: number | null;
  /** Product of the tokens' `normedProb`. */
  normedProd: number | null;
}

export interface SamplesView {
  /** Identifies this run in `insert` messages. */
  id: number;
  sequences: SequenceView[];
  /** The editor's text or cursor changed since: inserting still works, at the current cursor. */
  stale: boolean;
  elapsedMs: number;
}

export type ModelStatusView =
  | { kind: 'starting' }
  | { kind: 'loading'; phase: 'download' | 'load'; file?: string; loadedBytes?: number; totalBytes?: number }
  | { kind: 'ready'; modelId: string }
  /** `code`: the LmLensError code; a server's (`server-…`) gets an "Open settings" button. */
  | { kind: 'error'; message: string; code?: string };

/** Everything the webview shows; also what it keeps with `setState` across reloads. */
export interface PanelState {
  model: ModelStatusView;
  /** False when no text editor is open to follow. */
  hasEditor: boolean;
  controls: PanelControls;
  sampleOptions: SampleOptions;
  prediction?: PredictionView;
  samples?: SamplesView;
  /** A newer prediction is being computed; the old one stays on screen meanwhile. */
  updating: boolean;
  /** A Sample run is in flight. */
  sampling: boolean;
  /** The Layers view's controls; absent = DEFAULT_LENS_CONTROLS (off: the lens costs a step of its own). */
  lens?: LensControls;
  layers?: LayersView;
  /** Why the Layers view shows no grid (a server backend, an export the lens does not know). */
  layersNote?: string;
}

/** Extension → webview. */
export type ExtensionMessage =
  /** The whole view: sent after `ready` and whenever something on screen changes. */
  | { type: 'state'; state: PanelState }
  /** Only the "updating" indicator changed: cheap enough for every keystroke. */
  | { type: 'busy'; updating: boolean };

export type CopyFormat = 'markdown' | 'json';
export type InsertSource = 'prediction' | 'samples';

/** Webview → extension. */
export type WebviewMessage =
  /** The webview's script is running and listening: send it the state. */
  | { type: 'ready' }
  /** The user changed one or more controls; applies at once and persists to settings. */
  | { type: 'setControls'; controls: Partial<PanelControls> }
  /** The user changed the Sample inputs (N, max new tokens). */
  | { type: 'setSampleOptions'; options: Partial<SampleOptions> }
  /**
   * Insert a row's token (prediction) or a sequence's text (samples) at the followed editor's cursor.
   * `replace`: a prediction row's token takes the place of the word after the cursor; `continueAfter`:
   * then ghost text continues from after it.
   */
  | { type: 'insert'; source: InsertSource; resultId: number; index: number; replace?: boolean; continueAfter?: boolean }
  /** Run the Sample action with the current controls and sample options. */
  | { type: 'sample' }
  /** Copy the prediction table to the clipboard. */
  | { type: 'copy'; format: CopyFormat }
  /** Restart the model process after an error, then predict again. */
  | { type: 'retry' }
  /** Open "LM Lens: Select model". */
  | { type: 'selectModel' }
  /** Open the settings that fix the shown error (a server's URL, model or API). */
  | { type: 'openSettings' }
  /** Turn the Layers view on or off, or pick the attention it shows. */
  | { type: 'setLens'; lens: Partial<LensControls> };

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value) && value >= 0;

/** Keeps the known numeric fields of `raw` that are finite numbers; undefined if `raw` is not an object. */
function pickNumbers<K extends string>(raw: unknown, keys: readonly K[]): Partial<Record<K, number>> | undefined {
  if (!isObject(raw)) return undefined;
  const picked: Partial<Record<K, number>> = {};
  for (const key of keys) {
    const value = raw[key];
    if (typeof value === 'number' && Number.isFinite(value)) picked[key] = value;
  }
  return picked;
}

const controlKeys = Object.keys(CONTROL_LIMITS) as Array<keyof PanelControls>;
const sampleKeys = Object.keys(SAMPLE_LIMITS) as Array<keyof SampleOptions>;

/** The message if `raw` has a known type and a valid shape, else undefined (the caller ignores it). */
export function parseWebviewMessage(raw: unknown): WebviewMessage | undefined {
  if (!isObject(raw) || typeof raw.type !== 'string') return undefined;
  switch (raw.type) {
    case 'ready':
    case 'sample':
    case 'retry':
    case 'selectModel':
    case 'openSettings':
      return { type: raw.type };
    case 'setControls': {
      const controls = pickNumbers(raw.controls, controlKeys);
      return controls ? { type: 'setControls', controls } : undefined;
    }
    case 'setSampleOptions': {
      const options = pickNumbers(raw.options, sampleKeys);
      return options ? { type: 'setSampleOptions', options } : undefined;
    }
    case 'insert':
      return (raw.source === 'prediction' || raw.source === 'samples') && isCount(raw.resultId) && isCount(raw.index)
        ? { type: 'insert', source: raw.source, resultId: raw.resultId, index: raw.index, ...(raw.replace === true ? { replace: true } : {}), ...(raw.continueAfter === true ? { continueAfter: true } : {}) }
        : undefined;
    case 'copy':
      return raw.format === 'markdown' || raw.format === 'json' ? { type: 'copy', format: raw.format } : undefined;
    case 'setLens': {
      if (!isObject(raw.lens)) return undefined;
      const lens: Partial<LensControls> = {};
      if (typeof raw.lens.show === 'boolean') lens.show = raw.lens.show;
      // Layer and head are counted from 1 (0 = last layer / mean over heads); the model's counts bound them later.
      for (const key of ['layer', 'head'] as const) if (isCount(raw.lens[key]) && (raw.lens[key] as number) <= 4096) lens[key] = raw.lens[key] as number;
      return { type: 'setLens', lens };
    }
    default:
      return undefined;
  }
}

function clampTo(limit: Limit, value: number): number {
  const clamped = Math.min(limit.max, Math.max(limit.min, value));
  return limit.integer ? Math.round(clamped) : clamped;
}

/** `current` with the valid parts of `changes` applied, each clamped to its range. */
export function mergeLimited<T extends PanelControls | SampleOptions>(limits: { readonly [K in keyof T]: Limit }, current: T, changes: Partial<T>): T {
  const merged = { ...current };
  for (const key of Object.keys(limits) as Array<keyof T>) {
    const value = changes[key];
    if (typeof value === 'number' && Number.isFinite(value)) merged[key] = clampTo(limits[key], value) as T[keyof T];
  }
  return merged;
}

/** The controls as the model process names them; a top-k of 0 is off (the process's own default would be 50). */
export function samplingParams(controls: PanelControls): Required<SamplingParams> {
  return { temperature: controls.temperature, topP: controls.topP, topK: controls.samplingTopK };
}

export function modelStatus(state: ModelState): ModelStatusView {
  switch (state.state) {
    case 'idle':
      return { kind: 'starting' };
    case 'loading':
      return { kind: 'loading', phase: 'load', ...state.progress };
    case 'ready':
      return { kind: 'ready', modelId: engineName(state) };
    case 'error':
      return { kind: 'error', message: state.message, code: state.code };
  }
}

/** Where the text came from; `cut`: the panel sent only the end of a long text. */
export type PredictionPlace = Pick<PredictionView, 'emptyContext' | 'fileName' | 'line' | 'column'> & { cut: boolean };

export function predictionView(id: number, response: NextTokenResponse, place: PredictionPlace): PredictionView {
  const { cut, ...where } = place;
  const sampling = response.sampling;
  const sampled = new Map(sampling?.top.map((token) => [token.id ?? token.text, token.prob]));
  return {
    id,
    ...where,
    contextTokens: response.contextTokens,
    truncated: response.truncated || cut,
    entropy: response.entropy,
    rows: response.top.map(({ id: tokenId, text, prob, logprob, logit }) => ({
      id: tokenId,
      text,
      prob,
      logprob,
      logit,
      // Temperature, top-k and top-p keep the order, so a listed token missing there was truncated away.
      ...(sampling ? { sampledProb: sampled.get(tokenId ?? text) ?? 0 } : {}),
    })),
    ...(sampling ? { sampling: { entropy: sampling.entropy, keptTokens: sampling.keptTokens } } : {}),
    notes: response.notes ?? [],
    ...(response.engine ? { engine: response.engine } : {}),
    tail: response.tail,
    elapsedMs: response.elapsedMs,
  };
}

export function samplesView(id: number, response: SampleResponse, stale: boolean): SamplesView {
  const sequences = response.sequences.map(({ text, tokens, prob, sampledProb, logprob, share, normedProd }) => ({
    text,
    tokens,
    prob,
    sampledProb,
    logprob,
    share,
    normedProd,
  }));
  return { id, sequences, stale, elapsedMs: response.elapsedMs };
}

/** "model @ host" for a server, the model id for the local engine. */
export function engineName(state: Extract<ModelState, { state: 'ready' }>): string {
  if (state.engine && state.engine.kind !== 'local') return `${state.engine.model} @ ${state.engine.host}`;
  return state.info?.id ?? state.engine?.model ?? '';
}
