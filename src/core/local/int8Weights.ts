// Fast int8: every float weight matrix of a MatMul or Gemm (the output projection included) is
// quantised once, from the fp32 export, to ORT's MatMulNBits with bits 8, blocks of 32 along
// the input dimension and accuracy_level 4 (int8 activations × int8 weights: the VNNI / AVX2
// integer kernels), symmetric, so no zero points are stored (MatMulNBits then uses 128).
// The hub's `q8` file does DynamicQuantizeLinear + MatMulInteger instead, which is slower on
// CPU decode. Embedding tables stay float: a decode step gathers one row of them.
import { onnx } from 'onnx-proto';

export const INT8_BLOCK = 32;
const MS_DOMAIN = 'com.microsoft';

export interface Int8Summary {
  /** Matrices replaced by MatMulNBits. */
  matrices: number;
  /** Bytes of int8 blocks and scales a decode step reads instead of the float matrices. */
  quantizedBytes: number;
  floatBytesReplaced: number;
}

function floatValues(tensor: onnx.ITensorProto): Float32Array | undefined {
  if (tensor.dataType !== onnx.TensorProto.DataType.FLOAT) return undefined;
  const raw = tensor.rawData;
  if (raw && raw.byteLength > 0) {
    // rawData is a view into the file buffer at any alignment: copy to read it as floats.
    const copy = new Uint8Array(raw);
    return new Float32Array(copy.buffer, 0, copy.byteLength / 4);
  }
  return tensor.floatData?.length ? Float32Array.from(tensor.floatData) : undefined;
}

/**
 * Quantises `weights` laid out [K, N] (transposed = false: x · W) or [N, K] (transposed: Gemm
 * transB) into MatMulNBits' B [N, K/32, 32] (uint8, value = (q − 128) · scale) and scales [N, K/32].
 */
export function quantizeBlocks(weights: Float32Array, k: number, n: number, transposed: boolean): { blocks: Uint8Array; scales: Float32Array } {
  const blocksPerRow = k / INT8_BLOCK;
  const blocks = new Uint8Array(n * k);
  const scales = new Float32Array(n * blocksPerRow);
  const at = transposed ? (row: number, col: number): number => weights[col * k + row] as number : (row: number, col: number): number => weights[row * n + col] as number;
  const block = new Float32Array(INT8_BLOCK);
  for (let col = 0; col < n; col++) {
    for (let b = 0; b < blocksPerRow; b++) {
      let amax = 0;
      for (let i = 0; i < INT8_BLOCK; i++) {
        const value = at(b * INT8_BLOCK + i, col);
        block[i] = value;
        const magnitude = value < 0 ? -value : value;
        if (magnitude > amax) amax = magnitude;
      }
      const scale = amax / 127;
      const inverse = scale > 0 ? 1 / scale : 0;
      scales[col * blocksPerRow + b] = scale;
      const base = (col * blocksPerRow + b) * INT8_BLOCK;
      for (let i = 0; i < INT8_BLOCK; i++) blocks[base + i] = Math.round((block[i] as number) * inverse) + 128;
    }
  }
  return { blocks, scales };
}

/** Replaces float MatMul / Gemm weight matrices in `model` with MatMulNBits (in place). */
export function quantizeMatMuls(model: onnx.IModelProto): Int8Summary {
  const graph = model.graph as onnx.IGraphProto;
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name as string, t]));
  const summary: Int8Summary = { matrices: 0, quantizedBytes: 0, floatBytesReplaced: 0 };
  const added: onnx.ITensorProto[] = [];
  const nodes: onnx.INodeProto[] = [];
  const done = new Map<string, { blocks: string; scales: string }>();
  for (const node of graph.node ?? []) {
    const weightName = node.input?.[1] as string;
    const tensor = initializers.get(weightName);
    const attr = (name: string): number | undefined => {
      const found = node.attribute?.find((a) => a.name === name);
      return found ? Number(found.type === onnx.AttributeProto.AttributeType.FLOAT ? found.f : found.i) : undefined;
    };
    const isGemm = node.opType === 'Gemm' && (attr('transA') ?? 0) === 0 && (attr('alpha') ?? 1) === 1 && (attr('beta') ?? 1) === 1;
    const transposed = isGemm && (attr('transB') ?? 0) === 1;
    const values = tensor && (node.opType === 'MatMul' || isGemm) && tensor.dims?.length === 2 ? floatValues(tensor) : undefined;
    const [rows, cols] = (tensor?.dims ?? []).map(Number) as [number, number];
    const [k, n] = transposed ? [cols, rows] : [rows, cols];
    if (!values || k % INT8_BLOCK !== 0) {
      nodes.push(node);
      continue;
    }
    let names = done.get(`${weightName}:${transposed}`);
    if (!names) {
      const { blocks, scales } = quantizeBlocks(values, k, n, transposed);
      names = { blocks: `${weightName}.int8_blocks${transposed ? '_t' : ''}`, scales: `${weightName}.int8_scales${transposed ? '_t' : ''}` };
      added.push(
        { name: names.blocks, dims: [n, k / INT8_BLOCK, INT8_BLOCK], dataType: onnx.TensorProto.DataType.UINT8, rawData: blocks },
        { name: names.scales, dims: [n * (k / INT8_BLOCK)], dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(scales.buffer) },
      );
      done.set(`${weightName}:${transposed}`, names);
      summary.matrices++;
      summary.quantizedBytes += blocks.byteLength + scales.byteLength;
      summary.floatBytesReplaced += values.byteLength;
    }
    const output = node.output?.[0] as string;
    const bias = isGemm ? node.input?.[2] : undefined;
    const product = bias ? `${output}.int8_product` : output;
    const ints = (name: string, i: number): onnx.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INT, i });
    nodes.push({
      opType: 'MatMulNBits',
      domain: MS_DOMAIN,
      name: `${node.name ?? output}.int8`,
      input: [node.input?.[0] as string, names.blocks, names.scales],
      output: [product],
      attribute: [ints('K', k), ints('N', n), ints('bits', 8), ints('block_size', INT8_BLOCK), ints('accuracy_level', 4)],
    });
    if (bias) nodes.push({ opType: 'Add', input: [product, bias], output: [output], name: `${node.name ?? output}.int8_bias` });
  }
  graph.node = nodes;
  // Matrices no node reads any more (the float copies) are dropped; embedding tables are still gathered.
  const used = new Set(nodes.flatMap((node) => node.input ?? []));
  graph.initializer = [...(graph.initializer ?? []).filter((t) => used.has(t.name as string)), ...added];
  if (!(model.opsetImport ?? []).some((o) => o.domain === MS_DOMAIN)) model.opsetImport = [...(model.opsetImport ?? []), { domain: MS_DOMAIN, version: 1 }];
  return summary;
}
