import { existsSync, readFileSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LmLensError } from './errors';
import { DEFAULT_MODEL } from '../shared/settings';
import type { Dtype } from '../shared/engineTypes';

export type { Dtype } from '../shared/engineTypes';

/** Each precision a user can ask for, mapped to the file suffix transformers.js loads (`onnx/model{suffix}.onnx`). */
export const DTYPE_SUFFIXES: Readonly<Record<Dtype, string>> = {
  fp32: '',
  // Not a hub file: the fp32 export, its matrices quantised to int8 at load (see LoadOptions.fastInt8).
  'q8-fast': '',
  fp16: '_fp16',
  q8: '_quantized',
  int8: '_int8',
  uint8: '_uint8',
  q4: '_q4',
  q4f16: '_q4f16',
  bnb4: '_bnb4',
};

export function parseDtype(value: string): Dtype {
  if (Object.hasOwn(DTYPE_SUFFIXES, value)) return value as Dtype;
  throw new LmLensError(
    'unknown-dtype',
    `Unknown precision "${value}". Set lmLens.dtype (or --dtype) to one of: ${Object.keys(DTYPE_SUFFIXES).join(', ')}.`,
  );
}

/** The precision transformers.js is asked for when it loads the file of `dtype`. */
export function fileDtype(dtype: Dtype): Exclude<Dtype, 'q8-fast'> {
  return dtype === 'q8-fast' ? 'fp32' : dtype;
}

export function onnxFileFor(dtype: Dtype): string {
  return `onnx/model${DTYPE_SUFFIXES[dtype]}.onnx`;
}

export type ModelSource = { kind: 'folder'; folder: string } | { kind: 'hub'; id: string };

/**
 * A relative path such as `models/tiny` looks exactly like a hub id; transformers.js would
 * then fail with a confusing tokenizer error, so anything that exists on disk or is
 * spelled like a path is a folder, resolved to an absolute path.
 */
export function resolveModelSource(model: string, cwd: string = process.cwd()): ModelSource {
  const trimmed = model.trim();
  if (trimmed === '') return { kind: 'hub', id: DEFAULT_MODEL };
  const expanded = trimmed.startsWith('~') ? path.join(os.homedir(), trimmed.slice(1)) : trimmed;
  const looksLikePath =
    path.isAbsolute(expanded) ||
    /^\.\.?([\\/]|$)/.test(expanded) ||
    expanded.includes('\\') ||
    expanded.split('/').length > 2 ||
    trimmed.startsWith('~');
  const absolute = path.resolve(cwd, expanded);
  if (looksLikePath || existsSync(absolute)) return { kind: 'folder', folder: absolute };
  return { kind: 'hub', id: trimmed };
}

export interface ModelConfig {
  modelType: string;
  vocabSize: number;
  contextSize: number;
  layers: number;
  heads: number;
  /** Heads of the KV cache: fewer than `heads` under grouped-query attention (Llama, Qwen). */
  kvHeads: number;
  /** Width of one head: Qwen3 sets it apart from hiddenSize / heads. */
  headDim: number;
  hiddenSize: number;
  eosTokenId: number;
  /** The token a text is scored after (`--bos`): bos_token_id, else eos_token_id. */
  startTokenId: number;
  raw: Record<string, unknown>;
}

/**
 * Whether transformers.js loads a `model_type` as a causal LM. It picks the model class by
 * `model_type` alone, so `architectures` cannot vouch for a config whose type is another kind.
 */
export type CausalModelType = (modelType: string) => boolean;

/** Reads and checks `config.json`: it must describe a decoder that predicts the next token. */
export function parseModelConfig(text: string, where: string, isCausalType: CausalModelType): ModelConfig {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new LmLensError('config-invalid', `${where} is not valid JSON. Re-download the model or fix the file, then run "LM Lens: Restart model".`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new LmLensError('config-invalid', `${where} is not a model configuration object. Point lmLens.model to a GPT-2, Llama, Qwen2 or Qwen3 model folder.`);
  }
  const modelType = typeof raw.model_type === 'string' ? raw.model_type : '';
  const architectures = Array.isArray(raw.architectures) ? raw.architectures.map(String) : [];
  const claimsCausal = architectures.some((name) => /(ForCausalLM|LMHeadModel)$/.test(name));
  const causal = modelType ? isCausalType(modelType) : claimsCausal;
  if (!causal) {
    // BERT's BertLMHeadModel, say: the name sounds causal, but transformers.js would load a BERT.
    const despite = modelType && claimsCausal ? ` (whatever its architectures say: the model type decides)` : '';
    throw new LmLensError(
      'not-causal-lm',
      `${where} describes a "${modelType || 'unknown'}" model, not a causal language model${despite}. Set lmLens.model (or --model) to a GPT-2, Llama, Qwen2 or Qwen3 model (e.g. Xenova/gpt2).`,
    );
  }
  const number = (...keys: string[]): number | undefined => {
    for (const key of keys) if (typeof raw[key] === 'number') return raw[key] as number;
    return undefined;
  };
  const vocabSize = number('vocab_size');
  const hiddenSize = number('n_embd', 'hidden_size');
  const layers = number('n_layer', 'num_hidden_layers');
  const heads = number('n_head', 'num_attention_heads');
  if (!vocabSize || !hiddenSize || !layers || !heads) {
    const names = modelType === 'gpt2' ? 'vocab_size, n_embd, n_layer or n_head' : 'vocab_size, hidden_size, num_hidden_layers or num_attention_heads';
    throw new LmLensError('config-invalid', `${where} lacks ${names}. Point lmLens.model to a complete model folder.`);
  }
  const kvHeads = number('num_key_value_heads') ?? heads;
  const headDim = number('head_dim') ?? hiddenSize / heads;
  if (!Number.isInteger(kvHeads) || kvHeads <= 0 || heads % kvHeads !== 0) {
    throw new LmLensError('config-invalid', `${where}: num_key_value_heads (${kvHeads}) must divide num_attention_heads (${heads}). Fix the file or re-download the model.`);
  }
  if (!Number.isInteger(headDim) || headDim <= 0) {
    throw new LmLensError('config-invalid', `${where}: the head width (head_dim, or hidden_size / num_attention_heads = ${headDim}) is not a positive whole number. Add head_dim or fix the file.`);
  }
  const firstId = (value: unknown): number | undefined => (typeof value === 'number' ? value : Array.isArray(value) && typeof value[0] === 'number' ? value[0] : undefined);
  const eosTokenId = firstId(raw.eos_token_id) ?? vocabSize - 1;
  return {
    modelType,
    vocabSize,
    contextSize: number('n_positions', 'n_ctx', 'max_position_embeddings') ?? 1024,
    layers,
    heads,
    kvHeads,
    headDim,
    hiddenSize,
    eosTokenId,
    startTokenId: firstId(raw.bos_token_id) ?? eosTokenId,
    raw,
  };
}

export const REQUIRED_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json'] as const;

export interface FolderCheck {
  missing: string[];
  availableDtypes: Dtype[];
}

/** Lists what a folder lacks for `dtype`, and which precisions it offers. */
export function inspectModelFolder(folder: string, dtype: Dtype): FolderCheck {
  const availableDtypes = (Object.keys(DTYPE_SUFFIXES) as Dtype[]).filter((candidate) => existsSync(path.join(folder, onnxFileFor(candidate))));
  const missing: string[] = REQUIRED_FILES.filter((file) => !existsSync(path.join(folder, file)));
  if (!availableDtypes.includes(dtype)) missing.push(onnxFileFor(dtype));
  return { missing, availableDtypes };
}

/** Throws the one-line error a user can act on when a folder cannot hold a usable model. */
export function validateModelFolder(folder: string, dtype: Dtype, isCausalType: CausalModelType): ModelConfig {
  if (!existsSync(folder) || !statSync(folder).isDirectory()) {
    throw new LmLensError('folder-missing', `Model folder ${folder} does not exist. Set lmLens.model (or --model) to an existing folder or a hub id such as Xenova/gpt2.`);
  }
  const { missing, availableDtypes } = inspectModelFolder(folder, dtype);
  const onlyWeightsMissing = missing.length === 1 && missing[0] === onnxFileFor(dtype);
  if (onlyWeightsMissing && availableDtypes.length > 0) {
    throw new LmLensError(
      'dtype-unavailable',
      `Model folder ${folder} has no ${onnxFileFor(dtype)} for precision ${dtype}. Set lmLens.dtype (or --dtype) to one it has: ${availableDtypes.join(', ')}.`,
    );
  }
  if (missing.length > 0) {
    throw new LmLensError(
      'file-missing',
      `Model folder ${folder} is missing ${missing.join(', ')}. Add the missing file${missing.length > 1 ? 's' : ''} (a transformers.js export has them) or choose another folder with lmLens.model.`,
    );
  }
  return parseModelConfig(readFileSync(path.join(folder, 'config.json'), 'utf8'), path.join(folder, 'config.json'), isCausalType);
}
