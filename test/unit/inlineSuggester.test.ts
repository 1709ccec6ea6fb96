// The ghost-text provider's logic in plain Node, against fake models: trigger rules, debounce,
// typed-through reuse, stale answers, and a typing burst through the real latest-wins channel.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Completion } from '../../src/core/completion';
import { CancelledError, LmLensError } from '../../src/core/errors';
import { FeatureChannel } from '../../src/extension/featureChannel';
import type { CompleteParams, CompleteResponse } from '../../src/shared/hostProtocol';
import type { DocumentPoint } from '../../src/extension/inlineRules';
import { InlineSuggester, pause, suggestionsFrom } from '../../src/extension/inlineSuggester';
import type { CompleteSender, SuggestOutcome, SuggestRequest, SuggesterSettings } from '../../src/extension/inlineSuggester';

const completion = (text: string, meanProb = 0.5): Completion => ({ text, tokens: [], stopReason: 'length', meanProb, jointProb: meanProb ** 2 });
const answer = (greedy: string, ...alternatives: string[]): CompleteResponse => ({ greedy: completion(greedy), alternatives: alternatives.map((text) => completion(text, 0.1)), elapsedMs: 1 });
const settings = (overrides: Partial<SuggesterSettings> = {}): (() => SuggesterSettings) => () => ({ maxNewTokens: 16, alternatives: 3, debounceMs: 0, stopAt: 'sentence', minTokenProb: 0.02, ...overrides });

/** A document the tests type into; `at` is what VS Code would pass, `current` what the adapter reports later. */
class FakeDocument {
  text = '';
  version = 1;

  type(chars: string): void {
    this.text += chars;
    this.version++;
  }

  request(automatic = true, lineSuffix = ''): SuggestRequest {
    return { prefix: this.text, lineSuffix, automatic, at: this.point() };
  }

  point(): DocumentPoint {
    return { version: this.version, offset: this.text.length };
  }

  readonly current = (): DocumentPoint => this.point();
}

const texts = (outcome: SuggestOutcome): string[] => (outcome.kind === 'items' ? outcome.items.map((item) => item.text) : []);
const never = new AbortController().signal;

describe('suggestionsFrom', () => {
  it('puts the greedy completion first, joins, and drops empty and duplicate items', () => {
    const items = suggestionsFrom('Alice was very ', answer(' tired', ' sleepy', '  ', 'tired', ' bored'));
    assert.deepEqual(
      items.map((item) => item.text),
      ['tired', 'sleepy', 'bored'],
    );
    assert.equal(items[0]?.meanProb, 0.5);
    assert.equal(items[1]?.meanProb, 0.1);
  });

  it('keeps the alternatives when the greedy completion is empty', () => {
    assert.deepEqual(
      suggestionsFrom('Alice', answer('', ' was')).map((item) => item.text),
      [' was'],
    );
  });
});

describe('InlineSuggester', () => {
  it('asks the model with the window before the cursor and the settings', async () => {
    const sent: CompleteParams[] = [];
    const suggester = new InlineSuggester(async (params) => (sent.push(params), answer(' tired')), settings({ maxNewTokens: 7, alternatives: 2 }));
    const document = new FakeDocument();
    document.type('and so on '.repeat(1000) + 'Alice was very');
    const outcome = await suggester.suggest(document.request(false), never, document.current);
    assert.deepEqual(texts(outcome), [' tired']);
    assert.equal(sent.length, 1);
    assert.equal(sent[0]?.maxNewTokens, 7);
    assert.equal(sent[0]?.alternatives, 2);
    const prompt = sent[0]?.text ?? '';
    assert.ok(prompt.length <= 6000 && prompt.length > 4900, `${prompt.length} characters`);
    assert.ok(document.text.endsWith(prompt));
    assert.match(prompt, /^ \S/u, 'the window starts on the space before a word');
  });

  it('asks for alternatives only when triggered explicitly, and keeps the ghost text meanwhile', async () => {
    const sent: CompleteParams[] = [];
    const model: CompleteSender = async (params) => (sent.push(params), params.alternatives ? answer(' tired', ' sleepy', ' bored') : answer(' tired'));
    const suggester = new InlineSuggester(model, settings({ alternatives: 2 }));
    const document = new FakeDocument();
    document.type('Alice was very');
    assert.deepEqual(texts(await suggester.suggest(document.request(true), never, document.current)), [' tired']);
    // Alt+] asks explicitly: the greedy-only answer in the cache is not enough.
    assert.deepEqual(texts(await suggester.suggest(document.request(false), never, document.current)), [' tired', ' sleepy', ' bored']);
    assert.deepEqual(
      sent.map((params) => params.alternatives),
      [0, 2],
    );
    // Now the cache holds them all, for typing and cycling alike.
    assert.deepEqual(texts(await suggester.suggest(document.request(false), never, document.current)), [' tired', ' sleepy', ' bored']);
    document.type(' ');
    assert.deepEqual(texts(await suggester.suggest(document.request(true), never, document.current)), ['tired', 'sleepy', 'bored']);
    assert.equal(sent.length, 2);
  });

  it('does not auto-trigger mid-word or before text, but an explicit trigger does', async () => {
    const suggester = new InlineSuggester(async () => answer(' tired'), settings());
    const document = new FakeDocument();
    document.type('Alice was very');
    assert.deepEqual(await suggester.suggest(document.request(true, 'ing'), never, document.current), { kind: 'none', reason: 'blocked' });
    assert.deepEqual(await suggester.suggest(document.request(true, ' and'), never, document.current), { kind: 'none', reason: 'blocked' });
    assert.equal(suggester.stats.modelRequests, 0);
    assert.deepEqual(texts(await suggester.suggest(document.request(false, 'ing'), never, document.current)), [' tired']);
    assert.equal(suggester.stats.blocked, 2);
  });

  it('debounces automatic triggers and gives up when cancelled during the pause', async () => {
    // A debounce far longer than any scheduling delay, so "ended early" cannot be mistaken for load.
    const suggester = new InlineSuggester(async () => answer(' tired'), settings({ debounceMs: 20_000 }));
    const document = new FakeDocument();
    document.type('Alice was very');
    const controller = new AbortController();
    const started = performance.now();
    const pending = suggester.suggest(document.request(), controller.signal, document.current);
    await sleep(10);
    controller.abort();
    assert.deepEqual(await pending, { kind: 'none', reason: 'cancelled' });
    assert.ok(performance.now() - started < 10_000, 'the pause ended with the cancellation');
    assert.equal(suggester.stats.modelRequests, 0);

    const explicitStart = performance.now();
    assert.deepEqual(texts(await suggester.suggest(document.request(false), never, document.current)), [' tired']);
    assert.ok(performance.now() - explicitStart < 10_000, 'explicit triggers are not debounced');
  });

  it('re-checks the cache after the pause: a concurrent request may have answered the same prompt', async () => {
    const suggester = new InlineSuggester(async () => answer(' tired'), settings({ debounceMs: 40 }));
    const document = new FakeDocument();
    document.type('Alice was very');
    const automatic = suggester.suggest(document.request(true), never, document.current);
    await suggester.suggest(document.request(false), never, document.current);
    const outcome = await automatic;
    assert.equal(outcome.kind === 'items' && outcome.source, 'cache');
    assert.equal(suggester.stats.modelRequests, 1);
  });

  it('never shows an answer for an outdated position, but caches it', async () => {
    const document = new FakeDocument();
    document.type('Alice was');
    const suggester = new InlineSuggester(async () => {
      document.type(' '); // the user typed while the model worked
      return answer(' very tired');
    }, settings());
    assert.deepEqual(await suggester.suggest(document.request(false), never, document.current), { kind: 'none', reason: 'stale' });
    assert.equal(suggester.stats.stale, 1);
    const outcome = await suggester.suggest(document.request(), never, document.current);
    assert.deepEqual(texts(outcome), ['very tired']);
    assert.equal(outcome.kind === 'items' && outcome.source, 'cache');
  });

  it('reports model errors and treats cancellations as silence', async () => {
    const document = new FakeDocument();
    document.type('Alice');
    const failure = new LmLensError('model-process', 'The model process crashed.');
    const failing = new InlineSuggester(async () => Promise.reject(failure), settings());
    assert.deepEqual(await failing.suggest(document.request(), never, document.current), { kind: 'none', reason: 'error', error: failure });
    const cancelled = new InlineSuggester(async () => Promise.reject(new CancelledError()), settings());
    assert.deepEqual(await cancelled.suggest(document.request(), never, document.current), { kind: 'none', reason: 'cancelled' });
    assert.deepEqual([failing.stats.errors, cancelled.stats.cancelled], [1, 1]);
  });

  it('serves typed-through text from the cache and asks again once a suggestion is fully typed', async () => {
    const target = 'Alice was beginning to get very tired of sitting by her sister on the bank, and of having nothing to do.';
    const chunk = 20;
    // An oracle model: always continues with the next `chunk` characters of the target.
    const oracle: CompleteSender = async (params) => answer(target.slice(params.text.length, params.text.length + chunk));
    const suggester = new InlineSuggester(oracle, settings({ debounceMs: 5 }));
    const document = new FakeDocument();
    let answerEnd = -1;
    let expectedRequests = 0;
    for (let i = 0; i < target.length; i++) {
      document.type(target.charAt(i));
      const outcome = await suggester.suggest(document.request(), never, document.current);
      const from = document.text.length;
      if (answerEnd < 0 || from >= answerEnd) {
        answerEnd = Math.min(target.length, from + chunk);
        expectedRequests++;
      }
      const rest = target.slice(from, answerEnd);
      assert.deepEqual(texts(outcome), rest ? [rest] : [], `after ${JSON.stringify(document.text)}`);
    }
    assert.equal(suggester.stats.modelRequests, expectedRequests);
    assert.ok(expectedRequests <= Math.ceil(target.length / chunk) + 1);
    assert.equal(suggester.stats.cacheHits, target.length - expectedRequests);
  });

  it('keeps at most one request in flight while 200 characters are typed quickly, and cancelled work stops early', async function () {
    this.timeout(30_000);
    const workMs = 30;
    const stepMs = 5;
    const channel = new FeatureChannel();
    const runs: Array<{ ms: number; steps: number; cancelled: boolean; abortToEndMs?: number }> = [];
    let inFlight = 0;
    let maxInFlight = 0;
    // A fake model process: 30 ms of work that honours its AbortSignal at 5 ms steps.
    const fakeModel = async (signal: AbortSignal): Promise<CompleteResponse> => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const started = performance.now();
      let abortedAt: number | undefined;
      let cancelled = false;
      let steps = 0;
      signal.addEventListener('abort', () => (abortedAt = performance.now()), { once: true });
      try {
        for (let spent = 0; spent < workMs; spent += stepMs) {
          if (signal.aborted) {
            cancelled = true;
            throw new CancelledError();
          }
          await sleep(stepMs);
          steps++;
        }
        return answer(' zebra');
      } finally {
        inFlight--;
        const ended = performance.now();
        runs.push({ ms: ended - started, steps, cancelled, abortToEndMs: abortedAt === undefined ? undefined : ended - abortedAt });
      }
    };
    const suggester = new InlineSuggester((_params, signal) => channel.run((inner) => fakeModel(inner), signal), settings({ debounceMs: 8 }));
    const document = new FakeDocument();
    const typing = 'Alice was beginning to get very tired of sitting by her sister on the bank, and of having nothing to do: once or twice she had peeped into the book her sister was reading, but it had no pictures or conversations in it.';
    assert.ok(typing.length >= 200);
    const outcomes: Array<Promise<SuggestOutcome>> = [];
    let token: AbortController | undefined;
    for (let i = 0; i < 200; i++) {
      // VS Code cancels the previous request's token on every keystroke.
      token?.abort();
      token = new AbortController();
      document.type(typing.charAt(i));
      outcomes.push(suggester.suggest(document.request(), token.signal, document.current));
      // Mostly fast typing; every 9th key a pause long enough to send a request, too short to finish it.
      await sleep(i % 9 === 8 ? 20 : 1);
    }
    const settled = await Promise.all(outcomes);

    assert.ok(maxInFlight <= 1, `fake model saw ${maxInFlight} requests at once`);
    assert.ok(channel.stats.maxInFlight <= 1);
    assert.equal(settled.at(-1)?.kind, 'items', 'the last keystroke gets its suggestion');
    assert.ok(settled.slice(0, -1).every((outcome) => outcome.kind === 'none'), 'no earlier keystroke shows a suggestion');
    const cancelled = runs.filter((run) => run.cancelled);
    const finished = runs.filter((run) => !run.cancelled);
    assert.ok(cancelled.length >= 10, `only ${cancelled.length} requests were cancelled mid-work`);
    // Timers on a busy machine run late, so single requests are judged by steps, not milliseconds;
    // the typical cancelled request must still have stopped well before its 30 ms.
    const median = (values: number[]): number => values.sort((x, y) => x - y)[Math.floor(values.length / 2)] ?? Infinity;
    for (const run of cancelled) assert.ok(run.steps < workMs / stepMs, `a cancelled request did all ${run.steps} steps`);
    const worked = median(cancelled.map((run) => run.ms));
    const ranOn = median(cancelled.map((run) => run.abortToEndMs ?? Infinity));
    assert.ok(worked < workMs * 0.75, `cancelled requests worked ${worked.toFixed(1)} ms (median)`);
    assert.ok(ranOn <= stepMs + 4, `cancelled requests ran on ${ranOn.toFixed(1)} ms after their abort (median)`);
    assert.ok(finished.every((run) => run.steps === workMs / stepMs && run.ms >= workMs - 1));
    // Far fewer requests than keystrokes: the debounce absorbed the fast typing.
    assert.ok(suggester.stats.modelRequests < 60, `${suggester.stats.modelRequests} model requests for 200 keys`);
    assert.equal(channel.stats.sent, runs.length);
  });
});

describe('pause', () => {
  it('resolves after the delay, or at once when aborted', async () => {
    const started = performance.now();
    await pause(20, never);
    assert.ok(performance.now() - started >= 18);
    const controller = new AbortController();
    const early = performance.now();
    const waiting = pause(60_000, controller.signal);
    controller.abort();
    await waiting;
    assert.ok(performance.now() - early < 30_000, 'an aborted pause does not wait for its delay');
  });
});
