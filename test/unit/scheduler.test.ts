// The model's one queue: interactive steps before background ones, windows taking turns within
// a class, a step cancelled while queued leaving at once, and the prefix cache's policy (the
// context the person types in survives background scoring).
import * as assert from 'node:assert/strict';
import { Tensor } from '@huggingface/transformers';
import { isCancelled } from '../../src/core/errors';
import type { KvState } from '../../src/core/model';
import { PrefixCache } from '../../src/core/prefixCache';
import { KvBuffer } from '../../src/core/local/ownedKv';
import { BACKGROUND_CHUNK, PREFILL_CHUNK, loadEngine } from '../../src/core/engine';
import { ensureTestModel } from '../support/testModel';
import { MAX_INTERACTIVE_STREAK, Scheduler, currentWork, withWork } from '../../src/core/scheduler';
import type { WorkTag } from '../../src/core/scheduler';

/** A step that finishes when the test says so, recording when it started. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('scheduler', () => {
  it('an interactive step overtakes every queued background step, and runs right after the one running', async () => {
    const scheduler = new Scheduler();
    const order: string[] = [];
    const first = gate();
    const background: WorkTag = { class: 'background', owner: 'B' };
    const running = scheduler.run(async () => {
      order.push('bg0');
      await first.promise;
    }, undefined, background);
    const queued = [1, 2, 3].map((i) => scheduler.run(async () => void order.push(`bg${i}`), undefined, background));
    while (!order.includes('bg0')) await tick();
    const keystroke = scheduler.run(async () => void order.push('key'), undefined, { class: 'interactive', owner: 'A' });
    assert.deepEqual(scheduler.stats().queued, { interactive: 1, background: 3 });
    first.open();
    await Promise.all([running, keystroke, ...queued]);
    assert.deepEqual(order, ['bg0', 'key', 'bg1', 'bg2', 'bg3']);
  });

  it('a request read from the socket during a background step runs before the next background step', async () => {
    const scheduler = new Scheduler();
    const order: string[] = [];
    const background: WorkTag = { class: 'background', owner: 'B' };
    // As vscode-jsonrpc delivers a request: the socket is read on a later turn of the event loop, the message dispatched from a setImmediate.
    const arrive = (): void => {
      setImmediate(() => setImmediate(() => void scheduler.run(async () => void order.push('key'), undefined, { class: 'interactive', owner: 'A' })));
    };
    // A scoring loop: each step is asked for as soon as the previous one finished (a microtask later).
    for (let i = 0; i < 3; i++) {
      await scheduler.run(
        async () => {
          order.push(`bg${i}`);
          if (i === 0) arrive();
        },
        undefined,
        background,
      );
    }
    while (!order.includes('key')) await tick();
    assert.deepEqual(order, ['bg0', 'key', 'bg1', 'bg2']);
  });

  it('of a backlog of keystrokes read at once, only the newest runs a step: the scheduler waits until none is still arriving', async () => {
    const scheduler = new Scheduler();
    const order: string[] = [];
    const typing: WorkTag = { class: 'interactive', owner: 'A' };
    let previous: AbortController | undefined;
    const settled: Array<Promise<unknown>> = [];
    // As the model process sees keystrokes typed faster than a step: dispatched one per turn of the event loop, each superseding the last.
    const backlog = (count: number, i = 0): void => {
      if (i === count) return;
      setImmediate(() => {
        withWork(typing, () => {
          previous?.abort();
          previous = new AbortController();
          settled.push(scheduler.run(async () => void order.push(`key${i}`), previous.signal).catch(() => undefined));
        });
        backlog(count, i + 1);
      });
    };
    for (let i = 0; i < 2; i++) {
      await scheduler.run(
        async () => {
          order.push(`bg${i}`);
          if (i === 0) backlog(5);
        },
        undefined,
        { class: 'background', owner: 'B' },
      );
    }
    await Promise.all(settled);
    assert.deepEqual(order, ['bg0', 'key4', 'bg1']);
  });

  it('typing that never pauses does not starve background work: one background step after every few interactive ones', async () => {
    const scheduler = new Scheduler();
    const order: string[] = [];
    const hold = gate();
    const blocker = scheduler.run(() => hold.promise, undefined, { class: 'interactive', owner: 'A' });
    const background = [0, 1].map((i) => scheduler.run(async () => void order.push(`bg${i}`), undefined, { class: 'background', owner: 'B' }));
    // Each keystroke's step arrives while the previous one runs: interactive work is always waiting.
    const typing: Array<Promise<void>> = [];
    const key = (i: number): Promise<void> =>
      scheduler.run(
        async () => {
          order.push(`k${i}`);
          if (i < 2 * MAX_INTERACTIVE_STREAK + 2) typing.push(key(i + 1));
        },
        undefined,
        { class: 'interactive', owner: 'A' },
      );
    typing.push(key(0));
    hold.open();
    await Promise.all([blocker, ...background]);
    while (typing.length < 2 * MAX_INTERACTIVE_STREAK + 3) await tick();
    await Promise.all(typing);
    // The blocker is the first interactive step of the streak (it starts once background work waits).
    assert.deepEqual(order.slice(0, MAX_INTERACTIVE_STREAK), [...Array.from({ length: MAX_INTERACTIVE_STREAK - 1 }, (_, i) => `k${i}`), 'bg0']);
    assert.equal(order.indexOf('bg1') - order.indexOf('bg0'), MAX_INTERACTIVE_STREAK + 1, order.join(' '));
  });

  it('windows take turns within a class: two windows queuing many steps interleave, and so do two scoring loops', async () => {
    const scheduler = new Scheduler();
    const order: string[] = [];
    const hold = gate();
    const blocker = scheduler.run(() => hold.promise, undefined, { class: 'interactive', owner: 'X' });
    const steps = ['A', 'A', 'A', 'B', 'B', 'B'].map((owner, i) => scheduler.run(async () => void order.push(`${owner}${i}`), undefined, { class: 'background', owner }));
    hold.open();
    await Promise.all([blocker, ...steps]);
    assert.deepEqual(order, ['A0', 'B3', 'A1', 'B4', 'A2', 'B5']);

    // Scoring awaits each step before asking for the next, as forEachLogitChunk does.
    const loopOrder: string[] = [];
    const loop = async (owner: string, count: number): Promise<void> => {
      for (let i = 0; i < count; i++) await scheduler.run(async () => void loopOrder.push(owner), undefined, { class: 'background', owner });
    };
    await Promise.all([loop('A', 4), loop('B', 4)]);
    const switches = loopOrder.slice(1).filter((owner, i) => owner !== loopOrder[i]).length;
    assert.ok(switches >= 6, `the windows alternate: ${loopOrder.join('')}`);
  });

  it('a step cancelled while queued rejects at once and never runs; the queue goes on', async () => {
    const scheduler = new Scheduler();
    const hold = gate();
    const ran: string[] = [];
    const blocker = scheduler.run(() => hold.promise);
    const controller = new AbortController();
    const cancelled = scheduler.run(async () => void ran.push('cancelled'), controller.signal, { class: 'background', owner: 'B' });
    const kept = scheduler.run(async () => void ran.push('kept'), undefined, { class: 'background', owner: 'B' });
    controller.abort();
    // Rejected while the blocker still runs: time spent queued ends with the cancellation.
    await assert.rejects(cancelled, (error: unknown) => isCancelled(error));
    assert.equal(scheduler.stats().queued.background, 1);
    hold.open();
    await Promise.all([blocker, kept]);
    assert.deepEqual(ran, ['kept']);
  });

  it('progress is counted per finished step, whoever it was for (a queued request sees the model working)', async () => {
    const scheduler = new Scheduler();
    const before = scheduler.stats();
    const hold = gate();
    const other = scheduler.run(() => hold.promise, undefined, { class: 'background', owner: 'B' });
    const mine = scheduler.run(async () => 'mine', undefined, { class: 'background', owner: 'A' });
    await tick();
    assert.equal(scheduler.stats().steps, before.steps, 'no step finished yet');
    hold.open();
    await other;
    const afterOther = scheduler.stats();
    assert.equal(afterOther.steps, before.steps + 1);
    assert.ok(afterOther.lastProgressAt >= before.lastProgressAt);
    assert.equal(await mine, 'mine');
  });

  it('a tag holds through every await of the work it was given to; untagged work is interactive', async () => {
    assert.equal(currentWork().class, 'interactive');
    const seen = await withWork({ class: 'background', owner: 'w7' }, async () => {
      await tick();
      await new Promise((resolve) => setTimeout(resolve, 1));
      return currentWork();
    });
    assert.deepEqual(seen, { class: 'background', owner: 'w7' });
    assert.equal(currentWork().class, 'interactive');
  });
});

/** A state of the first `length` slots of an engine-owned buffer (forks of one context share it). */
function ownedKvOf(buffer: KvBuffer, length: number): KvState {
  return { batch: 1, length, tensors: {}, owned: { buffer, ranges: [[0, length]] } };
}

/** A KV state of `length` positions taking `bytes` bytes (export-path tensors: one buffer each). */
function kvOf(length: number, bytes: number): KvState {
  return { batch: 1, length, tensors: { k: new Tensor('float32', new Float32Array(bytes / 4), [1, 1, 1, bytes / 4]) } };
}

describe('prefix cache policy', () => {
  const ids = (first: number, length: number): number[] => Array.from({ length }, (_, i) => first + i);
  const MB = 1024 * 1024;

  it('background scoring never evicts the context the next keystroke extends; it evicts its own older entries or is not kept', () => {
    const cache = new PrefixCache(200 * MB, 8);
    const typing = ids(0, 100);
    cache.put(typing, kvOf(100, 80 * MB), undefined, 'interactive');
    cache.put(ids(1000, 100), kvOf(100, 80 * MB), undefined, 'background');
    // A second document's scoring: room only if the first scoring's entry goes.
    cache.put(ids(2000, 100), kvOf(100, 80 * MB), undefined, 'background');
    assert.equal(cache.longestPrefix([...typing, 7])?.length, 100, 'the typing context survived');
    assert.equal(cache.longestPrefix(ids(1000, 100)), undefined, 'the older scoring entry made room');
    assert.equal(cache.longestPrefix(ids(2000, 100))?.length, 100);
    // Bigger than what the typing context leaves: not kept at all, and the typing context stays.
    cache.put(ids(3000, 100), kvOf(100, 150 * MB), undefined, 'background');
    assert.equal(cache.longestPrefix(ids(3000, 100)), undefined);
    assert.equal(cache.longestPrefix(typing)?.length, 100);
  });

  it('typing first drops its own older contexts, and only then the scoring context', () => {
    const cache = new PrefixCache(200 * MB, 8);
    const scoring = ids(1000, 100);
    cache.put(scoring, kvOf(100, 60 * MB), undefined, 'background');
    cache.put(ids(0, 100), kvOf(100, 60 * MB), undefined, 'interactive');
    cache.put(ids(5000, 100), kvOf(100, 60 * MB), undefined, 'interactive');
    // The least recently used entry is the scoring one; the new typing context still evicts typing first.
    cache.put(ids(9000, 100), kvOf(100, 60 * MB), undefined, 'interactive');
    assert.ok(cache.longestPrefix(scoring), 'the scoring context stays while typing has its own to drop');
    assert.equal(cache.longestPrefix(ids(0, 100)), undefined);
    // Typing that needs more room than its own entries free takes the scoring entry's.
    cache.put(ids(7000, 100), kvOf(100, 140 * MB), undefined, 'interactive');
    assert.equal(cache.longestPrefix(scoring), undefined);
    assert.ok(cache.longestPrefix(ids(7000, 100)));
  });

  it('background scoring takes the room of interactive contexts nobody is extending, never of the live two', () => {
    const cache = new PrefixCache(200 * MB, 8);
    // Typed into a minute ago (another file, or a prompt window that moved on); then the panel's and ghost text's contexts.
    cache.put(ids(0, 100), kvOf(100, 60 * MB), undefined, 'interactive');
    cache.put(ids(1000, 100), kvOf(100, 60 * MB), undefined, 'interactive');
    cache.put(ids(2000, 100), kvOf(100, 60 * MB), undefined, 'interactive');
    // The document's scoring context, so that the re-score after the next pause computes only the edited sentence.
    cache.put(ids(5000, 100), kvOf(100, 60 * MB), undefined, 'background');
    assert.ok(cache.longestPrefix(ids(5000, 100)), 'the scoring context was kept');
    assert.equal(cache.longestPrefix(ids(0, 100)), undefined, 'the stale typing context made room');
    assert.ok(cache.longestPrefix(ids(1000, 100)) && cache.longestPrefix(ids(2000, 100)), 'both live contexts stayed');
    // More than the stale contexts free: not kept, and the live contexts stay.
    cache.put(ids(7000, 100), kvOf(100, 90 * MB), undefined, 'background');
    assert.equal(cache.longestPrefix(ids(7000, 100)), undefined);
    assert.ok(cache.longestPrefix(ids(1000, 100)) && cache.longestPrefix(ids(2000, 100)));
  });

  it("typing's older forks in one KV buffer do not crowd the scoring context out of the cache's slots", () => {
    const cache = new PrefixCache(200 * MB, 8);
    // Each keystroke edits the last token: a fork appended to the same buffer, one entry each.
    const buffer = new KvBuffer(1, 1, 1, 1024, (60 * MB) / 8 / 1024);
    const prefix = ids(0, 99);
    for (let key = 0; key < 8; key++) cache.put([...prefix, 50_000 + key], ownedKvOf(buffer, 100), undefined, 'interactive');
    cache.put(ids(5000, 100), kvOf(100, 60 * MB), undefined, 'background');
    assert.equal(cache.stats().entries, 8);
    assert.ok(cache.longestPrefix(ids(5000, 100)), 'the scoring context was kept');
    const newest = [...prefix, 50_007];
    assert.equal(cache.longestPrefix(newest)?.entry.ids.at(-1), 50_007, 'the newest fork, the one the next keystroke extends, stayed');
  });
});

describe('engine steps for the person typing', function () {
  this.timeout(120_000);

  it('a cancelled prefill keeps what it computed: the next keystroke continues from it', async () => {
    const engine = await loadEngine({ model: await ensureTestModel({ layers: 2, dim: 64, heads: 4, seed: 1 }), allowDownloads: false, threads: 1 });
    try {
      const ids = Array.from({ length: 3 * PREFILL_CHUNK + 10 }, (_, i) => 300 + (i % 500));
      const controller = new AbortController();
      await assert.rejects(
        engine.run(ids, { signal: controller.signal, logitsFrom: 0, onLogits: () => controller.abort() }),
        (error: unknown) => isCancelled(error),
      );
      // The next keystroke: the same text plus a character.
      const next = await engine.run([...ids, 13]);
      assert.equal(next.reusedTokens, PREFILL_CHUNK, 'the first chunk was kept');
      assert.equal(next.computedTokens, ids.length + 1 - PREFILL_CHUNK);
    } finally {
      await engine.dispose();
    }
  });

  it('background prefill runs in smaller steps than interactive prefill', async () => {
    const engine = await loadEngine({ model: await ensureTestModel({ layers: 2, dim: 64, heads: 4, seed: 1 }), allowDownloads: false, threads: 1 });
    try {
      const ids = Array.from({ length: 2 * PREFILL_CHUNK }, (_, i) => 300 + i);
      const steps = async (tag: WorkTag, first: number): Promise<number> => {
        const before = engine.scheduler.stats().steps;
        await withWork(tag, () => engine.run(ids.map((id) => id + first), { noCache: true }));
        return engine.scheduler.stats().steps - before;
      };
      assert.equal(await steps({ class: 'interactive', owner: 'A' }, 0), ids.length / PREFILL_CHUNK);
      assert.equal(await steps({ class: 'background', owner: 'B' }, 1), ids.length / BACKGROUND_CHUNK);
      // Someone types, and a full-size background step cost far more than a keystroke's: the steps shrink.
      engine.pace.observe('interactive', 1, 1);
      engine.pace.observe('background', BACKGROUND_CHUNK, 1000);
      const typing = engine.pace.tokens();
      assert.ok(typing < BACKGROUND_CHUNK);
      // (The pace keeps measuring during the run and may grow the steps again, never past full size.)
      assert.ok((await steps({ class: 'background', owner: 'B' }, 2)) > ids.length / BACKGROUND_CHUNK);
    } finally {
      await engine.dispose();
    }
  });
});
