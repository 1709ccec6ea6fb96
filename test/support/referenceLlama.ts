// The float64 oracle for the Llama family (llama, qwen2, qwen3), written from the published math
// (HF modeling_llama / modeling_qwen2 / modeling_qwen3 and _compute_llama3_parameters), never from
// the builder's graph: shape and options come from config.json, weights by name from the ONNX file.
import { readFileSync } from 'node:fs';
import { onnx } from 'onnx-proto';
import type { Matrix, ReferenceConfig, ReferenceModel } from './reference';
import { readOnnxFloatInitializers, softmax } from './reference';

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

function rmsNorm(x: Float64Array, offset: number, length: number, weight: Matrix, epsilon: number): Float64Array {
  let sum = 0;
  for (let i = 0; i < length; i++) sum += x[offset + i] ** 2;
  const inv = 1 / Math.sqrt(sum / length + epsilon);
  return Float64Array.from({ length }, (_, i) => x[offset + i] * inv * weight.data[i]);
}

/** x · W (+ b) with W stored [in, out]. */
function project(x: Float64Array, weight: Matrix, bias?: Matrix): Float64Array {
  const out = bias ? Float64Array.from(bias.data) : new Float64Array(weight.cols);
  for (let i = 0; i < weight.rows; i++) {
    const xi = x[i];
    for (let j = 0; j < weight.cols; j++) out[j] += xi * weight.data[i * weight.cols + j];
  }
  return out;
}

/** rotate_half RoPE on each head of `x` (heads × headDim) at `position`. */
function rotate(x: Float64Array, heads: number, headDim: number, position: number, inverse: Float64Array): Float64Array {
  const out = new Float64Array(x.length);
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    const o = h * headDim;
    for (let i = 0; i < half; i++) {
      const angle = position * inverse[i];
      const [c, s] = [Math.cos(angle), Math.sin(angle)];
      out[o + i] = x[o + i] * c - x[o + half + i] * s;
      out[o + half + i] = x[o + half + i] * c + x[o + i] * s;
    }
  }
  return out;
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

class LlamaReference implements ReferenceModel {
  constructor(
    readonly config: LlamaReferenceConfig,
    private readonly weights: Map<string, Matrix>,
  ) {}

  private w(name: string): Matrix {
    const found = this.weights.get(name);
    if (!found) throw new Error(`initializer ${name} not found in the ONNX file`);
    return found;
  }

  logits(ids: number[]): Float64Array[] {
    const c = this.config;
    const { dim, heads, kvHeads, headDim, epsilon } = c;
    const group = heads / kvHeads;
    const embed = this.w('model.embed_tokens.weight');
    let h = ids.map((id) => embed.data.slice(id * dim, (id + 1) * dim));
    for (let layer = 0; layer < c.layers; layer++) {
      const p = `model.layers.${layer}.self_attn`;
      const bias = (name: string): Matrix | undefined => (c.bias ? this.w(`${p}.${name}.bias`) : undefined);
      const normed = h.map((x) => rmsNorm(x, 0, dim, this.w(`model.layers.${layer}.input_layernorm.weight`), epsilon));
      const headNorm = (x: Float64Array, count: number, weight: string): Float64Array => {
        if (!c.qkNorm) return x;
        const out = new Float64Array(x.length);
        for (let hd = 0; hd < count; hd++) out.set(rmsNorm(x, hd * headDim, headDim, this.w(`${p}.${weight}`), epsilon), hd * headDim);
        return out;
      };
      const qs = normed.map((x, t) => rotate(headNorm(project(x, this.w(`${p}.q_proj.weight`), bias('q_proj')), heads, 'q_norm.weight'), heads, headDim, t, c.inverseFrequencies));
      const ks = normed.map((x, t) => rotate(headNorm(project(x, this.w(`${p}.k_proj.weight`), bias('k_proj')), kvHeads, 'k_norm.weight'), kvHeads, headDim, t, c.inverseFrequencies));
      const vs = normed.map((x) => project(x, this.w(`${p}.v_proj.weight`), bias('v_proj')));
      h = h.map((x, i) => {
        const merged = new Float64Array(heads * headDim);
        for (let head = 0; head < heads; head++) {
          // Query head `head` reads kv head floor(head / group) (repeat_interleave).
          const qo = head * headDim;
          const ko = Math.floor(head / group) * headDim;
          const scores = Array.from({ length: i + 1 }, (_, j) => {
            let sum = 0;
            for (let d = 0; d < headDim; d++) sum += qs[i][qo + d] * ks[j][ko + d];
            return sum / Math.sqrt(headDim);
          });
          const probs = softmax(scores);
          for (let j = 0; j <= i; j++) for (let d = 0; d < headDim; d++) merged[qo + d] += probs[j] * vs[j][ko + d];
        }
        const attended = project(merged, this.w(`${p}.o_proj.weight`)).map((v, d) => v + x[d]);
        const mlp = `model.layers.${layer}.mlp`;
        const y = rmsNorm(attended, 0, dim, this.w(`model.layers.${layer}.post_attention_layernorm.weight`), epsilon);
        const gate = project(y, this.w(`${mlp}.gate_proj.weight`));
        const up = project(y, this.w(`${mlp}.up_proj.weight`));
        const hidden = gate.map((g, k) => (g / (1 + Math.exp(-g))) * up[k]);
        return project(hidden, this.w(`${mlp}.down_proj.weight`)).map((v, d) => v + attended[d]);
      });
    }
    const head = this.w(c.tied ? 'model.embed_tokens.weight' : 'lm_head.weight');
    return h.map((x) => {
      const final = rmsNorm(x, 0, dim, this.w('model.norm.weight'), epsilon);
      const row = new Float64Array(c.vocabSize);
      for (let v = 0; v < row.length; v++) {
        let sum = 0;
        for (let d = 0; d < dim; d++) sum += final[d] * head.data[v * dim + d];
        row[v] = sum;
      }
      return row;
    });
  }
}

export const LLAMA_FAMILY_TYPES = ['llama', 'qwen2', 'qwen3'];

/** The reference for a Llama-family config.json (already parsed) and its weights. */
export function llamaReference(raw: Record<string, unknown>, weights: Map<string, Matrix>): ReferenceModel {
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
  return new LlamaReference(config, weights);
}
