// Small helpers to assemble an ONNX graph with onnx-proto and to write a ModelProto whose large
// initializers are streamed to disk one at a time. protobufjs would otherwise need the whole
// ~500 MB model as one object plus its encoded copy.
import { closeSync, openSync, writeSync } from 'node:fs';
import { onnx } from 'onnx-proto';
import type { WeightSource, WeightSpec } from './weights';

export const DataType = {
  FLOAT: onnx.TensorProto.DataType.FLOAT,
  UINT8: onnx.TensorProto.DataType.UINT8,
  INT8: onnx.TensorProto.DataType.INT8,
  INT32: onnx.TensorProto.DataType.INT32,
  INT64: onnx.TensorProto.DataType.INT64,
  BOOL: onnx.TensorProto.DataType.BOOL,
} as const;

export type AttributeValue = number | number[] | string | { float: number };

/** A tensor whose bytes are produced only when the file is written. */
export interface LargeInitializer {
  name: string;
  dims: number[];
  dataType: number;
  byteLength: number;
  produce: () => ArrayBufferView;
}

/** A declared graph input or output; a string dim is a symbolic (dim_param) one. */
export interface ValueDecl {
  name: string;
  elemType: number;
  dims: (number | string)[];
}

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

function toAttribute(name: string, value: AttributeValue): onnx.IAttributeProto {
  const type = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') {
    return { name, type: type.STRING, s: new TextEncoder().encode(value) };
  }
  if (Array.isArray(value)) {
    return { name, type: type.INTS, ints: value };
  }
  if (typeof value === 'object') {
    return { name, type: type.FLOAT, f: value.float };
  }
  return { name, type: type.INT, i: value };
}

export class GraphBuilder {
  readonly nodes: onnx.INodeProto[] = [];
  readonly initializers: onnx.ITensorProto[] = [];
  readonly large: LargeInitializer[] = [];
  private counter = 0;

  /** Adds a node; output names are generated unless given. Returns the output names. */
  op(opType: string, inputs: string[], attrs: Record<string, AttributeValue> = {}, outputs: string[] | number = 1): string[] {
    const outputNames =
      typeof outputs === 'number'
        ? Array.from({ length: outputs }, (_, i) => `${opType}_${this.counter}${outputs > 1 ? `_${i}` : ''}`)
        : outputs;
    this.nodes.push({
      name: `${opType}_${this.counter++}`,
      opType,
      input: inputs,
      output: outputNames,
      attribute: Object.entries(attrs).map(([key, value]) => toAttribute(key, value)),
    });
    return outputNames;
  }

  /** Single-output shorthand for op(). */
  one(opType: string, inputs: string[], attrs: Record<string, AttributeValue> = {}, output?: string): string {
    return this.op(opType, inputs, attrs, output === undefined ? 1 : [output])[0];
  }

  int64(name: string, values: (number | bigint)[], dims: number[] = [values.length]): string {
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    this.initializers.push({ name, dims, dataType: DataType.INT64, rawData: bytesOf(data) });
    return name;
  }

  float(name: string, values: number[], dims: number[] = [values.length]): string {
    this.initializers.push({ name, dims, dataType: DataType.FLOAT, rawData: bytesOf(Float32Array.from(values)) });
    return name;
  }

  /** A small tensor from an existing typed array (quantization scales and zero points). */
  tensor(name: string, dataType: number, dims: number[], data: ArrayBufferView): string {
    this.initializers.push({ name, dims, dataType, rawData: bytesOf(data) });
    return name;
  }

  addLarge(initializer: LargeInitializer): string {
    this.large.push(initializer);
    return initializer.name;
  }
}

export function valueInfo(decl: ValueDecl): onnx.IValueInfoProto {
  return {
    name: decl.name,
    type: {
      tensorType: {
        elemType: decl.elemType,
        shape: { dim: decl.dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** writeSync may write less than asked for huge buffers; loop until all bytes are out. */
function writeAll(fd: number, bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.byteLength) {
    offset += writeSync(fd, bytes, offset, bytes.byteLength - offset);
  }
}

function varint(value: number): number[] {
  const out: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
  return out;
}

/** Field tag byte(s) plus length prefix of a length-delimited field. */
function delimitedHeader(fieldNumber: number, length: number): Uint8Array {
  return Uint8Array.from([...varint((fieldNumber << 3) | 2), ...varint(length)]);
}

const GRAPH_FIELD_IN_MODEL = 7;
const INITIALIZER_FIELD_IN_GRAPH = 5;
const RAW_DATA_FIELD_IN_TENSOR = 9;

export interface ModelFileParts {
  /** Model-level fields (ir_version, opset_import, producer, …); its graph is ignored. */
  model: onnx.IModelProto;
  /** Graph without the large initializers. */
  graph: onnx.IGraphProto;
  large: LargeInitializer[];
}

/**
 * Writes the ModelProto as model fields, then the graph field, whose body is the small graph
 * followed by one initializer entry per large tensor. Protobuf allows fields in any order and
 * concatenates repeated fields, so this is byte-for-byte a valid ModelProto; lengths are known up
 * front from the tensor shapes, so each tensor is produced, written and dropped in turn.
 */
export function writeModelFile(path: string, parts: ModelFileParts): void {
  const modelHead = onnx.ModelProto.encode({ ...parts.model, graph: null }).finish();
  const graphHead = onnx.GraphProto.encode(parts.graph).finish();
  const tensorHeads = parts.large.map((t) => {
    const head = onnx.TensorProto.encode({ name: t.name, dims: t.dims, dataType: t.dataType }).finish();
    const rawHeader = delimitedHeader(RAW_DATA_FIELD_IN_TENSOR, t.byteLength);
    const tensorLength = head.length + rawHeader.length + t.byteLength;
    return { head, rawHeader, entryHeader: delimitedHeader(INITIALIZER_FIELD_IN_GRAPH, tensorLength), tensorLength };
  });
  const graphLength = tensorHeads.reduce((sum, h) => sum + h.entryHeader.length + h.tensorLength, graphHead.length);

  const fd = openSync(path, 'w');
  try {
    writeAll(fd, modelHead);
    writeAll(fd, delimitedHeader(GRAPH_FIELD_IN_MODEL, graphLength));
    writeAll(fd, graphHead);
    parts.large.forEach((tensor, index) => {
      const { head, rawHeader, entryHeader } = tensorHeads[index];
      const bytes = bytesOf(tensor.produce());
      if (bytes.byteLength !== tensor.byteLength) {
        throw new Error(`${tensor.name}: produced ${bytes.byteLength} bytes, declared ${tensor.byteLength}`);
      }
      writeAll(fd, entryHeader);
      writeAll(fd, head);
      writeAll(fd, rawHeader);
      writeAll(fd, bytes);
    });
  } finally {
    closeSync(fd);
  }
}

export function count(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Hands out the previous tensor again when the same weight is asked for twice in a row. */
export function rememberLast(source: WeightSource): WeightSource {
  let last: { name: string; values: Float32Array } | null = null;
  return (spec: WeightSpec): Float32Array => {
    if (last?.name !== spec.name) last = { name: spec.name, values: source(spec) };
    return last.values;
  };
}

/**
 * visible[b, 0, i, j] = (j <= past_len + i) && attention_mask[b, j] == 1, shaped [B, 1, S, T], from
 * the graph inputs input_ids, attention_mask and past_key_values.0.key. Needs the int64 constants
 * zero, one, two (scalars), axes_1 and axes_1_2.
 */
export function causalPaddingMask(g: GraphBuilder): { seqLen: string; pastLen: string; totalLen: string; visible: string } {
  const seqLen = g.one('Gather', [g.one('Shape', ['input_ids']), 'one'], { axis: 0 });
  const pastLen = g.one('Gather', [g.one('Shape', ['past_key_values.0.key']), 'two'], { axis: 0 });
  const totalLen = g.one('Add', [pastLen, seqLen]);
  const queryPositions = g.one('Unsqueeze', [g.one('Range', [pastLen, totalLen, 'one']), 'axes_1']);
  const keyPositions = g.one('Range', ['zero', totalLen, 'one']);
  const causal = g.one('LessOrEqual', [keyPositions, queryPositions]);
  const padding = g.one('Unsqueeze', [g.one('Cast', ['attention_mask'], { to: DataType.BOOL }), 'axes_1_2']);
  return { seqLen, pastLen, totalLen, visible: g.one('And', [causal, padding]) };
}
