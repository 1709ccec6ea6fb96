// An edit in sentence k re-scores sentences ≥ k only, and what it re-scores equals a score from
// scratch: the extension's bookkeeping (DocumentLossState) driving the real core on a tiny model.
import * as assert from 'node:assert/strict';
import { loadEngine } from '../../src/core/engine';
import type { Engine } from '../../src/core/engine';
import { scoreSentences } from '../../src/core/sentenceLoss';
import { splitSentences } from '../../src/core/sentences';
import { DocumentLossState } from '../../src/extension/lossState';
import { ensureTestModel } from '../support/testModel';

const TOLERANCE = 1e-4;
// Long sentences first, so the part after the edit is clearly the smaller share of the tokens.
const DOCUMENT =
  'Alice was beginning to get very tired of sitting by her sister on the bank, and of having nothing to do. ' +
  'Once or twice she had peeped into the book her sister was reading, but it had no pictures or conversations in it. ' +
  'So she was considering in her own mind, as well as she could, whether the pleasure of making a daisy-chain would be worth the trouble. ' +
  'Suddenly a White Rabbit ran close by her. ' +
  'There was nothing so very remarkable in that. ' +
  'Alice did not think it so very much out of the way.';

describe('incremental sentence loss on the real core', function () {
  let engine: Engine;

  before(async function () {
    engine = await loadEngine({ model: await ensureTestModel({ layers: 2, dim: 64, heads: 4 }), allowDownloads: false, threads: 1 });
  });
  after(async () => engine?.dispose());

  it('re-scores only from the edited sentence, with the same losses as a full score', async () => {
    const spans = splitSentences(DOCUMENT, { languageId: 'plaintext' });
    assert.equal(spans.length, 6);
    const state = new DocumentLossState(1);
    const firstPlan = state.plan(spans, 1);
    assert.ok(firstPlan?.fromOffset !== undefined);
    const first = await scoreSentences(engine, DOCUMENT, { languageId: 'plaintext', fromOffset: firstPlan.fromOffset });
    assert.equal(first.sentences.length, 6);
    assert.ok(state.apply(firstPlan, 1, first.sentences));

    // Edit sentence 4 ("Suddenly a White Rabbit…"): replace "White" with "Grey".
    const at = DOCUMENT.indexOf('White');
    const edited = `${DOCUMENT.slice(0, at)}Grey${DOCUMENT.slice(at + 'White'.length)}`;
    state.noteChange(2, [at]);
    const editedSpans = splitSentences(edited, { languageId: 'plaintext' });
    const plan = state.plan(editedSpans, 2);
    assert.ok(plan);
    assert.equal(plan.keep, 3);
    assert.equal(plan.fromOffset, editedSpans[3]?.start);

    const partial = await scoreSentences(engine, edited, { languageId: 'plaintext', fromOffset: plan.fromOffset });
    assert.deepEqual(
      partial.sentences.map((s) => s.text),
      editedSpans.slice(3).map((s) => s.text),
      'exactly sentences 4..6 come back',
    );
    assert.ok(state.apply(plan, 2, partial.sentences));

    engine.cache.clear();
    const full = await scoreSentences(engine, edited, { languageId: 'plaintext' });
    assert.equal(full.sentences.length, 6);
    state.sentences.forEach((held, i) => {
      const fresh = full.sentences[i];
      assert.ok(fresh);
      assert.deepEqual([held.start, held.end], [fresh.start, fresh.end]);
      assert.ok(Math.abs(held.loss - fresh.loss) < TOLERANCE, `sentence ${i + 1}: ${held.loss} vs ${fresh.loss}`);
    });

    // The prefix cache served everything before the edit: only the tail was computed.
    const tailTokens = full.sentences.slice(3).reduce((sum, s) => sum + s.tokenCount, 0);
    assert.ok(partial.computedTokens <= tailTokens + 2, `computed ${partial.computedTokens}, tail has ${tailTokens} tokens`);
    assert.ok(partial.computedTokens < full.tokenCount / 3, `computed ${partial.computedTokens} of ${full.tokenCount} tokens`);
  });
});
