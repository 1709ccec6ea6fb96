import type { Engine } from './engine';
import { throwIfAborted } from './errors';
import { logSoftmax, samplingLogProbs, drawIndex, seededRandom } from './distribution';
import type { SamplingSettings } from './distribution';
import { fitContext } from './nextToken';
import { kvForRows } from './prefixCache';

export interface GeneratedToken {
  id: number;
  text: string;
  /** The model's raw softmax probability of this token. */
  prob: number;
  /** Its probability under the distribution it was drawn from (what HF `output_scores` give after softmax). */
  sampledProb: number;
}

export interface GeneratedRow {
  tokens: GeneratedToken[];
  /** Why the row ended: token limit, `<|endoftext|>`, or a caller's stop rule. */
  stopReason: 'length' | 'eos' | 'stop';
}

export interface GenerateOptions {
  rows: number;
  maxNewTokens: number;
  /** Picks the next id from a row's raw log-probabilities; returns the id and the probability it was chosen with. */
  choose: (logProbs: Float64Array, logits: Float32Array, row: number) => { id: number; sampledProb: number };
  /** Called after each token; true ends that row (the token is kept). */
  stopAfter?: (tokens: GeneratedToken[]) => boolean;
  signal?: AbortSignal;
}

/**
 * Runs `rows` continuations of one prompt as one batch: the prompt is prefilled once (through
 * the prefix cache), every row attends to its KV state (shared, or tiled to `rows` where it
 * cannot be), then every step is one forward pass for all rows. Finished rows keep feeding `<|endoftext|>` so the batch keeps its shape.
 */
export async function generate(engine: Engine, prompt: number[], options: GenerateOptions): Promise<GeneratedRow[]> {
  const tokenizer = engine.model.tokenizer;
  const eos = engine.model.info.eosTokenId;
  const vocab = engine.vocabSize;
  const { ids } = fitContext(prompt, engine.contextSize, options.maxNewTokens);
  const prefill = await engine.run(ids, { signal: options.signal });
  const rows: GeneratedRow[] = Array.from({ length: options.rows }, () => ({ tokens: [], stopReason: 'length' }));
  const done = new Array<boolean>(options.rows).fill(false);
  let kv = options.rows === 1 ? prefill.kv : kvForRows(prefill.kv, options.rows, options.maxNewTokens, engine.contextSize);
  let logits = options.rows === 1 ? prefill.lastLogits : repeatRows(prefill.lastLogits, options.rows);

  for (let step = 0; step < options.maxNewTokens; step++) {
    throwIfAborted(options.signal);
    const next: number[] = [];
    for (let row = 0; row < options.rows; row++) {
      if (done[row]) {
        next.push(eos);
        continue;
      }
      const rowLogits = logits.subarray(row * vocab, (row + 1) * vocab);
      const logProbs = logSoftmax(rowLogits);
      const { id, sampledProb } = options.choose(logProbs, rowLogits, row);
      const generated = rows[row] as GeneratedRow;
      generated.tokens.push({ id, text: tokenizer.tokenText(id), prob: Math.exp(logProbs[id] as number), sampledProb });
      if (id === eos) {
        done[row] = true;
        generated.stopReason = 'eos';
      } else if (options.stopAfter?.(generated.tokens)) {
        done[row] = true;
        generated.stopReason = 'stop';
      }
      next.push(id);
    }
    if (done.every(Boolean) || step === options.maxNewTokens - 1) break;
    const result = await engine.forward(
      next.map((id) => [id]),
      kv,
      { logitsToKeep: 1, signal: options.signal },
    );
    kv = result.present;
    logits = result.logits;
  }
  if (options.rows === 1) {
    // Keep the continuation's state: a user typing through a suggestion asks for exactly this context next.
    const generatedIds = (rows[0] as GeneratedRow).tokens.map((token) => token.id);
    if (kv.length === ids.length + generatedIds.length - 1 && generatedIds.length > 1) engine.cache.put([...ids, ...generatedIds.slice(0, -1)], kv);
  }
  return rows;
}

function repeatRows(row: Float32Array, rows: number): Float32Array {
  const out = new Float32Array(row.length * rows);
  for (let i = 0; i < rows; i++) out.set(row, i * row.length);
  return out;
}

export interface SampleOptions extends SamplingSettings {
  n?: number;
  maxNewTokens?: number;
  seed?: number;
  signal?: AbortSignal;
  stopAfter?: GenerateOptions['stopAfter'];
}

export interface SampledToken extends GeneratedToken {
  /** `sampledProb` over the sum of the N sequences' `sampledProb` at this step (the notebook's `normed_gen_probs`). */
  normedProb: number;
}

export interface SampledSequence {
  text: string;
  tokens: SampledToken[];
  /** Product of the raw probabilities of its tokens. */
  prob: number;
  /** Product of the sampled probabilities: the chance that sampling produces exactly this sequence again. */
  sampledProb: number;
  /** log of `prob`. */
  logprob: number;
  /** `sampledProb` over the sum of the N sequences' `sampledProb`. */
  share: number;
  /** Product of its tokens' `normedProb` (the notebook's `normed_gen_probs.prod(-1)`). */
  normedProd: number;
  stopReason: GeneratedRow['stopReason'];
}

/** Defaults follow HF `generate(do_sample=True)` with GPT-2's generation config: top_k 50, temperature 1. */
export const HF_SAMPLING_DEFAULTS = { temperature: 1, topK: 50, topP: 1 } as const;

/** The notebook's sampling cell: N continuations, the probability of each token, products and shares. */
export async function sampleContinuations(engine: Engine, prompt: number[], options: SampleOptions = {}): Promise<SampledSequence[]> {
  const settings: SamplingSettings = {
    temperature: options.temperature ?? HF_SAMPLING_DEFAULTS.temperature,
    topK: options.topK ?? HF_SAMPLING_DEFAULTS.topK,
    topP: options.topP ?? HF_SAMPLING_DEFAULTS.topP,
  };
  const random = seededRandom(options.seed ?? Date.now());
  const rows = await generate(engine, prompt, {
    rows: options.n ?? 3,
    maxNewTokens: options.maxNewTokens ?? 10,
    signal: options.signal,
    stopAfter: options.stopAfter,
    choose: (_logProbs, logits) => {
      const sampled = samplingLogProbs(logits, settings);
      const id = drawIndex(sampled, random);
      return { id, sampledProb: Math.exp(sampled[id] as number) };
    },
  });
  const normed = normalizeAcrossRows(rows.map((row) => row.tokens.map((token) => token.sampledProb)));
  const sequences = rows.map((row, r) => {
    const logprob = row.tokens.reduce((sum, token) => sum + Math.log(token.prob), 0);
    const normedRow = normed[r] as number[];
    return {
      text: engine.model.tokenizer.decode(row.tokens.map((token) => token.id)),
      tokens: row.tokens.map((token, step) => ({ ...token, normedProb: normedRow[step] as number })),
      prob: Math.exp(logprob),
      sampledProb: row.tokens.reduce((product, token) => product * token.sampledProb, 1),
      logprob,
      share: 0,
      normedProd: normedRow.reduce((product, value) => product * value, 1),
      stopReason: row.stopReason,
    };
  });
  const total = sequences.reduce((sum, sequence) => sum + sequence.sampledProb, 0);
  for (const sequence of sequences) sequence.share = total > 0 ? sequence.sampledProb / total : 1 / sequences.length;
  return sequences;
}

/**
 * Divides each step's value by the column sum over the rows that reached that step. HF pads a
 * finished row with `<|endoftext|>` and scores the pad too; here a finished row has no token at
 * later steps, so each column sums to 1 over the rows still generating.
 */
export function normalizeAcrossRows(rows: readonly number[][]): number[][] {
  const steps = Math.max(0, ...rows.map((row) => row.length));
  const sums = Array.from({ length: steps }, (_, step) => rows.reduce((sum, row) => sum + (row[step] ?? 0), 0));
  return rows.map((row) => row.map((value, step) => (sums[step] as number) > 0 ? value / (sums[step] as number) : 1 / rows.filter((other) => other.length > step).length));
}
