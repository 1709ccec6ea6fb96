// The test model builder against its independent float64 reference, onnxruntime directly, and
// the product's loading path (transformers.js).
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AutoModelForCausalLM, AutoTokenizer, Tensor, env } from '@huggingface/transformers';
import type { PreTrainedModel, PreTrainedTokenizer } from '@huggingface/transformers';
import { getEncoding } from 'js-tiktoken';
import { onnx } from 'onnx-proto';
import type * as ort from 'onnxruntime-node';
import { createGpt2Session, maxAbsDiff, runGpt2 } from '../support/ortGpt2';
import type { Gpt2RunShape } from '../support/ortGpt2';
import { entropy, loadReference, meanLoss, meanLossFromLogits, softmax, topK } from '../support/reference';
import type { ReferenceModel } from '../support/reference';
import { ensureTestModel, testModelName } from '../support/testModel';
import type { TestModelShape } from '../support/testModel';
import { gpt2WeightSpecs, seededWeights } from '../support/weights';

const TOLERANCE = 1e-4;
const ENGLISH = [
  'Alice is a software engineer who lives in Paris with her two cats.',
  'The quick brown fox jumps over the lazy dog, and then it runs away.',
  'In 1999, the company announced that its profits had doubled.',
];
const UNICODE = ['naïve café — 東京タワー 🙂🚀', 'e\u0301 + ñ, Ω≈ç√∫\r\nline two\r\n', '  leading spaces\tand\ttabs  ', '<|endoftext|>after'];

const CONFIGS: TestModelShape[] = [
  { layers: 2, dim: 64, heads: 4, seed: 1, numLogitsToKeep: true, quantized: true },
  { layers: 3, dim: 48, heads: 3, seed: 2, contextSize: 64 },
];

function rowMaxDiff(a: ArrayLike<number>[], b: ArrayLike<number>[]): number {
  assert.equal(a.length, b.length);
  return Math.max(...a.map((row, i) => maxAbsDiff(row, b[i])));
}

function assertRowsClose(actual: ArrayLike<number>[], expected: ArrayLike<number>[]): void {
  const diff = rowMaxDiff(actual, expected);
  assert.ok(diff < TOLERANCE, `max abs diff ${diff} ≥ ${TOLERANCE}`);
}

describe('tokenizer files', () => {
  let tokenizer: PreTrainedTokenizer;
  before(async () => {
    env.allowRemoteModels = false;
    const folder = await ensureTestModel(CONFIGS[1]);
    tokenizer = await AutoTokenizer.from_pretrained(folder);
  });

  it('load with AutoTokenizer and give GPT-2 ids without a BOS', () => {
    assert.deepEqual(tokenizer.encode('Alice'), [44484]);
    assert.deepEqual(tokenizer.encode('Alice is a'), [44484, 318, 257]);
    assert.equal(tokenizer.get_vocab().size, 50257);
    assert.deepEqual(tokenizer.encode('<|endoftext|>'), [50256]);
  });

  it('round-trip unicode text exactly', () => {
    for (const text of [...ENGLISH, ...UNICODE]) {
      assert.equal(tokenizer.decode(tokenizer.encode(text)), text, JSON.stringify(text));
    }
  });

  it('agree with js-tiktoken r50k_base', () => {
    const tiktoken = getEncoding('r50k_base');
    for (const text of [...ENGLISH, ...UNICODE.slice(0, 3)]) {
      assert.deepEqual(tokenizer.encode(text), tiktoken.encode(text), JSON.stringify(text));
    }
  });
});

describe('seeded weights', () => {
  it('are deterministic per seed and differ between seeds', () => {
    const spec = gpt2WeightSpecs({ layers: 1, dim: 16, heads: 2, vocabSize: 50257, contextSize: 8 })[2];
    assert.deepEqual(seededWeights(7)(spec), seededWeights(7)(spec));
    assert.ok(maxAbsDiff(seededWeights(7)(spec), seededWeights(8)(spec)) > 0.1);
  });

  it('name cached folders by every option', () => {
    const names = new Set([
      testModelName({ layers: 2, dim: 64, heads: 4 }),
      testModelName({ layers: 2, dim: 64, heads: 4, seed: 2 }),
      testModelName({ layers: 2, dim: 64, heads: 4, contextSize: 64 }),
      testModelName({ layers: 2, dim: 64, heads: 4, quantized: true }),
      testModelName({ layers: 2, dim: 64, heads: 4, numLogitsToKeep: true }),
    ]);
    assert.equal(names.size, 5);
  });
});

for (const shape of CONFIGS) {
  describe(`test model ${testModelName(shape)}`, () => {
    const runShape: Gpt2RunShape = { layers: shape.layers, heads: shape.heads, headDim: shape.dim / shape.heads };
    let folder: string;
    let reference: ReferenceModel;
    let session: ort.InferenceSession;
    let tokenizer: PreTrainedTokenizer;
    const ids: number[][] = [];

    before(async () => {
      env.allowRemoteModels = false;
      folder = await ensureTestModel(shape);
      reference = await loadReference(folder);
      session = await createGpt2Session(join(folder, 'onnx', 'model.onnx'));
      tokenizer = await AutoTokenizer.from_pretrained(folder);
      ids.push(...ENGLISH.map((text) => tokenizer.encode(text)));
    });

    after(async () => {
      await session?.release();
    });

    it('is not rebuilt when already cached', async () => {
      const before = statSync(join(folder, 'onnx', 'model.onnx')).mtimeMs;
      assert.equal(await ensureTestModel(shape), folder);
      assert.equal(statSync(join(folder, 'onnx', 'model.onnx')).mtimeMs, before);
    });

    it('runs in onnxruntime with the same logits as the float64 reference', async () => {
      for (const sequence of ids) {
        const { logits } = await runGpt2(session, runShape, { ids: [sequence] });
        assertRowsClose(logits[0], reference.logits(sequence));
      }
    });

    it('gives the same last row when decoding with the KV cache', async () => {
      const sequence = ids[0];
      const full = await runGpt2(session, runShape, { ids: [sequence] });
      const prefill = await runGpt2(session, runShape, { ids: [sequence.slice(0, -1)] });
      const step = await runGpt2(session, runShape, { ids: [sequence.slice(-1)], past: prefill.past });
      assert.equal(step.past['past_key_values.0.key'].dims[2], sequence.length);
      assert.equal(step.logits[0].length, 1);
      assertRowsClose([step.logits[0][0]], [full.logits[0][sequence.length - 1]]);
      assertRowsClose([step.logits[0][0]], [reference.logits(sequence)[sequence.length - 1]]);
    });

    it('handles a left-padded batch like separate runs', async () => {
      const [long, short] = [ids[1], ids[2].slice(0, 6)];
      const pad = long.length - short.length;
      const batchIds = [long, [...new Array<number>(pad).fill(50256), ...short]];
      const mask = [long.map(() => 1), [...new Array<number>(pad).fill(0), ...short.map(() => 1)]];
      const batch = await runGpt2(session, runShape, { ids: batchIds, mask });
      for (const row of batch.logits.flat()) assert.ok(row.every(Number.isFinite), 'padded rows must stay finite');
      const alone = await runGpt2(session, runShape, { ids: [short] });
      assertRowsClose(batch.logits[1].slice(pad), alone.logits[0]);
      assertRowsClose(batch.logits[1].slice(pad), reference.logits(short));
      assertRowsClose(batch.logits[0], reference.logits(long));

      // One cached step for both rows continues each sequence as if it were alone.
      const next = [[318], [257]];
      const stepMask = mask.map((row) => [...row, 1]);
      const step = await runGpt2(session, runShape, { ids: next, mask: stepMask, past: batch.past });
      assertRowsClose([step.logits[0][0]], [reference.logits([...long, 318]).at(-1) ?? []]);
      assertRowsClose([step.logits[1][0]], [reference.logits([...short, 257]).at(-1) ?? []]);
    });

    (shape.numLogitsToKeep ? it : it.skip)('computes only the kept logits when asked', async () => {
      const sequence = ids[0];
      const all = await runGpt2(session, runShape, { ids: [sequence], numLogitsToKeep: 0 });
      assert.equal(all.logits[0].length, sequence.length);
      const last = await runGpt2(session, runShape, { ids: [sequence], numLogitsToKeep: 1 });
      assert.equal(last.logits[0].length, 1);
      assert.equal(maxAbsDiff(last.logits[0][0], all.logits[0][sequence.length - 1]), 0);
      const lastThree = await runGpt2(session, runShape, { ids: [sequence], numLogitsToKeep: 3 });
      assertRowsClose(lastThree.logits[0], all.logits[0].slice(-3));

      // The slice must feed the output projection, so positions that are dropped cost nothing.
      const graph = onnx.ModelProto.decode(readFileSync(join(folder, 'onnx', 'model.onnx'))).graph;
      const producer = new Map((graph?.node ?? []).flatMap((node) => (node.output ?? []).map((name) => [name, node] as const)));
      const projection = graph?.node?.find((node) => node.opType === 'Gemm');
      const flattened = producer.get(projection?.input?.[0] ?? '');
      assert.equal(flattened?.opType, 'Reshape');
      assert.equal(producer.get(flattened?.input?.[0] ?? '')?.opType, 'Slice');
    });

    it('loads through transformers.js AutoModelForCausalLM with the reference logits', async () => {
      const model: PreTrainedModel = await AutoModelForCausalLM.from_pretrained(folder, { dtype: 'fp32', local_files_only: true });
      try {
        const sequence = ids[2];
        const inputIds = new Tensor('int64', BigInt64Array.from(sequence.map(BigInt)), [1, sequence.length]);
        const attentionMask = new Tensor('int64', new BigInt64Array(sequence.length).fill(1n), [1, sequence.length]);
        const expected = reference.logits(sequence);
        for (const output of [await model.forward({ input_ids: inputIds, attention_mask: attentionMask }), await model({ input_ids: inputIds, attention_mask: attentionMask })]) {
          const logits = output.logits as Tensor;
          assert.deepEqual(logits.dims, [1, sequence.length, 50257]);
          const data = logits.data as Float32Array;
          assertRowsClose(expected.map((_, i) => data.subarray(i * 50257, (i + 1) * 50257)), expected);
        }
      } finally {
        await model.dispose();
      }
    });

    it('generates greedily through transformers.js like the reference', async () => {
      const model: PreTrainedModel = await AutoModelForCausalLM.from_pretrained(folder, { dtype: 'fp32', local_files_only: true });
      try {
        const prompt = ids[1].slice(0, 8);
        const inputIds = new Tensor('int64', BigInt64Array.from(prompt.map(BigInt)), [1, prompt.length]);
        const output = (await model.generate({ inputs: inputIds, max_new_tokens: 4, do_sample: false })) as Tensor;
        const expected = [...prompt];
        for (let step = 0; step < 4; step++) {
          const [first, second] = topK(reference.logits(expected).at(-1) ?? [], 2);
          assert.ok(first.logit - second.logit > 1e-3, 'greedy choice must not be a near tie');
          expected.push(first.id);
        }
        assert.deepEqual(Array.from(output.data as BigInt64Array, Number), expected);
      } finally {
        await model.dispose();
      }
    });

    it('declares the hub input and output shapes', () => {
      const metadata = new Map(session.inputMetadata.map((m) => [m.name, m]));
      const past = metadata.get('past_key_values.0.key');
      assert.ok(past?.isTensor);
      assert.deepEqual(past.shape, ['batch_size', shape.heads, 'past_sequence_length', shape.dim / shape.heads]);
      const names = ['input_ids', 'attention_mask', 'position_ids'];
      for (let i = 0; i < shape.layers; i++) names.push(`past_key_values.${i}.key`, `past_key_values.${i}.value`);
      if (shape.numLogitsToKeep) names.push('num_logits_to_keep');
      assert.deepEqual([...session.inputNames], names);
      assert.deepEqual([...session.outputNames], ['logits', ...names.filter((n) => n.startsWith('past_')).map((n) => n.replace('past_key_values', 'present'))]);
    });

    it('has a next-token distribution with real structure', () => {
      const rows = ids.flatMap((sequence) => reference.logits(sequence));
      const topProbs = rows.map((row) => topK(row, 1)[0].prob).sort((a, b) => a - b);
      const meanEntropy = rows.reduce((sum, row) => sum + entropy(row), 0) / rows.length;
      assert.ok(topProbs[Math.floor(topProbs.length / 2)] >= 0.02, `median top-1 ${topProbs[Math.floor(topProbs.length / 2)]}`);
      assert.ok(meanEntropy < 8, `mean entropy ${meanEntropy}`);
      const loss = meanLoss(reference, ids[0]);
      assert.ok(Number.isFinite(loss) && loss > 0);
      assert.ok(Math.abs(loss - meanLossFromLogits(reference.logits(ids[0]), ids[0])) < 1e-12);
      const probs = softmax(rows[0]);
      assert.ok(Math.abs(probs.reduce((a, b) => a + b, 0) - 1) < 1e-9);
    });

    (shape.quantized ? it : it.skip)('has a dynamically quantized variant close to fp32 when asked', async () => {
      const model: PreTrainedModel = await AutoModelForCausalLM.from_pretrained(folder, { dtype: 'q8', local_files_only: true });
      try {
        const sequence = ids[0];
        const inputIds = new Tensor('int64', BigInt64Array.from(sequence.map(BigInt)), [1, sequence.length]);
        const output = await model({ input_ids: inputIds, attention_mask: new Tensor('int64', new BigInt64Array(sequence.length).fill(1n), [1, sequence.length]) });
        const data = (output.logits as Tensor).data as Float32Array;
        const expected = reference.logits(sequence);
        const quantizedRows = expected.map((_, i) => data.subarray(i * 50257, (i + 1) * 50257));
        const diff = rowMaxDiff(quantizedRows, expected);
        assert.ok(diff > 0 && diff < 1.5, `max diff ${diff}`);
        const agree = expected.filter((row, i) => topK(row, 1)[0].id === topK(quantizedRows[i], 1)[0].id).length;
        assert.ok(agree >= expected.length / 2, `top-1 agrees on ${agree} of ${expected.length}`);
      } finally {
        await model.dispose();
      }
    });
  });
}
