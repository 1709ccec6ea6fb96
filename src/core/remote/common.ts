import type { BackendGeneratedToken, BackendNextToken, BackendSequence, BackendTopToken } from '../backend';
import { entropy, samplingLogProbs } from '../distribution';
import type { SamplingSettings } from '../distribution';
import { LmLensError } from '../errors';
import { normalizeAcrossRows } from '../generation';

export interface TopEntry {
  id: number | null;
  text: string;
  logprob: number;
}

/** Largest first; a server's dictionary of alternatives has no guaranteed order. */
export function sortTop<T extends { logprob: number }>(entries: T[]): T[] {
  return [...entries].sort((a, b) => b.logprob - a.logprob);
}

export function topTokens(entries: TopEntry[], rows: number): BackendTopToken[] {
  return sortTop(entries)
    .slice(0, rows)
    .map((entry) => ({ id: entry.id, text: entry.text, prob: Math.exp(entry.logprob), logprob: entry.logprob, logit: null }));
}

/** 1-based rank of `id` among the returned alternatives; null when it is not among them. */
export function rankIn(entries: readonly TopEntry[], id: number): number | null {
  const sorted = sortTop([...entries]);
  const at = sorted.findIndex((entry) => entry.id === id);
  return at < 0 ? null : at + 1;
}

/**
 * The distribution sampling draws from, from a server's top raw log-probabilities. It is exact
 * when top-k is on and the server returned at least k alternatives: tokens outside the top k
 * are removed anyway, and temperature and top-p only need the kept tokens' log-probabilities
 * (they differ from the logits by one constant). Otherwise it cannot be known: null.
 */
export function sampledDistribution(entries: readonly TopEntry[], settings: SamplingSettings): Array<TopEntry & { sampledLogprob: number }> | null {
  const topK = settings.topK ?? 0;
  if (topK <= 0 || entries.length < topK) return null;
  const kept = sortTop([...entries]).slice(0, topK);
  const transformed = samplingLogProbs(
    kept.map((entry) => entry.logprob),
    { temperature: settings.temperature, topP: settings.topP },
  );
  return kept.map((entry, i) => ({ ...entry, sampledLogprob: transformed[i] as number }));
}

export function samplingView(entries: readonly TopEntry[], settings: SamplingSettings, rows: number): BackendNextToken['sampling'] {
  const sampled = sampledDistribution(entries, settings);
  if (!sampled) return null;
  const alive = sampled.filter((entry) => entry.sampledLogprob > -Infinity);
  return {
    entropy: entropy(Float64Array.from(alive, (entry) => entry.sampledLogprob)),
    keptTokens: alive.length,
    top: alive.slice(0, rows).map((entry) => ({ id: entry.id, text: entry.text, prob: Math.exp(entry.sampledLogprob) })),
  };
}

/** The probability sampling gave the drawn token, or null when the returned alternatives do not determine it. */
export function sampledProbOf(entries: readonly TopEntry[], id: number | null, text: string, settings: SamplingSettings): number | null {
  const sampled = sampledDistribution(entries, settings);
  if (!sampled) return null;
  const entry = sampled.find((candidate) => (id !== null && candidate.id !== null ? candidate.id === id : candidate.text === text));
  return entry ? Math.exp(entry.sampledLogprob) : 0;
}

export function sequenceOf(text: string, tokens: BackendGeneratedToken[], stopReason: BackendSequence['stopReason']): BackendSequence {
  const logprob = tokens.reduce((sum, token) => sum + Math.log(token.prob), 0);
  const known = tokens.every((token) => token.sampledProb !== null);
  return {
    text,
    prob: Math.exp(logprob),
    sampledProb: known ? tokens.reduce((product, token) => product * (token.sampledProb as number), 1) : null,
    logprob,
    share: null,
    normedProd: null,
    stopReason,
    tokens: tokens.map((token) => ({ ...token, normedProb: null })),
  };
}

/** Each sequence's share of the N sequences' sampled probability and the per-step normalised ones (null if any is unknown). */
export function withShares(sequences: BackendSequence[]): BackendSequence[] {
  if (sequences.some((sequence) => sequence.sampledProb === null)) return sequences;
  const total = sequences.reduce((sum, sequence) => sum + (sequence.sampledProb as number), 0);
  const normed = normalizeAcrossRows(sequences.map((sequence) => sequence.tokens.map((token) => token.sampledProb as number)));
  sequences.forEach((sequence, r) => {
    const row = normed[r] as number[];
    sequence.share = total > 0 ? (sequence.sampledProb as number) / total : 1 / sequences.length;
    sequence.tokens.forEach((token, step) => (token.normedProb = row[step] as number));
    sequence.normedProd = row.reduce((product, value) => product * value, 1);
  });
  return sequences;
}

/** vLLM's refusal of too many log-probabilities names its cap ("… greater than max allowed: 20"). */
export function capFromError(error: unknown): number | undefined {
  if (!(error instanceof LmLensError) || error.code !== 'server-refused') return undefined;
  const match = /max(?:imum)? allowed:?\s*(\d+)/i.exec(error.message);
  return match ? Number(match[1]) : undefined;
}

export function finite(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}
