// Pushed scores → what the editor draws, as offsets, without VS Code or a model.
import * as assert from 'node:assert/strict';
import type { SentenceScore } from '../../src/core/sentenceLoss';
import { LineIndex, splitSentences } from '../../src/core/sentences';
import type { SentenceSpan } from '../../src/core/sentences';
import { planDecorations, tokenAt, tokenRange } from '../../src/extension/lossRanges';
import type { LineLookup } from '../../src/extension/lossRanges';
import { sentenceIndexAt } from '../../src/shared/textRange';

const PROSE = 'Alice was tired. She had nothing to do. Once she peeped into the book. It had no pictures. What is a book for? Alice wondered.';

function fakeScore(span: SentenceSpan, loss: number): SentenceScore {
  return { start: span.start, end: span.end, text: span.text, loss, perplexity: Math.exp(loss), tokenCount: 1, tokens: [], leastLikely: [] };
}

/** Lines as VS Code counts them (the test's stand-in for TextDocument.positionAt/lineAt). */
function lines(text: string): LineLookup {
  const index = new LineIndex(text);
  return { lineAt: (offset) => index.positionAt(offset).line, lineEnd: (line) => index.offsetAt({ line, character: Number.MAX_SAFE_INTEGER }) };
}

describe('decorations from pushed scores', () => {
  it('groups sentences by band and skips those without a loss', () => {
    const spans = splitSentences(PROSE);
    const losses = [0.5, 3, 4.5, 7.49, 9, Number.NaN];
    const plan = planDecorations(PROSE, spans.map((span, i) => fakeScore(span, losses[i] as number)), { mode: 'sentence', thresholds: [3, 4.5, 6, 7.5], });
    assert.deepEqual(plan.bands, [0, 1, 2, 3, 4, undefined]);
    assert.deepEqual(
      plan.groups.map((group) => group.map((range) => range.start)),
      [[spans[0]?.start], [spans[1]?.start], [spans[2]?.start], [spans[3]?.start], [spans[4]?.start]],
    );
  });

  it('annotates each line at its end (before the line break) with the sentences ending there', () => {
    const text = 'One two. Three four.\r\nFive six\r\nseven.';
    const spans = splitSentences(text);
    const plan = planDecorations(text, spans.map((span, i) => fakeScore(span, i + 1)), { mode: 'sentence', thresholds: [3, 4.5, 6, 7.5], lines: lines(text) });
    assert.deepEqual(plan.annotations, [
      { offset: 20, text: 'loss 1.000 · 2.000' },
      { offset: text.length, text: 'loss 3.000' },
    ]);
  });

  it('in token mode paints each token without its leading space, bucketed by rank', () => {
    const text = 'Hello big world';
    const tokens = [
      { start: 0, end: 5, id: 1, text: 'Hello', logprob: -1, prob: 0.3, rank: 3, entropy: 2, topProb: 0.4, topLogprob: -1, top10Entropy: 2 },
      { start: 5, end: 9, id: 2, text: ' big', logprob: -5, prob: 0.01, rank: 250, entropy: 4, topProb: 0.2, topLogprob: -1, top10Entropy: 2 },
      { start: 9, end: 15, id: 3, text: ' world', logprob: -9, prob: 1e-4, rank: 5000, entropy: 6, topProb: 0.1, topLogprob: -1, top10Entropy: 2 },
    ];
    const sentence: SentenceScore = { start: 0, end: 15, text, loss: 5, perplexity: Math.exp(5), tokenCount: 3, tokens, leastLikely: [] };
    const plan = planDecorations(text, [sentence], { mode: 'token', thresholds: [3, 4.5, 6, 7.5], });
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
