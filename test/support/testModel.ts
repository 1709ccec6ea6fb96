// Writes a complete GPT-2 model folder in the hub's layout (Xenova/gpt2) from seeded weights,
// and keeps built folders in a cache so tests build each configuration once.
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { writeGpt2Gguf } from './ggufGpt2';
import type { GgufWeightType } from './ggufGpt2';
import { writeGpt2Onnx } from './onnxGpt2';
import { END_OF_TEXT_ID, GPT2_VOCAB_SIZE, writeTokenizerFiles } from './tokenizerFiles';
import { seededWeights } from './weights';
import type { Gpt2Dims } from './weights';

export interface TestModelShape {
  layers: number;
  dim: number;
  heads: number;
  /** n_positions / n_ctx; default 1024. */
  contextSize?: number;
  /** Default 1. */
  seed?: number;
  numLogitsToKeep?: boolean;
  quantized?: boolean;
  /** Which export's graph pattern to write (see Gpt2OnnxOptions.pattern); default compact. */
  pattern?: 'compact' | 'optimum';
}

export interface TestModelOptions extends TestModelShape {
  out: string;
}

/** Bump when the builder's output changes, so cached folders from older builders are not reused. */
export const TEST_MODEL_FORMAT = 1;
export const DEFAULT_CONTEXT_SIZE = 1024;
export const DEFAULT_SEED = 1;

function dimsOf(shape: TestModelShape): Gpt2Dims {
  for (const key of ['layers', 'dim', 'heads'] as const) {
    if (!Number.isInteger(shape[key]) || shape[key] <= 0) throw new Error(`${key} must be a positive integer`);
  }
  return {
    layers: shape.layers,
    dim: shape.dim,
    heads: shape.heads,
    vocabSize: GPT2_VOCAB_SIZE,
    contextSize: shape.contextSize ?? DEFAULT_CONTEXT_SIZE,
  };
}

function configJson(shape: TestModelShape, dims: Gpt2Dims): Record<string, unknown> {
  return {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    vocab_size: dims.vocabSize,
    n_positions: dims.contextSize,
    n_ctx: dims.contextSize,
    n_embd: dims.dim,
    n_layer: dims.layers,
    n_head: dims.heads,
    n_inner: null,
    activation_function: 'gelu_new',
    layer_norm_epsilon: 1e-5,
    resid_pdrop: 0.1,
    embd_pdrop: 0.1,
    attn_pdrop: 0.1,
    initializer_range: 0.02,
    scale_attn_weights: true,
    bos_token_id: END_OF_TEXT_ID,
    eos_token_id: END_OF_TEXT_ID,
    use_cache: true,
    tie_word_embeddings: true,
    lmLensTestModel: {
      format: TEST_MODEL_FORMAT,
      seed: shape.seed ?? DEFAULT_SEED,
      numLogitsToKeep: shape.numLogitsToKeep === true,
      quantized: shape.quantized === true,
      pattern: shape.pattern ?? 'compact',
    },
  };
}

function writeJson(path: string, value: unknown): void {
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** Writes config, generation config, tokenizer files and onnx/model.onnx (+ model_quantized.onnx). */
export async function writeTestModel(options: TestModelOptions): Promise<void> {
  const dims = dimsOf(options);
  const seed = options.seed ?? DEFAULT_SEED;
  const out = resolve(options.out);
  mkdirSync(join(out, 'onnx'), { recursive: true });
  writeJson(join(out, 'config.json'), configJson(options, dims));
  writeJson(join(out, 'generation_config.json'), { bos_token_id: END_OF_TEXT_ID, eos_token_id: END_OF_TEXT_ID });
  writeTokenizerFiles(out, dims.contextSize);
  const graphOptions = { numLogitsToKeep: options.numLogitsToKeep === true, pattern: options.pattern };
  writeGpt2Onnx(join(out, 'onnx', 'model.onnx'), dims, seededWeights(seed), graphOptions);
  if (options.quantized) {
    writeGpt2Onnx(join(out, 'onnx', 'model_quantized.onnx'), dims, seededWeights(seed), { ...graphOptions, quantized: true });
  }
}

/** Folder name that identifies a configuration, e.g. gpt2-L2-D64-H4-C1024-s1-f1. */
export function testModelName(shape: TestModelShape): string {
  const dims = dimsOf(shape);
  const flags = `${shape.numLogitsToKeep ? '-k' : ''}${shape.quantized ? '-q' : ''}${shape.pattern === 'optimum' ? '-o' : ''}`;
  return `gpt2-L${dims.layers}-D${dims.dim}-H${dims.heads}-C${dims.contextSize}-s${shape.seed ?? DEFAULT_SEED}${flags}-f${TEST_MODEL_FORMAT}`;
}

/** The repository root: the nearest folder above this file (or its bundle) with a package.json. */
export function repoRoot(): string {
  let folder = __dirname;
  while (!existsSync(join(folder, 'package.json'))) {
    const parent = dirname(folder);
    if (parent === folder) throw new Error(`no package.json above ${__dirname}`);
    folder = parent;
  }
  return folder;
}

/**
 * Builds the model into <repo>/.cache/test-models/<name> unless it is already there and returns
 * the absolute folder. Builds go to a temporary sibling that is renamed into place when complete,
 * so an interrupted build never leaves a folder that looks finished.
 */
export async function ensureTestModel(shape: TestModelShape): Promise<string> {
  return ensureCachedFolder(testModelName(shape), (out) => writeTestModel({ ...shape, out }));
}

/** <repo>/.cache/test-models/<name>, written by `write` into a temporary folder on first use. */
export async function ensureCachedFolder(name: string, write: (out: string) => Promise<void> | void): Promise<string> {
  const cache = join(repoRoot(), '.cache', 'test-models');
  const folder = join(cache, name);
  if (existsSync(folder)) return folder;
  mkdirSync(cache, { recursive: true });
  const temporary = `${folder}.tmp-${process.pid}-${Date.now()}`;
  try {
    await write(temporary);
    try {
      renameSync(temporary, folder);
    } catch (error) {
      // Another process finished the same configuration first: keep its copy.
      if (!existsSync(folder)) throw error;
    }
  } finally {
    rmSync(temporary, { recursive: true, force: true });
  }
  return folder;
}

/**
 * The same seeded weights as `ensureTestModel(shape)` as a GGUF file for llama.cpp, written into
 * that model's folder (gguf/model-<type>.gguf) on first use; returns its absolute path.
 */
export async function ensureTestGguf(shape: TestModelShape, type: GgufWeightType): Promise<string> {
  const file = join(await ensureTestModel(shape), 'gguf', `model-${type}.gguf`);
  ensureFile(file, (temporary) => writeGpt2Gguf(temporary, dimsOf(shape), seededWeights(shape.seed ?? DEFAULT_SEED), type));
  return file;
}

/** Writes `file` through a temporary sibling renamed into place, unless it exists. */
export function ensureFile(file: string, write: (temporary: string) => void): void {
  if (existsSync(file)) return;
  mkdirSync(dirname(file), { recursive: true });
  const temporary = `${file}.tmp-${process.pid}-${Date.now()}`;
  try {
    write(temporary);
    renameSync(temporary, file);
  } finally {
    rmSync(temporary, { force: true });
  }
}
