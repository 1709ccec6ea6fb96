/**
 * What the tests may see of the sentence-loss feature, behind one object (the feature's only
 * test-facing member): what was pushed and drawn, and a way to wait until a document's scores
 * are settled. The feature reports into it; nothing here changes what the feature does.
 */
import type { DocumentStatusParams, SentenceScoresParams } from '../shared/hostProtocol';
import type { TextRange } from '../shared/textRange';
import type { LossMode } from './lossRanges';
import type { LossResultsSnapshot } from './lossResults';

/** What was last drawn for a document, as offsets. */
export interface LossDecorationSnapshot {
  mode: LossMode;
  /** Per band (sentence mode) or GLTR bucket (token mode). */
  groups: TextRange[][];
  annotations: Array<{ offset: number; text: string }>;
}

export interface LossView {
  enabled(): boolean;
  status(uri: string): DocumentStatusParams | undefined;
  results(uri: string): LossResultsSnapshot | undefined;
  decorations(uri: string): LossDecorationSnapshot | undefined;
  /** The document's scores are settled for its current version (or cannot be). */
  idle(uri: string): boolean;
}

export class LossProbe {
  private readonly waiters = new Set<() => void>();
  /** The last push and how many sentences were pushed in all. */
  lastPush: (Omit<SentenceScoresParams, 'sentences'> & { count: number }) | undefined;
  pushedSentenceCount = 0;
  /** The last pushes and statuses applied, oldest first, one line each: what a failed test prints. */
  readonly history: string[] = [];

  constructor(private readonly view: LossView) {}

  get isEnabled(): boolean {
    return this.view.enabled();
  }

  /** What the model process last said about scoring the document. */
  statusOf(uri: { toString(): string }): DocumentStatusParams | undefined {
    return this.view.status(uri.toString());
  }

  resultsFor(uri: { toString(): string }): LossResultsSnapshot | undefined {
    return this.view.results(uri.toString());
  }

  decorationsFor(uri: { toString(): string }): LossDecorationSnapshot | undefined {
    return this.view.decorations(uri.toString());
  }

  /** Called by the feature for every push it applied. */
  pushed(push: SentenceScoresParams): void {
    const { sentences, ...rest } = push;
    this.lastPush = { ...rest, count: sentences.length };
    this.pushedSentenceCount += sentences.length;
    this.record(`scores ${push.uri} #${push.opening} v${push.version} keep ${push.keep} +${sentences.length}`);
  }

  /** Called by the feature for every status it applied. */
  statused(status: DocumentStatusParams): void {
    this.record(`status ${status.uri} #${status.opening} v${status.version} ${status.state}${status.message ? ` (${status.message})` : ''}`);
  }

  private record(line: string): void {
    this.history.push(line);
    if (this.history.length > 40) this.history.shift();
  }

  /** Called by the feature whenever something a waiter may be waiting for changed. */
  changed(): void {
    for (const check of [...this.waiters]) check();
  }

  waitForIdle(uri: { toString(): string }, timeoutMs = 60_000): Promise<void> {
    const key = uri.toString();
    return new Promise<void>((resolve, reject) => {
      const finish = (error?: Error): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        if (error) reject(error);
        else resolve();
      };
      const check = (): void => {
        if (this.view.idle(key)) finish();
      };
      const timer = setTimeout(() => finish(new Error(`sentence loss still busy with ${key} after ${timeoutMs} ms`)), timeoutMs);
      this.waiters.add(check);
      check();
    });
  }
}
