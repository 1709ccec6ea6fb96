// The rewritten decode graph on disk, beside the model file it was made from. Its weights are not
// copied: every large initializer points at its bytes inside the original .onnx (ONNX external
// data: location + offset + length), so the cached graph is a few hundred KB and later loads
// skip the rewrite. A sidecar JSON records the source's size and modification time and the
// rewrite's version; when either changes, the graph is rebuilt.
import { closeSync, existsSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { onnx } from 'onnx-proto';
import { rewriteForOwnedKv } from './decodeGraph';
import type { DecodeGraphInfo, ModelDims } from './decodeGraph';
import { quantizeMatMuls } from './int8Weights';
import type { Int8Summary } from './int8Weights';

/** Bump when the rewrite's output changes, so graphs cached by an older version are rebuilt. */
export const DECODE_GRAPH_VERSION = 5;
/** Initializers smaller than this stay inline: shape constants are not worth a file read each. */
const EXTERNAL_MIN_BYTES = 1024;

/** `int8`: the weight matrices quantised to MatMulNBits (int8Weights.ts), stored in the cached graph. */
export type DecodeWeights = 'float' | 'int8';

export interface PreparedDecodeGraph {
  file: string;
  info: DecodeGraphInfo;
  int8?: Int8Summary;
  /** Whether this load rewrote the graph (false: the cached one was still valid). */
  rebuilt: boolean;
}

interface Stamp {
  version: number;
  sourceSize: number;
  sourceMtimeMs: number;
  info: DecodeGraphInfo;
  int8?: Int8Summary;
}

export function decodeGraphPath(onnxFile: string, weights: DecodeWeights = 'float'): string {
  return `${onnxFile.replace(/\.onnx$/u, '')}.lmlens-decode${weights === 'int8' ? '-int8' : ''}.onnx`;
}

function stampOf(onnxFile: string): Omit<Stamp, 'info' | 'int8'> {
  const stat = statSync(onnxFile);
  return { version: DECODE_GRAPH_VERSION, sourceSize: stat.size, sourceMtimeMs: Math.floor(stat.mtimeMs) };
}

function readStamp(file: string): Stamp | undefined {
  try {
    return JSON.parse(readFileSync(`${file}.json`, 'utf8')) as Stamp;
  } catch {
    return undefined;
  }
}

/** Reads a whole file into one Buffer; protobufjs then hands out `bytes` fields as views into it. */
function readWhole(file: string): Buffer {
  const size = statSync(file).size;
  const buffer = Buffer.allocUnsafe(size);
  const fd = openSync(file, 'r');
  try {
    let offset = 0;
    while (offset < size) {
      const read = readSync(fd, buffer, offset, size - offset, offset);
      if (read === 0) throw new Error(`${file} ended early`);
      offset += read;
    }
  } finally {
    closeSync(fd);
  }
  return buffer;
}

/** Points large inline initializers at their bytes in `source` instead of copying them. */
function externalise(model: onnx.IModelProto, bytes: Buffer, location: string): void {
  for (const tensor of model.graph?.initializer ?? []) {
    const raw = tensor.rawData;
    if (!raw || raw.byteLength < EXTERNAL_MIN_BYTES || raw.buffer !== bytes.buffer) continue;
    const offset = raw.byteOffset - bytes.byteOffset;
    tensor.rawData = null;
    tensor.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    tensor.externalData = [
      { key: 'location', value: location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(raw.byteLength) },
    ];
  }
}

/**
 * The decode graph for `onnxFile`: the cached one when its stamp still matches, else a fresh
 * rewrite. Throws UnrecognisedExport when the export does not have the shape the rewrite needs,
 * or a file-system error when the folder cannot hold the cached graph.
 */
export function prepareDecodeGraph(onnxFile: string, dims: ModelDims, weights: DecodeWeights = 'float'): PreparedDecodeGraph {
  const file = decodeGraphPath(onnxFile, weights);
  const stamp = stampOf(onnxFile);
  const cached = readStamp(file);
  if (
    cached &&
    existsSync(file) &&
    cached.version === stamp.version &&
    cached.sourceSize === stamp.sourceSize &&
    cached.sourceMtimeMs === stamp.sourceMtimeMs
  ) {
    return { file, info: cached.info, int8: cached.int8, rebuilt: false };
  }
  const bytes = readWhole(onnxFile);
  const model = onnx.ModelProto.decode(bytes);
  const info = rewriteForOwnedKv(model, dims);
  const int8 = weights === 'int8' ? quantizeMatMuls(model) : undefined;
  externalise(model, bytes, basename(onnxFile));
  const encoded = onnx.ModelProto.encode(model).finish();
  const temporary = join(dirname(file), `.${basename(file)}.tmp-${process.pid}-${Date.now()}`);
  try {
    writeFileSync(temporary, encoded);
    renameSync(temporary, file);
    writeFileSync(`${file}.json`, `${JSON.stringify({ ...stamp, info, int8 } satisfies Stamp)}\n`);
  } finally {
    rmSync(temporary, { force: true });
  }
  return { file, info, int8, rebuilt: true };
}
