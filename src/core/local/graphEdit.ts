// The small graph-editing toolkit the owned-KV rewrite (decodeGraph.ts) and its attention
// replacements (gqaAttention.ts) share: find a tensor's producer and readers, add nodes and
// constants under names that cannot clash with the export's, and say why an export does not fit.
import { onnx } from 'onnx-proto';

/** The export does not have the shape the rewrite needs; the caller keeps the export's own graph. */
export class UnrecognisedExport extends Error {}

export type Node = onnx.INodeProto;

export function fail(reason: string): never {
  throw new UnrecognisedExport(reason);
}

export function attributeInts(node: Node, name: string): number[] | undefined {
  const attribute = node.attribute?.find((a) => a.name === name);
  return attribute?.ints?.map(Number);
}

export function attributeInt(node: Node, name: string): number | undefined {
  const attribute = node.attribute?.find((a) => a.name === name);
  return attribute?.i === undefined || attribute.i === null ? undefined : Number(attribute.i);
}

export function attributeFloat(node: Node, name: string): number | undefined {
  const attribute = node.attribute?.find((a) => a.name === name);
  return attribute?.f === undefined || attribute.f === null ? undefined : Number(attribute.f);
}

export const INT64_MAX = Number.MAX_SAFE_INTEGER;
export const ints = (name: string, values: number[]): onnx.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: values });
export const intAttribute = (name: string, value: number): onnx.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INT, i: value });
export const axisAttribute = (axis: number): onnx.IAttributeProto => intAttribute('axis', axis);

/** The values of an int64 initializer or Constant node's tensor named `name`; undefined when it is neither. */
export function constantInt64s(initializers: onnx.ITensorProto[], nodes: Node[], name: string): number[] | undefined {
  const constant = nodes.find((node) => node.opType === 'Constant' && node.output?.[0] === name);
  const tensor = constant ? constant.attribute?.find((a) => a.name === 'value')?.t : initializers.find((t) => t.name === name);
  if (tensor?.dataType !== onnx.TensorProto.DataType.INT64) return undefined;
  if ((tensor.int64Data ?? []).length > 0) return tensor.int64Data?.map((v) => Number(v.toString()));
  const raw = tensor.rawData ?? new Uint8Array();
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  return Array.from({ length: raw.byteLength / 8 }, (_, i) => Number(view.getBigInt64(i * 8, true)));
}

export class GraphEdit {
  private counter = 0;
  readonly added: Node[] = [];

  constructor(readonly graph: onnx.IGraphProto) {}

  get nodes(): Node[] {
    return this.graph.node ?? [];
  }

  consumers(name: string): Node[] {
    return this.nodes.filter((node) => node.input?.includes(name));
  }

  producer(name: string): Node | undefined {
    return this.nodes.find((node) => node.output?.includes(name));
  }

  int64Values(name: string): number[] | undefined {
    return constantInt64s(this.graph.initializer ?? [], this.nodes, name);
  }

  name(hint: string): string {
    return `lmlens_${hint}_${this.counter++}`;
  }

  op(opType: string, input: string[], attrs: onnx.IAttributeProto[] = [], output = this.name(opType)): string {
    this.added.push({ opType, input, output: [output], name: this.name(`${opType}_node`), attribute: attrs });
    return output;
  }

  int64(values: number[], dims: number[] = [values.length]): string {
    const name = this.name('const');
    const data = BigInt64Array.from(values.map(BigInt));
    this.graph.initializer = [...(this.graph.initializer ?? []), { name, dims, dataType: onnx.TensorProto.DataType.INT64, rawData: new Uint8Array(data.buffer) }];
    return name;
  }

  float32(values: number[], dims: number[] = [values.length]): string {
    const name = this.name('const');
    const data = Float32Array.from(values);
    this.graph.initializer = [...(this.graph.initializer ?? []), { name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(data.buffer) }];
    return name;
  }
}
