// The float64 oracle for the Llama family (llama, qwen2, qwen3), written from the published math
// (HF modeling_llama / modeling_qwen2 / modeling_qwen3 and _compute_llama3_parameters), never from
// the builder's graph: shape and options come from config.json, weights by name from the ONNX file.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { onnx } from 'onnx-proto';
import type { LensReference, Matrix, ReferenceConfig, ReferenceForward } from './reference';
import { readOnnxFloatInitializers } from './reference';
import { Arithmetic, exact } from './arithmetic';
import type { Precision } from './arithmetic';

/**
 * The float weights of an ONNX file by name, plus every 4-bit MatMulNBits weight dequantised
 * from `<name>_Q4` ([N, K/block, block/2] bytes, low nibble first, zero point 8) and
 * `<name>_scales` ([N · K/block]) into `<name>` as [K, N], per com.microsoft's MatMulNBits spec.
 */
export function readLlamaWeights(file: string): Map<string, Matrix> {
  const weights = readOnnxFloatInitializers(file);
  const model = onnx.ModelProto.decode(readFileSync(file));
  for (const tensor of model.graph?.initializer ?? []) {
    const name = tensor.name ?? '';
    if (!name.endsWith('_Q4') || !tensor.rawData) continue;
    const [n, blocks, half] = (tensor.dims ?? []).map(Number) as [number, number, number];
    const base = name.slice(0, -'_Q4'.length);
    const scales = weights.get(`${base}_scales`);
    if (!scales) throw new Error(`${base}_scales not found`);
    const block = half * 2;
    const k = blocks * block;
    const data = new Float64Array(k * n);
    for (let col = 0; col < n; col++) {
      for (let row = 0; row < k; row++) {
        const byte = tensor.rawData[col * blocks * half + Math.floor(row / 2)] as number;
        const q = row % 2 === 0 ? byte & 0x0f : byte >> 4;
        data[row * n + col] = (q - 8) * (scales.data[col * blocks + Math.floor(row / block)] as number);
      }
    }
    weights.set(base, { rows: k, cols: n, data });
  }
  return weights;
}

interface LlamaReferenceConfig extends ReferenceConfig {
  kvHeads: number;
  headDim: number;
  bias: boolean;
  qkNorm: boolean;
  tied: boolean;
  inverseFrequencies: Float64Array;
}


/** theta^(-2i/d), then llama3's piecewise rescaling by wavelength when the config asks for it. */
export function referenceInverseFrequencies(raw: Record<string, unknown>, headDim: number): Float64Array {
  const theta = raw.rope_theta as number;
  const scaling = raw.rope_scaling as Record<string, number | string> | null | undefined;
  return Float64Array.from({ length: headDim / 2 }, (_, i) => {
    const inv = theta ** (-(2 * i) / headDim);
    if (!scaling || scaling.rope_type !== 'llama3') return inv;
    const factor = scaling.factor as number;
    const low = scaling.low_freq_factor as number;
    const high = scaling.high_freq_factor as number;
    const original = scaling.original_max_position_embeddings as number;
    const wavelength = (2 * Math.PI) / inv;
    if (wavelength > original / low) return inv / factor;
    if (wavelength < original / high) return inv;
    const smooth = (original / wavelength - low) / (high - low);
    return (1 - smooth) * (inv / factor) + smooth * inv;
  });
}


export class LlamaReference implements LensReference {
  private readonly math: Arithmetic;
  private readonly inverseFrequencies: Float64Array;

  constructor(
    readonly config: LlamaReferenceConfig,
    private readonly weights: Map<string, Matrix>,
    precision: Precision,
  ) {
    this.math = new Arithmetic(precision === 'float32' ? Math.fround : exact);
    this.inverseFrequencies = config.inverseFrequencies.map(this.math.round);
  }

  private w(name: string): Matrix {
    const found = this.weights.get(name);
    if (!found) throw new Error(`initializer ${name} not found in the ONNX file`);
    return found;
  }

  logits(ids: number[]): Float64Array[] {
    return this.forward(ids).logits;
  }

  /** The final RMSNorm, then the output matrix (the tied embedding or lm_head), for one residual-stream row. */
  project(hidden: Float64Array): Float64Array {
    const { dim, epsilon, vocabSize } = this.config;
    const final = this.math.rmsNorm(hidden, 0, dim, this.w('model.norm.weight'), epsilon);
    const head = this.w(this.config.tied ? 'model.embed_tokens.weight' : 'lm_head.weight');
    const row = new Float64Array(vocabSize);
    for (let v = 0; v < vocabSize; v++) row[v] = this.math.dot(final, 0, head.data, v * dim, dim);
    return row;
  }

  forward(ids: number[]): ReferenceForward {
    const stream = this.residualStream(ids);
    return { ...stream, logits: (stream.hidden.at(-1) as Float64Array[]).map((x) => this.project(x)) };
  }

  /** Log-probabilities of ids[i] given ids[<i] at the positions asked for only (a row of logits costs vocab · hidden). */
  tokenLogprobs(ids: number[], positions: readonly number[]): number[] {
    const last = this.residualStream(ids).hidden.at(-1) as Float64Array[];
    return positions.map((i) => this.math.logSoftmax(this.project(last[i - 1] as Float64Array))[ids[i] as number] as number);
  }

  private residualStream(ids: number[]): Omit<ReferenceForward, 'logits'> {
    const c = this.config;
    const { dim, heads, kvHeads, headDim, epsilon } = c;
    const m = this.math;
    const r = m.round;
    const group = heads / kvHeads;
    const embed = this.w('model.embed_tokens.weight');
    let h = ids.map((id) => embed.data.slice(id * dim, (id + 1) * dim));
    const hidden = [h];
    const attention: number[][][][] = [];
    const scale = r(1 / Math.sqrt(headDim));
    for (let layer = 0; layer < c.layers; layer++) {
      const weights: number[][][] = Array.from({ length: heads }, () => []);
      attention.push(weights);
      const p = `model.layers.${layer}.self_attn`;
      const bias = (name: string): Matrix | undefined => (c.bias ? this.w(`${p}.${name}.bias`) : undefined);
      const normed = h.map((x) => m.rmsNorm(x, 0, dim, this.w(`model.layers.${layer}.input_layernorm.weight`), epsilon));
      const headNorm = (x: Float64Array, count: number, weight: string): Float64Array => {
        if (!c.qkNorm) return x;
        const out = new Float64Array(x.length);
        for (let hd = 0; hd < count; hd++) out.set(m.rmsNorm(x, hd * headDim, headDim, this.w(`${p}.${weight}`), epsilon), hd * headDim);
        return out;
      };
      const qs = normed.map((x, t) => m.rotate(headNorm(m.project(x, this.w(`${p}.q_proj.weight`), bias('q_proj')), heads, 'q_norm.weight'), heads, headDim, t, this.inverseFrequencies));
      const ks = normed.map((x, t) => m.rotate(headNorm(m.project(x, this.w(`${p}.k_proj.weight`), bias('k_proj')), kvHeads, 'k_norm.weight'), kvHeads, headDim, t, this.inverseFrequencies));
      const vs = normed.map((x) => m.project(x, this.w(`${p}.v_proj.weight`), bias('v_proj')));
      h = h.map((x, i) => {
        const merged = new Float64Array(heads * headDim);
        for (let head = 0; head < heads; head++) {
          // Query head `head` reads kv head floor(head / group) (repeat_interleave).
          const qo = head * headDim;
          const ko = Math.floor(head / group) * headDim;
          const probs = m.softmax(Array.from({ length: i + 1 }, (_, j) => r(m.dot(qs[i], qo, ks[j], ko, headDim) * scale)));
          (weights[head] as number[][])[i] = probs;
          for (let d = 0; d < headDim; d++) {
            let sum = 0;
            for (let j = 0; j <= i; j++) sum = r(sum + probs[j] * vs[j][ko + d]);
            merged[qo + d] = sum;
          }
        }
        const attended = m.project(merged, this.w(`${p}.o_proj.weight`)).map((v, d) => r(v + x[d]));
        const mlp = `model.layers.${layer}.mlp`;
        const y = m.rmsNorm(attended, 0, dim, this.w(`model.layers.${layer}.post_attention_layernorm.weight`), epsilon);
        const gate = m.project(y, this.w(`${mlp}.gate_proj.weight`));
        const up = m.project(y, this.w(`${mlp}.up_proj.weight`));
        const inner = gate.map((g, k) => r(m.silu(g) * up[k]));
        return m.project(inner, this.w(`${mlp}.down_proj.weight`)).map((v, d) => r(v + attended[d]));
      });
      hidden.push(h);
    }
    return { hidden, attention };
  }
}

export const LLAMA_FAMILY_TYPES = ['llama', 'qwen2', 'qwen3'];

/** The reference for a Llama-family config.json (already parsed) and its weights, in float64 unless asked. */
export function llamaReference(raw: Record<string, unknown>, weights: Map<string, Matrix>, precision: Precision = 'float64'): LlamaReference {
  const dim = raw.hidden_size as number;
  const heads = raw.num_attention_heads as number;
  const headDim = (raw.head_dim as number | undefined) ?? dim / heads;
  const config: LlamaReferenceConfig = {
    layers: raw.num_hidden_layers as number,
    dim,
    heads,
    kvHeads: (raw.num_key_value_heads as number | undefined) ?? heads,
    headDim,
    vocabSize: raw.vocab_size as number,
    contextSize: raw.max_position_embeddings as number,
    epsilon: raw.rms_norm_eps as number,
    bias: raw.model_type === 'qwen2' || raw.attention_bias === true,
    qkNorm: raw.model_type === 'qwen3',
    tied: raw.tie_word_embeddings === true,
    inverseFrequencies: referenceInverseFrequencies(raw, headDim),
  };
  return new LlamaReference(config, weights, precision);
}

/** The reference of a Llama-family model folder (config.json and `file`), in float64 unless asked. */
export function loadLlamaReference(folder: string, file = 'onnx/model.onnx', precision: Precision = 'float64'): LlamaReference {
  const raw = JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8')) as Record<string, unknown>;
  return llamaReference(raw, readLlamaWeights(join(folder, file)), precision);
}
