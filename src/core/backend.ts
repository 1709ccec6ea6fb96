/**
 * The operations LM Lens's features need from a language model, whichever engine answers:
 * the in-process GPT-2 (`local`) or a server (`openai` = vLLM / SGLang completions API,
 * `llama.cpp` = llama-server's native API). Features ask for what they want and read
 * `capabilities` / `notes` to say, in one line, what a server could not give; a number a
 * backend cannot provide is `null`, never a guess.
 */
import type { SamplingSettings } from './distribution';
import type { CompletionOptions } from './completion';
import type { TokenSpan } from './tokenizer';
import type { BackendCapabilities, BackendCompletion, BackendKind, BackendNextToken, BackendSequence } from '../shared/engineTypes';
export type { BackendCapabilities, BackendCompletion, BackendContextToken, BackendGeneratedToken, BackendKind, BackendNextToken, BackendSampledToken, BackendSequence, BackendSequenceToken, BackendTopToken } from '../shared/engineTypes';
import type { LensResult } from '../shared/engineTypes';
import type { LensOptions } from './lens';
import type { StopToken } from './stopRules';
import type { ComparedTextToken } from './compare';
import type { PrefixCacheStats } from './prefixCache';

/** Where a server would show layers: it cannot give them. */
export const LENS_NEEDS_LOCAL = 'Layers need the local engine: a server returns only its final distribution, not what each layer predicts.';

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
  /** Token that ends a generation (the model's EOS); null where the backend does not say (a server). */
  endTokenId: number | null;
  /** The weights' precision (fp32, q8, …) for `local`; null when a server does not say. */
  dtype: string | null;
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

export interface NextTokenRequest extends SamplingSettings {
  top?: number;
  bos?: boolean;
  /** How many trailing context tokens to describe in `tail` (the panel's chips); none when absent. */
  tailTokens?: number;
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

export interface SampleRequest extends SamplingSettings {
  n?: number;
  maxNewTokens?: number;
  seed?: number;
  signal?: AbortSignal;
  /** True once a row's tokens already end what the caller wants (a stop rule): the backend may stop that row early. */
  stopAfter?: (tokens: readonly StopToken[]) => boolean;
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
  /** The logit lens and attention at the end of `text` (core/lens.ts); throws `lens-unavailable` where `capabilities.lens` is false. */
  lens(text: string, request?: LensOptions): Promise<LensResult>;
  /**
   * Each token of `text` under this model and `other` (both need the whole distribution: the
   * `logits` capability; a backend without it rejects with NEEDS_LOGITS's line).
   */
  compareText(other: Backend, text: string, signal?: AbortSignal): Promise<ComparedTextToken[]>;
  /** Tokens computed so far (for local: not taken from the prefix cache); null where unknown. */
  computedTokens(): number | null;
  /** The prefix cache's counters and the scheduler's finished steps; null where the work happens elsewhere (a server). */
  workStats(): { cache: PrefixCacheStats; steps: number } | null;
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

/**
 * The id a completion's end-of-text token has, to leave it out of the text. A server does not say
 * its EOS: there the start token is the guess (GPT-2's <|endoftext|> is both); -1 matches nothing.
 */
export function endTokenOf(info: Pick<BackendInfo, 'endTokenId' | 'startTokenId'>): number {
  return info.endTokenId ?? info.startTokenId ?? -1;
}

/** "model @ host" when a server answered, for the panel; the in-process engine needs no label. */
export function answeredBy(info: BackendInfo): string | undefined {
  return info.kind === 'local' ? undefined : `${info.model} @ ${info.host}`;
}

/** Why a comparison of two models' distributions cannot run on a server. */
export const NEEDS_LOGITS = 'Comparing two models needs both full distributions, which only the local engine gives: switch lmLens.backend to local.';

export function isSamplingActive(settings: SamplingSettings): boolean {
  return (settings.temperature ?? 1) !== 1 || (settings.topK ?? 0) > 0 || (settings.topP ?? 1) < 1;
}
