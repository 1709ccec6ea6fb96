// Variants of the decode step for stepAb.ts and stepProfile.ts: a graph edit, session options, or both.
import { onnx } from 'onnx-proto';
import { fuseDecodeOps } from '../src/core/local/fusedOps';
import { sessionOptions } from './stepHarness';
import type { Options, StepModel } from './stepHarness';

export interface Variant {
  graph?: (model: onnx.IModelProto) => void;
  options?: (threads: number) => Options;
}

/** Sets an int attribute on every node of `opType`. */
const setAttribute = (opType: string, name: string, value: number) => (model: onnx.IModelProto): void => {
  for (const node of model.graph?.node ?? []) {
    if (node.opType !== opType) continue;
    node.attribute = [...(node.attribute ?? []).filter((a) => a.name !== name), { name, type: onnx.AttributeProto.AttributeType.INT, i: value }];
  }
};

export const VARIANTS: Record<string, Variant> = {
  product: {},
  fused: { graph: (model) => void fuseDecodeOps(model) },
  spin: { options: (threads) => sessionOptions(threads, { intra_op: { allow_spinning: '1' } }) },
  'one-thread': { options: () => sessionOptions(1) },
  arena: { options: (threads) => sessionOptions(threads, {}, { enableCpuMemArena: true, enableMemPattern: true }) },
  'opt-basic': { options: (threads) => sessionOptions(threads, {}, { graphOptimizationLevel: 'basic' }) },
  'acc-1': { graph: setAttribute('MatMulNBits', 'accuracy_level', 1) },
  'acc-0': { graph: setAttribute('MatMulNBits', 'accuracy_level', 0) },
};

export function variantModel(base: StepModel, variant: Variant): StepModel {
  if (!variant.graph) return base;
  const graph = onnx.ModelProto.decode(onnx.ModelProto.encode(base.graph).finish());
  variant.graph(graph);
  return { ...base, graph };
}

