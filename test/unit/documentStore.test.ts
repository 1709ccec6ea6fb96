// The model process's document store on the real core and a tiny model: the text it holds after
// a series of edits is the editor's, an edit re-scores only from the sentence it touched and the
// result equals a score from scratch, stale versions are never pushed, and closing frees it all.
import * as assert from 'node:assert/strict';
import { loadEngine } from '../../src/core/engine';
import type { Engine } from '../../src/core/engine';
import { scoreSentences } from '../../src/core/sentenceLoss';
import type { SentenceScoreOptions } from '../../src/core/sentenceLoss';
import { splitSentences } from '../../src/core/sentences';
import { LossResults } from '../../src/extension/lossResults';
import { DocumentStore } from '../../src/host/documentStore';
import type { DocumentStatusParams, SentenceScoresParams, TextChange } from '../../src/shared/hostProtocol';
import { ensureTestModel } from '../support/testModel';

const TOLERANCE = 1e-4;
const URI = 'untitled:alice.txt';
// Long sentences first, so the part after the edit is clearly the smaller share of the tokens.
const DOCUMENT =
  'Alice was beginning to get very tired of sitting by her sister on the bank, and of having nothing to do. ' +
  'Once or twice she had peeped into the book her sister was reading, but it had no pictures or conversations in it. ' +
  'So she was considering in her own mind, as well as she could, whether the pleasure of making a daisy-chain would be worth the trouble. ' +
  'Suddenly a White Rabbit ran close by her. ' +
  'There was nothing so very remarkable in that. ' +
  'Alice did not think it so very much out of the way.';

/** What an editor does to its own copy: the reference the store's text is compared with. */
function edit(text: string, change: TextChange): string {
  return text.slice(0, change.rangeOffset) + change.text + text.slice(change.rangeOffset + change.rangeLength);
}

describe('document store in the model process', function () {
  let engine: Engine;
  let store: DocumentStore;
  let pushes: SentenceScoresParams[];
  let statuses: DocumentStatusParams[];
  /** The window's mirror of the pushes, as the extension keeps it. */
  let mirror: LossResults;

  before(async function () {
    engine = await loadEngine({ model: await ensureTestModel({ layers: 2, dim: 64, heads: 4 }), allowDownloads: false, threads: 1 });
  });
  after(async () => engine?.dispose());

  beforeEach(() => {
    pushes = [];
    statuses = [];
    mirror = new LossResults();
    const score = (text: string, options: SentenceScoreOptions): ReturnType<typeof scoreSentences> => scoreSentences(engine, text, options);
    store = new DocumentStore(score, {
      scores: (push) => {
        pushes.push(push);
        mirror.applyScores(push);
      },
      status: (status) => {
        statuses.push(status);
        mirror.applyStatus(status);
      },
    }, { debounceMs: 5 });
  });
  afterEach(() => store.dispose());

  async function scratch(text: string): Promise<ReturnType<typeof scoreSentences>> {
    engine.cache.clear();
    return scoreSentences(engine, text, { languageId: 'plaintext' });
  }

  it('holds the editor\'s text after a series of edits, and re-scores to what a fresh score gives', async () => {
    store.open({ uri: URI, languageId: 'plaintext', version: 1, opening: 1, text: DOCUMENT });
    store.focus([URI]);
    await store.idle();
    assert.equal(mirror.current(URI, 1)?.sentences.length, 6);

    let text = DOCUMENT;
    const edits: TextChange[] = [
      { rangeOffset: DOCUMENT.indexOf('White'), rangeLength: 'White'.length, text: 'Grey' },
      { rangeOffset: 0, rangeLength: 0, text: 'Young ' },
      { rangeOffset: DOCUMENT.length + 1, rangeLength: 0, text: ' The end.' },
    ];
    let version = 1;
    for (const change of edits) {
      text = edit(text, change);
      store.change({ uri: URI, version: ++version, changes: [change] });
      assert.equal(store.get(URI)?.text, text);
    }
    await store.idle();
    assert.equal(pushes.at(-1)?.version, version);
    assert.ok(pushes.every((push, i) => i === 0 || push.version >= (pushes[i - 1] as SentenceScoresParams).version), 'versions only move forward');
    const held = mirror.current(URI, version);
    assert.ok(held && mirror.settled(URI, version));
    const fresh = await scratch(text);
    assert.deepEqual(held.sentences.map((s) => [s.start, s.end]), fresh.sentences.map((s) => [s.start, s.end]));
    held.sentences.forEach((s, i) => assert.ok(Math.abs(s.loss - (fresh.sentences[i]?.loss ?? Number.NaN)) < TOLERANCE, `sentence ${i}: ${s.loss}`));
  });

  it('re-scores only from the edited sentence, and the kept ones are not sent again', async () => {
    store.open({ uri: URI, languageId: 'plaintext', version: 1, opening: 1, text: DOCUMENT });
    store.focus([URI]);
    await store.idle();
    const change = { rangeOffset: DOCUMENT.indexOf('White'), rangeLength: 'White'.length, text: 'Grey' };
    const edited = edit(DOCUMENT, change);
    store.change({ uri: URI, version: 2, changes: [change] });
    await store.idle();
    const push = pushes.at(-1);
    assert.ok(push && push.version === 2);
    assert.equal(push.keep, 3, 'sentences 1–3 end before the edit');
    assert.deepEqual(push.sentences.map((s) => s.text), splitSentences(edited).slice(3).map((s) => s.text));
    const fresh = await scratch(edited);
    const tailTokens = fresh.sentences.slice(3).reduce((sum, s) => sum + s.tokenCount, 0);
    assert.ok((push.computedTokens ?? Infinity) <= tailTokens + 2, `computed ${push.computedTokens}, tail has ${tailTokens} tokens`);
    const tokens = push.sentences.flatMap((s) => s.tokens);
    assert.ok(tokens.every((t) => (t.rank ?? 0) >= 1 && t.prob <= t.topProb + 1e-12 && (t.entropy ?? -1) >= 0), 'per-token rank, top-1 probability and entropy for the report');
  });

  it('never pushes a version that was edited while it was scored', async () => {
    store.open({ uri: URI, languageId: 'plaintext', version: 1, opening: 1, text: DOCUMENT });
    store.focus([URI]);
    await new Promise<void>((resolve) => setImmediate(resolve));
    assert.equal(statuses.at(-1)?.state, 'scoring');
    store.change({ uri: URI, version: 2, changes: [{ rangeOffset: 0, rangeLength: 5, text: 'Alicia' }] });
    await store.idle();
    assert.deepEqual(pushes.map((push) => push.version), [2]);
    assert.equal(mirror.current(URI, 1), undefined);
  });

  it('names the opening in every push: a document closed and reopened mid-score gets only its new opening\'s', async () => {
    store.open({ uri: URI, languageId: 'plaintext', version: 1, opening: 1, text: DOCUMENT });
    store.focus([URI]);
    await new Promise<void>((resolve) => setImmediate(resolve));
    assert.equal(statuses.at(-1)?.state, 'scoring');
    store.close(URI);
    store.open({ uri: URI, languageId: 'plaintext', version: 1, opening: 2, text: 'A new life. Same name.' });
    await store.idle();
    assert.ok(statuses.length > 1 && pushes.length > 0);
    const afterReopen = statuses.slice(1);
    assert.deepEqual([...new Set(afterReopen.map((status) => status.opening))], [2], 'statuses after the reopen');
    assert.deepEqual([...new Set(pushes.map((push) => push.opening))], [2], 'the first opening\'s scoring pushed nothing');
    assert.deepEqual(pushes.flatMap((push) => push.sentences.map((sentence) => sentence.text)), ['A new life.', 'Same name.']);
  });

  it('scores only documents on screen, the first one first', async () => {
    store.open({ uri: 'untitled:a', languageId: 'plaintext', version: 1, opening: 1, text: 'One sentence here. Another one.' });
    store.open({ uri: 'untitled:b', languageId: 'plaintext', version: 1, opening: 1, text: 'A second document. With two sentences.' });
    await store.idle();
    assert.equal(pushes.length, 0, 'nothing on screen, nothing scored');
    store.focus(['untitled:b', 'untitled:a']);
    await store.idle();
    assert.deepEqual(pushes.map((push) => push.uri), ['untitled:b', 'untitled:a']);
  });

  it('frees a closed document: no text, no scores, no pending work', async () => {
    store.open({ uri: URI, languageId: 'plaintext', version: 1, opening: 1, text: DOCUMENT });
    store.focus([URI]);
    await store.idle();
    store.change({ uri: URI, version: 2, changes: [{ rangeOffset: 0, rangeLength: 0, text: 'So. ' }] });
    store.close(URI);
    assert.deepEqual(store.stats(), { open: 0, uris: [] });
    assert.equal(store.get(URI), undefined);
    const count = pushes.length;
    await store.idle();
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(pushes.length, count, 'the pending re-score was dropped');
  });

  it('says once per version that a document is too long to score', async () => {
    store.open({ uri: URI, languageId: 'plaintext', version: 1, opening: 1, text: 'word '.repeat(400_001) });
    store.focus([URI]);
    await store.idle();
    const failed = statuses.filter((status) => status.state === 'failed');
    assert.equal(failed.length, 1);
    assert.match(failed[0]?.message ?? '', /characters; LM Lens scores up to 2000000/);
    store.focus([URI]);
    await store.idle();
    assert.equal(statuses.filter((status) => status.state === 'failed').length, 1, 'not retried for the same version');
  });

  it('drops every result when another model is configured, and says the window must clear them', async () => {
    store.open({ uri: URI, languageId: 'plaintext', version: 1, opening: 1, text: 'Short text. Two sentences.' });
    store.focus([URI]);
    await store.idle();
    store.modelState({ state: 'idle' });
    assert.equal(mirror.current(URI, 1)?.sentences.length, 0);
    assert.equal(mirror.settled(URI, 1), false);
    store.modelState({ state: 'ready', info: engine.model.info });
    await store.idle();
    assert.ok(mirror.settled(URI, 1));
    assert.equal(mirror.current(URI, 1)?.sentences.length, 2);
  });

  describe('a document longer than the model window', function () {
    let small: Engine;
    before(async function () {
      small = await loadEngine({ model: await ensureTestModel({ layers: 3, dim: 48, heads: 3, contextSize: 64, seed: 2 }), allowDownloads: false, threads: 1 });
    });
    after(async () => small?.dispose());

    it('pushes finished sentences while it scores, and together they equal one score of the whole text', async () => {
      const progressive = new DocumentStore((text, options) => scoreSentences(small, text, options), {
        scores: (push) => {
          pushes.push(push);
          mirror.applyScores(push);
        },
        status: (status) => mirror.applyStatus(status),
      }, { debounceMs: 5, progressPushMs: 0 });
      try {
        const text = Array.from({ length: 4 }, () => DOCUMENT).join('\n\n');
        progressive.open({ uri: URI, languageId: 'plaintext', version: 1, opening: 1, text });
        progressive.focus([URI]);
        await progressive.idle();
        assert.ok(pushes.length >= 3, `${pushes.length} pushes for ${text.length} characters on a 64-token window`);
        let held = 0;
        for (const push of pushes) {
          assert.equal(push.keep, held, 'each push continues where the one before ended');
          held += push.sentences.length;
        }
        small.cache.clear();
        const whole = await scoreSentences(small, text, { languageId: 'plaintext' });
        const mirrored = mirror.current(URI, 1)?.sentences ?? [];
        assert.ok(mirror.settled(URI, 1));
        assert.deepEqual(mirrored.map((s) => [s.start, s.end, s.tokenCount]), whole.sentences.map((s) => [s.start, s.end, s.tokenCount]));
        mirrored.forEach((s, i) => assert.ok(Math.abs(s.loss - (whole.sentences[i]?.loss ?? Number.NaN)) < TOLERANCE, `sentence ${i}`));
      } finally {
        progressive.dispose();
      }
    });
  });
});
