import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';

/**
 * Small helpers for the tiny ONNX graphs the engine writes itself (row statistics, cross
 * entropy): ORT's vectorised kernels do per-row maths over 50,257 logits many times faster
 * than a JavaScript loop.
 */
export const FLOAT = onnx.TensorProto.DataType.FLOAT;
export const INT64 = onnx.TensorProto.DataType.INT64;

export interface GraphNodes {
  nodes: onnx.INodeProto[];
  node(opType: string, input: string[], output: string[], attribute?: onnx.IAttributeProto[]): void;
}

export function graphNodes(): GraphNodes {
  const nodes: onnx.INodeProto[] = [];
  return {
    nodes,
    node(opType, input, output, attribute = []) {
      nodes.push({ opType, input, output, attribute, name: `${opType}_${nodes.length}` });
    },
  };
}

export const intAttr = (name: string, value: number): onnx.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INT, i: value });
export const intsAttr = (name: string, values: number[]): onnx.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: values });

export function valueInfo(name: string, elemType: number, dims: Array<number | string>): onnx.IValueInfoProto {
  return { name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } };
}

/** An opset-17 model from a graph, serialised. */
export function encodeModel(graph: onnx.IGraphProto): Uint8Array {
  return onnx.ModelProto.encode({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], producerName: 'lm-lens', graph }).finish();
}

/** The session options of the model itself: no spinning (2× slower on 2 cores), no arena. */
export function createCpuSession(model: Uint8Array, threads: number): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(model, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionProviders: ['cpu'],
    enableCpuMemArena: false,
    enableMemPattern: false,
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  } as ort.InferenceSession.SessionOptions);
}
