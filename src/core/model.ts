import * as os from 'node:os';
import * as path from 'node:path';
import { AutoModelForCausalLM, AutoTokenizer, Tensor, env } from '@huggingface/transformers';
import type { PreTrainedModel, PreTrainedTokenizer, ProgressInfo } from '@huggingface/transformers';
import { defaultCacheDir } from './download/cacheFolder';
import { ensureHubModel, modelCacheFolder } from './download/hubModel';
import type { NetworkSettings } from './download/network';
import { LmLensError, errorMessage } from './errors';
import { fileDtype, onnxFileFor, parseDtype, parseModelConfig, resolveModelSource, validateModelFolder } from './modelSource';
import { DEFAULT_MODEL } from '../shared/settings';
import type { Dtype, ModelConfig } from './modelSource';
import { GptTokenizer } from './tokenizer';
import { releaseUnusedTokenizerTables } from './tokenizerMemory';
import { runtimeLoadError } from './runtimeLoad';
import { openDecodePath } from './local/decodePath';
import type { DecodeSession } from './local/decodeSession';
import type { OwnedKv } from './local/ownedKv';
import type { DecodePath, LoadProgress, ModelInfo } from '../shared/engineTypes';
export type { DecodePath, LoadProgress, ModelInfo } from '../shared/engineTypes';
import * as ort from 'onnxruntime-node';
import { LENS } from './local/lensGraph';

export interface LoadOptions {
  /** Hub id (`Xenova/gpt2`) or a folder path; see `resolveModelSource`. */
  model?: string;
  dtype?: Dtype | string;
  /** Where hub downloads are cached. Must be set by callers: transformers.js's default lies inside its own package. */
  cacheDir?: string;
  allowDownloads?: boolean;
  /** Intra-op threads; 0 or undefined = all cores. */
  threads?: number;
  /**
   * `owned-kv` (default): the export rewritten into a decode graph whose KV cache the engine
   * owns (src/core/local); `export`: the export's own graph through transformers.js. An export
   * the rewrite does not recognise falls back to `export` with one `onLog` line.
   */
  decodePath?: DecodePath;
  /**
   * Quantise the fp32 export's weight matrices once to int8 MatMulNBits (accuracy_level 4) and
   * decode with those (owned-KV path, dtype fp32 only). Faster on CPU than the hub's q8 file, not
   * exact: the benchmark reports its agreement with fp32.
   */
  fastInt8?: boolean;
  onProgress?: (progress: LoadProgress) => void;
  /** One-line notices (e.g. q8-fast running in fp32); default: stderr. */
  onLog?: (line: string) => void;
  /**
   * Why the owned-KV decode path is not used (the results are the same, only slower); default:
   * `onLog`. The CLI drops these so that its stderr holds only what the user must act on.
   */
  onDiagnostic?: (line: string) => void;
  /** Hub endpoint and proxy for downloads. */
  network?: NetworkSettings;
  /** Cancels a download (its partial files are removed). */
  signal?: AbortSignal;
}

/**
 * Past keys/values of one or more rows: on the export path, tensors in the graph's own layout
 * `[batch, heads, length, headDim]`; on the owned-KV path, the first `length` positions of an
 * engine-owned buffer (`tensors` is then empty).
 */
export interface KvState {
  batch: number;
  /** Positions in all: `shared`'s first, then the rows' own. */
  length: number;
  tensors: Record<string, Tensor>;
  owned?: OwnedKv;
  /** Owned-KV path only: batch-1 positions every row attends to before its own (N samples of one prompt). */
  shared?: OwnedKv;
}

export interface ForwardOptions {
  attentionMask?: number[][];
  logitsToKeep?: number;
}

export interface ForwardResult {
  /** Row-major `[batch, keptPositions, vocab]`. */
  logits: Float32Array;
  keptPositions: number;
  present: KvState;
}

/**
 * The model types transformers.js's AutoModelForCausalLM loads: its own table, so a type it adds
 * is accepted without a change here. Should a release stop exposing the table, only GPT-2 is.
 */
export function causalModelType(modelType: string): boolean {
  const mappings = (AutoModelForCausalLM as unknown as { MODEL_CLASS_MAPPINGS?: ReadonlyArray<ReadonlyMap<string, unknown>> }).MODEL_CLASS_MAPPINGS;
  return mappings ? mappings.some((mapping) => mapping.has(modelType)) : modelType === 'gpt2';
}

/**
 * One lens step (local/lensGraph.ts): the last position seen through every layer, and where it
 * looks. Rows: 0 after the embeddings, i after block i; per-row values are float32 from the graph.
 */
export interface LensForward {
  /** The last row's logits (the model's own distribution), `[vocab]`. */
  finalLogits: Float32Array;
  /** `[rows, k]` each, best first. */
  topIds: BigInt64Array;
  topLogprobs: Float32Array;
  entropy: Float32Array;
  klToFinal: Float32Array;
  /** How many tokens each row ranks above the final top-1. */
  aboveFinal: Float32Array;
  finalLogprob: Float32Array;
  /** Row-major `[layers · heads, width]`: the last position's attention weights over the step's columns. */
  attention: Float32Array;
  /** The column of each context position (in order) within an attention row. */
  columns: number[];
  width: number;
  /** The state after the step (past + the new token), as forward() returns it. */
  present: KvState;
}

export function resolveThreads(threads: number | undefined): number {
  return threads && threads > 0 ? Math.floor(threads) : Math.max(1, os.availableParallelism());
}

/**
 * A loaded tokenizer + ONNX decoder. All maths on top of it (scoring, top-k, sampling) lives
 * in other modules; this one only turns token ids into logits and KV state.
 */
export class LanguageModel {
  private constructor(
    readonly info: ModelInfo,
    readonly config: ModelConfig,
    readonly tokenizer: GptTokenizer,
    private readonly model: PreTrainedModel | undefined,
    private readonly decode: DecodeSession | undefined,
  ) {}

  static async load(options: LoadOptions = {}): Promise<LanguageModel> {
    const started = Date.now();
    const dtype = parseDtype(options.dtype ?? 'fp32');
    const source = resolveModelSource(options.model ?? DEFAULT_MODEL);
    const threads = resolveThreads(options.threads);
    const allowDownloads = options.allowDownloads ?? true;
    const log = options.onLog ?? ((line: string) => process.stderr.write(`${line}\n`));

    // transformers.js never goes to the network: LM Lens downloads and checks hub files itself
    // (src/core/download) into transformers.js's cache layout, which it then reads offline.
    env.allowLocalModels = true;
    env.allowRemoteModels = false;
    env.useFSCache = true;
    // Not transformers.js's env.cacheDir: its default lies inside its own package.
    const cacheDir = options.cacheDir ?? defaultCacheDir();
    env.cacheDir = cacheDir;

    const name = source.kind === 'folder' ? source.folder : source.id;
    const where = source.kind === 'folder' ? source.folder : `hub model ${source.id}`;
    let config: ModelConfig | undefined = source.kind === 'folder' ? validateModelFolder(source.folder, dtype, causalModelType) : undefined;
    if (source.kind === 'hub') {
      await ensureHubModel({
        model: source.id,
        dtype,
        cacheDir,
        network: options.network,
        allowDownloads,
        signal: options.signal,
        onProgress: (progress) => options.onProgress?.({ phase: 'download', ...progress }),
      });
    }

    const progress_callback = (info: ProgressInfo): void => {
      if (info.status === 'done' && info.file.endsWith('.onnx')) options.onProgress?.({ phase: 'load', file: info.file });
    };
    const hubOptions = { progress_callback, local_files_only: true, cache_dir: cacheDir };

    let tokenizer: PreTrainedTokenizer;
    let model: PreTrainedModel | undefined;
    let decode: DecodeSession | undefined;
    const sessionOptions = {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      // Every request has a different sequence length; ORT's arena keeps the largest and
      // fragments, growing the process by hundreds of MB over a typing session.
      enableCpuMemArena: false,
      enableMemPattern: false,
      // Spin-waiting intra-op threads made 2 threads twice as slow as 1 on small machines (measured on a 2-core VM).
      extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    };
    try {
      if (!config) {
        const { AutoConfig } = await import('@huggingface/transformers');
        const loaded = await AutoConfig.from_pretrained(name, hubOptions);
        config = parseModelConfig(JSON.stringify(loaded), `config.json of ${where}`, causalModelType);
      }
      tokenizer = await AutoTokenizer.from_pretrained(name, hubOptions);
      releaseUnusedTokenizerTables(tokenizer);
      options.onProgress?.({ phase: 'load', file: onnxFileFor(dtype) });
      if ((options.decodePath ?? 'owned-kv') === 'owned-kv') {
        const onnxFile = path.join(source.kind === 'folder' ? source.folder : modelCacheFolder(cacheDir, source.id), onnxFileFor(dtype));
        const weights = (options.fastInt8 || dtype === 'q8-fast') && fileDtype(dtype) === 'fp32' ? 'int8' : 'float';
        decode = await openDecodePath(onnxFile, config, sessionOptions, options.onDiagnostic ?? log, cacheDir, weights);
      }
      if (!decode && dtype === 'q8-fast') log(`q8-fast needs the owned-KV decode path; ${where} runs in fp32 instead.`);
      if (!decode) model = await AutoModelForCausalLM.from_pretrained(name, { ...hubOptions, dtype: fileDtype(dtype), device: 'cpu', session_options: sessionOptions });
    } catch (error) {
      throw translateLoadError(error, { source: source.kind, name, where, dtype, allowDownloads, cacheFolder: modelCacheFolder(cacheDir, name) });
    }

    const wrapped = new GptTokenizer(tokenizer);
    if (wrapped.vocabSize > config.vocabSize) {
      await model?.dispose();
      await decode?.dispose();
      throw new LmLensError(
        'vocab-mismatch',
        `The tokenizer of ${where} has ${wrapped.vocabSize} tokens but the model only ${config.vocabSize}. Add the tokenizer.json that belongs to this model, or choose another with lmLens.model (--model).`,
      );
    }
    const session = model ? (model as unknown as { sessions: Record<string, { inputNames: string[] }> }).sessions.model : undefined;
    const info: ModelInfo = {
      id: name,
      source: source.kind,
      family: config.modelType,
      // q8-fast without its decode path ran the fp32 file: say what runs.
      dtype: dtype === 'q8-fast' && !decode?.info.int8 ? 'fp32' : dtype,
      vocabSize: config.vocabSize,
      contextSize: config.contextSize,
      layers: config.layers,
      heads: config.heads,
      kvHeads: config.kvHeads,
      headDim: config.headDim,
      eosTokenId: config.eosTokenId,
      startTokenId: config.startTokenId,
      threads,
      supportsLogitsToKeep: decode ? decode.info.hasLogitsToKeep : (session?.inputNames.includes('num_logits_to_keep') ?? false),
      decodePath: decode ? 'owned-kv' : 'export',
      fastInt8: decode?.info.int8,
      loadMs: Date.now() - started,
    };
    return new LanguageModel(info, config, wrapped, model, decode);
  }

  /**
   * One forward pass. Rows of `inputIds` share a length; `attentionMask` (over past + new
   * positions) marks left padding, and transformers.js derives position ids from it the way
   * HF does. `logitsToKeep` > 0 asks only for the last positions' logits.
   */
  async forward(inputIds: number[][], past: KvState | undefined, options: ForwardOptions = {}): Promise<ForwardResult> {
    const batch = inputIds.length;
    const length = inputIds[0]?.length ?? 0;
    if (batch === 0 || length === 0) throw new LmLensError('internal', 'forward() needs at least one token.');
    if (this.decode) {
      try {
        return await this.decode.forward(inputIds, past, options);
      } catch (error) {
        throw new LmLensError('internal', `The model failed to run: ${errorMessage(error)}`);
      }
    }
    if (!this.model) throw new LmLensError('internal', 'The model has no session.');
    const pastLength = past?.length ?? 0;
    const total = pastLength + length;
    const mask = options.attentionMask ?? inputIds.map(() => new Array<number>(total).fill(1));
    const inputs: Record<string, unknown> = {
      input_ids: new Tensor('int64', BigInt64Array.from(inputIds.flat(), BigInt), [batch, length]),
      attention_mask: new Tensor('int64', BigInt64Array.from(mask.flat(), BigInt), [batch, total]),
    };
    if (past && past.length > 0) inputs.past_key_values = { ...past.tensors };
    const keep = options.logitsToKeep && this.info.supportsLogitsToKeep ? Math.min(options.logitsToKeep, length) : 0;
    if (this.info.supportsLogitsToKeep) inputs.num_logits_to_keep = new Tensor('int64', [BigInt(keep)], []);

    let outputs: Record<string, Tensor>;
    try {
      outputs = (await this.model.forward(inputs)) as Record<string, Tensor>;
    } catch (error) {
      throw new LmLensError('internal', `The model failed to run: ${errorMessage(error)}`);
    }
    const logitsTensor = outputs.logits;
    const present: Record<string, Tensor> = {};
    for (const [key, value] of Object.entries(outputs)) {
      if (key.startsWith('present')) present[key.replace('present', 'past_key_values')] = value;
    }
    return {
      logits: logitsTensor.data as Float32Array,
      keptPositions: logitsTensor.dims[1] as number,
      present: { batch, length: total, tensors: present },
    };
  }

  /** Runs `inputIds` (one row) after `past` through the lens graph, opened on first use; needs the owned-KV decode path. */
  async lensForward(inputIds: number[], past: KvState | undefined, top: number): Promise<LensForward> {
    if (!this.decode) throw new LmLensError('lens-unavailable', `The layer lens needs the owned-KV decode path, which ${this.info.id} does not run on (see the log for why).`);
    let step;
    try {
      const k = new ort.Tensor('int64', BigInt64Array.of(BigInt(Math.max(1, Math.min(top, this.info.vocabSize)))), [1]);
      step = await this.decode.withLens((lens) => lens.step([inputIds], past, {}, { [LENS.topK]: k }));
    } catch (error) {
      throw new LmLensError('lens-unavailable', `The layer lens could not run on ${this.info.id}: ${errorMessage(error)}`);
    }
    const { columns, width } = step.layout();
    const out = <T>(name: string): T => step.outputs[name]?.data as T;
    return {
      finalLogits: out(LENS.finalLogits),
      topIds: out(LENS.topIds),
      topLogprobs: out(LENS.topLogprobs),
      entropy: out(LENS.entropy),
      klToFinal: out(LENS.klToFinal),
      aboveFinal: out(LENS.aboveFinal),
      finalLogprob: out(LENS.finalLogprob),
      attention: out(LENS.attention),
      columns,
      width,
      present: step.present,
    };
  }

  /** Whether the lens graph's session is open (it closes itself after LENS_IDLE_MS without a lens request). */
  get lensOpen(): boolean {
    return this.decode?.hasLensSession ?? false;
  }

  /** Closes the lens session now, as its idle timer would. */
  releaseLens(): Promise<void> {
    return this.decode?.releaseLens() ?? Promise.resolve();
  }

  async dispose(): Promise<void> {
    await this.model?.dispose();
    await this.decode?.dispose();
  }
}

interface LoadContext {
  source: 'hub' | 'folder';
  name: string;
  where: string;
  dtype: Dtype;
  allowDownloads: boolean;
  cacheFolder: string;
}

/** transformers.js and onnxruntime throw multi-line, library-worded errors; users need one line with a fix. */
function translateLoadError(error: unknown, context: LoadContext): LmLensError {
  if (error instanceof LmLensError) return error;
  const runtime = runtimeLoadError(error);
  if (runtime) return runtime;
  const message = errorMessage(error);
  const full = error instanceof Error ? `${error.message} ${String((error as { cause?: unknown }).cause ?? '')}` : message;
  if (context.source === 'hub') {
    // Every file was checked when it was downloaded; if it does not load now it was damaged
    // in the cache since (or cached by an older version): offer to fetch it again.
    const file = /protobuf|onnx|session|Load model|invalid model|graph/i.test(full) ? onnxFileFor(context.dtype) : 'a JSON file';
    return new LmLensError(
      'cache-corrupt',
      `The cached copy of ${context.name} does not load (${file}: ${message}). Re-download it ("Re-download" in VS Code, CLI: --redownload), or delete ${context.cacheFolder}.`,
    );
  }
  if (/protobuf|onnx|session|Load model|invalid model|graph/i.test(full)) {
    const file = context.source === 'folder' ? path.join(context.name, onnxFileFor(context.dtype)) : `${context.name}/${onnxFileFor(context.dtype)}`;
    return new LmLensError('onnx-invalid', `${file} is not a readable ONNX model (truncated or corrupt?). Replace the file or choose another model with lmLens.model (--model).`);
  }
  if (/JSON/i.test(full)) {
    return new LmLensError('config-invalid', `A JSON file of ${context.where} is corrupt (${message}). Re-download or fix the model files.`);
  }
  return new LmLensError('internal', `Could not load ${context.where}: ${message}`);
}
