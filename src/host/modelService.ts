import type { Backend } from '../core/backend';
import { NEEDS_LOGITS, answeredBy, degradations, isSamplingActive } from '../core/backend';
import { LmLensError, errorMessage, isCancelled } from '../core/errors';
import { completeWithAlternatives } from '../core/ghostText';
import type { ModelInfo } from '../core/model';
import { scoreSentences } from '../core/sentenceLoss';
import { sentenceIndexAt, splitSentences } from '../core/sentences';
import type { DocumentScore, SentenceScoreOptions } from '../core/sentenceLoss';
import { scoreTextOn } from '../core/textScore';
import { settledLayersOfText } from '../core/settledLayers';
import type { SettledText } from '../core/settledLayers';
import { ComparisonModel } from './comparison';
import { openBackend } from './openBackend';
import type { OpenedBackend } from './openBackend';
import type { ComparedTextToken } from '../core/compare';
import type { ServerScores } from '../core/compareServer';
import type { SentenceSpan } from '../core/sentences';
import { REPORT_NEEDS_LOCAL } from '../core/report';
import type {
  CompleteParams,
  CompareServer,
  CompleteResponse,
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
 * What the model process does, independent of the transport: lazy loading with state reports,
 * and one handler per request, each written once against the `Backend` interface (the local
 * engine or a server answer the same code). Unit tests drive it in-process.
 */
export class ModelService {
  private settings: ModelSettings | undefined;
  private opened: Promise<OpenedBackend> | undefined;
  /** Aborts the running load's download. */
  private loadController: AbortController | undefined;
  private loading = false;
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
    const previous = this.opened;
    this.opened = undefined;
    this.onState({ state: 'idle' });
    await this.comparison.dispose();
    if (previous) await previous.then(({ backend }) => backend.dispose()).catch(() => undefined);
  }

  /** The configured backend, loading the model (or connecting to the server) on first use; a failure is retried on the next request. */
  async ready(): Promise<Backend> {
    return (await this.open()).backend;
  }

  private open(): Promise<OpenedBackend> {
    if (!this.settings) return Promise.reject(new LmLensError('internal', 'The model process was not configured.'));
    if (this.downloadCancelled) return Promise.reject(this.downloadCancelled);
    if (!this.opened) {
      const controller = new AbortController();
      this.loadController = controller;
      this.loading = true;
      this.onState({ state: 'loading' });
      const opening = openBackend(this.settings, {
        signal: controller.signal,
        onProgress: (progress) => this.onState({ state: 'loading', progress }),
        log: (message) => this.log('info', message),
      }).catch((error: unknown) => {
        // Requests waiting on the load learn that the user cancelled it, not that they were.
        throw isCancelled(error) && this.downloadCancelled ? this.downloadCancelled : error;
      });
      this.opened = opening;
      opening.then(
        (opened) => {
          if (this.opened !== opening) return;
          this.loading = false;
          // A cancel that came after the last byte stopped nothing: the model is here.
          this.downloadCancelled = undefined;
          this.log('info', opened.line);
          this.onState(opened.ready);
        },
        (error: unknown) => {
          if (this.opened !== opening) return;
          this.loading = false;
          this.opened = undefined;
          const failure = error instanceof LmLensError ? error : new LmLensError('internal', errorMessage(error));
          this.log('error', failure.message);
          this.onState({ state: 'error', code: failure.code, message: failure.message });
        },
      );
    }
    return this.opened;
  }

  /** `explicit`: the user asked (Select model, Retry), which also ends a cancelled download's pause. */
  async load(explicit = false): Promise<ModelInfo | null> {
    if (explicit) this.downloadCancelled = undefined;
    // "Retry" on a server connects anew: a server that went down since must say so now.
    if (explicit && this.settings?.backend && this.settings.backend !== 'local') this.opened = undefined;
    return (await this.open()).modelInfo ?? null;
  }

  /** Stops a running download; the downloader removes its partial files. */
  cancelDownload(): void {
    if (!this.loading || !this.settings) return;
    this.downloadCancelled = new LmLensError('download-cancelled', `The download of ${this.settings.model} was cancelled. Retry to download it again, or choose a local model folder.`);
    this.loadController?.abort();
  }

  async nextToken(params: NextTokenParams, signal: AbortSignal): Promise<NextTokenResponse> {
    const started = performance.now();
    const text = checkText(params.text);
    const backend = await this.ready();
    const settings = { temperature: params.temperature, topK: params.topK, topP: params.topP };
    const { contextIds: _ids, tail, ...result } = await backend.nextToken(text, { top: params.top, ...settings, tailTokens: params.tailTokens ?? 8, signal });
    const notes = degradations(backend.capabilities, { rows: params.top, entropy: true, sampling: isSamplingActive(settings) && !result.sampling });
    return { ...result, tail: tail ?? [], ...(notes.length ? { notes } : {}), engine: answeredBy(backend.info), elapsedMs: performance.now() - started };
  }

  async lens(params: LensParams, signal: AbortSignal): Promise<LensResponse> {
    const text = checkText(params.text);
    const started = performance.now();
    const backend = await this.ready();
    // A backend without layers (a server) answers `lens-unavailable` in one line here.
    const result = await backend.lens(text, { top: params.top, signal });
    // The context is the text's last tokens, after the start token when the text is empty: align from the end.
    const { ids, spans } = await backend.tokenize(text, signal);
    const offset = ids.length - result.tokens.length;
    const located = result.tokens.map((token, i): [number, number] | null => {
      const span = spans[offset + i];
      return span && ids[offset + i] === token.id ? [span.start, span.end] : null;
    });
    return { ...result, spans: located, elapsedMs: performance.now() - started };
  }

  async sample(params: SampleParams, signal: AbortSignal): Promise<SampleResponse> {
    const started = performance.now();
    const text = checkText(params.text);
    const backend = await this.ready();
    const sequences = await backend.sample(await backend.promptIds(text, false, signal), { ...params, signal });
    return { sequences, elapsedMs: performance.now() - started };
  }

  async complete(params: CompleteParams, signal: AbortSignal): Promise<CompleteResponse> {
    const started = performance.now();
    const text = checkText(params.text);
    const backend = await this.ready();
    const prompt = await backend.promptIds(text, false, signal);
    const { greedy, alternatives } = await completeWithAlternatives(backend, prompt, { ...params, signal });
    return { greedy, alternatives, elapsedMs: performance.now() - started };
  }

  async scoreSentences(params: ScoreSentencesParams, signal: AbortSignal): Promise<ScoreSentencesResponse> {
    const started = performance.now();
    const result = await this.scoreDocument(params.text, { languageId: params.languageId, fromOffset: params.fromOffset, signal });
    return { ...result, elapsedMs: performance.now() - started };
  }

  /** Sentence scores of an open document (the document store plans `fromOffset` and passes its spans). */
  async scoreDocument(text: string, options: SentenceScoreOptions): Promise<DocumentScore> {
    const checked = checkText(text);
    return scoreSentences(await this.ready(), checked, options);
  }

  async scoreText(params: ScoreTextParams, signal: AbortSignal): Promise<ScoreTextResponse> {
    const started = performance.now();
    const text = params.sentenceAt ? sentenceAround(checkText(params.text), params.sentenceAt.offset, params.sentenceAt.languageId) : checkText(params.text);
    if (!text.trim()) throw new LmLensError('text-invalid', 'There is no sentence at the cursor: select some text to score.');
    const backend = await this.ready();
    const result = await scoreTextOn(backend, text, { bos: params.bos, signal });
    return { loss: result.loss, perplexity: result.perplexity, predicted: result.tokens.length, tokenCount: result.ids.length, elapsedMs: performance.now() - started };
  }

  /** The model the document report names; the report needs every token's whole distribution (the `exactRank` and `entropy` capabilities). */
  async reportModel(): Promise<{ model: string; dtype: string }> {
    const backend = await this.ready();
    if (!backend.capabilities.exactRank || !backend.capabilities.entropy) throw new LmLensError('internal', REPORT_NEEDS_LOCAL);
    return { model: backend.info.model, dtype: backend.info.dtype ?? '' };
  }

  /** Both models' log-probabilities and the cross-entropy per token of `text` (the report's comparison). */
  async compareText(text: string, model: string, dtype: string, signal: AbortSignal): Promise<{ modelB: string; tokens: ComparedTextToken[] }> {
    const backend = await this.ready();
    if (!backend.capabilities.logits) throw new LmLensError('text-invalid', NEEDS_LOGITS);
    return this.comparison.compare(backend, this.settings as ModelSettings, model, dtype, checkText(text), signal);
  }

  /** Each sentence's loss under a server's model (the report's comparison with a server); the main model stays local. */
  async compareOnServer(text: string, spans: readonly SentenceSpan[], server: CompareServer, signal: AbortSignal): Promise<ServerScores> {
    return this.comparison.compareOnServer(server, checkText(text), spans, signal);
  }

  /** Every token's settled layer in `text` (the report's logit-lens column); a server backend is refused in one line. */
  async settledLayers(text: string, signal: AbortSignal, onProgress: (done: number, total: number) => void): Promise<SettledText> {
    return settledLayersOfText(await this.ready(), checkText(text), { signal, onProgress });
  }

  /** Steps the model finished so far (the progress beat), or undefined while nothing is loaded. */
  async steps(): Promise<number | undefined> {
    const opened = this.opened && !this.loading ? await this.opened.catch(() => undefined) : undefined;
    return opened?.backend.workStats()?.steps;
  }

  async stats(): Promise<HostStats> {
    const opened = this.opened ? await this.opened.catch(() => undefined) : undefined;
    // With --expose-gc (tests, benchmark) report live memory rather than garbage not yet collected.
    (globalThis as { gc?: () => void }).gc?.();
    const memory = process.memoryUsage();
    return {
      info: opened?.modelInfo,
      cache: opened?.backend.workStats()?.cache ?? { lookups: 0, hits: 0, reusedTokens: 0, computedTokens: 0, entries: 0, bytes: 0 },
      rssBytes: memory.rss,
      heapBytes: memory.heapUsed,
    };
  }

  async dispose(): Promise<void> {
    await this.comparison.dispose();
    const opened = this.opened;
    this.opened = undefined;
    if (opened) await opened.then(({ backend }) => backend.dispose()).catch(() => undefined);
  }
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
