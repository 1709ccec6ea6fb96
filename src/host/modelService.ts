import { completeGreedy, completeSampled } from '../core/completion';
import { loadEngine } from '../core/engine';
import type { Engine } from '../core/engine';
import { LmLensError, errorMessage, isCancelled } from '../core/errors';
import { sampleContinuations } from '../core/generation';
import type { LoadProgress, ModelInfo } from '../core/model';
import { logSoftmax } from '../core/distribution';
import { describeDistribution, fitContext, promptIds } from '../core/nextToken';
import { lensAt } from '../core/lens';
import { scoreText } from '../core/scoring';
import { LruMap } from '../core/lruMap';
import { scoreSentences } from '../core/sentenceLoss';
import { sentenceIndexAt, splitSentences } from '../core/sentences';
import type { DocumentScore, SentenceScoreOptions } from '../core/sentenceLoss';
import { createRemoteBackend } from '../core/remote';
import { RemoteService } from './remoteService';
import { ComparisonModel } from './comparison';
import type { ComparedTextToken } from '../core/compare';
import type { ServerScores } from '../core/compareServer';
import type { SentenceSpan } from '../core/sentences';
import { REPORT_NEEDS_LOCAL } from '../core/report';
import type {
  CompleteParams,
  CompareServer,
  CompleteResponse,
  ContextToken,
  HostStats,
  ModelSettings,
  ModelState,
  LensParams,
  LensResponse,
  NextTokenParams,
  NextTokenResponse,
  SampleParams,
  SampleResponse,
  ScoreSentencesParams,
  ScoreSentencesResponse,
  ScoreTextParams,
  ScoreTextResponse,
} from '../shared/hostProtocol';
// Bounds every request so a huge document never makes one call unbounded.
import { MAX_TEXT_CHARS } from '../shared/settings';

const sameSettings = (a: ModelSettings | undefined, b: ModelSettings): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * What the model process does, independent of the transport: lazy loading with state
 * reports, and one handler per request. Unit tests drive it in-process.
 */
export class ModelService {
  private settings: ModelSettings | undefined;
  private engine: Promise<Engine> | undefined;
  /** The server that answers instead of the local engine, when `backend` names one. */
  private remote: Promise<RemoteService> | undefined;
  /** Recent next-token distributions (logits) keyed by a hash of their context, for the panel's chips. */
  private readonly distributions = new LruMap<string, Float32Array>(64);
  /** Aborts the running load's download. */
  private loadController: AbortController | undefined;
  /** Set when the user cancelled a download: requests fail at once instead of starting it again. */
  private downloadCancelled: LmLensError | undefined;
  /** The document report's second model. */
  private readonly comparison = new ComparisonModel((message) => this.log('info', message));

  constructor(
    private readonly onState: (state: ModelState) => void,
    private readonly log: (level: 'info' | 'warn' | 'error', message: string) => void,
  ) {}

  async configure(settings: ModelSettings): Promise<void> {
    if (sameSettings(this.settings, settings)) return;
    this.settings = settings;
    this.downloadCancelled = undefined;
    this.loadController?.abort();
    this.distributions.clear();
    const previous = this.engine;
    this.engine = undefined;
    this.remote = undefined;
    this.onState({ state: 'idle' });
    await this.comparison.dispose();
    if (previous) await previous.then((engine) => engine.dispose()).catch(() => undefined);
  }

  /** The loaded engine, loading it on first use; a failed load is retried on the next request. */
  ready(): Promise<Engine> {
    if (!this.settings) return Promise.reject(new LmLensError('internal', 'The model process was not configured.'));
    if (this.downloadCancelled) return Promise.reject(this.downloadCancelled);
    if (!this.engine) {
      const settings = this.settings;
      const controller = new AbortController();
      this.loadController = controller;
      this.onState({ state: 'loading' });
      this.log('info', `Loading ${settings.model} (${settings.dtype}, threads ${settings.threads || 'auto'})`);
      const loading = loadEngine({
        model: settings.model,
        dtype: settings.dtype,
        allowDownloads: settings.allowDownloads,
        cacheDir: settings.cacheDir || undefined,
        threads: settings.threads,
        network: settings.network,
        signal: controller.signal,
        onProgress: (progress: LoadProgress) => this.onState({ state: 'loading', progress }),
      }).catch((error: unknown) => {
        // Requests waiting on the load learn that the user cancelled it, not that they were.
        throw isCancelled(error) && this.downloadCancelled ? this.downloadCancelled : error;
      });
      this.engine = loading;
      loading.then(
        (engine) => {
          if (this.engine !== loading) return;
          // A cancel that came after the last byte stopped nothing: the model is here.
          this.downloadCancelled = undefined;
          const info = engine.model.info;
          this.log('info', `Loaded ${info.id} in ${info.loadMs} ms: ${info.layers} layers, ${info.vocabSize} tokens, window ${info.contextSize}, ${info.threads} threads`);
          this.onState({ state: 'ready', info });
        },
        (error: unknown) => {
          if (this.engine !== loading) return;
          this.engine = undefined;
          const failure = error instanceof LmLensError ? error : new LmLensError('internal', errorMessage(error));
          this.log('error', failure.message);
          this.onState({ state: 'error', code: failure.code, message: failure.message });
        },
      );
    }
    return this.engine;
  }

  /** The configured server's service (connecting on first use), or undefined when the local engine answers. */
  private serving(): Promise<RemoteService> | undefined {
    const settings = this.settings;
    if (!settings?.backend || settings.backend === 'local') return undefined;
    if (!this.remote) {
      const api = settings.backend;
      this.onState({ state: 'loading' });
      // The URL and model only: the API key never reaches a log.
      this.log('info', `Connecting to the ${api} server at ${settings.serverUrl ?? ''}${settings.serverModel ? ` (model ${settings.serverModel})` : ''}`);
      const connecting = Promise.resolve().then(async () => {
        const options = { url: settings.serverUrl ?? '', model: settings.serverModel || undefined, apiKey: settings.apiKey || undefined, timeoutMs: settings.serverTimeoutMs };
        const service = new RemoteService(createRemoteBackend(api, options));
        await service.backend.ready();
        return service;
      });
      this.remote = connecting;
      connecting.then(
        (service) => {
          if (this.remote !== connecting) return;
          const info = service.backend.info;
          this.log('info', `Connected: ${info.model} at ${info.host}, window ${info.contextSize ?? 'unknown'}, up to ${service.backend.capabilities.maxTopK} alternatives per token`);
          this.onState({ state: 'ready', engine: { kind: info.kind, host: info.host, model: info.model, capabilities: service.backend.capabilities, contextSize: info.contextSize } });
        },
        (error: unknown) => {
          if (this.remote !== connecting) return;
          this.remote = undefined;
          const failure = error instanceof LmLensError ? error : new LmLensError('internal', errorMessage(error));
          this.log('error', failure.message);
          this.onState({ state: 'error', code: failure.code, message: failure.message });
        },
      );
    }
    return this.remote;
  }

  /** `explicit`: the user asked (Select model, Retry), which also ends a cancelled download's pause. */
  async load(explicit = false): Promise<ModelInfo | null> {
    if (explicit) this.downloadCancelled = undefined;
    // "Retry" on a server connects anew: a server that went down since must say so now.
    if (explicit) this.remote = undefined;
    const remote = this.serving();
    if (remote) {
      await remote;
      return null;
    }
    return (await this.ready()).model.info;
  }

  /** Stops a running download; the downloader removes its partial files. */
  cancelDownload(): void {
    if (!this.engine || !this.settings) return;
    this.downloadCancelled = new LmLensError('download-cancelled', `The download of ${this.settings.model} was cancelled. Retry to download it again, or choose a local model folder.`);
    this.loadController?.abort();
  }

  async nextToken(params: NextTokenParams, signal: AbortSignal): Promise<NextTokenResponse> {
    const remote = this.serving();
    if (remote) return (await remote).nextToken(params, checkText(params.text), signal);
    const started = performance.now();
    const engine = await this.ready();
    const { ids, truncated } = fitContext(promptIds(engine, checkText(params.text)), engine.contextSize);
    const tailFrom = Math.max(0, ids.length - (params.tailTokens ?? 8));
    const prefixKeys = prefixHashes(ids);
    // A chip's probability needs the distribution one position earlier; typing usually asked for it already.
    const missing = ids.findIndex((_id, i) => i >= Math.max(1, tailFrom) && !this.distributions.has(prefixKeys[i - 1] as string));
    const vocab = engine.vocabSize;
    const run = await engine.run(ids, {
      signal,
      logitsFrom: missing > 0 ? missing - 1 : ids.length - 1,
      onLogits: (first, rows, count) => {
        for (let row = 0; row < count; row++) this.distributions.set(prefixKeys[first + row] as string, rows.slice(row * vocab, (row + 1) * vocab));
      },
    });
    const { contextIds: _ids, ...result } = describeDistribution(engine, run.lastLogits, ids, truncated, params);
    const tail: ContextToken[] = ids.slice(tailFrom).map((id, offset) => {
      const position = tailFrom + offset;
      const logits = position > 0 ? this.distributions.get(prefixKeys[position - 1] as string) : undefined;
      return { id, text: engine.model.tokenizer.tokenText(id), prob: logits ? Math.exp(logSoftmax(logits)[id] as number) : undefined };
    });
    return { ...result, tail, elapsedMs: performance.now() - started };
  }

  async lens(params: LensParams, signal: AbortSignal): Promise<LensResponse> {
    const remote = this.serving();
    const text = checkText(params.text);
    const started = performance.now();
    if (remote) {
      // Servers answer `lens-unavailable` (LENS_NEEDS_LOCAL); one that could would not say where its tokens lie.
      const result = await (await remote).backend.lens(text, { top: params.top, signal });
      return { ...result, spans: result.tokens.map(() => null), elapsedMs: performance.now() - started };
    }
    const engine = await this.ready();
    const result = await lensAt(engine, text, { top: params.top, signal });
    // The context is the text's last tokens, after <|endoftext|> when the text is empty: align from the end.
    const ids = engine.model.tokenizer.encode(text);
    const spans = engine.model.tokenizer.spans(text, ids);
    const offset = ids.length - result.tokens.length;
    const located = result.tokens.map((token, i): [number, number] | null => {
      const span = spans[offset + i];
      return span && ids[offset + i] === token.id ? [span.start, span.end] : null;
    });
    return { ...result, spans: located, elapsedMs: performance.now() - started };
  }

  async sample(params: SampleParams, signal: AbortSignal): Promise<SampleResponse> {
    const remote = this.serving();
    if (remote) return (await remote).sample(params, checkText(params.text), signal);
    const started = performance.now();
    const engine = await this.ready();
    const sequences = await sampleContinuations(engine, promptIds(engine, checkText(params.text)), { ...params, signal });
    return { sequences, elapsedMs: performance.now() - started };
  }

  async complete(params: CompleteParams, signal: AbortSignal): Promise<CompleteResponse> {
    const remote = this.serving();
    if (remote) return (await remote).complete(params, checkText(params.text), signal);
    const started = performance.now();
    const engine = await this.ready();
    const prompt = promptIds(engine, checkText(params.text));
    const greedy = await completeGreedy(engine, prompt, { maxNewTokens: params.maxNewTokens, signal, ...params.stop });
    const alternatives =
      params.alternatives > 0
        ? (await completeSampled(engine, prompt, { n: params.alternatives, maxNewTokens: params.maxNewTokens, seed: params.seed, temperature: params.temperature ?? 0.8, topK: 50, signal, ...params.stop })).filter(
            (alternative) => alternative.text !== greedy.text,
          )
        : [];
    return { greedy, alternatives, elapsedMs: performance.now() - started };
  }

  async scoreSentences(params: ScoreSentencesParams, signal: AbortSignal): Promise<ScoreSentencesResponse> {
    const remote = this.serving();
    if (remote) return (await remote).scoreSentences(params, checkText(params.text), signal);
    const started = performance.now();
    const engine = await this.ready();
    const result = await scoreSentences(engine, checkText(params.text), { languageId: params.languageId, fromOffset: params.fromOffset, signal });
    return { ...result, elapsedMs: performance.now() - started };
  }

  /** Sentence scores of an open document (the document store plans `fromOffset` and passes its spans). */
  async scoreDocument(text: string, options: SentenceScoreOptions): Promise<DocumentScore> {
    const remote = this.serving();
    if (remote) return scoreSentences((await remote).backend, checkText(text), options);
    const engine = await this.ready();
    return scoreSentences(engine, checkText(text), options);
  }

  async scoreText(params: ScoreTextParams, signal: AbortSignal): Promise<ScoreTextResponse> {
    const started = performance.now();
    const text = params.sentenceAt ? sentenceAround(checkText(params.text), params.sentenceAt.offset, params.sentenceAt.languageId) : checkText(params.text);
    if (!text.trim()) throw new LmLensError('text-invalid', 'There is no sentence at the cursor: select some text to score.');
    const remote = this.serving();
    if (remote) return (await remote).scoreText(params, text, signal);
    const engine = await this.ready();
    const result = await scoreText(engine, text, { bos: params.bos, signal });
    return { loss: result.loss, perplexity: result.perplexity, predicted: result.tokens.length, tokenCount: result.ids.length, elapsedMs: performance.now() - started };
  }

  /** The model the document report names: the local engine's (a server gives too little of each distribution for the report). */
  async reportModel(): Promise<{ model: string; dtype: string }> {
    if (this.serving()) throw new LmLensError('internal', REPORT_NEEDS_LOCAL);
    const info = (await this.ready()).model.info;
    return { model: info.id, dtype: info.dtype };
  }

  /** Both models' log-probabilities and the cross-entropy per token of `text` (the report's comparison). */
  async compareText(text: string, model: string, dtype: string, signal: AbortSignal): Promise<{ modelB: string; tokens: ComparedTextToken[] }> {
    if (this.serving()) throw new LmLensError('text-invalid', 'Comparing two models needs both full distributions, which only the local engine gives: switch lmLens.backend to local.');
    const engine = await this.ready();
    return this.comparison.compare(engine, this.settings as ModelSettings, model, dtype, checkText(text), signal);
  }

  /** Each sentence's loss under a server's model (the report's comparison with a server); the main model stays local. */
  async compareOnServer(text: string, spans: readonly SentenceSpan[], server: CompareServer, signal: AbortSignal): Promise<ServerScores> {
    return this.comparison.compareOnServer(server, checkText(text), spans, signal);
  }

  async stats(): Promise<HostStats> {
    const engine = this.engine ? await this.engine.catch(() => undefined) : undefined;
    // With --expose-gc (tests, benchmark) report live memory rather than garbage not yet collected.
    (globalThis as { gc?: () => void }).gc?.();
    const memory = process.memoryUsage();
    return {
      info: engine?.model.info,
      cache: engine?.cacheStats() ?? { lookups: 0, hits: 0, reusedTokens: 0, computedTokens: 0, entries: 0, bytes: 0 },
      rssBytes: memory.rss,
      heapBytes: memory.heapUsed,
    };
  }

  async dispose(): Promise<void> {
    await this.comparison.dispose();
    const engine = this.engine;
    this.engine = undefined;
    if (engine) await engine.then((loaded) => loaded.dispose()).catch(() => undefined);
  }
}

/** Key of every prefix `ids[0..i]`, cheap to compare (FNV-1a over the ids, plus the length). */
function prefixHashes(ids: number[]): string[] {
  const keys: string[] = [];
  let hash = 0x811c9dc5;
  for (let i = 0; i < ids.length; i++) {
    hash = Math.imul(hash ^ (ids[i] as number), 0x01000193) >>> 0;
    hash = Math.imul(hash ^ ((ids[i] as number) >>> 16), 0x01000193) >>> 0;
    keys.push(`${i}:${hash.toString(36)}`);
  }
  return keys;
}

/** The sentence holding `offset`, or the one ending right before it; empty when there is none. */
function sentenceAround(text: string, offset: number, languageId: string): string {
  const spans = splitSentences(text, { languageId });
  const index = sentenceIndexAt(spans, offset);
  return spans[index >= 0 ? index : sentenceIndexAt(spans, offset - 1)]?.text ?? '';
}

function checkText(text: unknown): string {
  if (typeof text !== 'string') throw new LmLensError('text-invalid', 'The request carried no text.');
  if (text.length > MAX_TEXT_CHARS) {
    throw new LmLensError('text-invalid', `The text has ${text.length} characters; LM Lens handles up to ${MAX_TEXT_CHARS}. Score a selection instead.`);
  }
  return text;
}
