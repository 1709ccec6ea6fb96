// One feature code for every backend: the model process answers through the Backend interface
// whether the local engine or a server (the protocol fixtures serving the same model) holds the
// model, so ghost text's stop rules and alternatives and the panel's numbers come out the same.
import * as assert from 'node:assert/strict';
import type { Backend, BackendSequence, SampleRequest } from '../../src/core/backend';
import { loadEngine } from '../../src/core/engine';
import type { Engine } from '../../src/core/engine';
import { completeWithAlternatives } from '../../src/core/ghostText';
import { LocalBackend } from '../../src/core/local/localBackend';
import { createRemoteBackend } from '../../src/core/remote';
import { ModelService } from '../../src/host/modelService';
import { formatProbability } from '../../src/shared/format';
import type { ModelSettings } from '../../src/shared/hostProtocol';
import { ProtocolFixture } from '../support/serverFixture';
import type { FixtureApi } from '../support/serverFixture';
import { ensureTestModel } from '../support/testModel';

const PROMPTS = ['Alice was beginning to get very tired', 'The village stood at the edge of a long valley.', 'He said'];
const APIS: FixtureApi[] = ['openai', 'llama.cpp'];

describe('one Backend: local and server answer the same feature code', function () {
  this.timeout(120_000);
  let folder: string;
  let engine: Engine;
  const fixtures = new Map<FixtureApi, ProtocolFixture>();
  const services = new Map<string, ModelService>();

  before(async () => {
    folder = await ensureTestModel({ layers: 2, dim: 64, heads: 4, seed: 1 });
    engine = await loadEngine({ model: folder, allowDownloads: false, threads: 1 });
    const base: ModelSettings = { model: folder, dtype: 'fp32', allowDownloads: false, cacheDir: '', threads: 1 };
    const local = new ModelService(() => undefined, () => undefined);
    await local.configure(base);
    services.set('local', local);
    for (const api of APIS) {
      const fixture = await ProtocolFixture.start({ api, engine });
      fixtures.set(api, fixture);
      const service = new ModelService(() => undefined, () => undefined);
      await service.configure({ ...base, backend: api, serverUrl: fixture.url });
      services.set(api, service);
    }
  });
  after(async () => {
    for (const service of services.values()) await service.dispose();
    for (const fixture of fixtures.values()) await fixture.close();
    await engine?.dispose();
  });

  it('ghost text: the same greedy text, cut by the same stop rules, on every backend', async () => {
    const signal = new AbortController().signal;
    const reasons: string[] = [];
    for (const text of PROMPTS) {
      const answers = await Promise.all([...services.values()].map((service) => service.complete({ text, maxNewTokens: 16, alternatives: 0 }, signal)));
      const [local, ...servers] = answers.map(({ greedy }) => ({ text: greedy.text, stopReason: greedy.stopReason, tokens: greedy.tokens.map((token) => token.text) }));
      for (const server of servers) assert.deepEqual(server, local, text);
      assert.ok(!/\n/u.test(local?.text ?? ''), JSON.stringify(local));
      reasons.push(local?.stopReason ?? '');
    }
    assert.ok(reasons.some((reason) => reason === 'newline' || reason === 'sentence'), `a stop rule cut at least one completion: ${reasons.join(', ')}`);
  });

  it('ghost text: alternatives drop empty, duplicate and greedy texts by one rule, whatever backend drew them', async () => {
    const local = (await services.get('local')?.ready()) as Backend;
    const prompt = await local.promptIds(PROMPTS[0] as string);
    const greedy = await local.complete(prompt, { maxNewTokens: 16 });
    // Distinct texts get distinct ids: the stop rules compare tokens by id (one id for all would read as a loop).
    const ids = new Map<string, number>();
    const token = (text: string): BackendSequence['tokens'][number] => ({ id: ids.get(text) ?? ids.set(text, ids.size + 1).get(text) ?? 0, text, prob: 0.5, sampledProb: 0.5, normedProb: null });
    const sequence = (...texts: string[]): BackendSequence => ({ text: texts.join(''), tokens: texts.map(token), prob: 0.1, sampledProb: 0.1, logprob: -1, share: null, normedProd: null, stopReason: 'length' });
    // What every backend's sampler is made to draw: a duplicate, the greedy text, a blank, and text after a line break.
    const drawn = [sequence(' the', ' end'), sequence(' the', ' end'), sequence(...greedy.tokens.map((t) => t.text)), sequence(' ', '\n'), sequence(' a', ' cat', '\n', 'more')];
    const results = [];
    for (const backend of [local, ...APIS.map((api) => createRemoteBackend(api, { url: fixtures.get(api)?.url ?? '' }))]) {
      await backend.ready();
      const fixed = Object.assign(Object.create(backend) as Backend, { sample: async (_prompt: number[], _request?: SampleRequest) => drawn });
      const { greedy: first, alternatives } = await completeWithAlternatives(fixed, await backend.promptIds(PROMPTS[0] as string), { maxNewTokens: 16, alternatives: 5 });
      results.push({ greedy: first.text, alternatives: alternatives.map((alternative) => alternative.text) });
    }
    for (const result of results.slice(1)) assert.deepEqual(result, results[0]);
    assert.deepEqual(results[0]?.alternatives, [' the end', ' a cat']);
  });

  it('the panel: the same rows, chips and printed probabilities from every backend', async () => {
    const signal = new AbortController().signal;
    const answers = await Promise.all([...services.values()].map((service) => service.nextToken({ text: PROMPTS[1] as string, top: 5, tailTokens: 4 }, signal)));
    const shown = answers.map((answer) => ({
      rows: answer.top.map((row) => `${row.id} ${formatProbability(row.prob)}`),
      chips: answer.tail.map((chip) => chip.id),
    }));
    for (const server of shown.slice(1)) {
      assert.deepEqual(server.rows, shown[0]?.rows);
      assert.deepEqual(server.chips, shown[0]?.chips);
    }
    assert.equal(answers[0]?.engine, undefined, 'the local engine is not labelled');
    assert.ok(answers.slice(1).every((answer) => answer.engine?.startsWith('test-gpt2 @ ')));
  });

  it('a backend without whole distributions refuses the comparison with one line, as a capability', async () => {
    const local = new LocalBackend(engine);
    const server = createRemoteBackend('openai', { url: fixtures.get('openai')?.url ?? '' });
    await assert.rejects(server.compareText(local, 'Alice'), /only the local engine gives/u);
    assert.equal(server.capabilities.logits, false);
    assert.equal(local.capabilities.logits, true);
  });
});
