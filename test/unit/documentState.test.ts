// The model process's bookkeeping of an open document, without a model: edits applied to its
// text, which sentence an edit touches, which results survive, which answers may be applied.
import * as assert from 'node:assert/strict';
import type { SentenceScore } from '../../src/core/sentenceLoss';
import { splitSentences } from '../../src/core/sentences';
import type { SentenceSpan, TextRange } from '../../src/core/sentences';
import { DocumentState, applyChanges, planRescore } from '../../src/host/documentState';

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

const open = (text: string, languageId = 'plaintext', version = 1): DocumentState => new DocumentState({ uri: 'untitled:doc', languageId, version, opening: 1, text });

/** A complete fake score of the document's current text (loss = index + 1 unless given). */
function scoreAll(state: DocumentState, loss: (i: number) => number = (i) => i + 1): void {
  const plan = state.plan();
  assert.ok(plan && plan.keep === 0 && plan.fromOffset === plan.spans[0]?.start);
  assert.ok(state.apply(plan, plan.spans.map((span, i) => fakeScore(span, loss(i)))));
}

/** Scores `text` fully (fake), applies `edit` as the editor sends it, and plans the re-score. */
function rescoreAfter(text: string, edit: Edit, languageId = 'plaintext'): { spans: SentenceSpan[]; next: string; nextSpans: readonly SentenceSpan[]; plan: ReturnType<DocumentState['plan']>; state: DocumentState } {
  const spans = splitSentences(text, { languageId });
  const state = open(text, languageId);
  scoreAll(state);
  const next = text.slice(0, edit.at) + (edit.insert ?? '') + text.slice(edit.at + (edit.remove ?? 0));
  assert.ok(state.change(2, [{ rangeOffset: edit.at, rangeLength: edit.remove ?? 0, text: edit.insert ?? '' }]));
  assert.equal(state.text, next, 'the model process holds the editor\'s text');
  return { spans, next, nextSpans: state.spans(), plan: state.plan(), state };
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
    const state = open(PROSE);
    scoreAll(state);
    const at = (k: number, delta = 0): number => (spans[k] as SentenceSpan).start + delta;
    state.change(2, [{ rangeOffset: at(4, 1), rangeLength: 1, text: 'X' }]);
    // Bottom-up, as VS Code sends a multi-cursor edit: each offset is valid in the text left by the ones before.
    state.change(3, [
      { rangeOffset: at(5), rangeLength: 0, text: 'Then ' },
      { rangeOffset: at(1, 1), rangeLength: 1, text: 'H' },
    ]);
    assert.equal(state.text, applyChanges(applyChanges(PROSE, [{ rangeOffset: at(4, 1), rangeLength: 1, text: 'X' }]).text, [{ rangeOffset: at(5), rangeLength: 0, text: 'Then ' }, { rangeOffset: at(1, 1), rangeLength: 1, text: 'H' }]).text);
    assert.ok(state.text.includes('SHe had') && state.text.includes('Then Alice wondered') && state.text.includes('WXat'));
    assert.equal(state.sentences.length, 1);
    assert.equal(state.plan()?.fromOffset, (spans[1] as SentenceSpan).start);
  });
});

describe('document state in the model process', () => {
  const spans = splitSentences(PROSE);

  it('never applies an answer computed for another version', () => {
    const state = open(PROSE, 'plaintext', 5);
    const plan = state.plan();
    assert.ok(plan);
    state.change(6, [{ rangeOffset: 0, rangeLength: 0, text: 'So ' }]);
    assert.equal(state.apply(plan, []), false);
    assert.equal(state.complete, false);
    assert.ok(state.needsScoring);
  });

  it('ignores a change that is not newer than the text it holds', () => {
    const state = open(PROSE, 'plaintext', 3);
    assert.equal(state.change(3, [{ rangeOffset: 0, rangeLength: 5, text: '' }]), false);
    assert.equal(state.text, PROSE);
  });

  it('clamps edits outside the text instead of corrupting it', () => {
    assert.deepEqual(applyChanges('abc', [{ rangeOffset: 10, rangeLength: 4, text: '!' }]), { text: 'abc!', from: 3 });
    assert.deepEqual(applyChanges('abc', [{ rangeOffset: -2, rangeLength: 1, text: 'x' }]), { text: 'xbc', from: 0 });
  });

  it('drops answers from before an invalidation (another model)', () => {
    const state = open(PROSE);
    const plan = state.plan();
    assert.ok(plan);
    state.invalidate();
    assert.equal(state.apply(plan, spans.map((span) => fakeScore(span, 1))), false);
    scoreAll(state, () => 2);
    assert.ok(state.complete);
    assert.equal(state.plan(), undefined, 'nothing to do once complete');
  });

  it('does not retry a failed version until the text changes', () => {
    const state = open(PROSE);
    state.failedVersion = 1;
    assert.equal(state.needsScoring, false);
    state.change(2, [{ rangeOffset: 3, rangeLength: 0, text: 'x' }]);
    assert.equal(state.needsScoring, true);
  });

  it('splits each version once', () => {
    const state = open(PROSE);
    assert.equal(state.spans(), state.spans());
    state.change(2, [{ rangeOffset: 0, rangeLength: 0, text: 'Yes. ' }]);
    assert.equal(state.spans().length, spans.length + 1);
  });
});

