// One owned-KV decode step of the test model, on a session of its own, for profiling and for A/B
// timing of graph or session-option variants (stepProfile.ts, stepAb.ts). The step is what
// `engine.forward` runs (DecodeSession.step): one token, a past of `past` filled slots, no shared
// slots, logits for that one position; the K/V values are seeded noise (they change no work).
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { prepareDecodeGraph } from '../src/core/local/decodeFile';
import type { DecodeWeights } from '../src/core/local/decodeFile';
import { SHARED_KV_PREFIX } from '../src/core/local/decodeGraph';
import { ensureLlamaTestModel, llamaDims } from '../test/support/llamaTestModel';
import type { LlamaFamily } from '../test/support/llamaModel';
import { ensureTestModel, repoRoot } from '../test/support/testModel';
import type { TestModelShape } from '../test/support/testModel';
import { SHAPES } from './familyShapes';
import { rawSessionOptions } from './baselines';

export const BENCH_SHAPE: TestModelShape = { layers: 12, dim: 768, heads: 12, quantized: true };
const DIMS = { contextSize: 1024, hiddenSize: 768, vocabSize: 50257 };

export interface StepModel {
  /** The rewritten graph as the product caches it (decodeFile.ts). */
  graph: onnx.IModelProto;
  dataFolder: string;
  weights: DecodeWeights;
}

/** The product's rewritten decode graph of the bench model (cached under .cache/step-graphs); `fuse` false: without fusedOps.ts. */
export async function stepModel(weights: DecodeWeights, fuse = true): Promise<StepModel> {
  const folder = await ensureTestModel(BENCH_SHAPE);
  const prepared = prepareDecodeGraph(join(folder, 'onnx', 'model.onnx'), DIMS, join(repoRoot(), '.cache', 'step-graphs'), weights, fuse);
  return { graph: onnx.ModelProto.decode(prepared.bytes), dataFolder: prepared.dataFolder, weights };
}

/** The cache's heads (KV heads under grouped-query attention) and their width. */
export interface CacheShape {
  heads: number;
  headDim: number;
}

/**
 * The product's rewritten decode graph of a seeded model of the family's real shape
 * (familyShapes.ts), and its cache's shape; `headCounts` false: the rewrite without the head
 * counts, which concatenates the cache in the graph behind repeat_kv (splitAb.ts's other side).
 */
export async function familyStepModel(family: string, weights: DecodeWeights, headCounts = true): Promise<{ name: string; model: StepModel; cache: CacheShape }> {
  const entry = SHAPES[family as LlamaFamily];
  if (!entry) throw new Error(`--family must be one of ${Object.keys(SHAPES).join(', ')}`);
  const dims = llamaDims(entry.shape);
  const folder = await ensureLlamaTestModel(entry.shape);
  const heads = headCounts ? { heads: dims.heads, kvHeads: dims.kvHeads } : {};
  // The graph cache is keyed by the model file, not the dims: each form in a folder of its own.
  const cacheDir = join(repoRoot(), '.cache', 'step-graphs', `${family}-${headCounts ? 'split' : 'whole'}`);
  const prepared = prepareDecodeGraph(join(folder, 'onnx', 'model.onnx'), { contextSize: dims.contextSize, hiddenSize: dims.hidden, vocabSize: dims.vocabSize, headDim: dims.headDim, ...heads }, cacheDir, weights);
  return { name: entry.name, model: { graph: onnx.ModelProto.decode(prepared.bytes), dataFolder: prepared.dataFolder, weights }, cache: { heads: dims.kvHeads, headDim: dims.headDim } };
}

export type Options = ort.InferenceSession.SessionOptions;

/** The product's options with `extraSession` merged into `extra.session` and `more` on top. */
export function sessionOptions(threads: number, extraSession: Record<string, unknown> = {}, more: Options = {}): Options {
  const base = rawSessionOptions(threads);
  const extra = (base.extra ?? {}) as { session?: Record<string, unknown> };
  return { ...base, ...more, extra: { ...extra, session: { ...extra.session, ...extraSession } } };
}

export async function openStepSession(model: StepModel, options: Options): Promise<ort.InferenceSession> {
  const extra = (options.extra ?? {}) as { session?: Record<string, unknown> };
  const bytes = onnx.ModelProto.encode(model.graph).finish();
  return ort.InferenceSession.create(bytes, { ...options, extra: { ...extra, session: { ...extra.session, model_external_initializers_file_folder_path: model.dataFolder } } });
}

/** Deterministic noise in [-1, 1): the cached K/V of a step. */
function noise(length: number, seed: number): Float32Array {
  const out = new Float32Array(length);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = ((state >>> 0) / 2 ** 32) * 2 - 1;
  }
  return out;
}

const BENCH_CACHE: CacheShape = { heads: BENCH_SHAPE.heads as number, headDim: (BENCH_SHAPE.dim as number) / (BENCH_SHAPE.heads as number) };

/** Feeds of one decode step after `past` cached positions, built from the graph's own input names. */
export function stepFeeds(session: ort.InferenceSession, past: number, token = 262, { heads, headDim }: CacheShape = BENCH_CACHE): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  session.inputNames.forEach((name, i) => {
    if (name === 'input_ids') feeds[name] = new ort.Tensor('int64', BigInt64Array.of(BigInt(token)), [1, 1]);
    else if (name === 'position_ids') feeds[name] = new ort.Tensor('int64', BigInt64Array.of(BigInt(past)), [1, 1]);
    else if (name === 'attention_mask') feeds[name] = new ort.Tensor('int64', new BigInt64Array(past + 1).fill(1n), [1, past + 1]);
    else if (name === 'num_logits_to_keep') feeds[name] = new ort.Tensor('int64', BigInt64Array.of(1n), []);
    else if (name.startsWith(`${SHARED_KV_PREFIX}.`)) feeds[name] = new ort.Tensor('float32', new Float32Array(0), [1, heads, 0, headDim]);
    else if (name.startsWith('past_key_values.')) feeds[name] = new ort.Tensor('float32', noise(heads * past * headDim, i + 1), [1, heads, past, headDim]);
    else throw new Error(`stepFeeds: unknown input ${name}`);
  });
  return feeds;
}

/** Milliseconds of one `session.run` with `feeds`. */
export async function timeStep(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>): Promise<number> {
  const started = performance.now();
  await session.run(feeds);
  return performance.now() - started;
}
