/**
 * What the model process says about its engine and model, on the wire: the model loaded, its
 * loading progress, what a backend can do and what it answered. src/core builds these values and
 * re-exports the types; they are defined here so that the protocol does not change when the
 * engine's internals do.
 */

/** Precisions a user can ask for; src/core/modelSource.ts maps each to the file it loads. */
export type Dtype = 'fp32' | 'q8-fast' | 'fp16' | 'q8' | 'int8' | 'uint8' | 'q4' | 'q4f16' | 'bnb4';

export type DecodePath = 'owned-kv' | 'export';

export interface ModelInfo {
  /** What the user asked for: hub id or absolute folder. */
  id: string;
  source: 'hub' | 'folder';
  /** config.json's model_type: gpt2, llama, qwen2, qwen3 … */
  family: string;
  dtype: Dtype;
  vocabSize: number;
  contextSize: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  eosTokenId: number;
  /** What `--bos` prepends: the config's bos_token_id, else its eos_token_id. */
  startTokenId: number;
  threads: number;
  /** Whether the ONNX graph can skip the output projection for positions nobody reads. */
  supportsLogitsToKeep: boolean;
  /** Which graph runs forward passes (see LoadOptions.decodePath). */
  decodePath: DecodePath;
  /** Int8 MatMulNBits weights (LoadOptions.fastInt8): matrices replaced and the bytes a decode step reads for them. */
  fastInt8?: { matrices: number; quantizedBytes: number; floatBytesReplaced: number };
  loadMs: number;
}

export interface DownloadProgress {
  file: string;
  /** 1-based position of `file` among the files still to download. */
  fileIndex: number;
  fileCount: number;
  loadedBytes: number;
  totalBytes?: number;
  bytesPerSecond?: number;
  secondsLeft?: number;
  /** Another process holds the model's lock and is downloading it. */
  waiting?: boolean;
}

export interface LoadProgress extends Partial<Omit<DownloadProgress, 'file'>> {
  /** `download` while bytes arrive from the hub, `load` while onnxruntime builds the session. */
  phase: 'download' | 'load';
  file?: string;
}

export interface PrefixCacheStats {
  lookups: number;
  hits: number;
  reusedTokens: number;
  computedTokens: number;
  entries: number;
  bytes: number;
}

/**
 * How the model process reaches the network. The extension passes VS Code's `http.proxy`,
 * `http.proxyStrictSSL` and `http.noProxy` down (the child process gets none of VS Code's
 * patched fetch); the CLI leaves them empty so `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` apply.
 */
export interface NetworkSettings {
  /** Hub or mirror base URL, with or without a trailing slash (empty: the hub). */
  hubEndpoint?: string;
  /** Proxy URL (may carry `user:password@`); empty: the environment's proxy variables. */
  proxy?: string;
  /** false accepts any TLS certificate (VS Code's `http.proxyStrictSSL`). */
  strictSSL?: boolean;
  /** Hosts that bypass the proxy (VS Code's `http.noProxy`); empty: `NO_PROXY`. */
  noProxy?: string[];
}

export type RemoteApi = 'openai' | 'llama.cpp';

export type BackendKind = 'local' | 'openai' | 'llama.cpp';

export interface BackendCapabilities {
  kind: BackendKind;
  /** Most alternatives the backend returns per position (the whole vocabulary for `local`). */
  maxTopK: number;
  /** Whether next-token and per-token entropy can be computed (needs the whole distribution). */
  entropy: boolean;
  /** Whether raw logits are known (only the local engine has them; servers give log-probabilities). */
  logits: boolean;
  /** Whether every scored token's rank is known, even far outside the top-k. */
  exactRank: boolean;
  /** Whether the distribution after temperature / top-k / top-p can be shown for any settings. */
  samplingView: boolean;
  /** Whether the same seed gives the same samples. */
  seededSampling: boolean;
  /** Whether the logit lens and attention (per layer) are known: only inside the local engine. */
  lens: boolean;
}

export interface BackendTopToken {
  /** null when a server reports tokens by text only. */
  id: number | null;
  text: string;
  prob: number;
  logprob: number;
  logit: number | null;
}

export interface BackendSampledToken {
  id: number | null;
  text: string;
  prob: number;
}

export interface BackendNextToken {
  contextTokens: number;
  contextIds: number[];
  truncated: boolean;
  entropy: number | null;
  top: BackendTopToken[];
  /** The distribution sampling draws from, when a transform is active; null if it cannot be known. */
  sampling?: { entropy: number | null; keptTokens: number | null; top: BackendSampledToken[] } | null;
  /** The last `tailTokens` context tokens, each with its probability given the ones before it where the backend can say cheaply. */
  tail?: BackendContextToken[];
}

export interface BackendContextToken {
  id: number;
  text: string;
  /** Absent for the first token of the context, or where knowing it would cost a request per token. */
  prob?: number;
}

export interface BackendGeneratedToken {
  id: number | null;
  text: string;
  prob: number;
  /** Probability under the distribution it was drawn from; null when the server cannot say. */
  sampledProb: number | null;
}

export type StopReason = 'eos' | 'newline' | 'sentence' | 'paragraph' | 'repetition' | 'low-confidence' | 'length';

/** The unit a completion may run to: a sentence (or the line's end), a line, or a paragraph (a blank line). */
export type StopUnit = 'sentence' | 'line' | 'paragraph';
export const STOP_UNITS: readonly StopUnit[] = ['sentence', 'line', 'paragraph'];

export interface StopOptions {
  /** Default `lmLens.inline.stopAt`'s default. */
  stopAt?: StopUnit;
  /** A token the model gave less than this probability ends the completion before it; 0 turns the rule off. */
  minTokenProb?: number;
  /** false = do not stop at a line break (the paragraph rule still applies under `stopAt: 'paragraph'`). */
  stopAtNewline?: boolean;
  /** false = do not stop at a sentence end. */
  stopAtSentenceEnd?: boolean;
}

export type CompletionStop = StopReason;

export interface BackendCompletion {
  text: string;
  tokens: BackendGeneratedToken[];
  stopReason: CompletionStop;
  meanProb: number;
  jointProb: number;
}

export interface BackendSequenceToken extends BackendGeneratedToken {
  /** `sampledProb` over the N sequences' sum at this step (the notebook's `normed_gen_probs`). */
  normedProb: number | null;
}

export interface BackendSequence {
  text: string;
  tokens: BackendSequenceToken[];
  prob: number;
  sampledProb: number | null;
  logprob: number;
  share: number | null;
  normedProd: number | null;
  stopReason: 'length' | 'eos' | 'stop';
}

// The logit lens at the cursor (lm-lens lens, the panel's Layers view).
export interface LensTopToken {
  id: number;
  text: string;
  prob: number;
  logprob: number;
}

export interface LensLayer {
  /** 0 = after the embeddings, i = after block i; the last is the model's own distribution. */
  layer: number;
  top: LensTopToken[];
  /** Nats. */
  entropy: number;
  /** KL(final ‖ this layer) in nats: Σ p_final · (log p_final − log p_layer). */
  klToFinal: number;
  /** The final distribution's top-1 token as this layer sees it; rank 1 = this layer's top. */
  final: { id: number; prob: number; rank: number };
}

export interface LensResult {
  model: string;
  contextTokens: number;
  /** Whether the text was cut to fit the context window. */
  truncated: boolean;
  tokens: Array<{ id: number; text: string }>;
  /** L + 1 rows. */
  layers: LensLayer[];
  /** [layer][head][position]: the last position's attention weights; each row sums to 1. */
  attention: number[][][];
}
