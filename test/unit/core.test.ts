// The core against the independent float64 reference, on two differently shaped test models.
import * as assert from 'node:assert/strict';
import { loadEngine } from '../../src/core/engine';
import type { Engine } from '../../src/core/engine';
import { nextTokenDistribution, promptIds } from '../../src/core/nextToken';
import { scoreIds, scoreText } from '../../src/core/scoring';
import { sampleContinuations } from '../../src/core/generation';
import { completeGreedy } from '../../src/core/completion';
import { loadReference, logSoftmax, meanLoss, topK } from '../support/reference';
import type { ReferenceModel } from '../support/reference';
import { ensureTestModel } from '../support/testModel';
import type { TestModelShape } from '../support/testModel';

const TOLERANCE = 1e-4;
const PROSE =
  'Alice was beginning to get very tired of sitting by her sister on the bank, and of having nothing to do: once or twice she had peeped into the book her sister was reading.';

const CONFIGS: Array<{ name: string; shape: TestModelShape }> = [
  { name: '2 layers × 64, window 1024', shape: { layers: 2, dim: 64, heads: 4, seed: 1 } },
  { name: '3 layers × 48, window 64, logits-to-keep', shape: { layers: 3, dim: 48, heads: 3, contextSize: 64, seed: 2, numLogitsToKeep: true } },
];

/** Reference log p(ids[i] | ids[begin..i)) for each i, computed one prefix at a time. */
function referenceLogProb(reference: ReferenceModel, context: number[], target: number): number {
  const rows = reference.logits(context);
  return logSoftmax(rows[rows.length - 1] as Float64Array)[target] as number;
}

/** HF's strided windows, derived independently: token i is scored in window k·stride with k = 0 if i < W else ⌊(i−W)/S⌋+1. */
function windowBegin(i: number, window: number, stride: number): number {
  return i < window ? 0 : (Math.floor((i - window) / stride) + 1) * stride;
}

for (const { name, shape } of CONFIGS) {
  describe(`core on ${name}`, function () {
    let engine: Engine;
    let reference: ReferenceModel;
    let folder: string;

    before(async function () {
      folder = await ensureTestModel(shape);
      engine = await loadEngine({ model: folder, allowDownloads: false, threads: 1 });
      reference = await loadReference(folder);
    });
    after(async () => engine?.dispose());

    it('tokenizes with GPT-2’s real vocabulary', () => {
      assert.deepEqual(engine.model.tokenizer.encode('Alice is a'), [44484, 318, 257]);
      assert.deepEqual(engine.model.tokenizer.encode('Alice'), [44484]);
      assert.equal(engine.vocabSize, 50257);
      assert.equal(engine.model.tokenizer.vocabSize, 50257);
    });

    it('loss equals the reference HF-style mean NLL, per token too', async () => {
      const result = await scoreText(engine, 'Alice is a curious girl.');
      const expected = meanLoss(reference, result.ids);
      assert.ok(Math.abs(result.loss - expected) < TOLERANCE, `${result.loss} vs ${expected}`);
      assert.equal(result.tokens.length, result.ids.length - 1);
      for (const token of result.tokens) {
        const logprob = referenceLogProb(reference, result.ids.slice(0, token.index), token.id);
        assert.ok(Math.abs(token.logprob - logprob) < TOLERANCE);
        const row = reference.logits(result.ids.slice(0, token.index)).at(-1) as Float64Array;
        // float32 vs float64 logits may order near-ties differently: allow exactly those.
        const target = row[token.id] as number;
        const lowest = 1 + row.filter((value) => value > target + TOLERANCE).length;
        const highest = 1 + row.filter((value) => value > target - TOLERANCE).length - 1;
        assert.ok(token.rank >= lowest && token.rank <= highest, `rank ${token.rank} not in [${lowest}, ${highest}]`);
      }
    });

    it('--bos scores the first token after <|endoftext|>', async () => {
      const result = await scoreText(engine, 'Alice is a', { bos: true });
      assert.deepEqual(result.ids, [50256, 44484, 318, 257]);
      assert.equal(result.tokens.length, 3);
      assert.ok(Math.abs(result.loss - meanLoss(reference, result.ids)) < TOLERANCE);
    });

    it('next-token top-10 and entropy equal the reference', async () => {
      const result = await nextTokenDistribution(engine, 'Alice', { top: 10 });
      const row = reference.logits([44484])[0] as Float64Array;
      const expected = topK(row, 10);
      assert.deepEqual(
        result.top.map((token) => token.id),
        expected.map((entry) => entry.id),
      );
      result.top.forEach((token, i) => assert.ok(Math.abs(token.prob - (expected[i] as { prob: number }).prob) < TOLERANCE));
      const logProbs = logSoftmax(row);
      const entropy = logProbs.reduce((sum, lp) => sum - Math.exp(lp) * lp, 0);
      assert.ok(Math.abs(result.entropy - entropy) < TOLERANCE);
      // The distribution has structure, so these comparisons mean something.
      assert.ok((result.top[0]?.prob ?? 0) > 0.01 && result.entropy < 9);
    });

    it('temperature / top-k / top-p report the transformed distribution', async () => {
      const result = await nextTokenDistribution(engine, 'Alice', { top: 5, temperature: 0.7, topK: 20, topP: 0.5 });
      const row = (reference.logits([44484])[0] as Float64Array).map((value) => value / 0.7);
      // Independent HF order: temperature, keep top 20, then the smallest top set with mass ≥ 0.5.
      const sorted = topK(row, 20);
      const top20 = logSoftmax(sorted.map((entry) => entry.logit));
      const kept: number[] = [];
      let mass = 0;
      for (let i = 0; i < sorted.length && mass < 0.5; i++) {
        kept.push(i);
        mass += Math.exp(top20[i] as number);
      }
      const renormalised = logSoftmax(kept.map((i) => (sorted[i] as { logit: number }).logit));
      assert.equal(result.sampling?.keptTokens, kept.length);
      assert.equal(result.sampling?.top.length, Math.min(5, kept.length));
      result.sampling?.top.forEach((token, i) => {
        assert.equal(token.id, (sorted[i] as { id: number }).id);
        assert.ok(Math.abs(token.prob - Math.exp(renormalised[i] as number)) < TOLERANCE);
      });
    });

    it('scores texts longer than the window with strided windows, every token once', async function () {
      const window = engine.contextSize;
      const ids = engine.model.tokenizer.encode(PROSE.repeat(window > 100 ? 1 : 3));
      if (ids.length <= window) this.skip();
      const stride = Math.floor(window / 2);
      const scores = await scoreIds(engine, ids, { stride });
      assert.deepEqual(
        scores.map((score) => score.index),
        ids.slice(1).map((_, i) => i + 1),
      );
      for (const score of scores.filter((_, i) => i % 7 === 0)) {
        const begin = windowBegin(score.index, window, stride);
        assert.ok(Math.abs(score.logprob - referenceLogProb(reference, ids.slice(begin, score.index), score.id)) < TOLERANCE, `token ${score.index}`);
      }
    });

    it('prefix-cached results equal a full recompute (append, middle edit, deletion, beyond the window)', async () => {
      const base = PROSE;
      const variants = [base, `${base} And`, base.replace('tired', 'weary'), base.replace(' very', ''), PROSE.repeat(4)];
      engine.cache.clear();
      for (const text of variants) {
        const cached = await nextTokenDistribution(engine, text, { top: 5 });
        const scoredCached = await scoreIds(engine, promptIds(engine, text).slice(0, 60), {});
        const fresh = await loadEngine({ model: folder, allowDownloads: false, threads: 1 });
        try {
          const full = await nextTokenDistribution(fresh, text, { top: 5 });
          const scoredFull = await scoreIds(fresh, promptIds(fresh, text).slice(0, 60), {});
          assert.deepEqual(cached.top.map((t) => t.id), full.top.map((t) => t.id));
          cached.top.forEach((token, i) => assert.ok(Math.abs(token.prob - (full.top[i] as { prob: number }).prob) < TOLERANCE));
          scoredCached.forEach((score, i) => assert.ok(Math.abs(score.logprob - (scoredFull[i] as { logprob: number }).logprob) < TOLERANCE));
        } finally {
          await fresh.dispose();
        }
      }
      const stats = engine.cacheStats();
      assert.ok(stats.reusedTokens > 0, 'the cache was used');
    });

    it('KV-cached decoding equals a full forward', async () => {
      const ids = engine.model.tokenizer.encode('Alice is a curious girl who');
      const prefill = await engine.forward([ids.slice(0, -1)], undefined);
      const step = await engine.forward([ids.slice(-1)], prefill.present);
      const full = reference.logits(ids).at(-1) as Float64Array;
      const row = step.logits.subarray(step.logits.length - engine.vocabSize);
      let maxDiff = 0;
      for (let i = 0; i < row.length; i++) maxDiff = Math.max(maxDiff, Math.abs((row[i] as number) - (full[i] as number)));
      assert.ok(maxDiff < TOLERANCE, `max diff ${maxDiff}`);
    });

    it('a left-padded batch equals separate runs', async () => {
      const short = engine.model.tokenizer.encode('Alice is');
      const long = engine.model.tokenizer.encode('Alice is a curious girl');
      const pad = long.length - short.length;
      const batch = await engine.forward([[...new Array<number>(pad).fill(50256), ...short], long], undefined, {
        attentionMask: [[...new Array<number>(pad).fill(0), ...short.map(() => 1)], long.map(() => 1)],
      });
      const vocab = engine.vocabSize;
      const positions = batch.keptPositions;
      const lastRow = (row: number): Float32Array => batch.logits.subarray((row * positions + positions - 1) * vocab, (row * positions + positions) * vocab);
      for (const [row, ids] of [[0, short], [1, long]] as const) {
        const expected = reference.logits(ids).at(-1) as Float64Array;
        const actual = lastRow(row);
        let maxDiff = 0;
        for (let i = 0; i < vocab; i++) maxDiff = Math.max(maxDiff, Math.abs((actual[i] as number) - (expected[i] as number)));
        assert.ok(maxDiff < TOLERANCE, `row ${row}: max diff ${maxDiff}`);
      }
    });

    it('samples N sequences in one batch: seeded, shares sum to 1, probabilities equal the reference', async () => {
      const prompt = promptIds(engine, 'Alice');
      const first = await sampleContinuations(engine, prompt, { n: 3, maxNewTokens: 10, seed: 7 });
      const second = await sampleContinuations(engine, prompt, { n: 3, maxNewTokens: 10, seed: 7 });
      assert.deepEqual(JSON.stringify(first), JSON.stringify(second));
      assert.equal(first.length, 3);
      assert.ok(Math.abs(first.reduce((sum, sequence) => sum + sequence.share, 0) - 1) < 1e-9);
      for (const sequence of first) {
        let context = [...prompt];
        let product = 1;
        for (const token of sequence.tokens) {
          const row = reference.logits(context).at(-1) as Float64Array;
          const raw = Math.exp(logSoftmax(row)[token.id] as number);
          const top50 = topK(row, 50);
          const warped = logSoftmax(top50.map((entry) => entry.logit));
          const index = top50.findIndex((entry) => entry.id === token.id);
          assert.ok(index >= 0, 'a sampled token is inside HF’s default top-50');
          assert.ok(Math.abs(token.prob - raw) < TOLERANCE);
          assert.ok(Math.abs(token.sampledProb - Math.exp(warped[index] as number)) < TOLERANCE);
          product *= token.sampledProb;
          context = [...context, token.id];
        }
        assert.ok(Math.abs(sequence.sampledProb - product) <= 1e-12 + product * 1e-9);
      }
    });

    it('normedProb divides each step by the sum over the samples (the notebook), against the reference', async () => {
      const prompt = promptIds(engine, 'Alice');
      const sequences = await sampleContinuations(engine, prompt, { n: 4, maxNewTokens: 8, seed: 11 });
      // The reference's warped (top-50) probability of every sampled token, computed from its own logits.
      const warpedProbs = sequences.map((sequence) => {
        let context = [...prompt];
        return sequence.tokens.map((token) => {
          const top50 = topK(reference.logits(context).at(-1) as Float64Array, 50);
          const warped = logSoftmax(top50.map((entry) => entry.logit));
          context = [...context, token.id];
          return Math.exp(warped[top50.findIndex((entry) => entry.id === token.id)] as number);
        });
      });
      const steps = Math.max(...sequences.map((sequence) => sequence.tokens.length));
      for (let step = 0; step < steps; step++) {
        const active = sequences.map((sequence, row) => ({ sequence, row })).filter(({ sequence }) => sequence.tokens.length > step);
        const sum = active.reduce((total, { row }) => total + (warpedProbs[row]?.[step] as number), 0);
        let column = 0;
        for (const { sequence, row } of active) {
          const normed = (sequence.tokens[step] as { normedProb: number }).normedProb;
          assert.ok(Math.abs(normed - (warpedProbs[row]?.[step] as number) / sum) < TOLERANCE, `step ${step} row ${row}`);
          column += normed;
        }
        assert.ok(Math.abs(column - 1) < 1e-9, `column ${step} sums to ${column}`);
      }
      for (const sequence of sequences) {
        const product = sequence.tokens.reduce((total, token) => total * token.normedProb, 1);
        assert.ok(Math.abs(sequence.normedProd - product) <= 1e-15 + product * 1e-9);
      }
    });

    it('greedy completion follows the reference argmax', async () => {
      const prompt = promptIds(engine, 'Alice was beginning to get very');
      const completion = await completeGreedy(engine, prompt, { maxNewTokens: 6, stopAtNewline: false, stopAtSentenceEnd: false });
      let context = [...prompt];
      for (const token of completion.tokens) {
        const [best] = topK(reference.logits(context).at(-1) as Float64Array, 1);
        assert.equal(token.id, best?.id);
        context = [...context, token.id];
      }
      assert.ok(completion.tokens.length > 0);
    });
  });
}
