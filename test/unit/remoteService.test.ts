// The model process serves whichever backend is configured: the same requests answered by a
// server (through the protocol fixture) give the local engine's numbers, with the engine named.
import * as assert from 'node:assert/strict';
import { loadEngine } from '../../src/core/engine';
import type { Engine } from '../../src/core/engine';
import { ModelService } from '../../src/host/modelService';
import type { ModelSettings, ModelState } from '../../src/shared/hostProtocol';
import { ProtocolFixture } from '../support/serverFixture';
import type { FixtureApi } from '../support/serverFixture';
import { ensureTestModel } from '../support/testModel';

const TOLERANCE = 1e-4;
const TEXT = 'Alice was beginning to get very tired of sitting by her sister on the bank. She peeped into the book.';

describe('model process with a remote backend', function () {
  let folder: string;
  let engine: Engine;
  let local: ModelService;
  const logs: string[] = [];

  before(async () => {
    folder = await ensureTestModel({ layers: 2, dim: 64, heads: 4, seed: 1 });
    engine = await loadEngine({ model: folder, allowDownloads: false, threads: 1 });
    local = new ModelService(
      () => undefined,
      () => undefined,
    );
    await local.configure({ model: folder, dtype: 'fp32', allowDownloads: false, cacheDir: '', threads: 1 });
  });
  after(async () => {
    await local?.dispose();
    await engine?.dispose();
  });

  for (const api of ['openai', 'llama.cpp'] as FixtureApi[]) {
    it(`${api}: next token, sentence loss, score text and ghost text answer with the local numbers, and the state names the server`, async () => {
      const fixture = await ProtocolFixture.start({ api, engine, apiKey: 'sk-secret' });
      const states: ModelState[] = [];
      const service = new ModelService(
        (state) => states.push(state),
        (_level, message) => logs.push(message),
      );
      try {
        const settings: ModelSettings = { model: folder, dtype: 'fp32', allowDownloads: false, cacheDir: '', threads: 1, backend: api, serverUrl: fixture.url, serverModel: '', apiKey: 'sk-secret' };
        await service.configure(settings);
        const signal = new AbortController().signal;
        const [mine, theirs] = await Promise.all([local.nextToken({ text: TEXT, top: 5 }, signal), service.nextToken({ text: TEXT, top: 5 }, signal)]);
        assert.deepEqual(
          theirs.top.map((row) => row.id),
          mine.top.map((row) => row.id),
        );
        theirs.top.forEach((row, i) => assert.ok(Math.abs(row.prob - (mine.top[i]?.prob as number)) < TOLERANCE));
        assert.equal(theirs.engine, `test-gpt2 @ ${new URL(fixture.url).host}`);
        assert.ok(theirs.notes?.some((note) => /No entropy/.test(note)));
        assert.deepEqual(
          theirs.tail.map((chip) => chip.id),
          mine.tail.map((chip) => chip.id),
        );
        const ready = states.find((state) => state.state === 'ready');
        assert.ok(ready && ready.state === 'ready' && ready.engine?.kind === api && ready.engine.model === 'test-gpt2');

        const [mySentences, theirSentences] = await Promise.all([
          local.scoreSentences({ text: TEXT, languageId: 'plaintext', fromOffset: 0 }, signal),
          service.scoreSentences({ text: TEXT, languageId: 'plaintext', fromOffset: 0 }, signal),
        ]);
        theirSentences.sentences.forEach((sentence, i) => assert.ok(Math.abs(sentence.loss - (mySentences.sentences[i]?.loss as number)) < TOLERANCE));
        const [myScore, theirScore] = await Promise.all([local.scoreText({ text: 'Alice is a', bos: true }, signal), service.scoreText({ text: 'Alice is a', bos: true }, signal)]);
        assert.ok(Math.abs(theirScore.loss - myScore.loss) < TOLERANCE);
        assert.equal(theirScore.tokenCount, myScore.tokenCount);
        const [myCompletion, theirCompletion] = await Promise.all([
          local.complete({ text: 'Alice is a', maxNewTokens: 6, alternatives: 0 }, signal),
          service.complete({ text: 'Alice is a', maxNewTokens: 6, alternatives: 2, seed: 1 }, signal),
        ]);
        assert.equal(theirCompletion.greedy.text, myCompletion.greedy.text);
        assert.ok(theirCompletion.alternatives.every((alternative) => alternative.text !== theirCompletion.greedy.text));
        assert.ok(logs.every((line) => !line.includes('sk-secret')), 'the API key never reaches the log');
      } finally {
        await service.dispose();
        await fixture.close();
      }
    });
  }

  /** A model service of its own, reporting its states, beside a vLLM-style fixture on the test model. */
  async function withServer(body: (fixture: ProtocolFixture, service: ModelService, states: ModelState[]) => Promise<void>): Promise<void> {
    const fixture = await ProtocolFixture.start({ api: 'openai', engine });
    const states: ModelState[] = [];
    const service = new ModelService(
      (state) => states.push(state),
      () => undefined,
    );
    try {
      await body(fixture, service, states);
    } finally {
      await service.dispose();
      await fixture.close();
    }
  }

  it('a server that cannot be reached puts the state in error with one line, and a fixed setting recovers', () =>
    withServer(async (fixture, service, states) => {
      const base: ModelSettings = { model: folder, dtype: 'fp32', allowDownloads: false, cacheDir: '', threads: 1, backend: 'openai', serverUrl: 'http://127.0.0.1:1' };
      await service.configure(base);
      await assert.rejects(service.nextToken({ text: 'Alice', top: 3 }, new AbortController().signal), /Cannot reach the server/);
      const error = states.at(-1);
      assert.ok(error?.state === 'error' && error.code === 'server-unreachable' && !error.message.includes('\n'));
      await service.configure({ ...base, serverUrl: fixture.url });
      assert.equal((await service.nextToken({ text: 'Alice', top: 3 }, new AbortController().signal)).top.length, 3);
      await service.configure({ ...base, backend: 'local' });
      const back = await service.nextToken({ text: 'Alice', top: 3 }, new AbortController().signal);
      assert.equal(back.engine, undefined, 'switching back to local needs no reload');
      assert.ok(back.entropy !== null);
    }));

  it('an explicit load ("Retry") connects anew: a server that went down since is reported, one that came back answers', () =>
    withServer(async (fixture, service, states) => {
      await service.configure({ model: folder, dtype: 'fp32', allowDownloads: false, cacheDir: '', threads: 1, backend: 'openai', serverUrl: fixture.url });
      assert.equal(await service.load(true), null);
      assert.equal(states.at(-1)?.state, 'ready');
      const connects = fixture.paths().filter((path) => path === '/v1/models').length;
      await service.load(false);
      assert.equal(fixture.paths().filter((path) => path === '/v1/models').length, connects, 'an implicit load reuses the connection');
      fixture.fault = { mode: 'status503' };
      await assert.rejects(service.load(true), /not ready \(503/);
      const error = states.at(-1);
      assert.ok(error?.state === 'error' && error.code === 'server-error', JSON.stringify(error));
      fixture.fault = undefined;
      assert.equal(await service.load(true), null);
      assert.equal(states.at(-1)?.state, 'ready');
    }));
});
