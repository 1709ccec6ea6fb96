// The logit lens at the end of a text: what the next token would be if the model stopped after
// each block (the last position's residual stream through the model's own final norm and output
// matrix), and where the next token looks (each layer's and head's attention weights of the
// last position over the context). Definitions: issue 23 and docs/lens.md.
import type { Engine } from './engine';
import { LmLensError } from './errors';
import { topKIndices } from './distribution';
import type { RowStats } from './scoringHead';
import type { KvState, LensForward } from './model';
import { fitContext, promptIds } from './nextToken';
import { sliceKv } from './prefixCache';

export interface LensTopToken {
  id: number;
  text: string;
  prob: number;
  logprob: number;
}

export interface LensLayer {
  /** 0 = after the embeddings, i = after block i; the last is the model's own distribution. */
  layer: number;
  top: LensTopToken[];
  /** Nats. */
  entropy: number;
  /** KL(final ‖ this layer) in nats: Σ p_final · (log p_final − log p_layer). */
  klToFinal: number;
  /** The final distribution's top-1 token as this layer sees it; rank 1 = this layer's top. */
  final: { id: number; prob: number; rank: number };
}

export interface LensResult {
  model: string;
  contextTokens: number;
  /** Whether the text was cut to fit the context window. */
  truncated: boolean;
  tokens: Array<{ id: number; text: string }>;
  /** L + 1 rows. */
  layers: LensLayer[];
  /** [layer][head][position]: the last position's attention weights; each row sums to 1. */
  attention: number[][][];
}

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
  const step = await engine.lensForward(ids.slice(-1), past, options.signal);
  // The next keystroke's past is this text's first n-1 positions, and the cache hands out the
  // shortest entry that holds them: point both entries at the step's buffer, which has free slots.
  // Left as they were, every lens step appended to a prefix buffer full after the first step and
  // first copied the whole past into a new one (≈ 37 MB at 512 tokens, 2-3× the step). No logits:
  // a next-token request for this text computes its own.
  if (past) engine.cache.put(ids.slice(0, -1), sliceKv(step.present, ids.length - 1));
  engine.cache.put(ids, step.present);
  const tokenizer = engine.model.tokenizer;
  const rows = info.layers + 1;
  const finalId = topKIndices(step.logits, 1, info.layers * info.vocabSize, info.vocabSize)[0] as number;
  const stats = await engine.rowStats(step.logits, rows, new Array<number>(rows).fill(finalId), options.top ?? 10, options.signal);
  return {
    model: info.id,
    contextTokens: ids.length,
    truncated: fitted.truncated,
    tokens: ids.map((id) => ({ id, text: tokenizer.tokenText(id) })),
    ...describeLens(step, stats, finalId, { layers: info.layers, heads: info.heads, vocabSize: info.vocabSize, tokenText: (id) => tokenizer.tokenText(id) }),
  };
}

export interface LensShape {
  layers: number;
  heads: number;
  vocabSize: number;
  tokenText: (id: number) => string;
}

/** The final distribution (the last row) in float64: its probabilities and entropy, for every layer's KL. */
function finalDistribution(logits: Float32Array, offset: number, vocab: number): { probs: Float64Array; entropy: number } {
  let max = -Infinity;
  for (let i = 0; i < vocab; i++) if ((logits[offset + i] as number) > max) max = logits[offset + i] as number;
  let sum = 0;
  for (let i = 0; i < vocab; i++) sum += Math.exp((logits[offset + i] as number) - max);
  const logZ = max + Math.log(sum);
  const probs = new Float64Array(vocab);
  let entropy = 0;
  for (let i = 0; i < vocab; i++) {
    const lp = (logits[offset + i] as number) - logZ;
    const p = Math.exp(lp);
    probs[i] = p;
    entropy -= p * lp;
  }
  return { probs, entropy };
}

/**
 * The per-layer rows and attention of one lens step. Log-sum-exp, entropy, the final token's
 * rank and the top-k of each row come from `stats` (the engine's ORT row statistics, against
 * `finalId` in every row): in JS, 13 rows of GPT-2's 50,257 logits took 17–70 ms, as much as
 * the model's step. KL(final ‖ layer) = −H(final) − Σ p_final·x + logZ needs one dot product per row.
 */
export function describeLens(step: LensForward, stats: RowStats, finalId: number, shape: LensShape): Pick<LensResult, 'layers' | 'attention'> {
  const { layers, heads, vocabSize: vocab } = shape;
  const rows = layers + 1;
  const logits = step.logits;
  if (logits.length !== rows * vocab) throw new Error(`internal: lens logits hold ${logits.length} values, expected ${rows}×${vocab}`);
  const final = finalDistribution(logits, layers * vocab, vocab);
  const k = stats.topIds.length / rows;
  const described = Array.from({ length: rows }, (_, layer): LensLayer => {
    const offset = layer * vocab;
    const logZ = stats.logZ[layer] as number;
    let dot = 0;
    for (let i = 0; i < vocab; i++) dot += (final.probs[i] as number) * (logits[offset + i] as number);
    const top = Array.from({ length: k }, (_, j) => {
      const id = Number(stats.topIds[layer * k + j]);
      const logprob = (stats.topLogits[layer * k + j] as number) - logZ;
      return { id, text: shape.tokenText(id), prob: Math.exp(logprob), logprob };
    });
    const finalLogprob = (logits[offset + finalId] as number) - logZ;
    return {
      layer,
      top,
      // The last row's in float64, as the next-token distribution's is: the two agree to the digit.
      entropy: layer === layers ? final.entropy : (stats.entropy[layer] as number),
      // The last row is the final distribution itself: its KL is 0 by definition, not float noise.
      klToFinal: layer === layers ? 0 : Math.max(0, -final.entropy - dot + logZ),
      final: { id: finalId, prob: Math.exp(finalLogprob), rank: (stats.greater[layer] as number) + 1 },
    };
  });
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
