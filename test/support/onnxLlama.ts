// A Llama-family decoder (llama / qwen2 / qwen3) as the ONNX graph an Optimum export writes in
// plain ops: inputs input_ids, attention_mask, position_ids, past_key_values.N.key/value; outputs
// logits and present.N.key/value = Concat(past, new); RoPE by Mul/Neg/Concat, repeat_kv by Expand.
// Or (form 'genai') as the onnxruntime-genai builder writes it: attention by com.microsoft
// GroupQueryAttention, present.N.* its outputs, RoPE fused into it where no q/k norm intervenes.
import { DataType, GraphBuilder, causalPaddingMask, count, rememberLast, valueInfo, writeModelFile } from './onnxWriter';
import type { ValueDecl } from './onnxWriter';
import { MASKED_SCORE, ONNX_IR_VERSION, ONNX_OPSET } from './onnxGpt2';
import { hasQkNorm, hasQkvBias, llamaWeightSpecs } from './llamaModel';
import type { LlamaDims } from './llamaModel';
import type { WeightSource, WeightSpec } from './weights';

/** RoPE inverse frequencies with llama3 scaling, in float32 as HF's _compute_llama3_parameters yields them. */
export function ropeInverseFrequencies(dims: LlamaDims): Float32Array {
  const half = dims.headDim / 2;
  const out = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    const base = 1 / dims.ropeTheta ** ((2 * i) / dims.headDim);
    const s = dims.ropeScaling;
    if (!s) {
      out[i] = base;
      continue;
    }
    const wavelength = (2 * Math.PI) / base;
    const lowWavelength = s.originalContext / s.lowFreqFactor;
    const highWavelength = s.originalContext / s.highFreqFactor;
    if (wavelength > lowWavelength) out[i] = base / s.factor;
    else if (wavelength < highWavelength) out[i] = base;
    else {
      const smooth = (s.originalContext / wavelength - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      out[i] = (1 - smooth) * (base / s.factor) + smooth * base;
    }
  }
  return out;
}

/** `optimum`: plain ops, present = Concat(past, new); `genai`: the onnxruntime-genai builder's GroupQueryAttention. */
export type LlamaGraphForm = 'optimum' | 'genai';

export const Q4_BLOCK = 32;
const MS_DOMAIN = 'com.microsoft';

/**
 * Symmetric 4-bit blocks of a [K, N] matrix in MatMulNBits' layout: B [N, K/32, 16] (two values a
 * byte, the even one in the low nibble, stored as q + 8) and scales [N · K/32]; the default zero
 * point 8 is left implicit.
 */
export function quantizeQ4(values: Float32Array, k: number, n: number): { blocks: Uint8Array; scales: Float32Array } {
  const perRow = k / Q4_BLOCK;
  const blocks = new Uint8Array(n * perRow * (Q4_BLOCK / 2));
  const scales = new Float32Array(n * perRow);
  for (let col = 0; col < n; col++) {
    for (let b = 0; b < perRow; b++) {
      let amax = 0;
      for (let i = 0; i < Q4_BLOCK; i++) amax = Math.max(amax, Math.abs(values[(b * Q4_BLOCK + i) * n + col] as number));
      const scale = amax > 0 ? amax / 7 : 1;
      scales[col * perRow + b] = scale;
      for (let i = 0; i < Q4_BLOCK; i++) {
        const q = Math.min(15, Math.max(0, Math.round((values[(b * Q4_BLOCK + i) * n + col] as number) / scale) + 8));
        blocks[(col * perRow + b) * (Q4_BLOCK / 2) + (i >> 1)] |= i % 2 === 0 ? q : q << 4;
      }
    }
  }
  return { blocks, scales };
}

class LlamaGraph {
  readonly g = new GraphBuilder();
  private readonly specs: Map<string, WeightSpec>;
  private readonly added = new Set<string>();
  private readonly weights: WeightSource;

  constructor(
    readonly dims: LlamaDims,
    weights: WeightSource,
    private readonly q4: boolean,
    readonly form: LlamaGraphForm,
  ) {
    this.specs = new Map(llamaWeightSpecs(dims).map((s) => [s.name, s]));
    this.weights = rememberLast(weights);
  }

  /** MatMulNBits (4 bits, blocks of 32) over the weight `name` ([K, N]): `name`_Q4 and `name`_scales, as the hub's q4 files name them. */
  q4MatMul(x: string, name: string): string {
    const spec = this.specs.get(name);
    if (!spec) throw new Error(`unknown weight ${name}`);
    const [k, n] = spec.shape as [number, number];
    let scales: Float32Array = new Float32Array(0);
    this.g.addLarge({
      name: `${name}_Q4`,
      dims: [n, k / Q4_BLOCK, Q4_BLOCK / 2],
      dataType: DataType.UINT8,
      byteLength: (n * k) / 2,
      produce: () => {
        const quantized = quantizeQ4(this.weights(spec), k, n);
        scales = quantized.scales;
        return quantized.blocks;
      },
    });
    this.g.addLarge({ name: `${name}_scales`, dims: [(n * k) / Q4_BLOCK], dataType: DataType.FLOAT, byteLength: ((n * k) / Q4_BLOCK) * 4, produce: () => scales });
    const node = this.g.op('MatMulNBits', [x, `${name}_Q4`, `${name}_scales`], { K: k, N: n, bits: 4, block_size: Q4_BLOCK });
    const added = this.g.nodes.at(-1);
    if (added) added.domain = MS_DOMAIN;
    return node[0] as string;
  }

  weight(name: string): string {
    const spec = this.specs.get(name);
    if (!spec) throw new Error(`unknown weight ${name}`);
    if (!this.added.has(name)) {
      this.added.add(name);
      this.g.addLarge({ name, dims: spec.shape, dataType: DataType.FLOAT, byteLength: count(spec.shape) * 4, produce: () => this.weights(spec) });
    }
    return name;
  }

  linear(x: string, name: string, withBias = false): string {
    const product = this.q4 ? this.q4MatMul(x, `${name}.weight`) : this.g.one('MatMul', [x, this.weight(`${name}.weight`)]);
    return withBias ? this.g.one('Add', [product, this.weight(`${name}.bias`)]) : product;
  }

  /** x / sqrt(mean(x²) + eps) · w over the last axis, as HF LlamaRMSNorm (Pow, ReduceMean, Sqrt, Div). */
  rmsNorm(x: string, weight: string): string {
    const g = this.g;
    const meanSquare = g.one('ReduceMean', [g.one('Pow', [x, 'const_two'])], { axes: [-1], keepdims: 1 });
    const normalised = g.one('Div', [x, g.one('Sqrt', [g.one('Add', [meanSquare, 'rms_epsilon'])])]);
    return g.one('Mul', [normalised, this.weight(weight)]);
  }

  /** q·cos + rotate_half(q)·sin, rotate_half(q) = cat(-q[half:], q[:half]). */
  rope(x: string, cos: string, sin: string): string {
    const g = this.g;
    const [first, second] = g.op('Split', [x, 'rope_split'], { axis: -1 }, 2);
    const rotated = g.one('Concat', [g.one('Neg', [second]), first], { axis: -1 });
    return g.one('Add', [g.one('Mul', [x, cos]), g.one('Mul', [rotated, sin])]);
  }
}

function declarations(dims: LlamaDims, form: LlamaGraphForm): { inputs: ValueDecl[]; outputs: ValueDecl[] } {
  const inputs: ValueDecl[] = [
    { name: 'input_ids', elemType: DataType.INT64, dims: ['batch_size', 'sequence_length'] },
    { name: 'attention_mask', elemType: DataType.INT64, dims: ['batch_size', 'total_sequence_length'] },
    ...(fusesRotary(form, dims) ? [] : [{ name: 'position_ids', elemType: DataType.INT64, dims: ['batch_size', 'sequence_length'] }]),
  ];
  const outputs: ValueDecl[] = [{ name: 'logits', elemType: DataType.FLOAT, dims: ['batch_size', 'sequence_length', dims.vocabSize] }];
  for (let i = 0; i < dims.layers; i++) {
    for (const part of ['key', 'value']) {
      inputs.push({ name: `past_key_values.${i}.${part}`, elemType: DataType.FLOAT, dims: ['batch_size', dims.kvHeads, 'past_sequence_length', dims.headDim] });
      outputs.push({ name: `present.${i}.${part}`, elemType: DataType.FLOAT, dims: ['batch_size', dims.kvHeads, 'total_sequence_length', dims.headDim] });
    }
  }
  return { inputs, outputs };
}

/**
 * Whether the genai form fuses RoPE into GroupQueryAttention (do_rotary with cos/sin caches, and
 * no position_ids input) with Q, K and V packed into one input, as the onnxruntime-genai builder
 * writes llama and qwen2; Qwen3's q/k norms come between the projection and RoPE, so there RoPE
 * stays outside the op (from position_ids) and Q, K, V are separate inputs.
 */
export const fusesRotary = (form: LlamaGraphForm, dims: LlamaDims): boolean => form === 'genai' && !hasQkNorm(dims);

/** cos/sin caches [contextSize, headDim/2] of GroupQueryAttention's do_rotary: angle pos·inv_freq in float32, as the plain-op graph computes it. */
function rotaryCaches(m: LlamaGraph): { cos: string; sin: string } {
  const { g, dims } = m;
  const inv = ropeInverseFrequencies(dims);
  const cos: number[] = [];
  const sin: number[] = [];
  for (let pos = 0; pos < dims.contextSize; pos++) {
    for (const f of inv) {
      const angle = Math.fround(pos * f);
      cos.push(Math.cos(angle));
      sin.push(Math.sin(angle));
    }
  }
  return { cos: g.float('cos_cache', cos, [dims.contextSize, inv.length]), sin: g.float('sin_cache', sin, [dims.contextSize, inv.length]) };
}

/**
 * The onnxruntime-genai builder's attention: com.microsoft GroupQueryAttention on [B, S, heads·dim]
 * rows, with the past lengths it needs derived from attention_mask in the graph, and present.N.*
 * as its outputs. `q`, `k` [B, heads, S, dim] with RoPE applied, or (fused) [B, S, heads·dim] rows
 * before RoPE, packed with `v` into one input as the builder's packed MatMul gives them.
 */
function groupQueryAttention(m: LlamaGraph, layer: number, q: string, k: string, v: string): string {
  const { g, dims } = m;
  const fused = fusesRotary(m.form, dims);
  const rows = (x: string, shape: string): string => g.one('Reshape', [g.one('Transpose', [x], { perm: [0, 2, 1, 3] }), shape]);
  if (!g.initializers.some((t) => t.name === 'q_rows_shape')) {
    g.int64('q_rows_shape', [0, 0, dims.heads * dims.headDim]);
    g.int64('kv_rows_shape', [0, 0, dims.kvHeads * dims.headDim]);
    const valid = g.one('ReduceSum', ['attention_mask', 'axes_1'], { keepdims: 0 });
    g.one('Cast', [g.one('Sub', [valid, 'one'])], { to: DataType.INT32 }, 'gqa_seqlens_k');
    g.one('Cast', [g.one('Gather', [g.one('Shape', ['attention_mask']), 'one'], { axis: 0 })], { to: DataType.INT32 }, 'gqa_total_sequence_length');
    if (fused) rotaryCaches(m);
  }
  const qkv = fused ? [g.one('Concat', [q, k, v], { axis: -1 }), '', ''] : [rows(q, 'q_rows_shape'), rows(k, 'kv_rows_shape'), v];
  const inputs = [...qkv, `past_key_values.${layer}.key`, `past_key_values.${layer}.value`, 'gqa_seqlens_k', 'gqa_total_sequence_length', ...(fused ? ['cos_cache', 'sin_cache'] : [])];
  const attrs = { num_heads: dims.heads, kv_num_heads: dims.kvHeads, scale: { float: 1 / Math.sqrt(dims.headDim) }, ...(fused ? { do_rotary: 1, rotary_interleaved: 0 } : {}) };
  const [output] = g.op('GroupQueryAttention', inputs, attrs, [`gqa_${layer}_output`, `present.${layer}.key`, `present.${layer}.value`]);
  const node = g.nodes.at(-1);
  if (node) node.domain = MS_DOMAIN;
  return output as string;
}

function buildGraph(m: LlamaGraph): void {
  const { g, dims } = m;
  const { heads, kvHeads, headDim } = dims;
  g.int64('zero', [0], []);
  g.int64('one', [1], []);
  g.int64('two', [2], []);
  g.int64('axes_1', [1]);
  g.int64('axes_2', [2]);
  g.int64('axes_1_2', [1, 2]);
  g.int64('q_heads_shape', [0, 0, heads, headDim]);
  g.int64('kv_heads_shape', [0, 0, kvHeads, headDim]);
  g.int64('kv_repeat', [1, 1, heads / kvHeads, 1, 1]);
  g.int64('repeated_shape', [0, heads, -1, headDim]);
  g.int64('merged_shape', [0, 0, heads * headDim]);
  g.int64('rope_split', [headDim / 2, headDim / 2]);
  g.float('const_two', [2], []);
  g.float('rms_epsilon', [dims.rmsEpsilon], []);
  g.float('masked_score', [MASKED_SCORE], []);
  g.float('attention_scale', [1 / Math.sqrt(headDim)], []);
  g.float('inv_freq', [...ropeInverseFrequencies(dims)], [1, 1, headDim / 2]);

  // GroupQueryAttention masks by itself (causal, and past the lengths it is given).
  const visible = m.form === 'optimum' ? causalPaddingMask(g).visible : '';
  // cos/sin [B, 1, S, headDim] from position_ids, the frequencies repeated for both halves
  // (built on first use: a graph whose attention op applies RoPE has no position_ids input).
  let rope: { cos: string; sin: string } | undefined;
  const ropeTables = (): { cos: string; sin: string } => {
    if (rope) return rope;
    const angles = g.one('Mul', [g.one('Unsqueeze', [g.one('Cast', ['position_ids'], { to: DataType.FLOAT }), 'axes_2']), 'inv_freq']);
    const both = g.one('Concat', [angles, angles], { axis: -1 });
    rope = { cos: g.one('Unsqueeze', [g.one('Cos', [both]), 'axes_1']), sin: g.one('Unsqueeze', [g.one('Sin', [both]), 'axes_1']) };
    return rope;
  };
  const applyRope = (x: string): string => m.rope(g.one('Transpose', [x], { perm: [0, 2, 1, 3] }), ropeTables().cos, ropeTables().sin);

  let h = g.one('Gather', [m.weight('model.embed_tokens.weight'), 'input_ids'], { axis: 0 });
  const toHeads = (x: string, shape: string): string => g.one('Transpose', [g.one('Reshape', [x, shape])], { perm: [0, 2, 1, 3] });
  const repeatKv = (x: string): string => g.one('Reshape', [g.one('Expand', [g.one('Unsqueeze', [x, 'axes_2']), 'kv_repeat']), 'repeated_shape']);

  for (let layer = 0; layer < dims.layers; layer++) {
    const p = `model.layers.${layer}`;
    const x = m.rmsNorm(h, `${p}.input_layernorm.weight`);
    const bias = hasQkvBias(dims);
    const v = m.linear(x, `${p}.self_attn.v_proj`, bias);
    if (fusesRotary(m.form, dims)) {
      // Rows [B, S, heads·dim] straight from the projections: the op applies RoPE itself.
      const attention = groupQueryAttention(m, layer, m.linear(x, `${p}.self_attn.q_proj`, bias), m.linear(x, `${p}.self_attn.k_proj`, bias), v);
      h = g.one('Add', [h, m.linear(attention, `${p}.self_attn.o_proj`)]);
    } else {
      let q = g.one('Reshape', [m.linear(x, `${p}.self_attn.q_proj`, bias), 'q_heads_shape']);
      let k = g.one('Reshape', [m.linear(x, `${p}.self_attn.k_proj`, bias), 'kv_heads_shape']);
      if (hasQkNorm(dims)) {
        q = m.rmsNorm(q, `${p}.self_attn.q_norm.weight`);
        k = m.rmsNorm(k, `${p}.self_attn.k_norm.weight`);
      }
      q = applyRope(q);
      k = applyRope(k);
      if (m.form === 'genai') {
        h = g.one('Add', [h, m.linear(groupQueryAttention(m, layer, q, k, v), `${p}.self_attn.o_proj`)]);
      } else {
        const keys = g.one('Concat', [`past_key_values.${layer}.key`, k], { axis: 2 }, `present.${layer}.key`);
        const values = g.one('Concat', [`past_key_values.${layer}.value`, toHeads(v, 'kv_heads_shape')], { axis: 2 }, `present.${layer}.value`);
        const scores = g.one('Mul', [g.one('MatMul', [q, g.one('Transpose', [repeatKv(keys)], { perm: [0, 1, 3, 2] })]), 'attention_scale']);
        const probs = g.one('Softmax', [g.one('Where', [visible, scores, 'masked_score'])], { axis: -1 });
        const context = g.one('Transpose', [g.one('MatMul', [probs, repeatKv(values)])], { perm: [0, 2, 1, 3] });
        h = g.one('Add', [h, m.linear(g.one('Reshape', [context, 'merged_shape']), `${p}.self_attn.o_proj`)]);
      }
    }
    const y = m.rmsNorm(h, `${p}.post_attention_layernorm.weight`);
    const gate = m.linear(y, `${p}.mlp.gate_proj`);
    const silu = g.one('Mul', [gate, g.one('Sigmoid', [gate])]);
    h = g.one('Add', [h, m.linear(g.one('Mul', [silu, m.linear(y, `${p}.mlp.up_proj`)]), `${p}.mlp.down_proj`)]);
  }

  const final = m.rmsNorm(h, 'model.norm.weight');
  // The head is [vocab, hidden] (tied: the embedding itself): Gemm with transB on [B·S, hidden] rows.
  g.int64('flat_shape', [-1, dims.hidden]);
  g.int64('vocab_size', [dims.vocabSize]);
  const head = m.weight(dims.tied ? 'model.embed_tokens.weight' : 'lm_head.weight');
  const rows = g.one('Gemm', [g.one('Reshape', [final, 'flat_shape']), head], { transB: 1 });
  const outShape = g.one('Concat', [g.one('Shape', [final], { start: 0, end: 2 }), 'vocab_size'], { axis: 0 });
  g.one('Reshape', [rows, outShape], {}, 'logits');
}

export function checkLlamaDims(dims: LlamaDims): void {
  if (dims.heads % dims.kvHeads !== 0) throw new Error(`heads ${dims.heads} is not a multiple of kvHeads ${dims.kvHeads}`);
  if (dims.headDim % 2 !== 0) throw new Error(`headDim ${dims.headDim} must be even for RoPE`);
}

/**
 * Writes the model as an ONNX ModelProto (opset 17, IR 8), streaming weights from `weights`; `q4`:
 * the projections as MatMulNBits 4-bit blocks (model_q4.onnx), embedding, norms and head in fp32.
 */
export function writeLlamaOnnx(path: string, dims: LlamaDims, weights: WeightSource, q4 = false, form: LlamaGraphForm = 'optimum'): void {
  checkLlamaDims(dims);
  const m = new LlamaGraph(dims, weights, q4, form);
  buildGraph(m);
  const { inputs, outputs } = declarations(dims, form);
  const opsets = [{ domain: '', version: ONNX_OPSET }, ...(q4 || form === 'genai' ? [{ domain: MS_DOMAIN, version: 1 }] : [])];
  writeModelFile(path, {
    model: { irVersion: ONNX_IR_VERSION, opsetImport: opsets, producerName: 'lm-lens-test-model', producerVersion: '1' },
    graph: { name: dims.family, node: m.g.nodes, initializer: m.g.initializers, input: inputs.map(valueInfo), output: outputs.map(valueInfo) },
    large: m.g.large,
  });
}
