// Ghost text against the real engine: what the provider logic shows first must be the core's (and
// the CLI's) greedy completion of the same text, changed at most by the documented space rule.
import assert from 'node:assert/strict';
import { LocalBackend } from '../../src/core/local/localBackend';
import { commands } from '../../src/cli/commands';
import type { CliValues } from '../../src/cli/commands';
import { completeGreedy } from '../../src/core/completion';
import { PROMPT_CHARS, joinCompletion } from '../../src/core/completionCache';
import { loadEngine } from '../../src/core/engine';
import type { Engine } from '../../src/core/engine';
import { promptIds } from '../../src/core/nextToken';
import { ModelService } from '../../src/host/modelService';
import { InlineSuggester } from '../../src/extension/inlineSuggester';
import type { SuggestOutcome } from '../../src/extension/inlineSuggester';
import type { CompleteParams } from '../../src/shared/hostProtocol';
import { SETTINGS } from '../../src/shared/settings';
import { ensureTestModel } from '../support/testModel';

const MAX_NEW_TOKENS = 16;
const PROSE =
  'Alice was beginning to get very tired of sitting by her sister on the bank, and of having nothing to do: once or twice she had peeped into the book her sister was reading, but it had no pictures or conversations in it. ';

describe('ghost text on the real core', () => {
  let modelFolder: string;
  let service: ModelService;
  let reference: Engine;
  let suggester: InlineSuggester;
  let sent: CompleteParams[] = [];
  const never = new AbortController().signal;

  before(async () => {
    modelFolder = await ensureTestModel({ layers: 2, dim: 64, heads: 4 });
    // The model process's own service, in-process; the reference is a separate engine, as the CLI loads it.
    service = new ModelService(
      () => undefined,
      () => undefined,
    );
    await service.configure({ model: modelFolder, dtype: 'fp32', allowDownloads: false, cacheDir: '', threads: 1 });
    reference = await loadEngine({ model: modelFolder, allowDownloads: false, threads: 1 });
  });

  // A fresh cache per test: typing a space after "very" would otherwise (rightly) be served
  // the rest of the suggestion for "very".
  beforeEach(() => {
    sent = [];
    suggester = new InlineSuggester(
      (params, signal) => (sent.push(params), service.complete(params, signal)),
      () => ({ maxNewTokens: MAX_NEW_TOKENS, alternatives: 3, debounceMs: 0, stopAt: 'sentence', minTokenProb: SETTINGS['inline.minTokenProb'].default }),
    );
  });

  after(async () => {
    await service?.dispose();
    await reference?.dispose();
  });

  /** Explicit requests ask for the alternatives too; automatic ones (typing) for the greedy completion alone. */
  async function firstItem(prefix: string, automatic = false): Promise<{ outcome: SuggestOutcome; text: string }> {
    const at = { version: 1, offset: prefix.length };
    const outcome = await suggester.suggest({ prefix, lineSuffix: '', automatic, at }, never, () => at);
    assert.equal(outcome.kind, 'items', JSON.stringify(outcome));
    return { outcome, text: outcome.kind === 'items' ? (outcome.items[0]?.text ?? '') : '' };
  }

  async function coreGreedy(text: string): Promise<string> {
    return (await completeGreedy(reference, promptIds(reference, text), { maxNewTokens: MAX_NEW_TOKENS })).text;
  }

  it('shows the greedy completion unchanged after text without trailing space', async () => {
    const prefix = 'Alice was beginning to get very';
    const greedy = await coreGreedy(prefix);
    assert.ok(greedy.length > 0);
    const { text } = await firstItem(prefix);
    assert.equal(text, greedy);
  });

  it('matches the CLI for the same text', async () => {
    const prefix = 'Alice was beginning to get very';
    const values: CliValues = { json: true, bos: false, model: modelFolder, dtype: 'fp32', cacheDir: '', offline: true, maxNewTokens: MAX_NEW_TOKENS };
    const cli = JSON.parse(await commands.complete(new LocalBackend(reference), prefix, values)) as { text: string };
    assert.equal((await firstItem(prefix)).text, cli.text);
  });

  it('drops exactly one leading space after text that ends in a space', async () => {
    const prefix = 'Alice was beginning to get very ';
    const greedy = await coreGreedy(prefix);
    const { text } = await firstItem(prefix);
    assert.equal(text, joinCompletion(prefix, greedy));
    assert.equal(text, greedy.startsWith(' ') ? greedy.slice(1) : greedy);
  });

  it('offers sampled alternatives behind the greedy item, none repeating it', async () => {
    const { outcome } = await firstItem('The rabbit is late for an important');
    assert.ok(outcome.kind === 'items');
    const texts = outcome.items.map((item) => item.text);
    assert.equal(new Set(texts).size, texts.length);
    assert.ok(texts.length >= 2 && texts.length <= 4, `${texts.length} items`);
    for (const item of outcome.items) assert.ok(item.meanProb > 0 && item.meanProb <= 1 && item.jointProb <= item.meanProb);
  });

  it('sends a window of a long document and shows its greedy completion', async () => {
    let prefix = '';
    for (let i = 0; prefix.length < 4 * PROMPT_CHARS; i++) prefix += `${i}. ${PROSE}`;
    prefix += 'Alice was beginning to get very';
    const { text } = await firstItem(prefix, true);
    const prompt = sent[0]?.text ?? '';
    assert.ok(prompt.length <= PROMPT_CHARS && prefix.endsWith(prompt), `${prompt.length} characters`);
    assert.equal(text, joinCompletion(prompt, await coreGreedy(prompt)));
  });

  it('keeps the model process reusing the KV state of a long document while the user types', async () => {
    let prefix = '';
    for (let i = 0; prefix.length < 3 * PROMPT_CHARS; i++) prefix += `${i}. ${PROSE}`;
    await firstItem(prefix, true);
    const before = (await service.stats()).cache;
    // Characters no suggestion starts with, so every keystroke asks the model.
    for (const typed of ['~', '~~', '~~ ~', '~~ ~~', '~~ ~~ ~']) await firstItem(prefix + typed, true);
    const after = (await service.stats()).cache;
    assert.equal(sent.length, 6);
    const reused = after.reusedTokens - before.reusedTokens;
    const computed = after.computedTokens - before.computedTokens;
    assert.ok(reused > 20 * computed, `reused ${reused} tokens, computed ${computed}`);
  });

  it('serves typed-through text from the cache, then asks the model again', async () => {
    const prefix = 'She drinks from a bottle labelled';
    const { text } = await firstItem(prefix);
    const requests = suggester.stats.modelRequests;
    const hit = await firstItem(prefix + text.slice(0, 2));
    assert.equal(hit.text, text.slice(2));
    assert.equal(hit.outcome.kind === 'items' && hit.outcome.source, 'cache');
    assert.equal(suggester.stats.modelRequests, requests);
    await suggester.suggest({ prefix: prefix + text, lineSuffix: '', automatic: false, at: { version: 2, offset: 0 } }, never, () => ({ version: 2, offset: 0 }));
    assert.equal(suggester.stats.modelRequests, requests + 1, 'fully typed: the model is asked what follows');
  });
});
