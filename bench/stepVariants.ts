// Variants of the decode step for stepAb.ts and stepProfile.ts: a graph edit, session options, or both.
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { onnx } from 'onnx-proto';
import type { DecodeWeights } from '../src/core/local/decodeFile';
import { sessionOptions, stepModel } from './stepHarness';
import type { Options, StepModel } from './stepHarness';

export interface Variant {
  /** Starts from the graph without fusedOps.ts (the product's before it). */
  unfused?: true;
  /** Edits the graph in place; `dataFolder` holds its external weights. */
  graph?: (model: onnx.IModelProto, dataFolder: string) => void;
  options?: (threads: number) => Options;
}

/** Sets an int attribute on every node of `opType`. */
const setAttribute = (opType: string, name: string, value: number) => (model: onnx.IModelProto): void => {
  for (const node of model.graph?.node ?? []) {
    if (node.opType !== opType) continue;
    node.attribute = [...(node.attribute ?? []).filter((a) => a.name !== name), { name, type: onnx.AttributeProto.AttributeType.INT, i: value }];
  }
};

/** A float initializer's values, inline or external (read from `dataFolder`). */
function floats(tensor: onnx.ITensorProto, dataFolder: string): Float32Array {
  if (tensor.rawData?.byteLength) return new Float32Array(new Uint8Array(tensor.rawData).buffer);
  const entry = (key: string): string => tensor.externalData?.find((e) => e.key === key)?.value ?? '';
  const bytes = Buffer.alloc(Number(entry('length')));
  const fd = openSync(join(dataFolder, entry('location')), 'r');
  try {
    readSync(fd, bytes, 0, bytes.length, Number(entry('offset')));
  } finally {
    closeSync(fd);
  }
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
}

/**
 * Every MatMul on a 2-D float weight [K, N] becomes FusedMatMul(x, Wᵀ, transB = 1) on a
 * transposed copy [N, K]: each output is then the dot product of x with one contiguous row.
 */
function transposeWeights(model: onnx.IModelProto, dataFolder: string): void {
  const graph = model.graph as onnx.IGraphProto;
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name as string, t]));
  for (const node of graph.node ?? []) {
    const weight = initializers.get(node.input?.[1] ?? '');
    if (node.opType !== 'MatMul' || weight?.dims?.length !== 2 || weight.dataType !== onnx.TensorProto.DataType.FLOAT) continue;
    const [k, n] = weight.dims.map(Number) as [number, number];
    const values = floats(weight, dataFolder);
    const transposed = new Float32Array(k * n);
    for (let row = 0; row < k; row++) for (let col = 0; col < n; col++) transposed[col * k + row] = values[row * n + col] as number;
    const name = `${weight.name}.transposed`;
    graph.initializer?.push({ name, dims: [n, k], dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(transposed.buffer) });
    node.opType = 'FusedMatMul';
    node.domain = 'com.microsoft';
    node.input = [node.input?.[0] as string, name];
    node.attribute = [{ name: 'transB', type: onnx.AttributeProto.AttributeType.INT, i: 1 }];
  }
  if (!(model.opsetImport ?? []).some((o) => o.domain === 'com.microsoft')) model.opsetImport = [...(model.opsetImport ?? []), { domain: 'com.microsoft', version: 1 }];
}

export const VARIANTS: Record<string, Variant> = {
  product: {},
  unfused: { unfused: true },
  spin: { options: (threads) => sessionOptions(threads, { intra_op: { allow_spinning: '1' } }) },
  'one-thread': { options: () => sessionOptions(1) },
  arena: { options: (threads) => sessionOptions(threads, {}, { enableCpuMemArena: true, enableMemPattern: true }) },
  'opt-basic': { options: (threads) => sessionOptions(threads, {}, { graphOptimizationLevel: 'basic' }) },
  'no-prepack': { options: (threads) => sessionOptions(threads, { disable_prepacking: '1' }) },
  transposed: { graph: transposeWeights },
  'transposed-no-prepack': { graph: transposeWeights, options: (threads) => sessionOptions(threads, { disable_prepacking: '1' }) },
  'acc-1': { graph: setAttribute('MatMulNBits', 'accuracy_level', 1) },
  'acc-0': { graph: setAttribute('MatMulNBits', 'accuracy_level', 0) },
};

/** The graph `variant` runs, for `weights`. */
export async function variantModel(weights: DecodeWeights, variant: Variant): Promise<StepModel> {
  const base = await stepModel(weights, !variant.unfused);
  if (!variant.graph) return base;
  const graph = onnx.ModelProto.decode(onnx.ModelProto.encode(base.graph).finish());
  variant.graph(graph, base.dataFolder);
  return { ...base, graph };
}

