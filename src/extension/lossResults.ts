/**
 * What the model process pushed for each document, mirrored as it was sent: the sentences of
 * the last push (a push keeps a prefix of the one before and adds the rest) and the scoring
 * status, each for the document version it describes. The adapter draws a document only when
 * that version is the editor's: a stale push is kept (the next one builds on it) but never drawn.
 * No `vscode` import.
 */
import type { SentenceScore } from '../shared/hostProtocol';
import type { DocumentStatusParams, SentenceScoresParams } from '../shared/hostProtocol';
import { sentenceIndexAt } from '../shared/textRange';
import { bandOf } from './lossBands';

/** Test view of one scored sentence and the band it is drawn in. */
export type LossSentenceSnapshot = Pick<SentenceScore, 'start' | 'end' | 'text' | 'loss' | 'perplexity' | 'tokenCount'> & { band: number | undefined };

export interface LossResultsSnapshot {
  version: number;
  complete: boolean;
  sentences: LossSentenceSnapshot[];
}

export interface DocumentResults {
  /** Version the sentences describe. */
  version: number;
  sentences: SentenceScore[];
  status?: DocumentStatusParams;
}

export class LossResults {
  private readonly documents = new Map<string, DocumentResults>();

  get(uri: string): DocumentResults | undefined {
    return this.documents.get(uri);
  }

  /** Applies a push; answers whether anything changed. */
  applyScores(push: SentenceScoresParams): DocumentResults {
    const previous = this.documents.get(push.uri);
    const kept = previous ? previous.sentences.slice(0, push.keep) : [];
    const next: DocumentResults = { version: push.version, sentences: [...kept, ...push.sentences], status: previous?.status };
    this.documents.set(push.uri, next);
    return next;
  }

  applyStatus(status: DocumentStatusParams): void {
    const held = this.documents.get(status.uri) ?? { version: -1, sentences: [] };
    this.documents.set(status.uri, { ...held, status });
  }

  /** Results drawable for a document at `version`: only those computed for exactly that text. */
  current(uri: string, version: number): DocumentResults | undefined {
    const held = this.documents.get(uri);
    return held?.version === version ? held : undefined;
  }

  /** Scores for `version` are complete (or failed: nothing more will come for it). */
  settled(uri: string, version: number): boolean {
    const held = this.documents.get(uri);
    const status = held?.status;
    if (!status || status.version !== version) return false;
    return status.state === 'failed' || (status.state === 'done' && held?.version === version);
  }

  sentenceAt(uri: string, version: number, offset: number): SentenceScore | undefined {
    const held = this.current(uri, version);
    return held ? held.sentences[sentenceIndexAt(held.sentences, offset)] : undefined;
  }

  delete(uri: string): void {
    this.documents.delete(uri);
  }

  clear(): void {
    this.documents.clear();
  }

  snapshot(uri: string, thresholds: readonly number[]): LossResultsSnapshot | undefined {
    const held = this.documents.get(uri);
    if (!held) return undefined;
    const sentences = held.sentences.map(({ start, end, text, loss, perplexity, tokenCount }) => ({ start, end, text, loss, perplexity, tokenCount, band: bandOf(loss, thresholds) }));
    const complete = held.status?.state === 'done' && held.status.version === held.version;
    return { version: held.version, complete, sentences };
  }
}
