// Writes a Llama-family test model folder in the hub's layout (config.json, generation_config.json,
// the family's real tokenizer files, onnx/model.onnx and model_q4.onnx) from seeded weights, cached like GPT-2's.
import { mkdirSync, writeFileSync } from 'node:fs';
import type { GgufWeightType } from './ggufGpt2';
import { writeLlamaGguf } from './ggufLlama';
import { join, resolve } from 'node:path';
import { FAMILY_VOCAB, llamaConfigJson, llamaTokenizerFiles, specialIds } from './llamaModel';
import type { LlamaDims, LlamaFamily } from './llamaModel';
import { checkLlamaDims, writeLlamaOnnx } from './onnxLlama';
import type { LlamaGraphForm } from './onnxLlama';
import { DEFAULT_SEED, ensureCachedFolder, ensureFile } from './testModel';
import { seededWeights } from './weights';

/** Bump when this builder's output changes, so cached folders from older builders are not reused. */
export const LLAMA_TEST_MODEL_FORMAT = 3;

export interface LlamaTestShape extends Partial<Omit<LlamaDims, 'family' | 'vocabSize'>> {
  family: LlamaFamily;
  seed?: number;
  /** Which exporter's graph (default optimum). */
  form?: LlamaGraphForm;
}

/**
 * Defaults chosen to catch the usual mistakes: 4 query heads over 2 KV heads (GQA), head_dim 24
 * while hidden/heads is 16, and llama3 scaling with a short original window so that it rescales
 * the frequencies RoPE uses within the first few dozen positions.
 */
export function llamaDims(shape: LlamaTestShape): LlamaDims {
  const dims: LlamaDims = {
    family: shape.family,
    layers: shape.layers ?? 2,
    hidden: shape.hidden ?? 64,
    heads: shape.heads ?? 4,
    kvHeads: shape.kvHeads ?? 2,
    headDim: shape.headDim ?? 24,
    intermediate: shape.intermediate ?? 160,
    vocabSize: FAMILY_VOCAB[shape.family],
    contextSize: shape.contextSize ?? 512,
    ropeTheta: shape.ropeTheta ?? (shape.family === 'llama' ? 5e5 : 1e6),
    ropeScaling:
      shape.ropeScaling !== undefined ? shape.ropeScaling : shape.family === 'llama' ? { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 64 } : null,
    rmsEpsilon: shape.rmsEpsilon ?? (shape.family === 'llama' ? 1e-5 : 1e-6),
    tied: shape.tied ?? true,
  };
  checkLlamaDims(dims);
  return dims;
}

export function llamaTestModelName(shape: LlamaTestShape): string {
  const d = llamaDims(shape);
  const rope = d.ropeScaling ? `-r${d.ropeScaling.factor}x${d.ropeScaling.originalContext}` : '';
  return `${d.family}-L${d.layers}-D${d.hidden}-H${d.heads}kv${d.kvHeads}x${d.headDim}-I${d.intermediate}-C${d.contextSize}-t${d.ropeTheta}${rope}${d.tied ? '' : '-untied'}${shape.form === 'genai' ? '-gqa' : ''}-s${shape.seed ?? DEFAULT_SEED}-f${LLAMA_TEST_MODEL_FORMAT}`;
}

export function writeLlamaTestModel(shape: LlamaTestShape, out: string): void {
  const dims = llamaDims(shape);
  const folder = resolve(out);
  const seed = shape.seed ?? DEFAULT_SEED;
  mkdirSync(join(folder, 'onnx'), { recursive: true });
  const json = (file: string, value: unknown): void => writeFileSync(join(folder, file), `${JSON.stringify(value, null, 2)}\n`);
  json('config.json', llamaConfigJson(dims, { lmLensTestModel: { format: LLAMA_TEST_MODEL_FORMAT, seed } }));
  const { bos, eos } = specialIds(dims.family);
  json('generation_config.json', { bos_token_id: bos, eos_token_id: eos });
  const tokenizer = llamaTokenizerFiles(dims.family, dims.contextSize);
  writeFileSync(join(folder, 'tokenizer.json'), tokenizer.tokenizerJson);
  writeFileSync(join(folder, 'tokenizer_config.json'), tokenizer.tokenizerConfigJson);
  const form = shape.form ?? 'optimum';
  writeLlamaOnnx(join(folder, 'onnx', 'model.onnx'), dims, seededWeights(seed), false, form);
  writeLlamaOnnx(join(folder, 'onnx', 'model_q4.onnx'), dims, seededWeights(seed), true, form);
}

/** Builds the model into <repo>/.cache/test-models/<name> on first use and returns the folder. */
export function ensureLlamaTestModel(shape: LlamaTestShape): Promise<string> {
  return ensureCachedFolder(llamaTestModelName(shape), (out) => writeLlamaTestModel(shape, out));
}

/** The same seeded weights as `ensureLlamaTestModel(shape)` as a GGUF file for llama.cpp (gguf/model-<type>.gguf in its folder). */
export async function ensureLlamaTestGguf(shape: LlamaTestShape, type: GgufWeightType): Promise<string> {
  const folder = await ensureLlamaTestModel(shape);
  const file = join(folder, 'gguf', `model-${type}.gguf`);
  ensureFile(file, (temporary) => writeLlamaGguf(temporary, folder, llamaDims(shape), seededWeights(shape.seed ?? DEFAULT_SEED), type));
  return file;
}
