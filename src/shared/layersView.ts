// The next-token panel's Layers view (issue 23): what each layer predicts at the cursor (logit
// lens) and where the next token looks. The model process answers `lmLens/lens` with every
// layer's and head's attention; the extension keeps it and sends the webview only the row the
// attention controls pick, over the context positions. No `vscode` import: the webview bundle
// and the unit tests use it too.
import type { LensResponse } from './hostProtocol';

/** The Layers view's controls. */
export interface LensControls {
  show: boolean;
  /** Whose attention the token strip and the editor show: block 1..L; 0 = the last. */
  layer: number;
  /** 1..heads; 0 = the mean over heads. */
  head: number;
}

export const DEFAULT_LENS_CONTROLS: LensControls = { show: false, layer: 0, head: 0 };

/** Top tokens per layer the panel asks for: three columns still leave rank, entropy and KL in view beside the editor. */
export const LENS_TOP = 3;

export interface LensRowView {
  /** 0 = after the embeddings, i = after block i. */
  layer: number;
  top: Array<{ id: number; text: string; prob: number }>;
  entropy: number;
  klToFinal: number;
  /** Rank of the final prediction in this layer's distribution (1 = this layer's top). */
  finalRank: number;
  finalProb: number;
}

export interface LayersView {
  /** The prediction this was computed with (PredictionView.id). */
  id: number;
  rows: LensRowView[];
  /** The final prediction's text. */
  finalText: string;
  layerCount: number;
  headCount: number;
  contextTokens: number;
  /** The attention the controls pick, resolved: layer 1..L, head 1..H or 0 for the mean. */
  layer: number;
  head: number;
  /** That attention's weight of each context position (sums to 1). */
  attention: number[];
  elapsedMs: number;
}

/** The controls' layer and head within the model's counts (0 = last layer / mean over heads). */
export function resolveAttention(controls: LensControls, layerCount: number, headCount: number): { layer: number; head: number } {
  const layer = controls.layer >= 1 && controls.layer <= layerCount ? Math.round(controls.layer) : layerCount;
  const head = controls.head >= 1 && controls.head <= headCount ? Math.round(controls.head) : 0;
  return { layer, head };
}

/** One layer's attention row: a head's, or the mean over heads. */
export function attentionRow(attention: number[][][], layer: number, head: number): number[] {
  const heads = attention[layer - 1] ?? [];
  if (head >= 1) return [...(heads[head - 1] ?? [])];
  const length = heads[0]?.length ?? 0;
  return Array.from({ length }, (_, position) => heads.reduce((sum, row) => sum + (row[position] as number), 0) / Math.max(1, heads.length));
}

export function layersView(id: number, response: LensResponse, controls: LensControls): LayersView {
  const layerCount = response.attention.length;
  const headCount = response.attention[0]?.length ?? 0;
  const { layer, head } = resolveAttention(controls, layerCount, headCount);
  const final = response.layers.at(-1);
  return {
    id,
    rows: response.layers.map((row) => ({
      layer: row.layer,
      top: row.top.map(({ id: tokenId, text, prob }) => ({ id: tokenId, text, prob })),
      entropy: row.entropy,
      klToFinal: row.klToFinal,
      finalRank: row.final.rank,
      finalProb: row.final.prob,
    })),
    finalText: final?.top[0]?.text ?? '',
    layerCount,
    headCount,
    contextTokens: response.contextTokens,
    layer,
    head,
    attention: attentionRow(response.attention, layer, head),
    elapsedMs: response.elapsedMs,
  };
}

/** Shading levels for attention (the editor's decorations and the strip's chips use the same). */
export const ATTENTION_LEVELS = 8;

/** 0 (none) … ATTENTION_LEVELS: a weight relative to the row's largest, so the most attended token is always the strongest. */
export function attentionLevel(weight: number, max: number): number {
  if (!(max > 0) || !(weight > 0)) return 0;
  return Math.max(1, Math.min(ATTENTION_LEVELS, Math.ceil((weight / max) * ATTENTION_LEVELS)));
}
