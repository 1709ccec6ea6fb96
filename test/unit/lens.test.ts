// The logit lens and attention at the end of a text (src/core/lens.ts, local/lensGraph.ts)
// against the float64 reference, which computes them from the maths and the weights in the file:
// hidden states through ln_f and the tied output matrix, softmax attention weights.
import * as assert from 'node:assert/strict';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadEngine } from '../../src/core/engine';
import type { Engine } from '../../src/core/engine';
import { LENS_NEEDS_LOCAL } from '../../src/core/backend';
import { LmLensError } from '../../src/core/errors';
import { decodeGraphPath } from '../../src/core/local/decodeFile';
import { defaultCacheDir } from '../../src/core/download/cacheFolder';
import { describeLens, lensAt, meanOverHeads } from '../../src/core/lens';
import type { LensResult } from '../../src/core/lens';
import { nextTokenDistribution, promptIds } from '../../src/core/nextToken';
import { ModelService } from '../../src/host/modelService';
import { loadLensReference, logSoftmax, topK } from '../support/reference';
import { ProtocolFixture } from '../support/serverFixture';
import type { LensReference } from '../support/reference';
import { ensureLlamaTestModel } from '../support/llamaTestModel';
import type { LlamaTestShape } from '../support/llamaTestModel';
import { ensureTestModel } from '../support/testModel';
import type { TestModelShape } from '../support/testModel';

const TEXT = 'Alice was beginning to get very tired of sitting by her sister on the bank, and';
const TOP = 5;

const gpt2 = (shape: TestModelShape) => (): Promise<string> => ensureTestModel(shape);
const llama = (shape: LlamaTestShape) => (): Promise<string> => ensureLlamaTestModel(shape);
/**
 * GPT-2 shapes, and the Llama family's Optimum exports (RMSNorm, RoPE, 4 query heads over 2 KV heads,
 * head_dim 24 ≠ 64/4) and onnxruntime-genai exports, whose GroupQueryAttention the decode rewrite
 * replaces by attention grouped per KV head (the lens must still give every query head). The
 * genai Llama and Qwen2 fuse RoPE into the op, whose CPU kernel wants a head size that is a multiple of 16.
 */
const MODELS: Array<{ name: string; folder: () => Promise<string> }> = [
  { name: '2 layers × 64', folder: gpt2({ layers: 2, dim: 64, heads: 4, seed: 1 }) },
  { name: '3 layers × 48, logits-to-keep', folder: gpt2({ layers: 3, dim: 48, heads: 3, contextSize: 64, seed: 2, numLogitsToKeep: true }) },
  { name: 'Optimum-style export, window 64', folder: gpt2({ layers: 2, dim: 64, heads: 4, contextSize: 64, seed: 3, pattern: 'optimum' }) },
  { name: 'Llama (Llama 3 tokenizer and its <|begin_of_text|>, llama3 RoPE scaling)', folder: llama({ family: 'llama' }) },
  { name: 'Qwen2 (q/k/v biases, untied head)', folder: llama({ family: 'qwen2', tied: false }) },
  { name: 'Qwen3 (per-head q/k RMSNorm)', folder: llama({ family: 'qwen3' }) },
  { name: 'Llama, onnxruntime-genai form (GroupQueryAttention, fused RoPE, packed QKV)', folder: llama({ family: 'llama', form: 'genai', headDim: 32 }) },
  { name: 'Qwen2, onnxruntime-genai form (untied head)', folder: llama({ family: 'qwen2', tied: false, form: 'genai', headDim: 32 }) },
  { name: 'Qwen3, onnxruntime-genai form (RoPE outside the op)', folder: llama({ family: 'qwen3', form: 'genai' }) },
];

/** The definitions, computed from the reference's float64 hidden states. */
function referenceLayers(reference: LensReference, ids: number[]): Array<{ top: ReturnType<typeof topK>; entropy: number; kl: number; finalId: number; finalProb: number; rank: number }> {
  const forward = reference.forward(ids);
  const rows = forward.hidden.map((layer) => reference.project(layer[ids.length - 1] as Float64Array));
  const logProbs = rows.map((row) => logSoftmax(row));
  const final = logProbs[logProbs.length - 1] as Float64Array;
  const finalId = topK(rows[rows.length - 1] as Float64Array, 1)[0]?.id as number;
  return rows.map((row, layer) => {
    const lp = logProbs[layer] as Float64Array;
    let entropy = 0;
    let kl = 0;
    for (let v = 0; v < lp.length; v++) {
      entropy -= Math.exp(lp[v] as number) * (lp[v] as number);
      kl += Math.exp(final[v] as number) * ((final[v] as number) - (lp[v] as number));
    }
    const rank = 1 + row.filter((value) => value > (row[finalId] as number)).length;
    return { top: topK(row, TOP), entropy, kl, finalId, finalProb: Math.exp(lp[finalId] as number), rank };
  });
}

const close = (actual: number, expected: number, tolerance: number, what: string): void => assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} vs ${expected}`);

for (const { name, folder: modelFolder } of MODELS) {
  describe(`logit lens on ${name}`, function () {
    this.timeout(120_000);
    let engine: Engine;
    let reference: LensReference;
    let ids: number[];
    let lens: LensResult;

    before(async () => {
      const folder = await modelFolder();
      engine = await loadEngine({ model: folder, allowDownloads: false, threads: 1, onLog: (line) => assert.fail(`unexpected fallback: ${line}`) });
      reference = await loadLensReference(folder);
      // What the lens conditions on: tokenizer(text), so Llama 3's start token comes first.
      ids = promptIds(engine, TEXT);
      lens = await lensAt(engine, TEXT, { top: TOP });
    });
    after(async () => engine?.dispose());

    it('has L+1 rows whose top-k, entropy, KL and final token match the float64 reference', () => {
      const expected = referenceLayers(reference, ids);
      assert.equal(lens.layers.length, reference.config.layers + 1);
      assert.deepEqual(lens.tokens.map((t) => t.id), ids);
      lens.layers.forEach((layer, i) => {
        const want = expected[i] as (typeof expected)[number];
        assert.equal(layer.layer, i);
        assert.deepEqual(layer.top.map((t) => t.id), want.top.map((t) => t.id), `layer ${i} top ids`);
        layer.top.forEach((t, k) => {
          close(t.prob, want.top[k]?.prob as number, 1e-4, `layer ${i} prob ${k}`);
          close(t.logprob, Math.log(want.top[k]?.prob as number), 1e-4, `layer ${i} logprob ${k}`);
        });
        close(layer.entropy, want.entropy, 1e-4, `layer ${i} entropy`);
        close(layer.klToFinal, want.kl, 1e-4, `layer ${i} KL`);
        assert.equal(layer.final.id, want.finalId);
        assert.equal(layer.final.rank, want.rank, `layer ${i} rank`);
        close(layer.final.prob, want.finalProb, 1e-4, `layer ${i} final prob`);
      });
      // Not a tautology of the test: the layers differ from each other and the last agrees with itself.
      assert.equal(lens.layers.at(-1)?.final.rank, 1);
      assert.ok((lens.layers.at(-1)?.klToFinal as number) < 1e-6);
      assert.ok(lens.layers.some((layer) => layer.klToFinal > 1e-3), 'the embeddings row should differ from the final distribution');
    });

    it('gives every layer’s and head’s attention of the last position within 1e-5, each row summing to 1', () => {
      const attention = reference.forward(ids).attention;
      assert.equal(lens.attention.length, reference.config.layers);
      lens.attention.forEach((heads, layer) => {
        assert.equal(heads.length, reference.config.heads);
        heads.forEach((row, head) => {
          const want = attention[layer]?.[head]?.[ids.length - 1] as number[];
          assert.equal(row.length, ids.length);
          row.forEach((weight, position) => close(weight, want[position] as number, 1e-5, `layer ${layer} head ${head} position ${position}`));
          close(row.reduce((a, b) => a + b, 0), 1, 1e-5, 'row sum');
        });
      });
      const mean = meanOverHeads(lens.attention[0] as number[][]);
      close(mean.reduce((a, b) => a + b, 0), 1, 1e-5, 'mean row sum');
    });

    it('its last row equals the next-token distribution (lm-lens next), with or without the text cached', async () => {
      const next = await nextTokenDistribution(engine, TEXT, { top: TOP });
      const last = lens.layers.at(-1);
      assert.deepEqual(last?.top.map((t) => t.id), next.top.map((t) => t.id));
      last?.top.forEach((t, k) => close(t.prob, next.top[k]?.prob as number, 1e-6, `prob ${k}`));
      close(last?.entropy as number, next.entropy, 1e-6, 'entropy');
      // Now the whole text is cached: the lens reuses its first n-1 positions and must agree.
      const again = await lensAt(engine, TEXT, { top: TOP });
      again.layers.forEach((layer, i) => close(layer.entropy, lens.layers[i]?.entropy as number, 1e-6, `cached layer ${i}`));
      again.attention.flat(2).forEach((weight, i) => close(weight, lens.attention.flat(2)[i] as number, 1e-6, `cached attention ${i}`));
    });

    it('works on a one-word text (no past, or only Llama 3’s start token) and leaves the decode path’s answers unchanged', async () => {
      const one = await lensAt(engine, 'Alice', { top: TOP });
      const oneIds = promptIds(engine, 'Alice');
      const expected = referenceLayers(reference, oneIds);
      one.layers.forEach((layer, i) => close(layer.entropy, expected[i]?.entropy as number, 1e-4, `layer ${i}`));
      assert.deepEqual(one.attention.flat().map((row) => row.length), one.attention.flat().map(() => oneIds.length));
      const after = await nextTokenDistribution(engine, 'Alice', { top: TOP });
      assert.deepEqual(after.top.map((t) => t.id), expected.at(-1)?.top.map((t) => t.id));
    });
  });
}

describe('logit lens where it cannot run', function () {
  this.timeout(120_000);

  it('says so in one line for the export graph, and for an export whose output projection it does not recognise (dynamic int8), and the model keeps answering', async () => {
    const plain = await ensureTestModel({ layers: 2, dim: 64, heads: 4, seed: 1 });
    const exported = await loadEngine({ model: plain, allowDownloads: false, threads: 1, decodePath: 'export' });
    try {
      await assert.rejects(lensAt(exported, TEXT), (error) => error instanceof LmLensError && error.code === 'lens-unavailable' && /owned-KV decode path/.test(error.message));
    } finally {
      await exported.dispose();
    }
    const quantized = await loadEngine({ model: await ensureTestModel({ layers: 2, dim: 64, heads: 4, seed: 1, numLogitsToKeep: true, quantized: true }), dtype: 'q8', allowDownloads: false, threads: 1 });
    try {
      await assert.rejects(lensAt(quantized, TEXT), (error) => error instanceof LmLensError && error.code === 'lens-unavailable' && !error.message.includes('\n') && /output projection is Mul/.test(error.message));
      const next = await nextTokenDistribution(quantized, TEXT, { top: 3 });
      assert.equal(next.top.length, 3);
    } finally {
      await quantized.dispose();
    }
  });
});

describe('the lens step read into layers and heads', () => {
  it('refuses attention that is not one row per layer and query head (a graph regrouped per KV head) in one line, never reading it as heads', () => {
    const [layers, heads, kvHeads, width, rows] = [2, 4, 2, 3, 3];
    const step = {
      finalLogits: Float32Array.of(0, 1),
      topIds: new BigInt64Array(rows),
      topLogprobs: new Float32Array(rows),
      entropy: new Float32Array(rows),
      klToFinal: new Float32Array(rows),
      aboveFinal: new Float32Array(rows),
      finalLogprob: new Float32Array(rows),
      attention: new Float32Array(layers * kvHeads * width).fill(1 / width),
      columns: [0, 1, 2],
      width,
      present: { batch: 1, length: width, tensors: {} },
    } as unknown as Parameters<typeof describeLens>[0];
    const shape = { layers, heads, tokenText: String };
    assert.throws(() => describeLens(step, shape), (error) => error instanceof LmLensError && error.code === 'lens-unavailable' && /4 attention rows .* 2 layers × 4 query heads/.test(error.message) && !error.message.includes('\n'));
    const whole = describeLens({ ...step, attention: new Float32Array(layers * heads * width).fill(1 / width) }, shape);
    assert.deepEqual(whole.attention.map((layer) => layer.length), [heads, heads]);
  });
});

describe('the model process’s lens request (lmLens/lens)', function () {
  this.timeout(120_000);

  it('answers L+1 rows from the local engine, and one line from a server backend', async () => {
    const folder = await ensureTestModel({ layers: 2, dim: 64, heads: 4, seed: 1 });
    const signal = new AbortController().signal;
    const local = new ModelService(() => undefined, () => undefined);
    await local.configure({ model: folder, dtype: 'fp32', allowDownloads: false, cacheDir: '', threads: 1 });
    const engine = await loadEngine({ model: folder, allowDownloads: false, threads: 1 });
    const fixture = await ProtocolFixture.start({ api: 'openai', engine });
    const remote = new ModelService(() => undefined, () => undefined);
    try {
      const response = await local.lens({ text: TEXT, top: 3 }, signal);
      assert.equal(response.layers.length, 3);
      assert.equal(response.layers[0]?.top.length, 3);
      assert.ok(response.elapsedMs >= 0);
      await remote.configure({ model: folder, dtype: 'fp32', allowDownloads: false, cacheDir: '', threads: 1, backend: 'openai', serverUrl: fixture.url });
      await assert.rejects(remote.lens({ text: TEXT, top: 3 }, signal), (error) => error instanceof LmLensError && error.code === 'lens-unavailable' && error.message === LENS_NEEDS_LOCAL);
    } finally {
      await local.dispose();
      await remote.dispose();
      await fixture.close();
      await engine.dispose();
    }
  });
});

describe('the model process’s lens request on a Llama 3-tokenizer model (the panel’s Layers view)', function () {
  this.timeout(120_000);

  it('answers L+1 rows, and places every text token in the document (the start token covers no text)', async () => {
    const service = new ModelService(() => undefined, () => undefined);
    try {
      await service.configure({ model: await ensureLlamaTestModel({ family: 'llama' }), dtype: 'fp32', allowDownloads: false, cacheDir: '', threads: 1 });
      const response = await service.lens({ text: TEXT, top: 3 }, new AbortController().signal);
      assert.equal(response.layers.length, 3);
      assert.equal(response.tokens[0]?.text, '<|begin_of_text|>');
      assert.deepEqual(response.spans[0], [0, 0]);
      const words = response.spans.slice(1).map((span) => TEXT.slice(...(span as [number, number])));
      assert.equal(words.join(''), TEXT);
      assert.deepEqual(words, response.tokens.slice(1).map((t) => t.text));
    } finally {
      await service.dispose();
    }
  });
});

describe('logit lens at the edges', function () {
  this.timeout(120_000);
  let engine: Engine;
  let reference: LensReference;
  let folder: string;

  before(async () => {
    folder = await ensureTestModel({ layers: 3, dim: 48, heads: 3, contextSize: 64, seed: 2, numLogitsToKeep: true });
    engine = await loadEngine({ model: folder, allowDownloads: false, threads: 1 });
    reference = await loadLensReference(folder);
  });
  after(async () => engine?.dispose());

  it('a text longer than the window: the lens of its last window (as next-token conditions on), exact at the window’s end, keystroke after keystroke', async () => {
    const long = `${TEXT} ${TEXT} ${TEXT} ${TEXT} ${TEXT}`;
    for (const text of [long, `${long} x`, `${long} xy`]) {
      const lens = await lensAt(engine, text, { top: 3 });
      const next = await nextTokenDistribution(engine, text, { top: 3 });
      assert.ok(lens.truncated);
      assert.equal(lens.contextTokens, next.contextTokens);
      assert.ok(lens.contextTokens <= 64);
      const expected = referenceLayers(reference, next.contextIds);
      lens.layers.forEach((layer, i) => {
        assert.deepEqual(layer.top.map((t) => t.id), expected[i]?.top.slice(0, 3).map((t) => t.id), `layer ${i}`);
        close(layer.klToFinal, expected[i]?.kl as number, 1e-4, `layer ${i} KL`);
      });
      const attention = reference.forward(next.contextIds).attention;
      lens.attention.forEach((heads, l) => heads.forEach((row, h) => row.forEach((w, p) => close(w, attention[l]?.[h]?.[next.contextIds.length - 1]?.[p] as number, 1e-5, `attention ${l}/${h}/${p}`))));
    }
  });

  it('a decode graph pruned from the shared cache after loading (another LM Lens process) is rewritten for the lens, not an ENOENT', async () => {
    const decodeFile = decodeGraphPath(defaultCacheDir(), join(folder, 'onnx', 'model.onnx'));
    const fresh = await loadEngine({ model: folder, allowDownloads: false, threads: 1 });
    try {
      rmSync(decodeFile, { force: true });
      const lens = await lensAt(fresh, TEXT, { top: 3 });
      const expected = referenceLayers(reference, promptIds(fresh, TEXT));
      lens.layers.forEach((layer, i) => assert.deepEqual(layer.top.map((t) => t.id), expected[i]?.top.slice(0, 3).map((t) => t.id), `layer ${i}`));
    } finally {
      await fresh.dispose();
    }
  });

  it('leaves the decode graph file as it was, writes no file (the lens graph lives in memory) and stops when cancelled', async () => {
    const decodeFile = decodeGraphPath(defaultCacheDir(), join(folder, 'onnx', 'model.onnx'));
    const before = readFileSync(decodeFile);
    const listings = (): string[][] => [readdirSync(dirname(decodeFile)).sort(), readdirSync(join(folder, 'onnx')).sort()];
    const filesBefore = listings();
    await lensAt(engine, TEXT);
    assert.ok(readFileSync(decodeFile).equals(before), 'the decode graph is unchanged');
    assert.deepEqual(listings(), filesBefore, 'no file written beside the decode graph or the model');
    // Its second copy of the weights goes when idle, and comes back on the next request with the same answers.
    assert.equal(engine.model.lensOpen, true);
    const first = await lensAt(engine, TEXT);
    await engine.model.releaseLens();
    assert.equal(engine.model.lensOpen, false);
    const reopened = await lensAt(engine, TEXT);
    assert.equal(engine.model.lensOpen, true);
    assert.deepEqual(reopened.layers, first.layers);
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(lensAt(engine, `${TEXT} again`, { signal: controller.signal }), (error) => error instanceof LmLensError && error.code === 'cancelled');
  });
});
