// Runs a GPT-2 ONNX file directly with onnxruntime-node, feeding inputs the way HF and
// transformers.js do, so tests can check the graph without any product code in between.
import * as ort from 'onnxruntime-node';

export interface Gpt2RunShape {
  layers: number;
  heads: number;
  headDim: number;
}

export interface Gpt2Step {
  /** One row per batch entry, all the same length (pad on the left for batches). */
  ids: number[][];
  /** Defaults to all ones over past + new tokens. */
  mask?: number[][];
  /** Defaults to HF's rule: cumsum(mask) - 1, with padded positions set to 1. */
  positions?: number[][];
  /** present.* outputs of a previous step; empty cache when absent. */
  past?: Record<string, ort.Tensor>;
  /** Fed only when the graph has the input; 0 (all positions) unless given. */
  numLogitsToKeep?: number;
}

export interface Gpt2StepResult {
  /** [batch][position] rows of vocab-sized logits. */
  logits: Float32Array[][];
  /** present.* outputs renamed to past_key_values.* for the next step. */
  past: Record<string, ort.Tensor>;
}

export function int64Tensor(rows: number[][]): ort.Tensor {
  const flat = rows.flat().map((v) => BigInt(v));
  return new ort.Tensor('int64', BigInt64Array.from(flat), [rows.length, rows[0]?.length ?? 0]);
}

/** HF GPT-2 position ids for a (left-padded) mask: cumsum(mask) - 1, padded slots set to 1. */
export function positionsFromMask(mask: number[][], count: number): number[][] {
  return mask.map((row) => {
    let sum = 0;
    const positions = row.map((m) => {
      sum += m;
      return m === 0 ? 1 : sum - 1;
    });
    return positions.slice(positions.length - count);
  });
}

export async function createGpt2Session(file: string): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1 });
}

export async function runGpt2(session: ort.InferenceSession, shape: Gpt2RunShape, step: Gpt2Step): Promise<Gpt2StepResult> {
  const batch = step.ids.length;
  const length = step.ids[0].length;
  const pastLength = step.past ? step.past['past_key_values.0.key'].dims[2] : 0;
  const mask = step.mask ?? step.ids.map(() => new Array<number>(pastLength + length).fill(1));
  const feeds: Record<string, ort.Tensor> = {
    input_ids: int64Tensor(step.ids),
    attention_mask: int64Tensor(mask),
    position_ids: int64Tensor(step.positions ?? positionsFromMask(mask, length)),
  };
  for (let layer = 0; layer < shape.layers; layer++) {
    for (const part of ['key', 'value']) {
      const name = `past_key_values.${layer}.${part}`;
      feeds[name] = step.past?.[name] ?? new ort.Tensor('float32', new Float32Array(0), [batch, shape.heads, 0, shape.headDim]);
    }
  }
  if (session.inputNames.includes('num_logits_to_keep')) {
    feeds.num_logits_to_keep = new ort.Tensor('int64', BigInt64Array.of(BigInt(step.numLogitsToKeep ?? 0)), []);
  }
  const outputs = await session.run(feeds);
  const logitsTensor = outputs.logits;
  const [, rows, vocab] = logitsTensor.dims;
  const data = logitsTensor.data as Float32Array;
  const logits = Array.from({ length: batch }, (_, b) =>
    Array.from({ length: rows }, (_, r) => data.subarray((b * rows + r) * vocab, (b * rows + r + 1) * vocab)),
  );
  const past: Record<string, ort.Tensor> = {};
  for (const [name, tensor] of Object.entries(outputs)) {
    if (name.startsWith('present.')) past[name.replace('present.', 'past_key_values.')] = tensor;
  }
  return { logits, past };
}

/** Largest absolute difference between two equally long rows. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}
