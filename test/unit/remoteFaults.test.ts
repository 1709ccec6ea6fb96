// What a remote engine does wrong, and what LM Lens says: one actionable line per fault,
// cancellation that reaches the wire, retries only where sending twice is harmless.
import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import type { Backend } from '../../src/core/backend';
import { degradations } from '../../src/core/backend';
import { loadEngine } from '../../src/core/engine';
import type { Engine } from '../../src/core/engine';
import { LmLensError, isCancelled } from '../../src/core/errors';
import { createRemoteBackend } from '../../src/core/remote';
import type { RemoteOptions } from '../../src/core/remote';
import { ProtocolFixture } from '../support/serverFixture';
import type { FixtureApi, FixtureOptions } from '../support/serverFixture';
import { ensureTestModel } from '../support/testModel';

async function failure(promise: Promise<unknown>): Promise<LmLensError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof LmLensError, `an LmLensError, got ${String(error)}`);
    assert.ok(!error.message.includes('\n'), `one line: ${error.message}`);
    return error;
  }
  assert.fail('expected a failure');
}

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('remote backends: faults', function () {
  let engine: Engine;
  const fixtures: ProtocolFixture[] = [];
  const start = async (api: FixtureApi, options: Omit<FixtureOptions, 'engine' | 'api'> = {}): Promise<ProtocolFixture> => {
    const fixture = await ProtocolFixture.start({ api, engine, ...options });
    fixtures.push(fixture);
    return fixture;
  };
  /** Requests to the generation endpoint (tokenizing requests around them do not count). */
  const completions = (fixture: ProtocolFixture): number => fixture.paths().filter((path) => /completion/.test(path)).length;
  const backend = (api: FixtureApi, fixture: ProtocolFixture, options: Partial<RemoteOptions> = {}): Backend => createRemoteBackend(api, { url: fixture.url, retryDelayMs: 5, ...options });

  before(async () => {
    engine = await loadEngine({ model: await ensureTestModel({ layers: 2, dim: 64, heads: 4, seed: 1 }), allowDownloads: false, threads: 1 });
  });
  after(async () => {
    await Promise.all(fixtures.map((fixture) => fixture.close()));
    await engine?.dispose();
  });

  for (const api of ['openai', 'llama.cpp'] as const) {
    describe(api, () => {
      it('a server that is down: "Cannot reach", naming the URL and the setting', async () => {
        const port = await closedPort();
        const error = await failure(createRemoteBackend(api, { url: `http://127.0.0.1:${port}`, retryDelayMs: 5 }).nextToken('Alice'));
        assert.equal(error.code, 'server-unreachable');
        assert.match(error.message, new RegExp(`Cannot reach the server at http://127\\.0\\.0\\.1:${port} \\(connection refused\\).*lmLens\\.server\\.url`));
      });

      it('a server that does not answer in time: timeout error, and the request is closed on the wire', async () => {
        const fixture = await start(api);
        const remote = backend(api, fixture, { timeoutMs: 300, retries: 0 });
        await remote.ready();
        fixture.fault = { mode: 'hang', path: /completion/ };
        const closed = fixture.nextEarlyClose();
        const error = await failure(remote.nextToken('Alice is a'));
        assert.equal(error.code, 'server-timeout');
        assert.match(error.message, /did not answer \/\S+ within 0\.3 s: it may be busy or loading/);
        await closed;
        assert.ok(fixture.closedEarly >= 1);
      });

      it('cancellation mid-request: the fixture sees the socket close, the caller gets "cancelled"', async () => {
        const fixture = await start(api);
        const remote = backend(api, fixture);
        await remote.ready();
        fixture.fault = { mode: 'hang', path: /completion/ };
        const controller = new AbortController();
        const pending = remote.nextToken('Alice is a', { signal: controller.signal });
        const closed = fixture.nextEarlyClose();
        while (!fixture.paths().some((path) => /completion/.test(path))) await new Promise((resolve) => setTimeout(resolve, 5));
        controller.abort();
        await assert.rejects(pending, (error: unknown) => isCancelled(error));
        await closed;
        assert.equal(fixture.closedEarly, 1);
      });

      it('a wrong or missing API key (401): says how to set the key', async () => {
        const fixture = await start(api, { apiKey: 'sk-right' });
        const error = await failure(backend(api, fixture, { apiKey: 'sk-wrong' }).nextToken('Alice'));
        assert.equal(error.code, 'server-auth');
        assert.match(error.message, /refused the request \(401.*\): set its API key with the command "LM Lens: Set server API key"/);
        const right = backend(api, fixture, { apiKey: 'sk-right' });
        assert.equal((await right.nextToken('Alice', { top: 3 })).top.length, 3);
        assert.equal(fixture.requests.at(-1)?.authorization, 'Bearer sk-right');
      });

      it('a server error (500): one line with the server’s own message, not retried', async () => {
        const fixture = await start(api);
        const remote = backend(api, fixture);
        await remote.ready();
        fixture.fault = { mode: 'status500', path: /completion/ };
        const before = completions(fixture);
        const error = await failure(remote.nextToken('Alice'));
        assert.equal(error.code, 'server-error');
        assert.match(error.message, /failed on \/v?1?\/?completions? \(500: CUDA error: an illegal memory access was encountered\)/);
        assert.equal(completions(fixture) - before, 1);
      });

      it('an overloaded server (503) is retried a bounded number of times, then reported; unseeded sampling is not retried', async () => {
        const fixture = await start(api);
        const remote = backend(api, fixture, { retries: 2 });
        await remote.ready();
        fixture.fault = { mode: 'status503', path: /completion/ };
        let before = completions(fixture);
        const error = await failure(remote.nextToken('Alice'));
        assert.equal(error.code, 'server-error');
        assert.match(error.message, /not ready \(503: Loading model\)/);
        assert.equal(completions(fixture) - before, 3, 'one try and two retries');
        before = completions(fixture);
        await failure(remote.sample([44484], { n: 1, maxNewTokens: 2 }));
        assert.equal(completions(fixture) - before, 1, 'a sample without a seed is never sent twice');
        fixture.fault = { mode: 'status503', path: /completion/, times: 1 };
        assert.equal((await remote.nextToken('Alice', { top: 2 })).top.length, 2, 'a passing overload recovers by itself');
      });

      it('an answer that is not JSON (a proxy’s web page): says so, with what it began with', async () => {
        const fixture = await start(api);
        const remote = backend(api, fixture);
        await remote.ready();
        fixture.fault = { mode: 'html' };
        const error = await failure(remote.nextToken('Alice'));
        assert.equal(error.code, 'server-response');
        assert.match(error.message, /with something that is not JSON \("<!DOCTYPE html><html><body>Sign in to continue/);
      });

      it('a connection dropped mid-answer and JSON cut short: "truncated", retried for idempotent calls', async () => {
        const fixture = await start(api);
        const remote = backend(api, fixture, { retries: 1 });
        await remote.ready();
        fixture.fault = { mode: 'truncated', path: /completion/ };
        let before = completions(fixture);
        let error = await failure(remote.nextToken('Alice'));
        assert.equal(error.code, 'server-response');
        assert.match(error.message, /closed the connection in the middle of its answer .*truncated/);
        assert.equal(completions(fixture) - before, 2);
        fixture.fault = { mode: 'cut-json', path: /completion/ };
        before = completions(fixture);
        error = await failure(remote.nextToken('Alice'));
        assert.match(error.message, /incomplete answer .*truncated JSON/);
        assert.equal(completions(fixture) - before, 2);
      });

      it('the wrong kind of server: names the missing endpoint and the setting to check', async () => {
        const other = await start(api === 'openai' ? 'llama.cpp' : 'openai');
        const error = await failure(backend(api, other).nextToken('Alice'));
        assert.ok(['server-endpoint', 'server-response'].includes(error.code), error.message);
        assert.match(error.message, /lmLens\.backend/);
      });

    });
  }

  it('openai: a model the server does not serve (404) names the ones it does', async () => {
    const fixture = await start('openai');
    let error = await failure(backend('openai', fixture, { model: 'llama-70b' }).ready());
    assert.equal(error.code, 'server-model');
    assert.match(error.message, /does not serve "llama-70b" \(it serves "test-gpt2"\): set lmLens\.server\.model/);
    const remote = backend('openai', fixture);
    await remote.ready();
    (fixture.options as { model?: string }).model = 'renamed';
    error = await failure(remote.nextToken('Alice'));
    assert.equal(error.code, 'server-model');
    assert.match(error.message, /\(404: The model `test-gpt2` does not exist\.\): set lmLens\.server\.model/);
  });

  it('openai: a --max-logprobs cap smaller than the panel’s rows is learnt from the refusal and said in one line', async () => {
    const fixture = await start('openai', { maxLogprobs: 5 });
    const remote = backend('openai', fixture);
    const result = await remote.nextToken('Alice is a', { top: 10 });
    assert.equal(result.top.length, 5);
    assert.equal(remote.capabilities.maxTopK, 5);
    const refused = fixture.requests.filter((request) => request.path === '/v1/completions').map((request) => request.body.logprobs);
    assert.deepEqual(refused, [10, 5], 'asked for 10, refused, asked again within the cap');
    assert.deepEqual(degradations(remote.capabilities, { rows: 10 }), ['The server returns at most 5 alternatives per token (asked for 10).']);
    // Told the cap up front, it never asks for more.
    const told = backend('openai', fixture, { maxLogprobs: 5 });
    const before = completions(fixture);
    assert.equal((await told.nextToken('Alice is a', { top: 10 })).top.length, 5);
    assert.ok(fixture.requests.filter((request) => request.path === '/v1/completions').slice(before).every((request) => request.path !== '/v1/completions' || request.body.logprobs === 5));
  });

  it('openai: sampled probabilities are null (not guessed) when top-k exceeds the cap', async () => {
    const fixture = await start('openai', { maxLogprobs: 5 });
    const remote = backend('openai', fixture, { maxLogprobs: 5 });
    const [sequence] = await remote.sample([44484, 318, 257], { n: 1, maxNewTokens: 3, seed: 1, topK: 50 });
    assert.ok(sequence);
    assert.equal(sequence.sampledProb, null);
    assert.equal(sequence.share, null);
    assert.ok(sequence.tokens.every((token) => token.prob > 0 && token.sampledProb === null));
  });

  it('a URL that is not http(s) is refused before anything is sent', () => {
    assert.throws(
      () => createRemoteBackend('openai', { url: 'localhost:8000' }),
      (error: unknown) => error instanceof LmLensError && /is not an http\(s\) URL: set lmLens\.server\.url/.test(error.message),
    );
  });
});
