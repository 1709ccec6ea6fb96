// Ghost text from a vLLM-style server and from llama-server is streamed: the tokens arrive as
// the server generates them, the completion equals the local engine's, a stop rule or a cancellation closes the
// stream (the fixture sees the connection close), and a server that does not stream still works.
import * as assert from 'node:assert/strict';
import { completeGreedy } from '../../src/core/completion';
import { loadEngine } from '../../src/core/engine';
import type { Engine } from '../../src/core/engine';
import { promptIds } from '../../src/core/nextToken';
import { createRemoteBackend } from '../../src/core/remote';
import type { BackendGeneratedToken } from '../../src/core/backend';
import type { GreedyResult } from '../../src/core/remote/remoteBackend';
import { ProtocolFixture } from '../support/serverFixture';
import { ensureTestModel } from '../support/testModel';

const PROMPT = 'Alice was beginning to get very';

/** The protected primitive `complete` uses, with a stop rule of the test's choosing (the test model never ends a sentence). */
type Greedy = (ids: number[], maxNewTokens: number, signal?: AbortSignal, stop?: (tokens: BackendGeneratedToken[]) => boolean) => Promise<GreedyResult>;

for (const api of ['openai', 'llama.cpp'] as const) describe(`remote ghost text, streamed (${api})`, function () {
  const completionPath = api === 'openai' ? '/v1/completions' : '/completion';
  let engine: Engine;
  const fixtures: ProtocolFixture[] = [];

  before(async () => {
    engine = await loadEngine({ model: await ensureTestModel({ layers: 2, dim: 64, heads: 4, seed: 1 }), allowDownloads: false, threads: 1 });
  });
  after(async () => {
    for (const fixture of fixtures) await fixture.close();
    await engine?.dispose();
  });

  async function serve(streams = true): Promise<{ fixture: ProtocolFixture; backend: ReturnType<typeof createRemoteBackend> }> {
    const fixture = await ProtocolFixture.start({ api, engine, streams });
    fixtures.push(fixture);
    return { fixture, backend: createRemoteBackend(api, { url: fixture.url }) };
  }

  it('streams the local engine’s greedy completion, token by token', async () => {
    const { fixture, backend } = await serve();
    // Five tokens: the test model repeats " America" a third time after them, which the stop rules would end early.
    const local = await completeGreedy(engine, promptIds(engine, PROMPT), { maxNewTokens: 5 });
    assert.equal(local.stopReason, 'length', 'no stop rule may fire within these tokens');
    const remote = await backend.complete(await backend.promptIds(PROMPT), { maxNewTokens: 5 });
    assert.equal(remote.text, local.text);
    assert.deepEqual(
      remote.tokens.map((token) => token.id),
      local.tokens.map((token) => token.id),
    );
    remote.tokens.forEach((token, i) => assert.ok(Math.abs(token.prob - (local.tokens[i]?.prob ?? Number.NaN)) < 1e-4, `token ${i}`));
    const request = fixture.requests.filter((entry) => entry.path === completionPath).at(-1);
    assert.equal(request?.body.stream, true);
    assert.equal(fixture.streamedEvents, local.tokens.length + 1, 'one event per token and one with the finish reason (llama-server: stop: true)');
    assert.equal(fixture.closedEarly, 0);
  });

  it('closes the stream once the stop rule holds: the server stops generating there', async () => {
    const { fixture, backend } = await serve();
    const greedy = (backend as unknown as { greedy: Greedy }).greedy.bind(backend);
    const closed = fixture.nextEarlyClose();
    const result = await greedy(await backend.promptIds(PROMPT), 16, undefined, (tokens) => tokens.length >= 3);
    assert.equal(result.tokens.length, 3);
    await closed;
    assert.ok(fixture.streamedEvents < 17, `${fixture.streamedEvents} events sent of 17`);
  });

  it('cancellation mid-stream: the caller gets "cancelled" and the fixture sees the connection close', async () => {
    const { fixture, backend } = await serve();
    const prompt = await backend.promptIds(PROMPT);
    const controller = new AbortController();
    const closed = fixture.nextEarlyClose();
    const running = backend.complete(prompt, { maxNewTokens: 16, signal: controller.signal });
    while (fixture.streamedEvents === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    controller.abort();
    await assert.rejects(running, (error: Error & { code?: string }) => error.code === 'cancelled');
    await closed;
    assert.ok(fixture.streamedEvents < 17, `${fixture.streamedEvents} events sent of 17`);
  });

  it('a server that answers `stream: true` with the whole JSON still gives the same completion', async () => {
    const { fixture, backend } = await serve(false);
    const local = await completeGreedy(engine, promptIds(engine, PROMPT), { maxNewTokens: 12 });
    const remote = await backend.complete(await backend.promptIds(PROMPT), { maxNewTokens: 12 });
    assert.equal(remote.text, local.text);
    assert.equal(fixture.streamedEvents, 0);
  });
});
