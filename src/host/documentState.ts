/**
 * One open document in the model process: its text at the latest version, the sentence index
 * of that text, the sentence scores that still hold, and where the next re-score must start.
 * Pure (no engine): the document store drives it, unit tests check it against the editor's text.
 */
import type { SentenceScore } from '../core/sentenceLoss';
import { splitSentences } from '../core/sentences';
import type { SentenceSpan, TextRange } from '../core/sentences';
import type { TextChange, TextDocumentItem } from '../shared/hostProtocol';

/**
 * Applies edits in order, each in the coordinates left by the ones before it (LSP's rule; VS
 * Code sends a multi-cursor edit bottom-up, so its offsets already satisfy it). Offsets outside
 * the text are clamped rather than trusted. `from`: the smallest offset an edit touched.
 */
export function applyChanges(text: string, changes: readonly TextChange[]): { text: string; from: number } {
  let from = Number.POSITIVE_INFINITY;
  for (const change of changes) {
    const start = Math.max(0, Math.min(text.length, Math.floor(change.rangeOffset)));
    const end = Math.max(start, Math.min(text.length, start + Math.max(0, Math.floor(change.rangeLength))));
    text = text.slice(0, start) + change.text + text.slice(end);
    from = Math.min(from, start);
  }
  return { text, from };
}

export interface RescorePlan {
  /** Version of the text the plan was made for; its answer is dropped if the document moved on. */
  version: number;
  /** Bumped by `invalidate`, so an answer from before a model switch is dropped too. */
  epoch: number;
  /** How many of the held results (a prefix) stay valid. */
  keep: number;
  /** Where scoring starts; undefined when no sentence is left to score. */
  fromOffset: number | undefined;
  spans: readonly SentenceSpan[];
}

/**
 * Where to re-score after the text changed from `changeStart` on (text before it is unchanged),
 * given the new text's sentence spans and the results still held. The first sentence to redo
 * is the first one that ends at or after the change (">=": typing right after a sentence's
 * last character can change its last token) or whose span no longer matches the held result
 * (a boundary moved because of look-ahead past the edit, e.g. "etc. Then" → "etc. then").
 */
export function planRescore(spans: readonly TextRange[], previous: readonly TextRange[], changeStart: number): { keep: number; fromOffset: number | undefined } {
  let keep = 0;
  while (keep < spans.length && keep < previous.length) {
    const span = spans[keep] as TextRange;
    const held = previous[keep] as TextRange;
    if (span.end >= changeStart || span.start !== held.start || span.end !== held.end) break;
    keep++;
  }
  return { keep, fromOffset: spans[keep]?.start };
}

export class DocumentState {
  readonly uri: string;
  readonly languageId: string;
  /** The window's number for this opening of the uri; every push names it. */
  readonly opening: number;
  private currentText: string;
  private currentVersion: number;
  private held: SentenceScore[] = [];
  /** Offset from which results are missing; undefined when `held` covers the whole text. */
  private dirtyFrom: number | undefined = 0;
  private index: { version: number; spans: SentenceSpan[] } | undefined;
  private epoch = 0;
  /** Scoring this version failed: wait for an edit (or a new model) before retrying. */
  failedVersion: number | undefined;

  constructor(item: TextDocumentItem) {
    this.uri = item.uri;
    this.languageId = item.languageId;
    this.opening = item.opening;
    this.currentText = item.text;
    this.currentVersion = item.version;
  }

  get text(): string {
    return this.currentText;
  }

  get version(): number {
    return this.currentVersion;
  }

  /** Results valid for the current text: every sentence before the first dirty one. */
  get sentences(): readonly SentenceScore[] {
    return this.held;
  }

  get complete(): boolean {
    return this.dirtyFrom === undefined;
  }

  get needsScoring(): boolean {
    return !this.complete && this.failedVersion !== this.currentVersion;
  }

  /** Applies an edit; a version not newer than the current one is a duplicate and ignored. */
  change(version: number, changes: readonly TextChange[]): boolean {
    if (version <= this.currentVersion) return false;
    const { text, from } = applyChanges(this.currentText, changes);
    this.currentText = text;
    this.currentVersion = version;
    if (!Number.isFinite(from)) return true;
    this.dirtyFrom = Math.min(this.dirtyFrom ?? Number.POSITIVE_INFINITY, from);
    let keep = this.held.length;
    while (keep > 0 && (this.held[keep - 1] as SentenceScore).end >= from) keep--;
    this.held.length = keep;
    return true;
  }

  /** Forget every result: another model answers now. */
  invalidate(): void {
    this.held = [];
    this.dirtyFrom = 0;
    this.failedVersion = undefined;
    this.epoch++;
  }

  /** The sentence spans of the current text, split once per version. */
  spans(): readonly SentenceSpan[] {
    if (this.index?.version !== this.currentVersion) this.index = { version: this.currentVersion, spans: splitSentences(this.currentText, { languageId: this.languageId }) };
    return this.index.spans;
  }

  /** What to score for the current text; undefined when complete. */
  plan(): RescorePlan | undefined {
    if (this.dirtyFrom === undefined) return undefined;
    const spans = this.spans();
    return { version: this.currentVersion, epoch: this.epoch, spans, ...planRescore(spans, this.held, this.dirtyFrom) };
  }

  /**
   * Applies sentences that arrived while `plan` is still being scored, after the `done` already
   * applied ones; they are final for this version, so a scoring cut short resumes after them.
   */
  applyPartial(plan: RescorePlan, done: number, sentences: readonly SentenceScore[]): boolean {
    if (plan.version !== this.currentVersion || plan.epoch !== this.epoch || this.dirtyFrom === undefined || sentences.length === 0) return false;
    this.held = [...this.held.slice(0, plan.keep + done), ...sentences];
    const next = plan.spans[plan.keep + done + sentences.length];
    this.dirtyFrom = next ? Math.max(this.dirtyFrom, next.start) : this.dirtyFrom;
    return true;
  }

  /** Applies an answer; false (and nothing changes) when the document moved on since `plan`. */
  apply(plan: RescorePlan, sentences: readonly SentenceScore[]): boolean {
    if (plan.version !== this.currentVersion || plan.epoch !== this.epoch || this.dirtyFrom === undefined) return false;
    this.held = [...this.held.slice(0, plan.keep), ...sentences];
    this.dirtyFrom = undefined;
    this.failedVersion = undefined;
    return true;
  }
}
