/**
 * The operations LM Lens's features need from a language model, whichever engine answers:
 * the in-process GPT-2 (`local`) or a server (`openai` = vLLM / SGLang completions API,
 * `llama.cpp` = llama-server's native API). Features ask for what they want and read
 * `capabilities` / `notes` to say, in one line, what a server could not give; a number a
 * backend cannot provide is `null`, never a guess.
 */
import type { SamplingSettings } from './distribution';
import type { CompletionOptions, CompletionStop } from './completion';
import type { TokenSpan } from './tokenizer';

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
}

export interface BackendInfo {
  kind: BackendKind;
  /** The model's name: a hub id or folder for `local`, the served model for a server. */
  model: string;
  /** Where the answers come from: "local" or the server's host:port. */
  host: string;
  vocabSize: number | null;
  contextSize: number | null;
  /** Token a text starts after (`<|endoftext|>` for GPT-2, BOS for Llama); null if the model has none. */
  startTokenId: number | null;
}

export interface TokenizedText {
  ids: number[];
  /** Each token's text on its own (U+FFFD where a token holds part of a character). */
  texts: string[];
  /** UTF-16 spans in the text; a token inside a character covers the whole character. */
  spans: TokenSpan[];
  /** How many of `ids` the tokenizer put in front of the text (Llama 3's `<|begin_of_text|>`; spans 0..0); absent = 0. */
  added?: number;
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
}

export interface NextTokenRequest extends SamplingSettings {
  top?: number;
  bos?: boolean;
  signal?: AbortSignal;
}

export interface BackendTokenScore {
  index: number;
  id: number;
  logprob: number;
  prob: number;
  /** 1 = most likely; null when the token lies outside the alternatives a server returned. */
  rank: number | null;
  entropy: number | null;
  /** log p of the first choice and the renormalised top-10 entropy (GLTR); the local engine only. */
  topLogprob?: number | null;
  top10Entropy?: number | null;
  alternatives?: Array<{ id: number | null; text?: string; prob: number }>;
}

export interface ScoreRequest {
  /** First index of `ids` to score (default 1). */
  fromToken?: number;
  alternatives?: number;
  signal?: AbortSignal;
  onProgress?: (scored: number, total: number) => void;
  /** Called after each window with the scores it added, in order (what the result will hold). */
  onScores?: (scores: readonly BackendTokenScore[]) => void;
  /** Window stride for texts longer than the context (local only). */
  stride?: number;
}

export interface BackendGeneratedToken {
  id: number | null;
  text: string;
  prob: number;
  /** Probability under the distribution it was drawn from; null when the server cannot say. */
  sampledProb: number | null;
}

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

export interface SampleRequest extends SamplingSettings {
  n?: number;
  maxNewTokens?: number;
  seed?: number;
  signal?: AbortSignal;
}

export interface Backend {
  readonly info: BackendInfo;
  readonly capabilities: BackendCapabilities;
  /** Connects (for a server: checks it answers and learns the model's facts). Idempotent. */
  ready(signal?: AbortSignal): Promise<BackendInfo>;
  tokenize(text: string, signal?: AbortSignal): Promise<TokenizedText>;
  /** Ids a generation or next-token request conditions on: the text's, after the start token when asked or when empty. */
  promptIds(text: string, bos?: boolean, signal?: AbortSignal): Promise<number[]>;
  tokenText(id: number, signal?: AbortSignal): Promise<string>;
  nextToken(text: string, request?: NextTokenRequest): Promise<BackendNextToken>;
  score(ids: number[], request?: ScoreRequest): Promise<BackendTokenScore[]>;
  complete(prompt: number[], options?: CompletionOptions): Promise<BackendCompletion>;
  sample(prompt: number[], request?: SampleRequest): Promise<BackendSequence[]>;
  /** Tokens computed so far (for local: not taken from the prefix cache); null where unknown. */
  computedTokens(): number | null;
  dispose(): Promise<void>;
}

/**
 * One line per thing a request asked for that the backend could not give, for the panel,
 * the hover and the CLI: degraded, never silently.
 */
export function degradations(capabilities: BackendCapabilities, asked: { rows?: number; sampling?: boolean; entropy?: boolean }): string[] {
  const notes: string[] = [];
  if (asked.rows !== undefined && asked.rows > capabilities.maxTopK) {
    notes.push(`The server returns at most ${capabilities.maxTopK} alternatives per token (asked for ${asked.rows}).`);
  }
  if (asked.entropy && !capabilities.entropy) notes.push('No entropy: the server gives only the top log-probabilities, not the whole distribution.');
  if (asked.sampling && !capabilities.samplingView) notes.push('The sampling view is shown only where the server’s top tokens determine it (top-k on, within the cap).');
  return notes;
}

export function isSamplingActive(settings: SamplingSettings): boolean {
  return (settings.temperature ?? 1) !== 1 || (settings.topK ?? 0) > 0 || (settings.topP ?? 1) < 1;
}
