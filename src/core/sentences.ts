/**
 * Sentence spans for sentence-loss scoring, with exact UTF-16 offsets into the document, plus a
 * line index that maps offsets the way VS Code's TextDocument does. Boundaries come from ICU
 * (`Intl.Segmenter`); this module only post-processes them, adds structural boundaries (blank
 * lines; markdown headings and list items; LaTeX sectioning lines) and drops regions that are
 * never scored (code, math, comments, front matter).
 */
import { sentenceIndexAt } from '../shared/textRange';
import type { TextRange } from '../shared/textRange';
import { excludedRanges, lineEnd } from './proseRegions';

export { excludedRanges };

export interface SentenceSpan {
  start: number;
  end: number;
  text: string;
}

/** Only 'markdown' and 'latex' (or 'tex') get structure-aware handling; others are plain text. */
export type SentenceLanguage = 'plaintext' | 'markdown' | 'latex' | 'restructuredtext' | string;

export interface SplitOptions {
  languageId?: SentenceLanguage;
  locale?: string;
  /** Longer runs are cut at whitespace (default 2000) so the work per sentence stays bounded. */
  maxSentenceChars?: number;
}

export interface LinePosition {
  line: number;
  character: number;
}

export type { TextRange };
export { sentenceIndexAt };

const DEFAULT_MAX_SENTENCE_CHARS = 2000;
// ICU's cost per sentence grows with the window it is given (see icuBoundaries).
const MIN_WINDOW = 512;
const MAX_WINDOW = 8192;

// V8 ships no ICU abbreviation suppressions, so "Mr. Smith" splits after "Mr.". Only English
// locales merge, and only after abbreviations that almost never end a sentence ("etc." can).
const ENGLISH_ABBREVIATION =
  /(?:^|[\s([{"'\u201c\u2018])(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|Mt|vs|cf|e\.g|i\.e|Fig|Figs|Eq|Eqs|Sec|Ch|Vol|No|pp|approx|resp)\.$/;

// ---------------------------------------------------------------------------------------------
// Line index

/** Maps offsets and positions like VS Code: "\r\n", "\n" and a lone "\r" each end one line. */
export class LineIndex {
  private readonly starts: number[] = [0];

  constructor(private readonly text: string) {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 13 && text.charCodeAt(i + 1) === 10) i++;
      if (c === 13 || c === 10) this.starts.push(i + 1);
    }
  }

  get lineCount(): number {
    return this.starts.length;
  }

  positionAt(offset: number): LinePosition {
    const o = clamp(Math.floor(offset), 0, this.text.length);
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid] <= o) lo = mid;
      else hi = mid - 1;
    }
    // An offset between "\r" and "\n" is clamped to the end of its line, as VS Code does.
    return { line: lo, character: Math.min(o, this.contentEnd(lo)) - this.starts[lo] };
  }

  /** Out-of-range lines and characters are clamped to the document, as VS Code does. */
  offsetAt(pos: LinePosition): number {
    const line = Math.floor(pos.line);
    if (!(line >= 0)) return 0;
    if (line >= this.starts.length) return this.text.length;
    const start = this.starts[line];
    return start + clamp(Math.floor(pos.character), 0, this.contentEnd(line) - start);
  }

  /** Offset where the line's text ends, before its line break. */
  private contentEnd(line: number): number {
    if (line + 1 >= this.starts.length) return this.text.length;
    const next = this.starts[line + 1];
    return this.text.charCodeAt(next - 1) === 10 && this.text.charCodeAt(next - 2) === 13 ? next - 2 : next - 1;
  }
}

/** One-off conversion; build a `LineIndex` to convert more than once per text. */
export function offsetToLineColumn(text: string, offset: number): LinePosition {
  return new LineIndex(text).positionAt(offset);
}

/** One-off conversion; build a `LineIndex` to convert more than once per text. */
export function lineColumnToOffset(text: string, pos: LinePosition): number {
  return new LineIndex(text).offsetAt(pos);
}

// ---------------------------------------------------------------------------------------------
// Sentence splitting

export function splitSentences(text: string, options: SplitOptions = {}): SentenceSpan[] {
  const spans: SentenceSpan[] = [];
  if (text.length === 0) return spans;
  const requested = options.maxSentenceChars;
  const maxChars = requested !== undefined && requested >= 1 ? Math.floor(requested) : DEFAULT_MAX_SENTENCE_CHARS;
  const locale = options.locale ?? 'en';
  const language = options.languageId ?? 'plaintext';
  const excluded = excludedRanges(text, language);
  const forced = structuralBoundaries(text, language);
  const icu = icuBoundaries(segmenterFor(locale), textForIcu(text, forced, excluded), excluded);
  for (const r of excluded) forced.push(r.start, r.end);
  forced.sort((a, b) => a - b);
  const mergeAbbreviations = /^en(?:-|$)/i.test(locale);

  // Walk the union of ICU and forced boundaries; only ICU boundaries may be merged away.
  let fi = 0;
  let ii = 0;
  let xi = 0;
  let from = 0;
  while (from < text.length) {
    while (xi < excluded.length && excluded[xi].end <= from) xi++;
    if (xi < excluded.length && excluded[xi].start <= from) {
      from = excluded[xi].end;
      continue;
    }
    while (fi < forced.length && forced[fi] <= from) fi++;
    const nextForced = fi < forced.length ? forced[fi] : text.length;
    let to = from;
    do {
      while (ii < icu.length && icu[ii] <= to) ii++;
      to = Math.min(nextForced, ii < icu.length ? icu[ii] : text.length);
    } while (to < nextForced && mergeAbbreviations && endsWithAbbreviation(text, from, to));
    emit(text, from, to, maxChars, spans);
    from = to;
  }
  return spans;
}

const segmenters = new Map<string, Intl.Segmenter>();

function segmenterFor(locale: string): Intl.Segmenter {
  let segmenter = segmenters.get(locale);
  if (!segmenter) {
    try {
      segmenter = new Intl.Segmenter(locale, { granularity: 'sentence' });
    } catch {
      // A malformed locale tag from settings should degrade to English, not break scoring.
      segmenter = new Intl.Segmenter('en', { granularity: 'sentence' });
    }
    segmenters.set(locale, segmenter);
  }
  return segmenter;
}

/** Blank lines and, per language, lines that start (headings: and end) a sentence. Unsorted. */
function structuralBoundaries(text: string, language: string): number[] {
  const cuts: number[] = [];
  // "\r(?!\n)" keeps one CRLF from counting as two line breaks.
  for (const m of text.matchAll(/(?:\r\n|\r(?!\n)|\n)[^\S\r\n]*(?:\r\n|\r|\n)/g)) cuts.push(m.index);
  let lineStart: RegExp | undefined;
  if (language === 'markdown') {
    // Group 1 marks heading lines.
    lineStart = /^[ \t]*(?:(#{1,6})(?=[ \t]|$)|[-*+][ \t]|\d{1,9}[.)][ \t])/gm;
  } else if (language === 'latex' || language === 'tex') {
    lineStart = /^[ \t]*\\(?:(part|chapter|(?:sub){0,2}section|(?:sub)?paragraph|begin|end|caption|label)|item)\b/gm;
  }
  for (const m of lineStart ? text.matchAll(lineStart) : []) {
    cuts.push(m.index);
    if (m[1] !== undefined) cuts.push(lineEnd(text, m.index));
  }
  return cuts;
}

/**
 * The text ICU sees, offset for offset. ICU ends a sentence at every line break (UAX #29 SB4),
 * which would cut hard-wrapped prose mid-sentence, so line breaks become spaces; a "\n" is kept
 * (or, inside excluded regions, written) at each forced boundary so that ICU's look-ahead
 * ("etc. 123 lowercase" is one sentence) never reaches across it.
 */
function textForIcu(text: string, forced: number[], excluded: TextRange[]): string {
  // A UTF-16 buffer round-trips every code unit (lone surrogates included) and is far faster
  // than building the string from char codes in JS.
  const units = Buffer.from(text.replace(/[\r\n]/g, ' '), 'utf16le');
  for (const p of forced) {
    if (isLineBreak(text.charCodeAt(p))) units.writeUInt16LE(10, 2 * p);
    else if (isLineBreak(text.charCodeAt(p - 1))) units.writeUInt16LE(10, 2 * (p - 1));
  }
  for (const r of excluded) {
    units.writeUInt16LE(10, 2 * r.start);
    units.writeUInt16LE(10, 2 * (r.end - 1));
  }
  return units.toString('utf16le');
}

/**
 * Sentence boundaries from ICU, sorted. In Node 20's V8 every segment step costs time
 * proportional to the whole input (crbug.com/326176949: 1 MB took over a minute) and each
 * `segment()` call costs ~10 µs, so ICU reads the text once, in small windows that grow only
 * while they hold fewer than two boundaries; long excluded regions are jumped over.
 */
function icuBoundaries(segmenter: Intl.Segmenter, icuText: string, excluded: TextRange[]): number[] {
  const out: number[] = [];
  const length = icuText.length;
  let xi = 0;
  let a = 0;
  let w = MIN_WINDOW;
  while (a < length) {
    while (xi < excluded.length && excluded[xi].end <= a) xi++;
    // Short excluded regions are cheaper to read through than to restart after; the walk in
    // splitSentences drops the boundaries found inside them.
    if (xi < excluded.length && excluded[xi].start <= a && excluded[xi].end - a > MIN_WINDOW) {
      a = excluded[xi].end;
      continue;
    }
    let end = Math.min(length, a + w);
    if (end < length && isHighSurrogate(icuText.charCodeAt(end - 1))) end--;
    const inner: number[] = [];
    for (const { index } of segmenter.segment(icuText.slice(a, end))) if (index > 0) inner.push(a + index);
    if (end === length) {
      out.push(...inner);
      break;
    }
    // The last boundary of a truncated window may be an artefact of the cut (ICU looks past
    // "etc. 123" for a lowercase letter), so the next window starts before it.
    if (inner.length >= 2) {
      for (let i = 0; i < inner.length - 1; i++) out.push(inner[i]);
      a = inner[inner.length - 2];
      w = MIN_WINDOW;
    } else if (w < MAX_WINDOW) {
      w *= 2;
    } else {
      if (inner.length === 1) out.push(inner[0]);
      // A boundary-free run this long gets cut by `emit`; ICU resumes at its last word, which
      // keeps the context ("end.  Next") that the next boundary depends on.
      a = inner.length === 1 ? inner[0] : resumePoint(icuText, a, end);
      w = MIN_WINDOW;
    }
  }
  // ICU keeps format characters (a right-to-left mark opening the next sentence) with the
  // sentence before them, after its trailing spaces; they belong to the next one.
  for (let i = 0; i < out.length; i++) {
    let k = out[i];
    while (FORMAT_CHAR.test(icuText[k - 1] ?? '')) k--;
    if (k < out[i] && isWhitespace(icuText.charCodeAt(k - 1))) out[i] = k;
  }
  return out;
}

/** Start of the last word in (a, end), else the last code point before `end`. */
function resumePoint(text: string, a: number, end: number): number {
  let k = trimEnd(text, a, end);
  while (k > a && !isWhitespace(text.charCodeAt(k - 1))) k--;
  if (k > a) return k;
  k = end - 1;
  return isLowSurrogate(text.charCodeAt(k)) && isHighSurrogate(text.charCodeAt(k - 1)) ? k - 1 : k;
}

function endsWithAbbreviation(text: string, from: number, to: number): boolean {
  const e = trimEnd(text, from, to);
  return ENGLISH_ABBREVIATION.test(text.slice(Math.max(from, e - 12), e));
}

/** Trims [from, to) and pushes it, cut into pieces of at most maxChars. */
function emit(text: string, from: number, to: number, maxChars: number, spans: SentenceSpan[]): void {
  let s = skipWhitespace(text, from, to);
  const e = trimEnd(text, s, to);
  while (e - s > maxChars) {
    const cut = cutPoint(text, s, maxChars);
    const pieceEnd = trimEnd(text, s, cut);
    spans.push({ start: s, end: pieceEnd, text: text.slice(s, pieceEnd) });
    s = skipWhitespace(text, cut, e);
  }
  if (s < e) spans.push({ start: s, end: e, text: text.slice(s, e) });
}

/**
 * End of a piece that starts at non-whitespace `s` (with text.length > s + max): the last
 * whitespace in (s, s + max], else s + max moved off the middle of a surrogate pair (a piece
 * of one code point may thus exceed a max of 1).
 */
function cutPoint(text: string, s: number, max: number): number {
  for (let i = s + max; i > s; i--) if (isWhitespace(text.charCodeAt(i))) return i;
  let cut = s + max;
  if (isLowSurrogate(text.charCodeAt(cut)) && isHighSurrogate(text.charCodeAt(cut - 1))) cut--;
  return cut > s ? cut : s + 2;
}

// ---------------------------------------------------------------------------------------------
// Helpers





function skipWhitespace(text: string, from: number, to: number): number {
  while (from < to && isWhitespace(text.charCodeAt(from))) from++;
  return from;
}

function trimEnd(text: string, from: number, to: number): number {
  while (to > from && isWhitespace(text.charCodeAt(to - 1))) to--;
  return to;
}

const NON_ASCII_SPACE = /\s/;
const FORMAT_CHAR = /^\p{Cf}$/u;

function isWhitespace(code: number): boolean {
  return code < 128 ? code === 32 || (code >= 9 && code <= 13) : NON_ASCII_SPACE.test(String.fromCharCode(code));
}

const isLineBreak = (code: number): boolean => code === 10 || code === 13;
const isHighSurrogate = (code: number): boolean => code >= 0xd800 && code <= 0xdbff;
const isLowSurrogate = (code: number): boolean => code >= 0xdc00 && code <= 0xdfff;

function clamp(v: number, lo: number, hi: number): number {
  return v < lo || Number.isNaN(v) ? lo : v > hi ? hi : v;
}
