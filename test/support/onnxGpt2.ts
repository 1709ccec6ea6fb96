// GPT-2 (HF GPT2LMHeadModel with KV cache) as an ONNX graph with the hub's (Xenova/gpt2, optimum)
// input and output names, so transformers.js loads it exactly like the real model.
import { DataType, GraphBuilder, causalPaddingMask, count, rememberLast, valueInfo, writeModelFile } from './onnxWriter';
import type { LargeInitializer, ValueDecl } from './onnxWriter';
import { gpt2WeightSpecs } from './weights';
import type { Gpt2Dims, WeightSource, WeightSpec } from './weights';

export interface Gpt2OnnxOptions {
  /** Adds the scalar int64 input `num_logits_to_keep` (0 = all positions, k = last k). */
  numLogitsToKeep?: boolean;
  /** Dynamic int8 quantization of the large matrices (ORT quantize_dynamic pattern). */
  quantized?: boolean;
  /**
   * `optimum`: the graph a torch.onnx export of HF GPT2LMHeadModel traces without position ids:
   * positions arange(past, past + new) from the past's shape, the causal mask sliced from a fixed
   * [1, 1, n_positions, n_positions] table by Shape(present.key), and the padding mask added as
   * (1 - mask) · min. Default: the compact graph with a position_ids input.
   */
  pattern?: 'compact' | 'optimum';
}

export const ONNX_OPSET = 17;
export const ONNX_IR_VERSION = 8;
/** Most negative finite float32: masked scores stay finite, so fully padded rows give no NaN. */
export const MASKED_SCORE = -3.4028234663852886e38;
const LAYER_NORM_EPSILON = 1e-5;
const INT64_MAX = 9223372036854775807n;

/** Per-tensor symmetric int8, as quantize_dynamic does for weights. */
function quantizeSymmetric(values: Float32Array): { data: Int8Array; scale: number } {
  // Indexed loops with plain comparisons: for-of and Math.max/min here took seconds at 124M.
  let maxAbs = 0;
  for (let i = 0; i < values.length; i++) {
    const magnitude = Math.abs(values[i]);
    if (magnitude > maxAbs) maxAbs = magnitude;
  }
  const scale = maxAbs > 0 ? maxAbs / 127 : 1;
  const inverse = 1 / scale;
  const data = new Int8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const q = Math.round(values[i] * inverse);
    data[i] = q > 127 ? 127 : q < -127 ? -127 : q;
  }
  return { data, scale };
}

export function transpose2d(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c];
  }
  return out;
}


class Gpt2Graph {
  readonly g = new GraphBuilder();
  private readonly specs: Map<string, WeightSpec>;
  private readonly added = new Set<string>();
  private readonly weights: WeightSource;

  constructor(
    dims: Gpt2Dims,
    weights: WeightSource,
    private readonly quantized: boolean,
  ) {
    this.specs = new Map(gpt2WeightSpecs(dims).map((s) => [s.name, s]));
    this.weights = rememberLast(weights);
  }

  private spec(name: string): WeightSpec {
    const spec = this.specs.get(name);
    if (!spec) throw new Error(`unknown weight ${name}`);
    return spec;
  }

  /** A float32 weight, written under its HF parameter name. */
  weight(name: string): string {
    if (!this.added.has(name)) {
      this.added.add(name);
      const spec = this.spec(name);
      this.g.addLarge({
        name,
        dims: spec.shape,
        dataType: DataType.FLOAT,
        byteLength: count(spec.shape) * 4,
        produce: () => this.weights(spec),
      });
    }
    return name;
  }

  /**
   * An int8 copy of a 2-D weight (optionally transposed) plus its scale. The scale is only known
   * once the weight is produced, so it is a large initializer written right after the weight.
   */
  quantizedWeight(name: string, transposed: boolean): { data: string; scale: string; zeroPoint: string } {
    const base = transposed ? `${name}.transposed` : name;
    const result = { data: `${base}_quantized`, scale: `${base}_scale`, zeroPoint: `${base}_zero_point` };
    if (this.added.has(base)) return result;
    this.added.add(base);
    const spec = this.spec(name);
    const [rows, cols] = spec.shape;
    let scale = Number.NaN;
    const quantized: LargeInitializer = {
      name: result.data,
      dims: transposed ? [cols, rows] : [rows, cols],
      dataType: DataType.INT8,
      byteLength: rows * cols,
      produce: () => {
        const values = this.weights(spec);
        const q = quantizeSymmetric(transposed ? transpose2d(values, rows, cols) : values);
        scale = q.scale;
        return q.data;
      },
    };
    this.g.addLarge(quantized);
    this.g.addLarge({ name: result.scale, dims: [], dataType: DataType.FLOAT, byteLength: 4, produce: () => Float32Array.of(scale) });
    this.g.tensor(result.zeroPoint, DataType.INT8, [], Int8Array.of(0));
    return result;
  }

  /** x · W (+ b); dynamic int8 (DynamicQuantizeLinear + MatMulInteger) when quantized. */
  linear(x: string, weightName: string, biasName: string | null, output?: string, transposeWeight = false): string {
    const g = this.g;
    let product: string;
    const last = biasName === null ? output : undefined;
    if (this.quantized) {
      const w = this.quantizedWeight(weightName, transposeWeight);
      const [xq, xScale, xZero] = g.op('DynamicQuantizeLinear', [x], {}, 3);
      const integer = g.one('MatMulInteger', [xq, w.data, xZero, w.zeroPoint]);
      const asFloat = g.one('Cast', [integer], { to: DataType.FLOAT });
      const scale = g.one('Mul', [xScale, w.scale]);
      product = g.one('Mul', [asFloat, scale], {}, last);
    } else {
      if (transposeWeight) throw new Error('fp32 path takes weights in [in, out] layout');
      product = g.one('MatMul', [x, this.weight(weightName)], {}, last);
    }
    return biasName === null ? product : g.one('Add', [product, this.weight(biasName)], {}, output);
  }

  layerNorm(x: string, prefix: string): string {
    return this.g.one('LayerNormalization', [x, this.weight(`${prefix}.weight`), this.weight(`${prefix}.bias`)], {
      axis: -1,
      epsilon: { float: LAYER_NORM_EPSILON },
    });
  }

  /** gelu_new: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
  gelu(x: string): string {
    const g = this.g;
    const cube = g.one('Mul', [g.one('Mul', [x, x]), x]);
    const inner = g.one('Add', [x, g.one('Mul', [cube, 'gelu_coefficient'])]);
    const tanh = g.one('Tanh', [g.one('Mul', [inner, 'gelu_sqrt_2_over_pi'])]);
    return g.one('Mul', [g.one('Mul', [x, 'gelu_half']), g.one('Add', [tanh, 'gelu_one'])]);
  }

  embed(name: string, ids: string): string {
    const g = this.g;
    if (this.quantized && name === 'transformer.wte.weight') {
      const w = this.quantizedWeight(name, false);
      // Registered now so both int8 copies of wte are written back to back from one draw.
      this.quantizedWeight(name, true);
      const rows = g.one('Gather', [w.data, ids], { axis: 0 });
      return g.one('DequantizeLinear', [rows, w.scale, w.zeroPoint]);
    }
    return g.one('Gather', [this.weight(name), ids], { axis: 0 });
  }
}

function declarations(dims: Gpt2Dims, options: Gpt2OnnxOptions): { inputs: ValueDecl[]; outputs: ValueDecl[] } {
  const headDim = dims.dim / dims.heads;
  const inputs: ValueDecl[] = [
    { name: 'input_ids', elemType: DataType.INT64, dims: ['batch_size', 'sequence_length'] },
    { name: 'attention_mask', elemType: DataType.INT64, dims: ['batch_size', 'total_sequence_length'] },
  ];
  if (options.pattern !== 'optimum') inputs.push({ name: 'position_ids', elemType: DataType.INT64, dims: ['batch_size', 'sequence_length'] });
  const outputs: ValueDecl[] = [
    {
      name: 'logits',
      elemType: DataType.FLOAT,
      dims: ['batch_size', options.numLogitsToKeep ? 'num_logits' : 'sequence_length', dims.vocabSize],
    },
  ];
  for (let i = 0; i < dims.layers; i++) {
    for (const part of ['key', 'value']) {
      inputs.push({ name: `past_key_values.${i}.${part}`, elemType: DataType.FLOAT, dims: ['batch_size', dims.heads, 'past_sequence_length', headDim] });
      outputs.push({ name: `present.${i}.${part}`, elemType: DataType.FLOAT, dims: ['batch_size', dims.heads, 'total_sequence_length', headDim] });
    }
  }
  if (options.numLogitsToKeep) {
    inputs.push({ name: 'num_logits_to_keep', elemType: DataType.INT64, dims: [] });
  }
  return { inputs, outputs };
}

function buildGraph(m: Gpt2Graph, dims: Gpt2Dims, options: Gpt2OnnxOptions): void {
  const g = m.g;
  const headDim = dims.dim / dims.heads;
  g.int64('zero', [0], []);
  g.int64('one', [1], []);
  g.int64('two', [2], []);
  g.int64('axes_1', [1]);
  g.int64('axes_1_2', [1, 2]);
  g.int64('zero_1d', [0]);
  g.int64('axes_0', [0]);
  g.int64('qkv_split', [dims.dim, dims.dim, dims.dim]);
  g.int64('heads_shape', [0, 0, dims.heads, headDim]);
  g.int64('merged_shape', [0, 0, dims.dim]);
  g.float('masked_score', [MASKED_SCORE], []);
  g.float('sqrt_head_dim', [Math.sqrt(headDim)], []);
  g.float('gelu_coefficient', [0.044715], []);
  g.float('gelu_sqrt_2_over_pi', [Math.sqrt(2 / Math.PI)], []);
  g.float('gelu_half', [0.5], []);
  g.float('gelu_one', [1], []);

  const { seqLen, pastLen, totalLen, visible } = causalPaddingMask(g);
  const optimum = options.pattern === 'optimum';
  let maskScores = (scores: string, _layer: number): string => g.one('Where', [visible, scores, 'masked_score']);
  let positions = 'position_ids';
  if (optimum) {
    g.int64('axes_2_3', [2, 3]);
    positions = g.one('Unsqueeze', [g.one('Range', [pastLen, totalLen, 'one']), 'axes_0']);
    const table = new Uint8Array(dims.contextSize * dims.contextSize);
    for (let i = 0; i < dims.contextSize; i++) table.fill(1, i * dims.contextSize, i * dims.contextSize + i + 1);
    g.tensor('causal_table', DataType.BOOL, [1, 1, dims.contextSize, dims.contextSize], table);
    const additive = g.one('Unsqueeze', [g.one('Mul', [g.one('Sub', ['gelu_one', g.one('Cast', ['attention_mask'], { to: DataType.FLOAT })]), 'masked_score']), 'axes_1_2']);
    const seqLenForMask = g.one('Unsqueeze', [seqLen, 'axes_0']);
    maskScores = (scores: string, layer: number): string => {
      const keyLength = g.one('Unsqueeze', [g.one('Gather', [g.one('Shape', [`present.${layer}.key`]), 'two'], { axis: 0 }), 'axes_0']);
      const starts = g.one('Concat', [g.one('Sub', [keyLength, seqLenForMask]), 'zero_1d'], { axis: 0 });
      const ends = g.one('Concat', [keyLength, keyLength], { axis: 0 });
      const causalSlice = g.one('Slice', ['causal_table', starts, ends, 'axes_2_3']);
      return g.one('Add', [g.one('Where', [causalSlice, scores, 'masked_score']), additive]);
    };
  }

  let h = g.one('Add', [m.embed('transformer.wte.weight', 'input_ids'), m.embed('transformer.wpe.weight', positions)]);
  const toHeads = (x: string): string => g.one('Transpose', [g.one('Reshape', [x, 'heads_shape'])], { perm: [0, 2, 1, 3] });

  for (let layer = 0; layer < dims.layers; layer++) {
    const p = `transformer.h.${layer}`;
    const qkv = m.linear(m.layerNorm(h, `${p}.ln_1`), `${p}.attn.c_attn.weight`, `${p}.attn.c_attn.bias`);
    const [q, k, v] = g.op('Split', [qkv, 'qkv_split'], { axis: 2 }, 3);
    const keys = g.one('Concat', [`past_key_values.${layer}.key`, toHeads(k)], { axis: 2 }, `present.${layer}.key`);
    const values = g.one('Concat', [`past_key_values.${layer}.value`, toHeads(v)], { axis: 2 }, `present.${layer}.value`);
    const scores = g.one('Div', [g.one('MatMul', [toHeads(q), g.one('Transpose', [keys], { perm: [0, 1, 3, 2] })]), 'sqrt_head_dim']);
    const probs = g.one('Softmax', [maskScores(scores, layer)], { axis: -1 });
    const context = g.one('Transpose', [g.one('MatMul', [probs, values])], { perm: [0, 2, 1, 3] });
    const merged = g.one('Reshape', [context, 'merged_shape']);
    h = g.one('Add', [h, m.linear(merged, `${p}.attn.c_proj.weight`, `${p}.attn.c_proj.bias`)]);
    const hidden = m.gelu(m.linear(m.layerNorm(h, `${p}.ln_2`), `${p}.mlp.c_fc.weight`, `${p}.mlp.c_fc.bias`));
    h = g.one('Add', [h, m.linear(hidden, `${p}.mlp.c_proj.weight`, `${p}.mlp.c_proj.bias`)]);
  }

  let final = m.layerNorm(h, 'transformer.ln_f');
  if (options.numLogitsToKeep) {
    // Slice before the projection so positions that are not kept cost nothing; -0 keeps all.
    g.int64('int64_max', [INT64_MAX]);
    const start = g.one('Unsqueeze', [g.one('Neg', ['num_logits_to_keep']), 'axes_0']);
    final = g.one('Slice', [final, start, 'int64_max', 'axes_1']);
  }
  if (options.quantized) {
    m.linear(final, 'transformer.wte.weight', null, 'logits', true);
  } else {
    // Tied projection on the embedding matrix itself: Gemm with transB on [B·S, D] rows.
    g.int64('flat_shape', [-1, dims.dim]);
    g.int64('vocab_size', [dims.vocabSize]);
    const flat = g.one('Reshape', [final, 'flat_shape']);
    const rows = g.one('Gemm', [flat, m.weight('transformer.wte.weight')], { transB: 1 });
    const outShape = g.one('Concat', [g.one('Shape', [final], { start: 0, end: 2 }), 'vocab_size'], { axis: 0 });
    g.one('Reshape', [rows, outShape], {}, 'logits');
  }
}

/** Writes GPT-2 as an ONNX ModelProto (opset 17, IR 8), streaming weights from `weights`. */
export function writeGpt2Onnx(path: string, dims: Gpt2Dims, weights: WeightSource, options: Gpt2OnnxOptions = {}): void {
  if (dims.dim % dims.heads !== 0) throw new Error(`dim ${dims.dim} is not divisible by heads ${dims.heads}`);
  const m = new Gpt2Graph(dims, weights, options.quantized === true);
  buildGraph(m, dims, options);
  const { inputs, outputs } = declarations(dims, options);
  writeModelFile(path, {
    model: {
      irVersion: ONNX_IR_VERSION,
      opsetImport: [{ domain: '', version: ONNX_OPSET }],
      producerName: 'lm-lens-test-model',
      producerVersion: '1',
    },
    graph: {
      name: options.quantized ? 'gpt2_quantized' : 'gpt2',
      node: m.g.nodes,
      initializer: m.g.initializers,
      input: inputs.map(valueInfo),
      output: outputs.map(valueInfo),
    },
    large: m.g.large,
  });
}
