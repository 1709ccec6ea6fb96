// The remote backends against protocol fixtures of vLLM's completions API and llama-server's
// native API that answer from the local engine: the numbers LM Lens shows must not depend on
// which engine answers (within 1e-4).
import * as assert from 'node:assert/strict';
import type { Backend } from '../../src/core/backend';
import { logSoftmax, samplingLogProbs } from '../../src/core/distribution';
import { loadEngine } from '../../src/core/engine';
import type { Engine } from '../../src/core/engine';
import { LocalBackend } from '../../src/core/local/localBackend';
import { createRemoteBackend } from '../../src/core/remote';
import { scoreSentences } from '../../src/core/sentenceLoss';
import { ProtocolFixture } from '../support/serverFixture';
import type { FixtureOptions } from '../support/serverFixture';
import { ensureTestModel } from '../support/testModel';

const TOLERANCE = 1e-4;
const TEXT = 'Alice was beginning to get very tired of sitting by her sister on the bank.';
const ODD = 'Café au lait 🙂 costs ¥300 — 東京 in “quotes”.';

const close = (actual: number, expected: number, what: string): void => assert.ok(Math.abs(actual - expected) < TOLERANCE, `${what}: ${actual} vs ${expected}`);

const VARIANTS: Array<{ name: string; fixture: Omit<FixtureOptions, 'engine'> }> = [
  { name: 'openai (vLLM: prompt_logprobs, token ids)', fixture: { api: 'openai' } },
  { name: 'openai (SGLang-like: no prompt_logprobs, scoring by echo)', fixture: { api: 'openai', promptLogprobs: false } },
  { name: 'llama.cpp (top_logprobs)', fixture: { api: 'llama.cpp' } },
];

describe('remote backends equal the local engine', function () {
  let engine: Engine;
  let local: LocalBackend;

  before(async () => {
    engine = await loadEngine({ model: await ensureTestModel({ layers: 2, dim: 64, heads: 4, seed: 1 }), allowDownloads: false, threads: 1 });
    local = new LocalBackend(engine);
  });
  after(async () => engine?.dispose());

  for (const variant of VARIANTS) {
    describe(variant.name, () => {
      let fixture: ProtocolFixture;
      let remote: Backend;

      before(async () => {
        fixture = await ProtocolFixture.start({ ...variant.fixture, engine });
        remote = createRemoteBackend(variant.fixture.api, { url: fixture.url });
        await remote.ready();
      });
      after(async () => fixture?.close());

      it('learns the model, its window and its start token from the server', () => {
        assert.equal(remote.info.model, 'test-gpt2');
        assert.equal(remote.info.contextSize, engine.contextSize);
        assert.equal(remote.info.startTokenId, engine.model.info.eosTokenId);
      });

      it('tokenizes to the same ids, token texts and character spans, unicode included', async () => {
        for (const text of [TEXT, ODD]) {
          const [mine, theirs] = await Promise.all([local.tokenize(text), remote.tokenize(text)]);
          assert.deepEqual(theirs.ids, mine.ids);
          assert.deepEqual(theirs.texts, mine.texts);
          assert.deepEqual(theirs.spans, mine.spans);
        }
      });

      it('next-token top-k: same ids and probabilities', async () => {
        for (const text of ['Alice is a', TEXT, '']) {
          const [mine, theirs] = await Promise.all([local.nextToken(text, { top: 10 }), remote.nextToken(text, { top: 10 })]);
          assert.equal(theirs.contextTokens, mine.contextTokens);
          assert.deepEqual(
            theirs.top.map((row) => row.id),
            mine.top.map((row) => row.id),
          );
          theirs.top.forEach((row, i) => {
            close(row.prob, mine.top[i]?.prob as number, `p(${row.text})`);
            assert.equal(row.text, mine.top[i]?.text);
          });
          assert.equal(theirs.entropy, null, 'a server gives no entropy');
        }
      });

      it('the sampling view (temperature, top-k, top-p) equals the local one', async () => {
        const settings = { temperature: 0.7, topK: 8, topP: 0.9 };
        const [mine, theirs] = await Promise.all([local.nextToken(TEXT, { top: 5, ...settings }), remote.nextToken(TEXT, { top: 5, ...settings })]);
        assert.ok(mine.sampling && theirs.sampling);
        assert.deepEqual(
          theirs.sampling.top.map((row) => row.id),
          mine.sampling.top.map((row) => row.id),
        );
        theirs.sampling.top.forEach((row, i) => close(row.prob, mine.sampling?.top[i]?.prob as number, 'sampled prob'));
        assert.equal(theirs.sampling.keptTokens, mine.sampling.keptTokens);
      });

      it('scoring: per-token log-probability, rank where known, and alternatives', async () => {
        const ids = await local.promptIds(TEXT, true);
        const [mine, theirs] = await Promise.all([local.score(ids, { alternatives: 3 }), remote.score(ids, { alternatives: 3 })]);
        assert.equal(theirs.length, mine.length);
        theirs.forEach((score, i) => {
          const expected = mine[i];
          assert.ok(expected);
          assert.equal(score.index, expected.index);
          assert.equal(score.id, expected.id);
          close(score.logprob, expected.logprob, `logprob of token ${score.index}`);
          if (score.rank !== null) assert.equal(score.rank, expected.rank);
          else assert.ok((expected.rank as number) > 3, `rank unknown only outside the top 3 (local: ${expected.rank})`);
          assert.deepEqual(
            score.alternatives?.map((alt) => alt.id),
            expected.alternatives?.map((alt) => alt.id),
          );
          score.alternatives?.forEach((alt, j) => close(alt.prob, expected.alternatives?.[j]?.prob as number, 'alternative'));
        });
      });

      it('scores a token that ends inside a character (an emoji’s first byte)', async () => {
        const ids = await local.promptIds('🙂🙂', true);
        const [mine, theirs] = await Promise.all([local.score(ids), remote.score(ids)]);
        theirs.forEach((score, i) => close(score.logprob, mine[i]?.logprob as number, `token ${i}`));
      });

      it('greedy completion: same text and token probabilities', async () => {
        const prompt = await local.promptIds('Alice is a');
        const [mine, theirs] = await Promise.all([local.complete(prompt, { maxNewTokens: 8 }), remote.complete(prompt, { maxNewTokens: 8 })]);
        assert.equal(theirs.text, mine.text);
        assert.equal(theirs.stopReason, mine.stopReason);
        theirs.tokens.forEach((token, i) => close(token.prob, mine.tokens[i]?.prob as number, `token ${i}`));
      });

      it('samples: each drawn token’s raw and sampled probability equal the local engine’s', async () => {
        const prompt = await local.promptIds('Alice is a');
        const settings = { temperature: 0.9, topK: 12, topP: 0.95 };
        const sequences = await remote.sample(prompt, { n: 3, maxNewTokens: 5, seed: 7, ...settings });
        assert.equal(sequences.length, 3);
        for (const sequence of sequences) {
          const context = [...prompt];
          let product = 1;
          for (const token of sequence.tokens) {
            assert.ok(token.id !== null);
            const logits = (await engine.run(context)).lastLogits;
            close(token.prob, Math.exp(logSoftmax(logits)[token.id] as number), 'raw prob');
            const sampled = Math.exp(samplingLogProbs(logits, settings)[token.id] as number);
            close(token.sampledProb as number, sampled, 'sampled prob');
            product *= sampled;
            context.push(token.id);
          }
          close(sequence.sampledProb as number, product, 'sequence sampled prob');
        }
        close(
          sequences.reduce((sum, sequence) => sum + (sequence.share as number), 0),
          1,
          'shares',
        );
      });

      it('sentence loss through the server equals the local one', async () => {
        const text = `${TEXT} She peeped into the book. ${ODD}`;
        const [mine, theirs] = await Promise.all([scoreSentences(local, text), scoreSentences(remote, text)]);
        assert.equal(theirs.sentences.length, mine.sentences.length);
        theirs.sentences.forEach((sentence, i) => {
          assert.deepEqual([sentence.start, sentence.end, sentence.tokenCount], [mine.sentences[i]?.start, mine.sentences[i]?.end, mine.sentences[i]?.tokenCount]);
          close(sentence.loss, mine.sentences[i]?.loss as number, `sentence ${i}`);
        });
        assert.equal(theirs.computedTokens, null);
      });
    });
  }
});
