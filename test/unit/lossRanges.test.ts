// Incremental bookkeeping (which sentence an edit touches, which results survive) and the mapping
// of response offsets to line/character ranges, all without VS Code or a model.
import * as assert from 'node:assert/strict';
import type { SentenceScore } from '../../src/core/sentenceLoss';
import { LineIndex, splitSentences } from '../../src/core/sentences';
import type { SentenceSpan, TextRange } from '../../src/core/sentences';
import { planDecorations, planRescore, sentenceIndexAt, toLineRanges, tokenAt, tokenRange } from '../../src/extension/lossRanges';
import type { LineRange } from '../../src/extension/lossRanges';
import { DocumentLossState } from '../../src/extension/lossState';

const PROSE = 'Alice was tired. She had nothing to do. Once she peeped into the book. It had no pictures. What is a book for? Alice wondered.';
const CRLF_PROSE = 'Alice was tired. She had nothing to do.\r\n\r\nOnce she peeped into the book.\r\nIt had no pictures.\r\n\r\nWhat is a book for? Alice wondered.';

/** A stand-in score whose loss identifies the sentence (index + 1) it was computed for. */
function fakeScore(span: SentenceSpan, loss: number): SentenceScore {
  return { start: span.start, end: span.end, text: span.text, loss, perplexity: Math.exp(loss), tokenCount: 1, tokens: [], leastLikely: [] };
}

interface Edit {
  at: number;
  remove?: number;
  insert?: string;
}

/** Scores `text` fully (fake), applies `edit` the way the adapter sees it, and plans the re-score. */
function rescoreAfter(text: string, edit: Edit, languageId = 'plaintext'): { spans: SentenceSpan[]; next: string; nextSpans: SentenceSpan[]; plan: ReturnType<DocumentLossState['plan']>; state: DocumentLossState } {
  const spans = splitSentences(text, { languageId });
  const state = new DocumentLossState(1);
  const first = state.plan(spans, 1);
  assert.ok(first && first.fromOffset === spans[0]?.start && first.keep === 0);
  assert.ok(state.apply(first, 1, spans.map((span, i) => fakeScore(span, i + 1))));
  const next = text.slice(0, edit.at) + (edit.insert ?? '') + text.slice(edit.at + (edit.remove ?? 0));
  state.noteChange(2, [edit.at]);
  const nextSpans = splitSentences(next, { languageId });
  return { spans, next, nextSpans, plan: state.plan(nextSpans, 2), state };
}

function assertFrom(result: ReturnType<typeof rescoreAfter>, sentence: number): void {
  assert.equal(result.plan?.keep, sentence, `keep ${sentence} sentences`);
  assert.equal(result.plan?.fromOffset, result.nextSpans[sentence]?.start, `re-score from sentence ${sentence}`);
  const kept = result.state.sentences.slice(0, sentence);
  assert.deepEqual(
    kept.map((s) => s.loss),
    Array.from({ length: sentence }, (_, i) => i + 1),
    'results before the edit are kept',
  );
  kept.forEach((s, i) => assert.deepEqual([s.start, s.end], [result.nextSpans[i]?.start, result.nextSpans[i]?.end], 'with their offsets'));
}

describe('first changed sentence after an edit', () => {
  const spans = splitSentences(PROSE);

  it('insert, delete and replace inside sentence k re-score from sentence k', () => {
    assert.equal(spans.length, 6);
    for (let k = 0; k < spans.length; k++) {
      const inside = (spans[k] as SentenceSpan).start + 3;
      assertFrom(rescoreAfter(PROSE, { at: inside, insert: 'very ' }), k);
      assertFrom(rescoreAfter(PROSE, { at: inside, remove: 2 }), k);
      assertFrom(rescoreAfter(PROSE, { at: inside, remove: 2, insert: 'XYZ' }), k);
    }
  });

  it('an edit at the first character of sentence k keeps sentence k − 1', () => {
    assertFrom(rescoreAfter(PROSE, { at: (spans[3] as SentenceSpan).start, insert: 'Sadly, ' }), 3);
  });

  it('typing right after the last character of a sentence re-scores that sentence', () => {
    assertFrom(rescoreAfter(PROSE, { at: (spans[2] as SentenceSpan).end, insert: '!' }), 2);
    // Deleting the space after it merges nothing here, but its last token may change: same rule.
    assertFrom(rescoreAfter(PROSE, { at: (spans[2] as SentenceSpan).end, remove: 1 }), 2);
  });

  it('an edit in the whitespace between sentences re-scores from the next one', () => {
    const crlf = splitSentences(CRLF_PROSE);
    // Inside the blank line between sentence 1 and 2 (after the first CRLF).
    const between = (crlf[1] as SentenceSpan).end + 2;
    const result = rescoreAfter(CRLF_PROSE, { at: between, insert: '\r\n' });
    assertFrom(result, 2);
    assert.equal(result.nextSpans[2]?.text, 'Once she peeped into the book.');
    assert.equal(result.plan?.fromOffset, (crlf[2] as SentenceSpan).start + 2);
  });

  it('removing a blank line that separated sentences re-scores from the merged sentence', () => {
    const text = 'First line without a stop\n\nsecond line without one either. Third.';
    const before = splitSentences(text);
    assert.equal(before.length, 3);
    const result = rescoreAfter(text, { at: (before[0] as SentenceSpan).end + 1, remove: 1 });
    assert.equal(result.nextSpans.length, 2);
    assertFrom(result, 0);
  });

  it('works on CRLF text', () => {
    const crlf = splitSentences(CRLF_PROSE);
    assert.equal(crlf.length, 6);
    for (let k = 0; k < crlf.length; k++) {
      assertFrom(rescoreAfter(CRLF_PROSE, { at: (crlf[k] as SentenceSpan).start + 4, remove: 1, insert: 'ee' }), k);
    }
  });

  it('re-scores from a sentence whose boundary moved because of text after the edit', () => {
    // "etc. Then" ends a sentence, "etc. then" does not: the merged sentence starts at 0.
    assertFrom(rescoreAfter('I like apples etc. Then I ate.', { at: 19, remove: 1, insert: 't' }), 0);
    // Synthetic spans: held sentence 1 was 6–10, the new split says 6–12, though both end before the edit.
    const previous: TextRange[] = [
      { start: 0, end: 5 },
      { start: 6, end: 10 },
      { start: 11, end: 15 },
    ];
    const next: TextRange[] = [
      { start: 0, end: 5 },
      { start: 6, end: 12 },
      { start: 13, end: 20 },
    ];
    assert.deepEqual(planRescore(next, previous, 14), { keep: 1, fromOffset: 6 });
  });

  it('deleting the last sentence leaves nothing to score', () => {
    const last = spans[5] as SentenceSpan;
    const result = rescoreAfter(PROSE, { at: last.start, remove: last.end - last.start });
    assert.equal(result.plan?.keep, 5);
    assert.equal(result.plan?.fromOffset, undefined);
    // With the space before it, the sentence before is touched at its end, so it is redone.
    const withSpace = rescoreAfter(PROSE, { at: (spans[4] as SentenceSpan).end, remove: PROSE.length - (spans[4] as SentenceSpan).end });
    assertFrom(withSpace, 4);
  });

  it('takes the earliest of several changes (multi-cursor, or edits within one debounce)', () => {
    const state = new DocumentLossState(1);
    state.apply(state.plan(spans, 1) as NonNullable<ReturnType<DocumentLossState['plan']>>, 1, spans.map((span, i) => fakeScore(span, i)));
    state.noteChange(2, [(spans[4] as SentenceSpan).start + 1]);
    state.noteChange(3, [(spans[1] as SentenceSpan).start + 1, (spans[5] as SentenceSpan).start]);
    assert.equal(state.sentences.length, 1);
    assert.equal(state.plan(spans, 3)?.fromOffset, (spans[1] as SentenceSpan).start);
  });
});

describe('document loss state', () => {
  const spans = splitSentences(PROSE);

  it('never applies an answer computed for another version', () => {
    const state = new DocumentLossState(5);
    const plan = state.plan(spans, 5);
    assert.ok(plan);
    state.noteChange(6, [0]);
    assert.equal(state.apply(plan, 6, []), false);
    assert.equal(state.apply(plan, 5, []), false, 'the state moved on too');
    assert.equal(state.complete, false);
    assert.ok(state.needsScoring(6));
  });

  it('drops answers from before an invalidation (another model)', () => {
    const state = new DocumentLossState(1);
    const plan = state.plan(spans, 1);
    assert.ok(plan);
    state.invalidate(1);
    assert.equal(state.apply(plan, 1, spans.map((span) => fakeScore(span, 1))), false);
    const again = state.plan(spans, 1);
    assert.ok(again && state.apply(again, 1, spans.map((span) => fakeScore(span, 2))));
    assert.ok(state.complete);
    assert.equal(state.plan(spans, 1), undefined, 'nothing to do once complete');
    assert.equal(state.sentenceAt((spans[2] as SentenceSpan).start + 1)?.start, (spans[2] as SentenceSpan).start);
    assert.equal(state.sentenceAt((spans[2] as SentenceSpan).end), undefined, 'the space between sentences is no sentence');
  });

  it('does not retry a failed version until the text changes', () => {
    const state = new DocumentLossState(1);
    state.failedVersion = 1;
    assert.equal(state.needsScoring(1), false);
    state.noteChange(2, [3]);
    assert.equal(state.needsScoring(2), true);
  });
});

/** The text a line/character range covers, cut from the lines the way an editor shows them. */
function textOfLineRange(text: string, range: LineRange): string {
  const lines = text.split(/\r\n|\r|\n/);
  const breaks = [...text.matchAll(/\r\n|\r|\n/g)].map((m) => m[0]);
  if (range.start.line === range.end.line) return (lines[range.start.line] as string).slice(range.start.character, range.end.character);
  let out = (lines[range.start.line] as string).slice(range.start.character) + breaks[range.start.line];
  for (let line = range.start.line + 1; line < range.end.line; line++) out += (lines[line] as string) + breaks[line];
  return out + (lines[range.end.line] as string).slice(0, range.end.character);
}

describe('response offsets to editor ranges', () => {
  const MIXED = '😀 Emoji first. 漢字です。日本語の文。Cafe\u0301 is open.\r\nZe\u0301ro sum 👩‍👩‍👧 family.\rOld Mac line. Wrapped\r\nsentence across a CRLF.';

  it('maps every sentence exactly on CRLF, lone CR, emoji, CJK and combining text', () => {
    const spans = splitSentences(MIXED);
    const plan = planDecorations(MIXED, spans.map((span, i) => fakeScore(span, i)), { mode: 'sentence', thresholds: [1, 2, 3, 4], annotations: false });
    const ranges = toLineRanges(new LineIndex(MIXED), plan.groups.flat());
    assert.equal(ranges.length, spans.length);
    const sorted = plan.groups.flat().sort((a, b) => a.start - b.start);
    const mapped = toLineRanges(new LineIndex(MIXED), sorted);
    sorted.forEach((range, i) => assert.equal(textOfLineRange(MIXED, mapped[i] as LineRange), MIXED.slice(range.start, range.end)));
    // Spot checks in UTF-16 code units, as VS Code counts characters.
    const cafe = spans.find((span) => span.text.startsWith('Cafe'));
    assert.deepEqual(toLineRanges(new LineIndex(MIXED), [cafe as SentenceSpan])[0], { start: { line: 0, character: 27 }, end: { line: 0, character: 41 } });
    const zero = spans.find((span) => span.text.startsWith('Ze'));
    assert.deepEqual(toLineRanges(new LineIndex(MIXED), [zero as SentenceSpan])[0]?.start, { line: 1, character: 0 });
    const wrapped = spans.find((span) => span.text.startsWith('Wrapped'));
    assert.deepEqual(toLineRanges(new LineIndex(MIXED), [wrapped as SentenceSpan])[0], { start: { line: 2, character: 14 }, end: { line: 3, character: 23 } });
  });

  it('groups sentences by band and skips those without a loss', () => {
    const spans = splitSentences(PROSE);
    const losses = [0.5, 3, 4.5, 7.49, 9, Number.NaN];
    const plan = planDecorations(PROSE, spans.map((span, i) => fakeScore(span, losses[i] as number)), { mode: 'sentence', thresholds: [3, 4.5, 6, 7.5], annotations: false });
    assert.deepEqual(plan.bands, [0, 1, 2, 3, 4, undefined]);
    assert.deepEqual(
      plan.groups.map((group) => group.map((range) => range.start)),
      [[spans[0]?.start], [spans[1]?.start], [spans[2]?.start], [spans[3]?.start], [spans[4]?.start]],
    );
  });

  it('annotates each line at its end (before the line break) with the sentences ending there', () => {
    const text = 'One two. Three four.\r\nFive six\r\nseven.';
    const spans = splitSentences(text);
    const plan = planDecorations(text, spans.map((span, i) => fakeScore(span, i + 1)), { mode: 'sentence', thresholds: [3, 4.5, 6, 7.5], annotations: true });
    assert.deepEqual(plan.annotations, [
      { offset: 20, text: 'loss 1.000 · 2.000' },
      { offset: text.length, text: 'loss 3.000' },
    ]);
  });

  it('in token mode paints each token without its leading space, bucketed by rank', () => {
    const text = 'Hello big world';
    const tokens = [
      { start: 0, end: 5, id: 1, text: 'Hello', logprob: -1, prob: 0.3, rank: 3 },
      { start: 5, end: 9, id: 2, text: ' big', logprob: -5, prob: 0.01, rank: 250 },
      { start: 9, end: 15, id: 3, text: ' world', logprob: -9, prob: 1e-4, rank: 5000 },
    ];
    const sentence: SentenceScore = { start: 0, end: 15, text, loss: 5, perplexity: Math.exp(5), tokenCount: 3, tokens, leastLikely: [] };
    const plan = planDecorations(text, [sentence], { mode: 'token', thresholds: [3, 4.5, 6, 7.5], annotations: false });
    assert.deepEqual(plan.groups, [[{ start: 0, end: 5 }], [], [{ start: 6, end: 9 }], [{ start: 10, end: 15 }]]);
    assert.equal(tokenAt(text, tokens, 5), undefined, 'the space before a token is not the token');
    assert.equal(tokenAt(text, tokens, 6)?.id, 2);
    assert.equal(tokenRange(' \n', { start: 0, end: 2 }), undefined);
  });

  it('finds the sentence holding an offset', () => {
    const spans = splitSentences(PROSE);
    assert.equal(sentenceIndexAt(spans, 0), 0);
    assert.equal(sentenceIndexAt(spans, (spans[3] as SentenceSpan).end - 1), 3);
    assert.equal(sentenceIndexAt(spans, (spans[3] as SentenceSpan).end), -1);
    assert.equal(sentenceIndexAt([], 3), -1);
  });
});
