/**
 * Offsets → what to draw, and edits → where to re-score from. Pure (no `vscode`): the adapter
 * converts `LinePosition`s into `vscode.Range`s and nothing else.
 */
import type { ScoredToken, SentenceScore } from '../core/sentenceLoss';
import { LineIndex } from '../core/sentences';
import type { LinePosition, TextRange } from '../core/sentences';
import { GLTR_BUCKETS, SENTENCE_BANDS, bandOf, gltrBucketOf } from './lossBands';
import { annotationText } from './lossHover';

export type LossMode = 'sentence' | 'token';

export interface LineRange {
  start: LinePosition;
  end: LinePosition;
}

export interface RescorePlan {
  /** How many of the previous results (a prefix) stay valid. */
  keep: number;
  /** `fromOffset` for the request; undefined when no sentence is left to score. */
  fromOffset: number | undefined;
}

/**
 * Where to re-score after the text changed from `changeStart` on (text before it is unchanged),
 * given the new text's sentence spans and the results still held. The first sentence to redo
 * is the first one that ends at or after the change (">=": typing right after a sentence's
 * last character can change its last token) or whose span no longer matches the held result
 * (a boundary moved because of look-ahead past the edit, e.g. "etc. Then" → "etc. then").
 */
export function planRescore(spans: readonly TextRange[], previous: readonly TextRange[], changeStart: number): RescorePlan {
  let keep = 0;
  while (keep < spans.length && keep < previous.length) {
    const span = spans[keep] as TextRange;
    const held = previous[keep] as TextRange;
    if (span.end >= changeStart || span.start !== held.start || span.end !== held.end) break;
    keep++;
  }
  return { keep, fromOffset: spans[keep]?.start };
}

export { sentenceIndexAt } from '../core/sentences';

/** The token whose visible part (see tokenRange) holds `offset`. */
export function tokenAt(text: string, tokens: readonly ScoredToken[], offset: number): ScoredToken | undefined {
  return tokens.find((token) => {
    const range = tokenRange(text, token);
    return range !== undefined && offset >= range.start && offset < range.end;
  });
}

/**
 * A token's span without its leading whitespace: GPT-2 tokens carry the space before a word,
 * and painting that space would blur where one token ends and the next begins.
 */
export function tokenRange(text: string, token: Pick<ScoredToken, 'start' | 'end'>): TextRange | undefined {
  let start = token.start;
  while (start < token.end && /\s/.test(text[start] as string)) start++;
  return start < token.end ? { start, end: token.end } : undefined;
}

export interface DecorationPlanOptions {
  mode: LossMode;
  thresholds: readonly number[];
  annotations: boolean;
}

export interface DecorationPlan {
  mode: LossMode;
  /** One list per sentence band (sentence mode) or GLTR bucket (token mode), as offsets. */
  groups: TextRange[][];
  /** Band of each sentence, in order (undefined: no loss to show). */
  bands: Array<number | undefined>;
  /** End-of-line annotations: the offset where the line's text ends, and what to show there. */
  annotations: Array<{ offset: number; text: string }>;
}

export function planDecorations(text: string, sentences: readonly SentenceScore[], options: DecorationPlanOptions): DecorationPlan {
  const groupCount = options.mode === 'token' ? GLTR_BUCKETS.length : SENTENCE_BANDS.length;
  const groups: TextRange[][] = Array.from({ length: groupCount }, () => []);
  const bands = sentences.map((sentence) => bandOf(sentence.loss, options.thresholds));
  sentences.forEach((sentence, i) => {
    if (options.mode === 'token') {
      for (const token of sentence.tokens) {
        const range = tokenRange(text, token);
        if (range) groups[gltrBucketOf(token.rank)]?.push(range);
      }
    } else {
      const band = bands[i];
      if (band !== undefined) groups[band]?.push({ start: sentence.start, end: sentence.end });
    }
  });
  return { mode: options.mode, groups, bands, annotations: options.annotations ? planAnnotations(text, sentences) : [] };
}

/** One annotation per line, listing the sentences that end on it, at the end of the line's text. */
function planAnnotations(text: string, sentences: readonly SentenceScore[]): Array<{ offset: number; text: string }> {
  const index = new LineIndex(text);
  const byLine = new Map<number, Array<number | null>>();
  for (const sentence of sentences) {
    const line = index.positionAt(sentence.end).line;
    byLine.set(line, [...(byLine.get(line) ?? []), sentence.loss]);
  }
  return [...byLine].map(([line, losses]) => ({ offset: index.offsetAt({ line, character: Number.MAX_SAFE_INTEGER }), text: annotationText(losses) }));
}

/** Offsets → line/character, exactly as VS Code's TextDocument maps them (CRLF, surrogate pairs). */
export function toLineRanges(index: LineIndex, ranges: readonly TextRange[]): LineRange[] {
  return ranges.map((range) => ({ start: index.positionAt(range.start), end: index.positionAt(range.end) }));
}
