import type { Backend, BackendTokenScore } from './backend';
import type { Engine } from './engine';
import { LocalBackend } from './local/localBackend';
import { meanLoss } from './scoring';
import { sentenceIndexAt, splitSentences } from './sentences';
import type { SentenceSpan } from './sentences';
import type { DocumentScore, ScoredToken, SentenceScore } from '../shared/scoreTypes';
export type { DocumentScore, ScoredToken, SentenceScore, UnlikelyToken } from '../shared/scoreTypes';

export interface SentenceScoreOptions {
  languageId?: string;
  /** The text's sentence spans when the caller already split it (the model process keeps them per version). */
  spans?: readonly SentenceSpan[];
  /** Only sentences that end after this UTF-16 offset are (re)scored; earlier ones are omitted. */
  fromOffset?: number;
  signal?: AbortSignal;
  leastLikely?: number;
  alternatives?: number;
  onProgress?: (scored: number, total: number) => void;
  /**
   * Called while scoring with sentences whose every token is scored, in document order (each
   * once; together they are the result's `sentences`), so a long document shows results early.
   */
  onSentences?: (sentences: SentenceScore[]) => void;
}

/**
 * Each sentence's mean loss conditioned on the document before it: the document is scored
 * once after `<|endoftext|>` (sliding past the window), and each token is credited to the
 * sentence holding its first non-space character. The prefix cache makes a re-score after an
 * edit compute only from the edit onward.
 */
export async function scoreSentences(source: Engine | Backend, text: string, options: SentenceScoreOptions = {}): Promise<DocumentScore> {
  const backend = 'score' in source ? source : new LocalBackend(source);
  const spans = options.spans ?? splitSentences(text, { languageId: options.languageId });
  const fromOffset = options.fromOffset ?? 0;
  const firstSentence = spans.findIndex((span) => span.end > fromOffset);
  const wanted = firstSentence < 0 ? [] : spans.slice(firstSentence);
  if (wanted.length === 0) return { sentences: [], loss: Number.NaN, perplexity: Number.NaN, tokenCount: 0, computedTokens: 0 };

  const tokenized = await backend.tokenize(text, options.signal);
  const tokenSpans = tokenized.spans;
  // After the start token every text token is scored; a model without one cannot score the first.
  // A tokenizer that adds its own start token (Llama 3) gets no second one.
  const start = (tokenized.added ?? 0) > 0 ? null : backend.info.startTokenId;
  const offset = start === null ? 0 : 1;
  const ids = start === null ? tokenized.ids : [start, ...tokenized.ids];
  // Token k of the text is id k + offset; score from the first token touching the first wanted sentence.
  const firstStart = (wanted[0] as SentenceSpan).start;
  let fromToken = tokenSpans.findIndex((span) => span.end > firstStart);
  fromToken = fromToken < 0 ? ids.length : fromToken + offset;
  const before = backend.computedTokens();
  const leastLikely = options.leastLikely ?? 3;
  const textOf = (index: number): string => tokenized.texts[index - offset] ?? '';
  const buckets = wanted.map(() => [] as Array<{ score: BackendTokenScore; token: ScoredToken }>);
  const finished: SentenceScore[] = [];
  const credit = (score: BackendTokenScore): void => {
    const span = tokenSpans[score.index - offset];
    if (!span) return;
    const anchor = firstNonSpace(text, span.start, span.end);
    if (anchor < 0) return;
    const sentence = sentenceIndexAt(wanted, anchor);
    if (sentence >= 0) buckets[sentence]?.push({ score, token: scoredToken(score, span, textOf(score.index)) });
  };
  // Sentences that end where scoring has reached are final: every later token starts after them.
  const finishUpTo = (scoredUpTo: number): void => {
    const first = finished.length;
    while (finished.length < wanted.length && (wanted[finished.length] as SentenceSpan).end <= scoredUpTo) {
      finished.push(summarise(wanted[finished.length] as SentenceSpan, buckets[finished.length] ?? [], leastLikely));
    }
    if (finished.length > first) options.onSentences?.(finished.slice(first));
  };
  const onScores = (batch: readonly BackendTokenScore[]): void => {
    batch.forEach(credit);
    const last = batch.at(-1);
    const reached = last ? tokenSpans[last.index - offset]?.end : undefined;
    if (reached !== undefined) finishUpTo(reached);
  };
  const scores = fromToken < ids.length ? await backend.score(ids, { fromToken, signal: options.signal, alternatives: options.alternatives ?? 5, onProgress: options.onProgress, onScores }) : [];
  const after = backend.computedTokens();
  const computedTokens = before === null || after === null ? null : after - before;
  finishUpTo(Number.POSITIVE_INFINITY);
  const documentLoss = meanLoss(scores);
  return { sentences: finished, loss: documentLoss, perplexity: Math.exp(documentLoss), tokenCount: scores.length, computedTokens };
}

function scoredToken(score: BackendTokenScore, span: { start: number; end: number }, text: string): ScoredToken {
  return {
    start: span.start,
    end: span.end,
    id: score.id,
    text,
    logprob: score.logprob,
    prob: score.prob,
    rank: score.rank,
    entropy: score.entropy,
    topProb: score.alternatives?.[0]?.prob ?? score.prob,
    topLogprob: score.topLogprob ?? null,
    top10Entropy: score.top10Entropy ?? null,
  };
}

function summarise(span: SentenceSpan, bucket: ReadonlyArray<{ score: BackendTokenScore; token: ScoredToken }>, leastLikely: number): SentenceScore {
  const loss = meanLoss(bucket.map((entry) => entry.score));
  return {
    start: span.start,
    end: span.end,
    text: span.text,
    loss,
    perplexity: Math.exp(loss),
    tokenCount: bucket.length,
    tokens: bucket.map((entry) => entry.token),
    leastLikely: [...bucket]
      .sort((a, b) => a.score.logprob - b.score.logprob)
      .slice(0, leastLikely)
      .map((entry) => ({
        ...entry.token,
        alternatives: (entry.score.alternatives ?? []).map((alt) => ({ id: alt.id, text: alt.text ?? '', prob: alt.prob })),
      })),
  };
}

function firstNonSpace(text: string, start: number, end: number): number {
  for (let i = start; i < end; i++) if (!/\s/u.test(text[i] as string)) return i;
  return -1;
}
