// The logit lens at the end of a text: what the next token would be if the model stopped after
// each block (the last position's residual stream through the model's own final norm and output
// matrix), and where the next token looks (each layer's and head's attention weights of the
// last position over the context). Definitions: issue 23 and the README (Layers).
import type { Engine } from './engine';
import { LmLensError } from './errors';
import { entropy, logSoftmax, topKIndices } from './distribution';
import type { KvState, LensForward } from './model';
import { fitContext, promptIds } from './nextToken';
import { sliceKv } from './prefixCache';

import type { LensLayer, LensResult } from '../shared/engineTypes';
export type { LensLayer, LensResult, LensTopToken } from '../shared/engineTypes';

export interface LensOptions {
  /** Top tokens per layer (default 10). */
  top?: number;
  bos?: boolean;
  signal?: AbortSignal;
}

/** The KV state of `prefix`: the cached one when a cached context starts with it (no step), else a prefill. */
async function pastFor(engine: Engine, prefix: number[], signal: AbortSignal | undefined): Promise<KvState | undefined> {
  if (prefix.length === 0) return undefined;
  // A next-token request for the same text has cached all of it: its first n-1 positions are the past.
  const match = engine.cache.longestPrefix(prefix);
  if (match && match.length === prefix.length) return sliceKv(match.entry.kv, prefix.length);
  return (await engine.run(prefix, { signal })).kv;
}

/** The lens at the end of `text` (the same context a next-token request uses). */
export async function lensAt(engine: Engine, text: string, options: LensOptions = {}): Promise<LensResult> {
  const info = engine.model.info;
  if (info.decodePath !== 'owned-kv') throw new LmLensError('lens-unavailable', `The layer lens needs the owned-KV decode path, which ${info.id} does not run on (see the log for why).`);
  const fitted = fitContext(promptIds(engine, text, options.bos), engine.contextSize);
  const ids = fitted.ids;
  const past = await pastFor(engine, ids.slice(0, -1), options.signal);
  const step = await engine.lensForward(ids.slice(-1), past, options.top ?? 10, options.signal);
  // The next keystroke's past is this text's first n-1 positions, and the cache hands out the
  // shortest entry that holds them: point both entries at the step's buffer, which has free slots.
  // Left as they were, every lens step appended to a prefix buffer full after the first step and
  // first copied the whole past into a new one (≈ 37 MB at 512 tokens, 2-3× the step). No logits:
  // a next-token request for this text computes its own.
  if (past) engine.cache.put(ids.slice(0, -1), sliceKv(step.present, ids.length - 1));
  engine.cache.put(ids, step.present);
  const tokenizer = engine.model.tokenizer;
  return {
    model: info.id,
    contextTokens: ids.length,
    truncated: fitted.truncated,
    tokens: ids.map((id) => ({ id, text: tokenizer.tokenText(id) })),
    ...describeLens(step, { layers: info.layers, heads: info.heads, tokenText: (id) => tokenizer.tokenText(id) }),
  };
}

export interface LensShape {
  layers: number;
  heads: number;
  tokenText: (id: number) => string;
}

/**
 * The per-layer rows and attention of one lens step. The graph reduced every row (float32, as the
 * scoring head does); the last row, the model's own distribution, is described again in float64
 * from its logits, exactly as a next-token request describes it, so the two agree.
 */
export function describeLens(step: LensForward, shape: LensShape): Pick<LensResult, 'layers' | 'attention'> {
  const { layers, heads } = shape;
  const rows = layers + 1;
  const k = step.topIds.length / rows;
  if (!Number.isInteger(k) || step.entropy.length !== rows) throw new Error(`internal: the lens graph answered ${step.entropy.length} rows, expected ${rows}`);
  const final = logSoftmax(step.finalLogits);
  const finalId = topKIndices(step.finalLogits, 1)[0] as number;
  const described = Array.from({ length: rows }, (_, layer): LensLayer => {
    if (layer === layers) {
      const top = topKIndices(step.finalLogits, k).map((id) => ({ id, text: shape.tokenText(id), prob: Math.exp(final[id] as number), logprob: final[id] as number }));
      // KL(final ‖ final) is 0 by definition, not float noise.
      return { layer, top, entropy: entropy(final), klToFinal: 0, final: { id: finalId, prob: Math.exp(final[finalId] as number), rank: 1 } };
    }
    const top = Array.from({ length: k }, (_, j) => {
      const id = Number(step.topIds[layer * k + j]);
      const logprob = step.topLogprobs[layer * k + j] as number;
      return { id, text: shape.tokenText(id), prob: Math.exp(logprob), logprob };
    });
    const finalLogprob = step.finalLogprob[layer] as number;
    return {
      layer,
      top,
      entropy: step.entropy[layer] as number,
      klToFinal: Math.max(0, step.klToFinal[layer] as number),
      final: { id: finalId, prob: Math.exp(finalLogprob), rank: (step.aboveFinal[layer] as number) + 1 },
    };
  });
  // A graph whose attention rows are not one per layer and query head would be read as wrong numbers.
  if (step.attention.length !== layers * heads * step.width) throw new LmLensError('lens-unavailable', `The layer lens read ${step.attention.length / step.width} attention rows from this model's graph, not ${layers} layers × ${heads} query heads.`);
  const attention = Array.from({ length: layers }, (_, layer) =>
    Array.from({ length: heads }, (_, head) => {
      const base = (layer * heads + head) * step.width;
      return step.columns.map((column) => step.attention[base + column] as number);
    }),
  );
  return { layers: described, attention };
}

/** Mean over heads of one layer's attention rows (the panel's "all heads"). */
export function meanOverHeads(rows: number[][]): number[] {
  const length = rows[0]?.length ?? 0;
  return Array.from({ length }, (_, position) => rows.reduce((sum, row) => sum + (row[position] as number), 0) / Math.max(1, rows.length));
}
