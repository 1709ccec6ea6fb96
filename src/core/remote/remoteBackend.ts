import type {
  Backend,
  BackendCapabilities,
  BackendCompletion,
  BackendContextToken,
  BackendGeneratedToken,
  BackendInfo,
  BackendKind,
  BackendNextToken,
  BackendSequence,
  BackendTokenScore,
  NextTokenRequest,
  SampleRequest,
  ScoreRequest,
  TokenizedText,
} from '../backend';
import { LENS_NEEDS_LOCAL, NEEDS_LOGITS, endTokenOf, isSamplingActive } from '../backend';
import { finishCompletion, stopRule } from '../completion';
import type { CompletionOptions } from '../completion';
import { LmLensError, throwIfAborted } from '../errors';
import { HF_SAMPLING_DEFAULTS } from '../generation';
import { fitContext } from '../nextToken';
import { scoreWindows } from '../scoring';
import type { SamplingSettings } from '../distribution';
import { DEFAULT_HINTS, HttpClient } from './http';
import type { HttpOptions } from './http';
import { capFromError, samplingView, topTokens, withShares } from './common';
import type { TopEntry } from './common';
import { TokenTextCache } from './tokens';

export interface RemoteOptions {
  /** Base URL, e.g. http://127.0.0.1:8000 (vLLM, SGLang) or http://127.0.0.1:8080 (llama-server). */
  url: string;
  /** Served model name; the server's first model when empty. */
  model?: string;
  apiKey?: string;
  timeoutMs?: number;
  retries?: number;
  retryDelayMs?: number;
  /** Most log-probabilities per position to ask for (vLLM's `--max-logprobs`, default 20); lowered when the server refuses more. */
  maxLogprobs?: number;
  hints?: HttpOptions['hints'];
}

export interface GreedyResult {
  tokens: BackendGeneratedToken[];
  reason: 'length' | 'eos' | 'stop';
}

/**
 * What the OpenAI-compatible and llama.cpp backends share: connecting once, the start token,
 * context windows, the cap on alternatives, stop rules and sequence products. Subclasses
 * speak their server's protocol for each primitive.
 */
export abstract class RemoteBackend implements Backend {
  readonly info: BackendInfo;
  readonly capabilities: BackendCapabilities;
  readonly client: HttpClient;
  protected readonly texts: TokenTextCache;
  protected readonly hints: NonNullable<HttpOptions['hints']>;
  /** Whether the server's tokenizer starts every text with its BOS (Llama): then prompts always get it. */
  protected autoBos = false;
  private connecting: Promise<BackendInfo> | undefined;

  constructor(
    kind: BackendKind,
    protected readonly options: RemoteOptions,
    capabilities: Omit<BackendCapabilities, 'kind' | 'lens'>,
  ) {
    this.hints = options.hints ?? DEFAULT_HINTS;
    this.client = new HttpClient({ url: options.url, apiKey: options.apiKey, timeoutMs: options.timeoutMs, retries: options.retries, retryDelayMs: options.retryDelayMs, hints: this.hints });
    this.info = { kind, model: options.model ?? '', host: this.client.host, vocabSize: null, contextSize: null, startTokenId: null, endTokenId: null, dtype: null };
    this.capabilities = { kind, ...capabilities, lens: false };
    this.texts = new TokenTextCache((id, signal) => this.detokenizeOne(id, signal));
  }

  /** Milliseconds of the last answered request. */
  get latencyMs(): number | undefined {
    return this.client.lastLatencyMs;
  }

  ready(signal?: AbortSignal): Promise<BackendInfo> {
    this.connecting ??= this.connect(signal).then(
      () => this.info,
      (error: unknown) => {
        this.connecting = undefined;
        throw error;
      },
    );
    return this.connecting;
  }

  protected abstract connect(signal?: AbortSignal): Promise<void>;
  protected abstract tokenizeRaw(text: string, signal?: AbortSignal): Promise<TokenizedText>;
  protected abstract detokenizeOne(id: number, signal?: AbortSignal): Promise<string>;
  /** The top `k` raw alternatives for the token after `ids`. */
  protected abstract distribution(ids: number[], k: number, signal?: AbortSignal): Promise<TopEntry[]>;
  /** The sampling view when the top raw alternatives do not determine it; null if the server cannot say. */
  protected abstract samplingFallback(ids: number[], settings: SamplingSettings, rows: number, signal?: AbortSignal): Promise<BackendNextToken['sampling']>;
  /** Scores `ids[from..]` of one window, each given the ids before it. */
  protected abstract scoreWindow(ids: number[], from: number, alternatives: number, signal?: AbortSignal): Promise<Array<Omit<BackendTokenScore, 'index'>>>;
  /** `stop`: the generated tokens already end the completion; a server that streams stops there. */
  protected abstract greedy(ids: number[], maxNewTokens: number, signal?: AbortSignal, stop?: (tokens: BackendGeneratedToken[]) => boolean): Promise<GreedyResult>;
  protected abstract sampleRows(ids: number[], request: Required<Pick<SampleRequest, 'n' | 'maxNewTokens'>> & SampleRequest, settings: SamplingSettings): Promise<BackendSequence[]>;

  async tokenize(text: string, signal?: AbortSignal): Promise<TokenizedText> {
    await this.ready(signal);
    if (text === '') return { ids: [], texts: [], spans: [] };
    return this.tokenizeRaw(text, signal);
  }

  async promptIds(text: string, bos = false, signal?: AbortSignal): Promise<number[]> {
    const { ids } = await this.tokenize(text, signal);
    const start = this.info.startTokenId;
    return start !== null && (this.autoBos || bos || ids.length === 0) ? [start, ...ids] : ids;
  }

  async tokenText(id: number, signal?: AbortSignal): Promise<string> {
    return this.texts.get(id, signal);
  }

  /** A field the protocol promises; its absence means another kind of server or a broken answer. */
  protected need<T>(value: T | undefined | null, what: string): T {
    if (value === undefined || value === null) {
      throw new LmLensError('server-response', `The server at ${this.client.host} answered without ${what}: is it a ${this.capabilities.kind} server? Check ${this.hints.api} and ${this.hints.url}.`);
    }
    return value;
  }

  /** How many alternatives to ask for: what the caller wants, within the server's cap. */
  protected capped(k: number): number {
    return Math.max(0, Math.min(k, this.capabilities.maxTopK));
  }

  /** Runs `ask(k)`; when the server refuses `k` and names a lower cap, remembers the cap and asks once more. */
  protected async withinCap<T>(k: number, ask: (k: number) => Promise<T>): Promise<T> {
    try {
      return await ask(this.capped(k));
    } catch (error) {
      const cap = capFromError(error);
      if (cap === undefined || cap >= this.capped(k)) throw error;
      (this.capabilities as { maxTopK: number }).maxTopK = cap;
      return ask(this.capped(k));
    }
  }

  protected fit(ids: number[], newTokens: number): { ids: number[]; truncated: boolean } {
    return this.info.contextSize ? fitContext(ids, this.info.contextSize, newTokens) : { ids, truncated: false };
  }

  /** A server answers with its final distribution only: no layer's residual stream, no attention. */
  async lens(): Promise<never> {
    throw new LmLensError('lens-unavailable', LENS_NEEDS_LOCAL);
  }

  async nextToken(text: string, request: NextTokenRequest = {}): Promise<BackendNextToken> {
    await this.ready(request.signal);
    const rows = request.top ?? 10;
    const fitted = this.fit(await this.promptIds(text, request.bos, request.signal), 1);
    const settings: SamplingSettings = { temperature: request.temperature, topK: request.topK, topP: request.topP };
    const sampling = isSamplingActive(settings);
    const wanted = Math.max(rows, sampling ? (request.topK ?? 0) : 0);
    const entries = await this.withinCap(wanted, (k) => this.distribution(fitted.ids, k, request.signal));
    const result: BackendNextToken = { contextTokens: fitted.ids.length, contextIds: fitted.ids, truncated: fitted.truncated, entropy: null, top: topTokens(entries, rows) };
    if (sampling) result.sampling = samplingView(entries, settings, rows) ?? (await this.samplingFallback(fitted.ids, settings, rows, request.signal));
    if (request.tailTokens !== undefined) result.tail = await this.tail(fitted.ids, Math.max(0, fitted.ids.length - request.tailTokens), request.signal);
    return result;
  }

  /** The chips' probabilities: one scoring request on servers that score a window at once (`scoresWindowAtOnce`); none where each token costs a request. */
  private async tail(ids: number[], from: number, signal?: AbortSignal): Promise<BackendContextToken[]> {
    const texts = await Promise.all(ids.slice(from).map((id) => this.tokenText(id, signal)));
    const scores = this.scoresWindowAtOnce && ids.length > 1 ? await this.score(ids, { fromToken: Math.max(1, from), signal }) : [];
    const byIndex = new Map(scores.map((score) => [score.index, score.prob]));
    return ids.slice(from).map((id, offset) => ({ id, text: texts[offset] ?? '', prob: byIndex.get(from + offset) }));
  }

  /** Whether one request scores a whole window (the completions API's echo); llama-server needs one per token. */
  protected abstract readonly scoresWindowAtOnce: boolean;

  async score(ids: number[], request: ScoreRequest = {}): Promise<BackendTokenScore[]> {
    await this.ready(request.signal);
    const fromToken = Math.max(1, request.fromToken ?? 1);
    const windows = scoreWindows(ids.length, this.info.contextSize ?? Math.max(2, ids.length), request.stride).filter((window) => window.end > fromToken);
    const scores: BackendTokenScore[] = [];
    for (const window of windows) {
      throwIfAborted(request.signal);
      const windowIds = ids.slice(window.begin, window.end);
      const first = Math.max(window.scoreFrom, fromToken) - window.begin;
      const scored = await this.withinCap(request.alternatives ?? 0, (k) => this.scoreWindow(windowIds, first, k, request.signal));
      const added = scored.map((score, offset) => ({ index: window.begin + first + offset, ...score }));
      scores.push(...added);
      request.onScores?.(added);
      request.onProgress?.(scores.length, Math.max(0, ids.length - fromToken));
    }
    return scores;
  }

  async complete(prompt: number[], options: CompletionOptions = {}): Promise<BackendCompletion> {
    await this.ready(options.signal);
    const maxNewTokens = options.maxNewTokens ?? 16;
    const { tokens, reason } = await this.greedy(this.fit(prompt, maxNewTokens).ids, maxNewTokens, options.signal, stopRule(options));
    return finishCompletion(tokens, endTokenOf(this.info), reason, options);
  }

  async sample(prompt: number[], request: SampleRequest = {}): Promise<BackendSequence[]> {
    await this.ready(request.signal);
    const n = request.n ?? 3;
    const maxNewTokens = request.maxNewTokens ?? 10;
    if (n < 1 || maxNewTokens < 1) throw new LmLensError('text-invalid', 'Sampling needs at least one sequence of at least one token.');
    const settings: SamplingSettings = {
      temperature: request.temperature ?? HF_SAMPLING_DEFAULTS.temperature,
      topK: request.topK ?? HF_SAMPLING_DEFAULTS.topK,
      topP: request.topP ?? HF_SAMPLING_DEFAULTS.topP,
    };
    return withShares(await this.sampleRows(this.fit(prompt, maxNewTokens).ids, { ...request, n, maxNewTokens }, settings));
  }

  async compareText(): Promise<never> {
    throw new LmLensError('text-invalid', NEEDS_LOGITS);
  }

  workStats(): null {
    return null;
  }

  computedTokens(): null {
    return null;
  }

  async dispose(): Promise<void> {
    // Nothing is held open: fetch's connections close on their own when idle.
  }
}
