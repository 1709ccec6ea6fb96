// The memory-bandwidth floor under a decode step, measured the way ORT reads weights: all its
// intra-op threads and vector loads. A one-node ONNX graph (ReduceSum over the inner axis of a
// [rows, 4096] float tensor, the output a few KB) runs over a buffer as large as the weights;
// onnxruntime-node wraps the input zero-copy, so a run is one pass over that memory.
import { onnx } from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { DataType, valueInfo } from '../test/support/onnxWriter';
import { median } from './stats';
import type { Bandwidth } from './stats';

const COLUMNS = 4096;

function reduceModel(): Uint8Array {
  const axes = BigInt64Array.of(1n);
  return onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'lm-lens-bench-floor',
    graph: {
      name: 'read_floor',
      node: [{ opType: 'ReduceSum', input: ['x', 'axes'], output: ['y'], attribute: [{ name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 0 }] }],
      initializer: [{ name: 'axes', dims: [1], dataType: DataType.INT64, rawData: new Uint8Array(axes.buffer) }],
      input: [valueInfo({ name: 'x', elemType: DataType.FLOAT, dims: ['rows', COLUMNS] })],
      output: [valueInfo({ name: 'y', elemType: DataType.FLOAT, dims: ['rows'] })],
    },
  }).finish();
}

/**
 * Read bandwidth with `threads` ORT threads over `bytes` of memory (rounded to whole rows): one
 * untimed pass to fault the pages in, then the median of `passes`.
 */
export async function measureOrtBandwidth(bytes: number, threads: number, passes = 9): Promise<Bandwidth> {
  const rows = Math.max(1, Math.floor(bytes / 4 / COLUMNS));
  const data = new Float32Array(rows * COLUMNS);
  for (let i = 0; i < data.length; i += 1024) data[i] = 1;
  const session = await ort.InferenceSession.create(reduceModel(), {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  } as ort.InferenceSession.SessionOptions);
  try {
    const feeds = { x: new ort.Tensor('float32', data, [rows, COLUMNS]) };
    await session.run(feeds);
    const rates: number[] = [];
    for (let pass = 0; pass < passes; pass++) {
      const started = performance.now();
      await session.run(feeds);
      rates.push(data.byteLength / ((performance.now() - started) / 1000));
    }
    return { bytesPerSecond: median(rates), passesGBps: rates.map((rate) => rate / 1e9), bufferBytes: data.byteLength };
  } finally {
    await session.release();
  }
}
