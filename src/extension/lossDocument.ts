/**
 * Sentence loss for one document, from the moment the feature takes it up (it is on screen, in
 * an enabled language, with sentence loss on) until the document closes, leaves the enabled
 * languages, grows past the limit without consent, or the feature is turned off: whether the
 * user agreed to score it when long, the model process's copy of it (opened through the shared
 * DocumentSync), the scores pushed for it, and what was drawn from them. Disposing the session
 * closes the model process's copy and removes its decorations; a later session starts clean.
 * No `vscode` import: the feature passes in how to undraw.
 */
import type { DocumentStatusParams, SentenceScoresParams } from '../shared/hostProtocol';
import type { DocumentSync, SyncedDocument } from './documentSync';
import type { DecorationPlan } from './lossRanges';
import { LossResults } from './lossResults';
import { Session } from './session';

/** Long documents are opened in the model process only after the user agreed, asked once. */
export type Consent = 'asking' | 'accepted' | 'declined';

export interface DocumentLossHooks {
  readonly sync: Pick<DocumentSync, 'open' | 'close' | 'has' | 'isCurrent'>;
  /** Removes what was drawn for the document from the editors showing it. */
  undraw(uri: string): void;
}

export class DocumentLossSession extends Session {
  consent: Consent | undefined;
  /** What the model process pushed for this document (only this one's entry is ever set). */
  readonly results = new LossResults();
  /** What was last drawn, as offsets (the hover and the tests read the results, the probe this). */
  drawn: DecorationPlan | undefined;

  constructor(
    readonly uri: string,
    private readonly hooks: DocumentLossHooks,
  ) {
    super();
    // The model process frees its copy; the editors lose the colours.
    this.own({
      dispose: () => {
        hooks.sync.close(uri);
        if (this.drawn) hooks.undraw(uri);
        this.drawn = undefined;
        this.results.clear();
      },
    });
  }

  /** The model process holds the document (it was opened and not closed since). */
  get opened(): boolean {
    return !this.disposed && this.hooks.sync.has(this.uri);
  }

  /** Sends the document to the model process (once); nothing after the session ended. */
  open(document: SyncedDocument): void {
    if (!this.disposed && !this.hooks.sync.has(this.uri)) this.hooks.sync.open(document);
  }

  /** Takes a push when it is for this session's opening of the document; false when it was dropped. */
  applyScores(push: SentenceScoresParams): boolean {
    if (!this.accepts(push.uri, push.opening)) return false;
    this.results.applyScores(push);
    return true;
  }

  applyStatus(status: DocumentStatusParams): boolean {
    if (!this.accepts(status.uri, status.opening)) return false;
    this.results.applyStatus(status);
    return true;
  }

  get status(): DocumentStatusParams | undefined {
    return this.results.get(this.uri)?.status;
  }

  private accepts(uri: string, opening: number): boolean {
    return !this.disposed && uri === this.uri && this.hooks.sync.isCurrent(uri, opening);
  }
}
