// The test oracle: a plain float64 GPT-2 forward pass, written for obviousness rather than speed.
// It reads its weights back out of onnx/model.onnx by initializer name (never from the builder's
// memory) and its shape from config.json, so it checks the written file end to end.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { onnx } from 'onnx-proto';
import { Arithmetic, exact } from './arithmetic';
import type { Precision } from './arithmetic';
import { LLAMA_FAMILY_TYPES, loadLlamaReference } from './referenceLlama';

export interface ReferenceConfig {
  layers: number;
  dim: number;
  heads: number;
  vocabSize: number;
  contextSize: number;
  epsilon: number;
}

export interface ReferenceModel {
  readonly config: ReferenceConfig;
  /** One vocab-sized row of logits per position; position ids start at 0. */
  logits(ids: number[]): Float64Array[];
}

/** A reference that also gives what the logit lens reads (GPT-2's and the Llama family's). */
export interface LensReference extends ReferenceModel {
  /** The whole forward pass, with what the logit lens reads: see ReferenceForward. */
  forward(ids: number[]): ReferenceForward;
  /** The final norm (ln_f, or RMSNorm) then the output matrix, for one residual-stream row. */
  project(hidden: Float64Array): Float64Array;
  /** log p(ids[i] | ids[<i]) at the positions asked for only (a row of logits costs vocabulary · hidden). */
  tokenLogprobs(ids: number[], positions: readonly number[]): number[];
}

export interface ReferenceForward {
  /** [L + 1][position][dim]: the residual stream after the embeddings (0) and after each block. */
  hidden: Float64Array[][];
  /** [layer][head][query][key]: softmax attention weights (keys 0..query). */
  attention: number[][][][];
  logits: Float64Array[];
}

export interface TopEntry {
  id: number;
  logit: number;
  prob: number;
}

export type Matrix = { rows: number; cols: number; data: Float64Array };

function toNumber(value: number | { toNumber(): number }): number {
  return typeof value === 'number' ? value : value.toNumber();
}

/** Every float32 initializer of an ONNX file, widened to float64, by name. */
export function readOnnxFloatInitializers(file: string): Map<string, Matrix> {
  const model = onnx.ModelProto.decode(readFileSync(file));
  const result = new Map<string, Matrix>();
  for (const tensor of model.graph?.initializer ?? []) {
    if (tensor.dataType !== onnx.TensorProto.DataType.FLOAT || !tensor.name) continue;
    const dims = (tensor.dims ?? []).map(toNumber);
    const count = dims.reduce((a, b) => a * b, 1);
    const data = new Float64Array(count);
    if (tensor.rawData && tensor.rawData.length > 0) {
      const view = new DataView(tensor.rawData.buffer, tensor.rawData.byteOffset, tensor.rawData.byteLength);
      for (let i = 0; i < count; i++) data[i] = view.getFloat32(i * 4, true);
    } else {
      data.set(tensor.floatData ?? []);
    }
    const cols = dims.length > 0 ? dims[dims.length - 1] : 1;
    result.set(tensor.name, { rows: count / cols, cols, data });
  }
  return result;
}

class Gpt2Reference implements LensReference {
  private readonly math: Arithmetic;

  constructor(
    readonly config: ReferenceConfig,
    private readonly weights: Map<string, Matrix>,
    precision: Precision = 'float64',
  ) {
    this.math = new Arithmetic(precision === 'float32' ? Math.fround : exact);
  }

  private w(name: string): Matrix {
    const found = this.weights.get(name);
    if (!found) throw new Error(`initializer ${name} not found in the ONNX file`);
    return found;
  }

  logits(ids: number[]): Float64Array[] {
    return this.forward(ids).logits;
  }

  project(hidden: Float64Array): Float64Array {
    const final = this.math.layerNorm(hidden, this.w('transformer.ln_f.weight'), this.w('transformer.ln_f.bias'), this.config.epsilon);
    const wte = this.w('transformer.wte.weight');
    const row = new Float64Array(this.config.vocabSize);
    for (let v = 0; v < row.length; v++) row[v] = this.math.dot(final, 0, wte.data, v * this.config.dim, this.config.dim);
    return row;
  }

  forward(ids: number[]): ReferenceForward {
    const stream = this.residualStream(ids);
    return { ...stream, logits: (stream.hidden.at(-1) as Float64Array[]).map((x) => this.project(x)) };
  }

  tokenLogprobs(ids: number[], positions: readonly number[]): number[] {
    const last = this.residualStream(ids).hidden.at(-1) as Float64Array[];
    return positions.map((i) => this.math.logSoftmax(this.project(last[i - 1] as Float64Array))[ids[i] as number] as number);
  }

  private residualStream(ids: number[]): Omit<ReferenceForward, 'logits'> {
    const { dim, heads, layers, epsilon, contextSize } = this.config;
    if (ids.length > contextSize) throw new Error(`${ids.length} tokens exceed the context size ${contextSize}`);
    const m = this.math;
    const r = m.round;
    const headDim = dim / heads;
    const scale = Math.sqrt(headDim);
    const wte = this.w('transformer.wte.weight');
    const wpe = this.w('transformer.wpe.weight');
    let h = ids.map((id, t) => {
      const row = new Float64Array(dim);
      for (let d = 0; d < dim; d++) row[d] = r(wte.data[id * dim + d] + wpe.data[t * dim + d]);
      return row;
    });
    const stream = [h];
    const attention: number[][][][] = [];

    for (let layer = 0; layer < layers; layer++) {
      const weights: number[][][] = Array.from({ length: heads }, () => []);
      attention.push(weights);
      const p = `transformer.h.${layer}`;
      const qkv = h.map((x) => m.project(m.layerNorm(x, this.w(`${p}.ln_1.weight`), this.w(`${p}.ln_1.bias`), epsilon), this.w(`${p}.attn.c_attn.weight`), this.w(`${p}.attn.c_attn.bias`)));
      // Query i attends to keys 0..i; q, k, v of head hd live at offsets hd·headDim in thirds of qkv.
      const attended = qkv.map((query, i) => {
        const merged = new Float64Array(dim);
        for (let head = 0; head < heads; head++) {
          const offset = head * headDim;
          const probs = m.softmax(Array.from({ length: i + 1 }, (_, j) => r(m.dot(query, offset, qkv[j], dim + offset, headDim) / scale)));
          (weights[head] as number[][])[i] = probs;
          for (let j = 0; j <= i; j++) {
            for (let d = 0; d < headDim; d++) merged[offset + d] = r(merged[offset + d] + probs[j] * qkv[j][2 * dim + offset + d]);
          }
        }
        return merged;
      });
      h = h.map((x, t) => {
        const afterAttention = m.project(attended[t], this.w(`${p}.attn.c_proj.weight`), this.w(`${p}.attn.c_proj.bias`)).map((v, d) => r(v + x[d]));
        const normed = m.layerNorm(afterAttention, this.w(`${p}.ln_2.weight`), this.w(`${p}.ln_2.bias`), epsilon);
        const hidden = m.project(normed, this.w(`${p}.mlp.c_fc.weight`), this.w(`${p}.mlp.c_fc.bias`)).map((v) => m.gelu(v));
        return m.project(hidden, this.w(`${p}.mlp.c_proj.weight`), this.w(`${p}.mlp.c_proj.bias`)).map((v, d) => r(v + afterAttention[d]));
      });
      stream.push(h);
    }
    return { hidden: stream, attention };
  }
}

/**
 * Loads config.json and onnx/model.onnx (or `file`) of a GPT-2 or Llama-family folder into the
 * float64 reference; 4-bit MatMulNBits weights (Llama family) are dequantised by their format.
 */
export async function loadReference(folder: string, file = 'onnx/model.onnx', precision: Precision = 'float64'): Promise<ReferenceModel> {
  const raw = JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8')) as Record<string, number>;
  if (LLAMA_FAMILY_TYPES.includes(String(raw.model_type))) return loadLlamaReference(folder, file, precision);
  const config: ReferenceConfig = {
    layers: raw.n_layer,
    dim: raw.n_embd,
    heads: raw.n_head,
    vocabSize: raw.vocab_size,
    contextSize: raw.n_positions,
    epsilon: raw.layer_norm_epsilon ?? 1e-5,
  };
  return new Gpt2Reference(config, readOnnxFloatInitializers(join(folder, 'onnx', 'model.onnx')), precision);
}

/** The reference of a test model (GPT-2 or Llama family), with hidden states and attention for the logit lens. */
export async function loadLensReference(folder: string, precision: Precision = 'float64'): Promise<LensReference> {
  const reference = await loadReference(folder, undefined, precision);
  if (!('forward' in reference)) throw new Error(`${folder}: this reference gives no hidden states`);
  return reference as LensReference;
}

export function logSoftmax(row: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]);
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  const logSum = max + Math.log(sum);
  return Float64Array.from({ length: row.length }, (_, i) => row[i] - logSum);
}

export function softmax(row: ArrayLike<number>): Float64Array {
  return logSoftmax(row).map(Math.exp);
}

/** Shannon entropy (nats) of softmax(row). */
export function entropy(row: ArrayLike<number>): number {
  return logSoftmax(row).reduce((sum, lp) => sum - Math.exp(lp) * lp, 0);
}

/** HF-style loss: mean over positions 1..n-1 of -log p(ids[i] | ids[<i]), from the logits rows. */
export function meanLossFromLogits(rows: ArrayLike<number>[], ids: number[]): number {
  if (ids.length < 2) throw new Error('the loss needs at least two tokens');
  let total = 0;
  for (let i = 1; i < ids.length; i++) total -= logSoftmax(rows[i - 1])[ids[i]];
  return total / (ids.length - 1);
}

export function meanLoss(model: ReferenceModel, ids: number[]): number {
  return meanLossFromLogits(model.logits(ids), ids);
}

/** The k highest-logit tokens, ties broken by the lower id, with their probabilities. */
export function topK(row: ArrayLike<number>, k: number): TopEntry[] {
  const logProbs = logSoftmax(row);
  // Insertion into a short sorted list: O(vocab · k), and plain enough to trust.
  const best: number[] = [];
  for (let id = 0; id < row.length; id++) {
    if (best.length === k && row[id] <= row[best[k - 1]]) continue;
    let at = best.length;
    while (at > 0 && row[best[at - 1]] < row[id]) at--;
    best.splice(at, 0, id);
    if (best.length > k) best.pop();
  }
  return best.map((id) => ({ id, logit: row[id], prob: Math.exp(logProbs[id]) }));
}
