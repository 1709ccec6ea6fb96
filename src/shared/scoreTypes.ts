/**
 * Sentence loss as it crosses the wire: the scores the model process pushes for each sentence
 * and the least likely tokens the hover lists. src/core/sentenceLoss.ts computes them.
 */

export interface ScoredToken {
  start: number;
  end: number;
  id: number;
  text: string;
  logprob: number;
  prob: number;
  /** null when a server returned only the top few alternatives and this token is not among them. */
  rank: number | null;
  /** Entropy (nats) of the distribution the token was drawn against; null from a server (it gives only the top alternatives). */
  entropy: number | null;
  /** Probability of the model's first choice there (GLTR's p(token) ÷ p(top-1) needs it). */
  topProb: number;
  /** log p of the model's first choice there; null from a server. */
  topLogprob: number | null;
  /** Entropy of its top-10, renormalised (GLTR); null from a server. */
  top10Entropy: number | null;
}

export interface UnlikelyToken extends ScoredToken {
  alternatives: Array<{ id: number | null; text: string; prob: number }>;
}

export interface SentenceScore {
  start: number;
  end: number;
  text: string;
  /** Mean token loss (nats) of the tokens that start in this sentence, given all text before them. */
  loss: number;
  perplexity: number;
  tokenCount: number;
  tokens: ScoredToken[];
  /** The least likely tokens, least likely first, with the model's top alternatives there. */
  leastLikely: UnlikelyToken[];
}

export interface DocumentScore {
  sentences: SentenceScore[];
  /** Mean loss over every scored token of the document (after `<|endoftext|>`). */
  loss: number;
  perplexity: number;
  tokenCount: number;
  /** Tokens whose model state had to be computed (the rest came from the prefix cache); null for a server. */
  computedTokens: number | null;
}
