/**
 * The documents one window has open in the model process, like a language server's: text kept
 * per version from didOpen/didChange, re-scored after a pause in typing from the first sentence
 * an edit touched, and the new scores pushed for that version. One document is scored at a time,
 * on-screen ones only, the active one first. Every window has its own store; they share the model.
 */
import { isCancelled, errorMessage, LmLensError } from '../core/errors';
import { traceStep, tracing } from '../core/stepTrace';
import type { DocumentScore, SentenceScore, SentenceScoreOptions } from '../core/sentenceLoss';
import type { DidChangeParams, DocumentStatusParams, HostDocumentStats, ModelState, SentenceScoresParams, TextDocumentItem } from '../shared/hostProtocol';
import { MAX_TEXT_CHARS } from '../shared/settings';
import { DocumentState } from './documentState';

/** Pause after the last edit before a document is re-scored. */
export const RESCORE_DEBOUNCE_MS = 400;

export interface DocumentPush {
  scores(params: SentenceScoresParams): void;
  status(params: DocumentStatusParams): void;
}

/** Sentence scores of a text from `fromOffset` on (ModelService.scoreDocument in the server). */
export type DocumentScorer = (text: string, options: SentenceScoreOptions) => Promise<DocumentScore>;

export interface DocumentStoreOptions {
  debounceMs?: number;
  /** While a long document is scored, finished sentences are pushed at most this often. */
  progressPushMs?: number;
}

const PROGRESS_PUSH_MS = 1000;

export class DocumentStore {
  private readonly documents = new Map<string, DocumentState>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private visible: string[] = [];
  private running: { uri: string; controller: AbortController } | undefined;
  private draining: Promise<void> | undefined;
  private again = false;
  private disposed = false;

  constructor(
    private readonly score: DocumentScorer,
    private readonly push: DocumentPush,
    private readonly options: DocumentStoreOptions = {},
  ) {}

  open(item: TextDocumentItem): void {
    this.close(item.uri);
    const document = new DocumentState(item);
    this.documents.set(item.uri, document);
    this.kick();
  }

  change(params: DidChangeParams): void {
    const document = this.documents.get(params.uri);
    if (!document || !document.change(params.version, params.changes)) return;
    if (this.running?.uri === params.uri) this.running.controller.abort();
    clearTimeout(this.timers.get(params.uri));
    const timer = setTimeout(() => {
      this.timers.delete(params.uri);
      this.kick();
    }, this.options.debounceMs ?? RESCORE_DEBOUNCE_MS);
    this.timers.set(params.uri, timer);
  }

  /** Frees everything about the document: text, index, scores, pending work. */
  close(uri: string): void {
    if (this.running?.uri === uri) this.running.controller.abort();
    clearTimeout(this.timers.get(uri));
    this.timers.delete(uri);
    this.documents.delete(uri);
  }

  focus(visible: readonly string[]): void {
    this.visible = [...visible];
    this.kick();
  }

  /** Another model was configured (idle): nothing held holds. Ready: failed documents try again. */
  modelState(state: ModelState): void {
    if (state.state === 'idle') {
      this.running?.controller.abort();
      for (const document of this.documents.values()) {
        document.invalidate();
        // The window clears what it drew: those colours were another model's.
        this.push.scores({ uri: document.uri, opening: document.opening, version: document.version, keep: 0, sentences: [], computedTokens: 0 });
        this.push.status({ uri: document.uri, opening: document.opening, version: document.version, state: 'pending' });
      }
      // Scoring is what loads the new model.
      this.kick();
    } else if (state.state === 'ready') {
      for (const document of this.documents.values()) document.failedVersion = undefined;
      this.kick();
    }
  }

  stats(): HostDocumentStats {
    return { open: this.documents.size, uris: [...this.documents.keys()] };
  }

  /** The held state of a document (the report reads it; tests check it). */
  get(uri: string): DocumentState | undefined {
    return this.documents.get(uri);
  }

  /** Resolves when nothing is scheduled or running (tests). */
  async idle(): Promise<void> {
    while (this.draining || this.timers.size > 0) {
      await (this.draining ?? new Promise((resolve) => setTimeout(resolve, 20)));
    }
  }

  dispose(): void {
    this.disposed = true;
    for (const uri of [...this.documents.keys()]) this.close(uri);
  }

  private kick(): void {
    if (this.disposed) return;
    if (this.draining) {
      this.again = true;
      return;
    }
    this.again = false;
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
      if (this.again) this.kick();
    });
  }

  private async drain(): Promise<void> {
    for (let next = this.next(); next; next = this.next()) await this.scoreOne(next);
  }

  private next(): DocumentState | undefined {
    for (const uri of this.visible) {
      const document = this.documents.get(uri);
      if (document && !this.timers.has(uri) && document.needsScoring) return document;
    }
    return undefined;
  }

  private async scoreOne(document: DocumentState): Promise<void> {
    const { uri, opening, version } = document;
    const status = (state: DocumentStatusParams['state'], error?: unknown): void => {
      const failure = error instanceof LmLensError ? { code: error.code, message: error.message } : error === undefined ? {} : { code: 'internal' as const, message: errorMessage(error) };
      this.push.status({ uri, opening, version, state, ...failure });
    };
    if (document.text.length > MAX_TEXT_CHARS) {
      document.failedVersion = version;
      status('failed', new LmLensError('text-invalid', `The document has ${document.text.length} characters; LM Lens scores up to ${MAX_TEXT_CHARS}. Score a selection instead.`));
      return;
    }
    const plan = document.plan();
    if (!plan) return;
    if (plan.fromOffset === undefined) {
      // The edit removed every sentence after the kept ones: nothing to ask the model.
      if (document.apply(plan, [])) {
        this.push.scores({ uri, opening, version, keep: plan.keep, sentences: [], computedTokens: 0 });
        status('done');
      }
      return;
    }
    const controller = new AbortController();
    this.running = { uri, controller };
    status('scoring');
    // Finished sentences are held as they come and pushed about once a second, so a long document
    // shows results early and a short one still gets one push; the last push carries the rest.
    const finished: SentenceScore[] = [];
    let pushed = 0;
    let lastPush = performance.now();
    const onSentences = (sentences: SentenceScore[]): void => {
      if (this.documents.get(uri) !== document || !document.applyPartial(plan, finished.length, sentences)) return;
      finished.push(...sentences);
      if (performance.now() - lastPush < (this.options.progressPushMs ?? PROGRESS_PUSH_MS)) return;
      this.push.scores({ uri, opening, version, keep: plan.keep + pushed, sentences: finished.slice(pushed), computedTokens: null });
      pushed = finished.length;
      lastPush = performance.now();
    };
    const started = performance.now();
    try {
      const result = await this.score(document.text, { languageId: document.languageId, spans: plan.spans, fromOffset: plan.fromOffset, signal: controller.signal, onSentences });
      if (tracing) traceStep('rescore', { uri, version, keep: plan.keep, fromOffset: plan.fromOffset, chars: document.text.length, computedTokens: result.computedTokens, ms: performance.now() - started });
      if (this.documents.get(uri) === document && document.apply(plan, result.sentences)) {
        this.push.scores({ uri, opening, version, keep: plan.keep + pushed, sentences: result.sentences.slice(pushed), computedTokens: result.computedTokens });
        status('done');
      }
    } catch (error) {
      if (isCancelled(error) || this.documents.get(uri) !== document) return;
      // Not retried until the text (or the model) changes; the client shows the message once.
      document.failedVersion = version;
      status('failed', error);
    } finally {
      if (this.running?.controller === controller) this.running = undefined;
    }
  }
}
