/**
 * Per-document bookkeeping for incremental sentence scoring, without `vscode`: which results
 * still hold after edits, where the next request must start, and whether an answer may be
 * applied (only to the document version it was computed for).
 */
import type { SentenceScore } from '../core/sentenceLoss';
import type { TextRange } from '../core/sentences';
import { bandOf } from './lossBands';
import { planRescore, sentenceIndexAt } from './lossRanges';
import type { RescorePlan } from './lossRanges';

export interface ScorePlan extends RescorePlan {
  /** Document version the request is computed from; answers for any other version are dropped. */
  version: number;
  /** Bumped by `invalidate`, so an answer from before a model switch is dropped too. */
  epoch: number;
}

/** Test hook view of one scored sentence and the band it is drawn in. */
export type LossSentenceSnapshot = Pick<SentenceScore, 'start' | 'end' | 'text' | 'loss' | 'perplexity' | 'tokenCount'> & { band: number | undefined };

export interface LossResultsSnapshot {
  version: number;
  complete: boolean;
  sentences: LossSentenceSnapshot[];
}

/** Long documents are scored only after the user agreed, and asked about once. */
export type LongDocumentConsent = 'unasked' | 'asking' | 'accepted' | 'declined';

export class DocumentLossState {
  private held: SentenceScore[] = [];
  /** Offset from which results are missing; undefined when `held` covers the whole text. */
  private dirtyFrom: number | undefined = 0;
  private currentVersion: number;
  private epoch = 0;
  /** A request for this version failed: wait for an edit (or a new model) before retrying. */
  failedVersion: number | undefined;
  consent: LongDocumentConsent = 'unasked';

  constructor(version: number) {
    this.currentVersion = version;
  }

  /** The document version that `sentences` and the dirty offset describe. */
  get version(): number {
    return this.currentVersion;
  }

  /** Results valid for the text of `version`: all sentences before the first dirty one. */
  get sentences(): readonly SentenceScore[] {
    return this.held;
  }

  get complete(): boolean {
    return this.dirtyFrom === undefined;
  }

  /** Whether a request is due for `version` (not complete, and not already failed for it). */
  needsScoring(version: number): boolean {
    return version === this.currentVersion ? !this.complete && this.failedVersion !== version : true;
  }

  /**
   * The document changed to `version`; text before the smallest of `offsets` (each change's
   * start, `rangeOffset`) is unchanged, so results ending before it stay and keep their offsets.
   */
  noteChange(version: number, offsets: readonly number[]): void {
    this.currentVersion = version;
    if (offsets.length === 0) return;
    const from = Math.min(...offsets);
    this.dirtyFrom = Math.min(this.dirtyFrom ?? Number.POSITIVE_INFINITY, from);
    let keep = this.held.length;
    while (keep > 0 && (this.held[keep - 1] as SentenceScore).end >= from) keep--;
    this.held.length = keep;
  }

  /** Forget every result: another model, or edits nobody saw (the feature was off). */
  invalidate(version: number): void {
    this.currentVersion = version;
    this.held = [];
    this.dirtyFrom = 0;
    this.failedVersion = undefined;
    this.epoch++;
  }

  /** The request to send for the text of `version`, split into `spans`; undefined when complete. */
  plan(spans: readonly TextRange[], version: number): ScorePlan | undefined {
    if (version !== this.currentVersion) this.invalidate(version);
    if (this.dirtyFrom === undefined) return undefined;
    return { version, epoch: this.epoch, ...planRescore(spans, this.held, this.dirtyFrom) };
  }

  /** Applies an answer; false (and nothing changes) when the document moved on since `plan`. */
  apply(plan: ScorePlan, documentVersion: number, sentences: readonly SentenceScore[]): boolean {
    if (documentVersion !== plan.version || this.currentVersion !== plan.version || this.epoch !== plan.epoch || this.dirtyFrom === undefined) return false;
    this.held = [...this.held.slice(0, plan.keep), ...sentences];
    this.dirtyFrom = undefined;
    this.failedVersion = undefined;
    return true;
  }

  sentenceAt(offset: number): SentenceScore | undefined {
    return this.held[sentenceIndexAt(this.held, offset)];
  }

  snapshot(thresholds: readonly number[]): LossResultsSnapshot {
    const sentences = this.held.map(({ start, end, text, loss, perplexity, tokenCount }) => ({ start, end, text, loss, perplexity, tokenCount, band: bandOf(loss, thresholds) }));
    return { version: this.currentVersion, complete: this.complete, sentences };
  }
}
