// The logit lens at the end of a text: what the next token would be if the model stopped after
// each block (the last position's residual stream through the model's own final norm and output
// matrix), and where the next token looks (each layer's and head's attention weights of the
// last position over the context). Definitions: issue 23 and docs/lens.md.
import type { Engine } from './engine';
import { LmLensError } from './errors';
import { entropy, logSoftmax, rankOf, topKIndices } from './distribution';
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
  const tokenizer = engine.model.tokenizer;
  return {
    model: info.id,
    contextTokens: ids.length,
    truncated: fitted.truncated,
    tokens: ids.map((id) => ({ id, text: tokenizer.tokenText(id) })),
    ...describeLens(step, { layers: info.layers, heads: info.heads, vocabSize: info.vocabSize, top: options.top ?? 10, tokenText: (id) => tokenizer.tokenText(id) }),
  };
}

export interface LensShape {
  layers: number;
  heads: number;
  vocabSize: number;
  top: number;
  tokenText: (id: number) => string;
}

/** The per-layer rows and attention of one lens step, in float64 from its float32 outputs. */
export function describeLens(step: LensForward, shape: LensShape): Pick<LensResult, 'layers' | 'attention'> {
  const { layers, heads, vocabSize: vocab } = shape;
  const rows = layers + 1;
  if (step.logits.length !== rows * vocab) throw new Error(`internal: lens logits hold ${step.logits.length} values, expected ${rows}×${vocab}`);
  const logProbs = Array.from({ length: rows }, (_, row) => logSoftmax(step.logits, row * vocab, vocab));
  const finalLogProbs = logProbs[layers] as Float64Array;
  const finalId = topKIndices(step.logits, 1, layers * vocab, vocab)[0] as number;
  const described = logProbs.map((lp, layer): LensLayer => {
    let kl = 0;
    for (let id = 0; id < vocab; id++) {
      const lpFinal = finalLogProbs[id] as number;
      if (lpFinal > -Infinity) kl += Math.exp(lpFinal) * (lpFinal - (lp[id] as number));
    }
    return {
      layer,
      top: topKIndices(step.logits, shape.top, layer * vocab, vocab).map((id) => ({ id, text: shape.tokenText(id), prob: Math.exp(lp[id] as number), logprob: lp[id] as number })),
      entropy: entropy(lp),
      klToFinal: Math.max(0, kl),
      final: { id: finalId, prob: Math.exp(lp[finalId] as number), rank: rankOf(step.logits, finalId, layer * vocab, vocab) },
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
