/**
 * The parts of a Markdown or LaTeX file that are not prose and are never scored: code fences,
 * front matter, comments, math, rules. Kept apart from the sentence splitter (sentences.ts),
 * which cuts sentences only between these regions.
 */
import type { TextRange } from '../shared/textRange';

/** Sorted, non-overlapping regions that are never scored and never part of a sentence. */
export function excludedRanges(text: string, languageId: string): TextRange[] {
  if (languageId === 'markdown') return normalize(markdownExclusions(text));
  if (languageId === 'latex' || languageId === 'tex') return normalize(latexExclusions(text));
  return [];
}

const FENCE_OPEN = /^[ \t]*(?:>[ \t]?)*(`{3,}|~{3,})(.*)$/;
const FENCE_CLOSE = /^[ \t]*(?:>[ \t]?)*(`{3,}|~{3,})[ \t]*$/;
const MD_RULE = /^[ \t]{0,3}(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,}|=+[ \t]*)$/;

/**
 * Fenced code (``` or ~~~; unterminated runs to the end), YAML front matter, HTML comments and
 * thematic-break / setext-underline lines. Indented code is deliberately not recognised.
 */
function markdownExclusions(text: string): TextRange[] {
  const out: TextRange[] = [];
  const { starts, ends } = lineSpans(text);
  const lineText = (i: number): string => text.slice(starts[i], ends[i]);
  let i = 0;
  // Front matter without its closing line is not front matter (its "---" is a thematic break).
  const close = /^\uFEFF?---[ \t]*$/.test(lineText(0)) ? starts.findIndex((_, k) => k > 0 && /^(?:---|\.\.\.)[ \t]*$/.test(lineText(k))) : -1;
  if (close > 0) {
    out.push({ start: 0, end: ends[close] });
    i = close + 1;
  }
  let fence: { start: number; ch: string; len: number } | undefined;
  let commentStart = -1;
  for (; i < starts.length; i++) {
    const line = lineText(i);
    if (fence) {
      const m = FENCE_CLOSE.exec(line);
      if (m && m[1][0] === fence.ch && m[1].length >= fence.len) {
        out.push({ start: fence.start, end: ends[i] });
        fence = undefined;
      }
      continue;
    }
    let from = 0;
    if (commentStart >= 0) {
      const close = line.indexOf('-->');
      if (close < 0) continue;
      out.push({ start: commentStart, end: starts[i] + close + 3 });
      from = close + 3;
    } else {
      const m = FENCE_OPEN.exec(line);
      // A backtick "fence" whose info string holds a backtick is inline code (CommonMark).
      if (m && !(m[1][0] === '`' && m[2].includes('`'))) {
        fence = { start: starts[i], ch: m[1][0], len: m[1].length };
        continue;
      }
      if (MD_RULE.test(line)) {
        out.push({ start: starts[i], end: ends[i] });
        continue;
      }
    }
    commentStart = scanInlineComments(line, from, starts[i], out);
  }
  if (fence) out.push({ start: fence.start, end: text.length });
  if (commentStart >= 0) out.push({ start: commentStart, end: text.length });
  return out;
}

/** Finds `<!-- -->` in one line, skipping code spans; returns where an unclosed one starts, or -1. */
function scanInlineComments(line: string, from: number, lineStart: number, out: TextRange[]): number {
  const re = /`+|<!--/g;
  re.lastIndex = from;
  for (let m = re.exec(line); m; m = re.exec(line)) {
    if (m[0][0] === '`') {
      const closing = new RegExp(`(?<!\`)${m[0]}(?!\`)`, 'g');
      closing.lastIndex = re.lastIndex;
      if (closing.exec(line)) re.lastIndex = closing.lastIndex;
      continue;
    }
    const close = line.indexOf('-->', m.index + 4);
    if (close < 0) return lineStart + m.index;
    out.push({ start: lineStart + m.index, end: lineStart + close + 3 });
    re.lastIndex = close + 3;
  }
  return -1;
}

const LATEX_SKIPPED_ENVS = new Set(
  ['equation', 'align', 'gather', 'multline', 'eqnarray', 'displaymath', 'flalign', 'alignat']
    .flatMap((name) => [name, `${name}*`])
    .concat(['verbatim', 'Verbatim', 'lstlisting', 'minted', 'comment']),
);

/** `%` comments to end of line, display math and verbatim-like environments, `$$…$$`, `\[…\]`. */
function latexExclusions(text: string): TextRange[] {
  const out: TextRange[] = [];
  const re = /%|\\begin\{([A-Za-z]+\*?)\}|\$\$|\\\[/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const at = m.index;
    // An odd run of backslashes before the match escapes it: "\%" is a percent sign and
    // "\\[2pt]" is a line break with spacing, not display math.
    let slashes = 0;
    while (text.charCodeAt(at - slashes - 1) === 92) slashes++;
    if (slashes % 2 === 1) continue;
    let end: number;
    if (m[0] === '%') end = lineEnd(text, at);
    else if (m[1] === undefined) end = closeAfter(text, m[0] === '$$' ? '$$' : '\\]', re.lastIndex);
    else if (LATEX_SKIPPED_ENVS.has(m[1])) end = closeAfter(text, `\\end{${m[1]}}`, re.lastIndex);
    else continue;
    out.push({ start: at, end });
    re.lastIndex = end;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Line helpers

function lineSpans(text: string): { starts: number[]; ends: number[] } {
  const starts = [0];
  const ends: number[] = [];
  for (const m of text.matchAll(/\r\n|\r|\n/g)) {
    ends.push(m.index);
    starts.push(m.index + m[0].length);
  }
  ends.push(text.length);
  return { starts, ends };
}

export function lineEnd(text: string, from: number): number {
  const re = /[\r\n]/g;
  re.lastIndex = from;
  return re.exec(text)?.index ?? text.length;
}

function closeAfter(text: string, closer: string, from: number): number {
  const at = text.indexOf(closer, from);
  return at < 0 ? text.length : at + closer.length;
}

function normalize(ranges: TextRange[]): TextRange[] {
  const out: TextRange[] = [];
  for (const r of ranges.filter((x) => x.end > x.start).sort((x, y) => x.start - y.start)) {
    const last = out[out.length - 1];
    if (last && r.start <= last.end) last.end = Math.max(last.end, r.end);
    else out.push({ start: r.start, end: r.end });
  }
  return out;
}
