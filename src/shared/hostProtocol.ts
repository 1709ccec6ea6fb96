/**
 * Every message between the extension (client) and the model process (server), typed.
 * Transport: vscode-jsonrpc over Node's IPC channel. Requests are cancellable with
 * `$/cancelRequest` (vscode-jsonrpc does that when the client's token fires); the server
 * turns the cancellation into an `AbortSignal` that the engine checks at every step.
 */
import { NotificationType, RequestType } from 'vscode-jsonrpc';
import type { Completion } from '../core/completion';
import type { LmLensErrorCode } from '../core/errors';
import type { SampledSequence } from '../core/generation';
import type { LoadProgress, ModelInfo } from '../core/model';
import type { NextTokenResult } from '../core/nextToken';
import type { PrefixCacheStats } from '../core/prefixCache';
import type { DocumentScore } from '../core/sentenceLoss';

/** Where and how to load the model; sent before the first request and whenever a setting changes. */
export interface ModelSettings {
  model: string;
  dtype: string;
  allowDownloads: boolean;
  cacheDir: string;
  threads: number;
}

export interface SamplingParams {
  temperature?: number;
  topK?: number;
  topP?: number;
}

export interface ContextToken {
  id: number;
  text: string;
  /** Its own probability given the tokens before it; absent for the first token of the context. */
  prob?: number;
}

export interface NextTokenParams extends SamplingParams {
  text: string;
  top: number;
  /** How many trailing context tokens to describe as chips. */
  tailTokens?: number;
}

export interface NextTokenResponse extends Omit<NextTokenResult, 'contextIds'> {
  tail: ContextToken[];
  elapsedMs: number;
}

export interface SampleParams extends SamplingParams {
  text: string;
  n: number;
  maxNewTokens: number;
  seed?: number;
}

export interface SampleResponse {
  sequences: SampledSequence[];
  elapsedMs: number;
}

export interface CompleteParams {
  text: string;
  maxNewTokens: number;
  alternatives: number;
  seed?: number;
  temperature?: number;
}

export interface CompleteResponse {
  greedy: Completion;
  alternatives: Completion[];
  elapsedMs: number;
}

export interface ScoreSentencesParams {
  text: string;
  languageId: string;
  /** Only sentences ending after this offset are returned; earlier ones are unchanged. */
  fromOffset: number;
}

export interface ScoreSentencesResponse extends DocumentScore {
  elapsedMs: number;
}

export interface ScoreTextParams {
  text: string;
  bos: boolean;
}

export interface ScoreTextResponse {
  loss: number;
  perplexity: number;
  /** Tokens whose probability was computed (all but the first, or all of them after `<|endoftext|>`). */
  predicted: number;
  /** Tokens in the sequence, including `<|endoftext|>` when `bos` was set. */
  tokenCount: number;
  elapsedMs: number;
}

export interface HostStats {
  info?: ModelInfo;
  cache: PrefixCacheStats;
  rssBytes: number;
  heapBytes: number;
}

export type ModelState =
  | { state: 'idle' }
  | { state: 'loading'; progress?: LoadProgress }
  | { state: 'ready'; info: ModelInfo }
  | { state: 'error'; code: LmLensErrorCode; message: string };

/** Data attached to a JSON-RPC error so the client can rebuild an `LmLensError`. */
export interface ErrorData {
  code: LmLensErrorCode;
}

/** Client → server: the settings to load with. Unloads the current model if they changed; loading is lazy. */
export const configureRequest = new RequestType<ModelSettings, void, ErrorData>('lmLens/configure');
/** Client → server: load now (e.g. after "Select model") and answer with what was loaded. */
export const loadRequest = new RequestType<null, ModelInfo, ErrorData>('lmLens/load');
/** Client → server: top-k next tokens after `text` (the panel). */
export const nextTokenRequest = new RequestType<NextTokenParams, NextTokenResponse, ErrorData>('lmLens/nextToken');
/** Client → server: N sampled continuations as one batch (the panel's "Sample"). */
export const sampleRequest = new RequestType<SampleParams, SampleResponse, ErrorData>('lmLens/sample');
/** Client → server: greedy continuation plus sampled alternatives (ghost text). */
export const completeRequest = new RequestType<CompleteParams, CompleteResponse, ErrorData>('lmLens/complete');
/** Client → server: per-sentence loss of a document from an offset on (decorations). */
export const scoreSentencesRequest = new RequestType<ScoreSentencesParams, ScoreSentencesResponse, ErrorData>('lmLens/scoreSentences');
/** Client → server: loss and perplexity of one text (score selection / document). */
export const scoreTextRequest = new RequestType<ScoreTextParams, ScoreTextResponse, ErrorData>('lmLens/scoreText');
/** Client → server: cache and memory figures for the status bar and the benchmark. */
export const statsRequest = new RequestType<null, HostStats, ErrorData>('lmLens/stats');
/** Client → server (tests only): block the request loop for `ms`, to prove hang handling. */
export const debugHangRequest = new RequestType<{ ms: number }, void, ErrorData>('lmLens/debugHang');

/** Server → client: the model's state changed (loading progress, ready, error). */
export const stateNotification = new NotificationType<ModelState>('lmLens/state');
/** Server → client: a line for the "LM Lens" output channel. */
export const logNotification = new NotificationType<{ level: 'info' | 'warn' | 'error'; message: string }>('lmLens/log');
