// The real model process (dist/modelHost.js) behind the real client: cancellation, crashes,
// hangs, the restart policy, and latest-wins under a burst of keystrokes.
import * as assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { isCancelled, LmLensError } from '../../src/core/errors';
import { ModelClient } from '../../src/client/client';
import { FeatureChannel } from '../../src/extension/featureChannel';
import { PushWatchdog } from '../../src/extension/pushWatchdog';
import { completeRequest, didOpenNotification, documentStatusNotification, focusNotification, nextTokenRequest, scoreSentencesRequest, sentenceScoresNotification, statsRequest } from '../../src/shared/hostProtocol';
import type { ModelSettings } from '../../src/shared/hostProtocol';
import { ensureTestModel, repoRoot } from '../support/testModel';

const hostScript = path.join(repoRoot(), 'dist', 'modelHost.js');
const PROSE = 'Alice was beginning to get very tired of sitting by her sister on the bank. ';

function settingsFor(model: string): ModelSettings {
  return { model, dtype: 'fp32', allowDownloads: false, cacheDir: '', threads: 1 };
}

async function until(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('model process', function () {
  let model: string;
  const clients: ModelClient[] = [];

  function newClient(options: Partial<ConstructorParameters<typeof ModelClient>[0]> = {}): ModelClient {
    const client = new ModelClient({ hostScript, requestTimeoutMs: 60_000, idleShutdownMs: 2000, ...options });
    clients.push(client);
    return client;
  }

  before(async () => {
    assert.ok(existsSync(hostScript), 'dist/modelHost.js is missing: run `npm run build` first');
    model = await ensureTestModel({ layers: 2, dim: 64, heads: 4, seed: 1 });
  });
  afterEach(() => {
    for (const client of clients.splice(0)) client.dispose();
  });

  it('loads lazily and answers a next-token request', async () => {
    const client = newClient();
    const states: string[] = [];
    client.onState((state) => states.push(state.state));
    await client.configure(settingsFor(model));
    assert.equal(client.pid, undefined, 'no process before the first request');
    const result = await client.request(nextTokenRequest, { text: 'Alice', top: 5 });
    assert.equal(result.top.length, 5);
    assert.ok(states.includes('loading') && states.at(-1) === 'ready', states.join(' → '));
  });

  it('a cancelled request stops early and the next one is answered', async () => {
    const client = newClient();
    await client.configure(settingsFor(model));
    await client.request(nextTokenRequest, { text: 'warm up', top: 1 });
    const text = PROSE.repeat(400);
    const fullStarted = Date.now();
    await client.request(scoreSentencesRequest, { text, languageId: 'plaintext', fromOffset: 0 });
    const fullMs = Date.now() - fullStarted;

    const controller = new AbortController();
    const started = Date.now();
    const pending = client.request(scoreSentencesRequest, { text: text.replace('Alice', 'Alicia'), languageId: 'plaintext', fromOffset: 0 }, controller.signal);
    setTimeout(() => controller.abort(), 50);
    await assert.rejects(pending, (error: unknown) => isCancelled(error));
    const cancelledMs = Date.now() - started;
    assert.ok(cancelledMs < fullMs, `cancelled after ${cancelledMs} ms; a full run takes ${fullMs} ms`);
    const next = await client.request(nextTokenRequest, { text: 'Alice', top: 3 });
    assert.equal(next.top.length, 3);
  });

  it('kill -9 mid-request: the request fails fast, the process restarts, the next request succeeds', async () => {
    const client = newClient();
    await client.configure(settingsFor(model));
    await client.request(nextTokenRequest, { text: 'warm up', top: 1 });
    const firstPid = client.pid;
    const pending = client.request(scoreSentencesRequest, { text: PROSE.repeat(200), languageId: 'plaintext', fromOffset: 0 });
    setTimeout(() => client.kill('SIGKILL'), 100);
    await assert.rejects(pending, (error: unknown) => error instanceof LmLensError && error.code === 'model-process' && /stopped unexpectedly/.test(error.message));
    const next = await client.request(nextTokenRequest, { text: 'Alice', top: 3 });
    assert.equal(next.top.length, 3);
    assert.notEqual(client.pid, firstPid);
    assert.equal(client.startCount, 2);
  });

  it('a process that dies while loading fails the request and recovers on the next', async () => {
    const client = newClient();
    await client.configure(settingsFor(model));
    const pending = client.request(nextTokenRequest, { text: 'Alice', top: 3 });
    await until(() => client.pid !== undefined);
    client.kill('SIGKILL');
    await assert.rejects(pending, (error: unknown) => error instanceof LmLensError && error.code === 'model-process');
    assert.equal((await client.request(nextTokenRequest, { text: 'Alice', top: 3 })).top.length, 3);
  });

  it('a hung process is cancelled at the timeout and restarted', async () => {
    const client = newClient();
    await client.configure(settingsFor(model));
    await client.request(nextTokenRequest, { text: 'warm up', top: 1 });
    // A stopped process is as hung as one can be, and nothing in the product has to fake it.
    const pid = client.pid as number;
    process.kill(pid, 'SIGSTOP');
    try {
      await assert.rejects(client.request(nextTokenRequest, { text: 'Alice', top: 1 }, undefined, 1500), (error: unknown) => error instanceof LmLensError && /did not answer within/.test(error.message));
    } finally {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // Killed by the client, as it should be.
      }
    }
    assert.notEqual(client.pid, pid, 'detached from the hung process');
    assert.equal((await client.request(nextTokenRequest, { text: 'Alice', top: 2 })).top.length, 2);
  });

  it('a process that hangs while it scores a pushed document is found by the watchdog and restarted', async () => {
    const client = newClient();
    await client.configure(settingsFor(model));
    await client.request(nextTokenRequest, { text: 'warm up', top: 1 });
    const watchdog = new PushWatchdog(() => client.request(statsRequest, null, undefined, 1000), 300);
    const states: string[] = [];
    client.onNotification(documentStatusNotification, (status) => {
      states.push(status.state);
      watchdog.heard(status.state === 'scoring');
    });
    client.onNotification(sentenceScoresNotification, () => watchdog.heard(true));
    const pid = client.pid as number;
    const uri = 'untitled:Long';
    client.notify(didOpenNotification, { uri, languageId: 'plaintext', version: 1, opening: 1, text: PROSE.repeat(400) });
    client.notify(focusNotification, { visible: [uri] });
    await until(() => states.includes('scoring'));
    // Stopped in the middle of scoring: no request is outstanding, only the watchdog can tell.
    process.kill(pid, 'SIGSTOP');
    try {
      await until(() => client.pid !== pid, 10_000);
    } finally {
      watchdog.dispose();
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // Killed by the client, as it should be.
      }
    }
    assert.equal((await client.request(nextTokenRequest, { text: 'Alice', top: 2 })).top.length, 2);
  });

  it('the watchdog asks only while a document is being scored and nothing arrives', async () => {
    let asked = 0;
    const watchdog = new PushWatchdog(async () => {
      asked++;
    }, 50);
    try {
      watchdog.heard(false);
      await new Promise((resolve) => setTimeout(resolve, 150));
      assert.equal(asked, 0, 'nothing is being scored');
      for (let i = 0; i < 5; i++) {
        watchdog.heard(true);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(asked, 0, 'pushes keep arriving');
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.ok(asked >= 2, `a live process that stays quiet is asked again (${asked})`);
      watchdog.heard(false);
      const after = asked;
      await new Promise((resolve) => setTimeout(resolve, 150));
      assert.equal(asked, after, 'done: no more questions');
    } finally {
      watchdog.dispose();
    }
  });

  it('after 3 crashes in 3 minutes it stays down with a Restart action, and restart() recovers', async () => {
    const client = newClient();
    const downMessages: string[] = [];
    client.onDown((message) => downMessages.push(message));
    await client.configure(settingsFor(model));
    for (let crash = 0; crash < 3; crash++) {
      await client.request(nextTokenRequest, { text: 'Alice', top: 1 });
      const pid = client.pid;
      client.kill('SIGKILL');
      await until(() => client.pid !== pid);
    }
    await until(() => client.isDown);
    assert.equal(downMessages.length, 1);
    assert.match(downMessages[0] ?? '', /Restart model/);
    await assert.rejects(client.request(nextTokenRequest, { text: 'Alice', top: 1 }), /Restart model/);
    await client.restart();
    assert.equal((await client.request(nextTokenRequest, { text: 'Alice', top: 1 })).top.length, 1);
  });

  it('keystroke load on three features: one request in flight per feature, stale ones cancelled, bounded memory', async function () {
    const keystrokes = Number(process.env.LM_LENS_LOAD_KEYSTROKES ?? 2000);
    this.timeout(keystrokes * 400 + 60_000);
    const client = newClient({ execArgv: ['--expose-gc'] });
    await client.configure(settingsFor(model));
    await client.request(nextTokenRequest, { text: 'warm up', top: 1 });
    const channels = { panel: new FeatureChannel(), inline: new FeatureChannel(), loss: new FeatureChannel() };
    const rejections: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void rejections.push(reason);
    process.on('unhandledRejection', onUnhandled);
    let text = 'Alice';
    let before = 0;
    // Growth is measured after a warm-up that fills the bounded caches (prefix KV, distributions),
    // so what remains is what a leak would add.
    const warmUp = Math.min(200, Math.floor(keystrokes / 5));
    const settled: Array<Promise<unknown>> = [];
    const swallowCancel = (promise: Promise<unknown>): Promise<unknown> => promise.catch((error: unknown) => (isCancelled(error) ? undefined : Promise.reject(error)));
    try {
      for (let i = 0; i < keystrokes; i++) {
        if (i === warmUp) {
          await Promise.all(settled);
          before = (await client.request(statsRequest, null)).rssBytes;
        }
        // A writer types, and now and then deletes what they typed: the document stays a few sentences long.
        text = i % 150 === 149 ? 'Alice' : text + (i % 7 === 6 ? ' ' : 'abcdefghij'[i % 10]);
        const snapshot = text;
        settled.push(swallowCancel(channels.panel.run((signal) => client.request(nextTokenRequest, { text: snapshot, top: 10 }, signal))));
        settled.push(swallowCancel(channels.inline.run((signal) => client.request(completeRequest, { text: snapshot, maxNewTokens: 8, alternatives: 0 }, signal))));
        settled.push(swallowCancel(channels.loss.run((signal) => client.request(scoreSentencesRequest, { text: snapshot, languageId: 'plaintext', fromOffset: Math.max(0, snapshot.length - 40) }, signal))));
        // 20 keystrokes per second, and every tenth arrives with the next in the same tick (key repeat,
        // a fast typist): on a quiet machine the small model answers within 50 ms, so without these
        // nothing would be superseded in flight and the cancellation path would go untested.
        if (i % 10 !== 9) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await Promise.all(settled);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    const after = (await client.request(statsRequest, null)).rssBytes;
    for (const channel of Object.values(channels)) {
      assert.equal(channel.stats.maxInFlight, 1);
      assert.ok(channel.stats.cancelled > 0, 'stale requests were cancelled');
    }
    assert.deepEqual(rejections, []);
    assert.ok(after - before < 50 * 1024 * 1024, `model process grew by ${((after - before) / 1048576).toFixed(1)} MB`);
  });
});
