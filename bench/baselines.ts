// What the product is compared with: the same ONNX file run by onnxruntime-node directly, with
// the session options the product uses, so every difference in the ratios is overhead of
// LM Lens or transformers.js, not of a different ORT configuration. Keep createRawModel's
// options in step with LanguageModel.load in src/core/model.ts.
import * as ort from 'onnxruntime-node';
import { runGpt2 } from '../test/support/ortGpt2';
import type { Gpt2RunShape } from '../test/support/ortGpt2';
import { scoreWindows } from '../src/core/scoring';
import { repeat, timed } from './stats';
import type { RepeatOptions } from './stats';

export type Past = Record<string, ort.Tensor>;

export interface RawModel {
  session: ort.InferenceSession;
  shape: Gpt2RunShape;
  contextSize: number;
}

/** The product's session options (LanguageModel.load) for `threads` intra-op threads. */
export function rawSessionOptions(threads: number): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    enableCpuMemArena: false,
    enableMemPattern: false,
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  } as ort.InferenceSession.SessionOptions;
}

export async function createRawModel(file: string, shape: Gpt2RunShape, contextSize: number, threads: number): Promise<RawModel> {
  const session = await ort.InferenceSession.create(file, rawSessionOptions(threads));
  return { session, shape, contextSize };
}

export async function releaseRawModel(model: RawModel): Promise<void> {
  await model.session.release();
}

/** KV state of `ids` (one full-sequence forward); used untimed to set up decode steps. */
export async function rawPrefill(model: RawModel, ids: number[]): Promise<Past> {
  return (await runGpt2(model.session, model.shape, { ids: [ids] })).past;
}

/** Milliseconds of one decode step (one new token per batch row of `past`); the token fed does not change the work. */
export function rawDecodeStep(model: RawModel, past: Past, tokenId = 262): Promise<number> {
  const rows = past['past_key_values.0.key']?.dims[0] ?? 1;
  return timed(() => runGpt2(model.session, model.shape, { ids: Array.from({ length: rows }, () => [tokenId]), past }));
}

/** A batch-1 past repeated to `rows` rows, as the product tiles a prompt's KV state for N samples. */
export function tilePast(past: Past, rows: number): Past {
  const tiled: Past = {};
  for (const [name, tensor] of Object.entries(past)) {
    const source = tensor.data as Float32Array;
    const target = new Float32Array(rows * source.length);
    for (let row = 0; row < rows; row++) target.set(source, row * source.length);
    tiled[name] = new ort.Tensor('float32', target, [rows, ...tensor.dims.slice(1)]);
  }
  return tiled;
}

/** Decode-step samples that all start from the same past, so the context stays exactly what the caller asked for. */
export function rawDecodeSamples(model: RawModel, past: Past, options: RepeatOptions): Promise<number[]> {
  return repeat(options, () => rawDecodeStep(model, past));
}

/** `steps` chained decode steps after `past`, each feeding the previous step's KV. */
export async function rawDecodeChain(model: RawModel, past: Past, steps: number, tokenId = 262): Promise<void> {
  let current = past;
  for (let step = 0; step < steps; step++) current = (await runGpt2(model.session, model.shape, { ids: [[tokenId]], past: current })).past;
}

/**
 * Prefill of every window the product's strided scoring uses (same window and stride, from
 * scoreWindows), one forward per window with full logits and no per-token statistics: the
 * throughput a scorer built directly on ORT would get.
 */
export async function rawScoreWindows(model: RawModel, ids: number[], stride?: number): Promise<void> {
  for (const window of scoreWindows(ids.length, model.contextSize, stride)) {
    await runGpt2(model.session, model.shape, { ids: [ids.slice(window.begin, window.end)] });
  }
}
