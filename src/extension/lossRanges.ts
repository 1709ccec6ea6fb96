/**
 * Pushed scores → what to draw, as offsets. Pure (no `vscode`): the adapter converts offsets
 * with the document's own positionAt and nothing else.
 */
import type { ScoredToken, SentenceScore } from '../shared/hostProtocol';
import type { TextRange } from '../shared/textRange';
import { GLTR_BUCKETS, SENTENCE_BANDS, bandOf, gltrBucketOf } from './lossBands';
import { annotationText } from './lossHover';

export type LossMode = 'sentence' | 'token';

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

/** Lines as the editor counts them: the line of an offset, and where a line's text ends. */
export interface LineLookup {
  lineAt(offset: number): number;
  lineEnd(line: number): number;
}

export interface DecorationPlanOptions {
  mode: LossMode;
  thresholds: readonly number[];
  /** Given when end-of-line annotations are on. */
  lines?: LineLookup;
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
        const bucket = gltrBucketOf(token.rank);
        if (range && bucket !== undefined) groups[bucket]?.push(range);
      }
    } else {
      const band = bands[i];
      if (band !== undefined) groups[band]?.push({ start: sentence.start, end: sentence.end });
    }
  });
  return { mode: options.mode, groups, bands, annotations: options.lines ? planAnnotations(sentences, options.lines) : [] };
}

/** One annotation per line, listing the sentences that end on it, at the end of the line's text. */
function planAnnotations(sentences: readonly SentenceScore[], lines: LineLookup): Array<{ offset: number; text: string }> {
  const byLine = new Map<number, Array<number | null>>();
  for (const sentence of sentences) {
    const line = lines.lineAt(sentence.end);
    byLine.set(line, [...(byLine.get(line) ?? []), sentence.loss]);
  }
  return [...byLine].map(([line, losses]) => ({ offset: lines.lineEnd(line), text: annotationText(losses) }));
}
