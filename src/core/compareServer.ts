/**
 * The report's comparison with a model a server serves (vLLM, SGLang, llama-server). The server
 * scores the same text with its own tokenizer, so its tokens need not line up with GPT-2's: the
 * comparison is per sentence, not per token. What it cannot give is said, not approximated: the
 * cross-perplexity (Binoculars) needs both models' whole distributions over one vocabulary at
 * every position, and a server returns only its top few log-probabilities.
 */
import type { Backend } from './backend';
import type { ComparisonSummary } from './compare';
import { DEFAULT_HINTS } from './remote/http';
import type { ReportSentenceInput } from './report';
import { scoreSentences } from './sentenceLoss';
import type { SentenceSpan } from './sentences';

/** The degrade line the report shows instead of the ratio. */
export const NO_CROSS_PERPLEXITY_ON_SERVER =
  'No cross-perplexity ratio with a server: it needs both models’ whole distributions over one vocabulary at every position, and a server returns only its top log-probabilities, in its own tokens.';

/** The settings a comparison's server errors point to: its URL and model are saved there by the picker; its API is the picker's choice, not lmLens.backend. */
export const COMPARE_SERVER_HINTS = { ...DEFAULT_HINTS, api: 'the kind of server picked in "Compare with a second model"' };

export interface ServerSentenceLoss {
  start: number;
  end: number;
  /** Mean −log p of the server's tokens credited to the sentence (NaN when none is). */
  loss: number;
  tokenCount: number;
}

export interface ServerScores {
  /** "model @ host", as the panel names a server. */
  modelB: string;
  sentences: ServerSentenceLoss[];
}

/**
 * The loss of each sentence under the server's model: the whole text after the server's start
 * token, scored in the server's own tokens (its /tokenize gives their character offsets). A token
 * that straddles a sentence boundary counts for the sentence holding its first non-space
 * character, the rule the local sentence scores follow (core/sentenceLoss.ts), so " Once" opens
 * the next sentence and a whitespace-only token counts for none.
 */
export async function scoreSentencesOnServer(backend: Backend, text: string, spans: readonly SentenceSpan[], signal?: AbortSignal): Promise<ServerScores> {
  const scored = await scoreSentences(backend, text, { spans, signal, alternatives: 0, leastLikely: 0 });
  const info = backend.info;
  return {
    modelB: `${info.model} @ ${info.host}`,
    sentences: scored.sentences.map((sentence) => ({ start: sentence.start, end: sentence.end, loss: sentence.loss, tokenCount: sentence.tokenCount })),
  };
}

/**
 * Both models' loss per sentence of a report. Both splits come from the same text, so a report
 * sentence and the server's are matched by their span. The summary's losses cover the report's
 * sentences only (the tokens both sides credit to them), each model in its own tokens.
 */
export function summarizeServerComparison(scores: ServerScores, sentences: readonly ReportSentenceInput[]): ComparisonSummary {
  const bySpan = new Map(scores.sentences.map((sentence) => [`${sentence.start}:${sentence.end}`, sentence]));
  let sumA = 0;
  let countA = 0;
  let sumB = 0;
  let countB = 0;
  const perSentence = sentences.map((sentence, index) => {
    const lossA = sentence.tokens.length > 0 ? sentence.tokens.reduce((sum, token) => sum - token.logprob, 0) / sentence.tokens.length : Number.NaN;
    sumA -= sentence.tokens.reduce((sum, token) => sum + token.logprob, 0);
    countA += sentence.tokens.length;
    const b = bySpan.get(`${sentence.start}:${sentence.end}`);
    if (b && b.tokenCount > 0) {
      sumB += b.loss * b.tokenCount;
      countB += b.tokenCount;
    }
    return { index, lossA, lossB: b && b.tokenCount > 0 ? b.loss : Number.NaN };
  });
  return {
    modelB: scores.modelB,
    tokens: countB,
    lossA: countA > 0 ? sumA / countA : Number.NaN,
    lossB: countB > 0 ? sumB / countB : Number.NaN,
    crossEntropy: null,
    ratio: null,
    note: NO_CROSS_PERPLEXITY_ON_SERVER,
    sentences: perSentence,
  };
}
