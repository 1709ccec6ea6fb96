/**
 * Where a completion ends, in one place: ghost text (local engine and servers), the CLI's
 * `complete` and every continuation that follows a branch use these rules, both while
 * generating (to stop early) and afterwards (to cut the text). They only cut: the model's
 * probabilities are never changed (no repetition penalty), so what LM Lens shows stays the
 * model's own.
 */
import { SETTINGS } from '../shared/settings';

import type { StopOptions, StopReason, StopUnit } from '../shared/engineTypes';
export { STOP_UNITS } from '../shared/engineTypes';
export type { StopOptions, StopReason, StopUnit } from '../shared/engineTypes';

export interface StopToken {
  id: number | null;
  text: string;
  prob: number;
}

export interface StopCut {
  /** UTF-16 length of the generated text to keep. */
  length: number;
  /** The rule that cut it; undefined when none did. */
  reason?: Exclude<StopReason, 'eos' | 'length'>;
}

/** Longest repeated span looked for, in tokens (Copilot looks up to 10). */
export const MAX_REPEAT_PERIOD = 16;

// A sentence ends at . ! ? … (optionally closed by quotes or brackets) followed by a space or the end.
const SENTENCE_END = /[.!?…]["'”’)\]]*(?=\s|$)/u;
const LINE_BREAK = /\r\n?|\n/u;
const BLANK_LINE = /(?:\r\n?|\n)[ \t]*(?:\r\n?|\n)/u;

/**
 * Index of the first token of a repetition that makes the tokens loop, or -1: the first place
 * where a span of 2+ tokens follows itself back to back, or one token comes a third time in a
 * row. Cutting there keeps the first occurrence only, so the kept tokens hold no such repetition
 * (any would end earlier, and the scan stops at the earliest).
 */
export function repetitionStart(tokens: readonly StopToken[]): number {
  for (let end = 1; end < tokens.length; end++) {
    for (let period = 1; period <= MAX_REPEAT_PERIOD; period++) {
      const copies = period === 1 ? 3 : 2;
      const start = end + 1 - copies * period;
      if (start < 0) break;
      let repeats = true;
      for (let i = start + period; i <= end && repeats; i++) repeats = sameToken(tokens[i] as StopToken, tokens[i - period] as StopToken);
      if (repeats) return start + period;
    }
  }
  return -1;
}

/** Ids where both have one (a server may give text only); texts otherwise. Byte pieces all read U+FFFD, so ids decide. */
function sameToken(a: StopToken, b: StopToken): boolean {
  return a.id !== null && b.id !== null ? a.id === b.id : a.text === b.text;
}

/**
 * The earliest cut of all rules over the tokens generated so far (end-of-text and the length
 * limit are the generator's, not text rules). A line break wins a tie with a sentence end.
 */
export function findStop(tokens: readonly StopToken[], options: StopOptions = {}): StopCut {
  const text = tokens.map((token) => token.text).join('');
  const unit = options.stopAt ?? (SETTINGS['inline.stopAt'].default as StopUnit);
  const minProb = options.minTokenProb ?? SETTINGS['inline.minTokenProb'].default;
  const candidates: StopCut[] = [];
  const offsetOf = (index: number): number => tokens.slice(0, index).reduce((sum, token) => sum + token.text.length, 0);

  const lowIndex = minProb > 0 ? tokens.findIndex((token) => token.prob < minProb) : -1;
  if (lowIndex >= 0) candidates.push({ length: offsetOf(lowIndex), reason: 'low-confidence' });
  const repeated = repetitionStart(tokens);
  if (repeated >= 0) candidates.push({ length: offsetOf(repeated), reason: 'repetition' });

  const breaks = unit === 'paragraph' ? BLANK_LINE : LINE_BREAK;
  const lineBreak = options.stopAtNewline === false && unit !== 'paragraph' ? null : breaks.exec(text);
  if (lineBreak) candidates.push({ length: lineBreak.index, reason: unit === 'paragraph' ? 'paragraph' : 'newline' });
  if (unit === 'sentence' && options.stopAtSentenceEnd !== false) {
    const firstWord = text.search(/\p{L}|\p{N}/u);
    const match = firstWord >= 0 ? SENTENCE_END.exec(text.slice(firstWord)) : null;
    if (match) candidates.push({ length: firstWord + match.index + match[0].length, reason: 'sentence' });
  }
  // Stable: for equal lengths the order above decides (low confidence, repetition, line break, sentence).
  return candidates.reduce<StopCut>((best, cut) => (best.reason === undefined || cut.length < best.length ? cut : best), { length: text.length });
}

/**
 * The rules for sampled alternatives (Alt+]): all but low confidence. A greedy token's probability
 * is the model's top one, its confidence; a sampled token's is how unlikely the draw was, which
 * is what the user asked for by sampling (with the rule, most alternatives ended at their first token).
 */
export function samplingStops<T extends StopOptions>(options: T): T {
  return { ...options, minTokenProb: 0 };
}

/** For generators: whether the tokens so far already end the completion (the rest would be cut anyway). */
export function stopsAfter(options: StopOptions): (tokens: readonly StopToken[]) => boolean {
  return (tokens) => findStop(tokens, options).reason !== undefined;
}
