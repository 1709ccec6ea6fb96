// The GGUF writer against the float64 reference: llama.cpp (node-llama-cpp's CPU prebuilt) must
// see the same model as LM Lens, or the benchmark's peer rows compare different work.
import assert from 'node:assert/strict';
import { fromHalf, quantizeQ8_0, toHalf } from '../support/ggufGpt2';
import { loadReference, softmax, topK } from '../support/reference';
import { ensureTestGguf, ensureTestModel } from '../support/testModel';
import type { TestModelShape } from '../support/testModel';
import { normalArray } from '../support/weights';

const SHAPE: TestModelShape = { layers: 2, dim: 64, heads: 4 };
const ALICE_IS_A = [44484, 318, 257];

interface Next {
  ids: number[];
  probs: Map<number, number>;
}

/** llama.cpp's next-token probabilities after `ids` (softmax of the raw logits, no sampling transform). */
async function llamaNext(file: string, ids: number[]): Promise<Next> {
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', progressLogs: false, logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
  try {
    const context = await model.createContext({ contextSize: 64, threads: 1 });
    const last = ids.length - 1;
    // node-llama-cpp brands token ids with a nominal type; ours are plain GPT-2 ids.
    const input = ids.map((id, i) => (i === last ? [id, { generateNext: { probabilities: true } }] : id));
    const output = await context.getSequence().controlledEvaluate(input as never);
    const probs = output[last]?.next.probabilities;
    if (!probs) throw new Error('llama.cpp returned no probabilities');
    await context.dispose();
    return { ids: [...probs.keys()].slice(0, 10) as number[], probs: probs as Map<number, number> };
  } finally {
    await model.dispose();
  }
}

describe('GGUF writer (llama.cpp peer)', function () {
  this.timeout(180_000);

  it('F32: llama.cpp top-10 after "Alice is a" equals the float64 reference, probabilities within 1e-3', async () => {
    const reference = await loadReference(await ensureTestModel(SHAPE));
    const expected = topK(reference.logits(ALICE_IS_A)[2] as Float64Array, 10);
    const actual = await llamaNext(await ensureTestGguf(SHAPE, 'f32'), ALICE_IS_A);
    assert.deepEqual(actual.ids, expected.map((entry) => entry.id));
    for (const entry of expected) {
      const prob = actual.probs.get(entry.id) as number;
      assert.ok(Math.abs(prob - entry.prob) < 1e-3, `token ${entry.id}: llama.cpp ${prob}, reference ${entry.prob}`);
    }
  });

  it('Q8_0: llama.cpp runs the quantised file and keeps the reference distribution close', async () => {
    const reference = await loadReference(await ensureTestModel(SHAPE));
    const probs = softmax(reference.logits(ALICE_IS_A)[2] as Float64Array);
    const actual = await llamaNext(await ensureTestGguf(SHAPE, 'q8_0'), ALICE_IS_A);
    // Blocks of 32 with an f16 scale move probabilities by well under 1e-2 at this size.
    for (const id of actual.ids) {
      assert.ok(Math.abs((actual.probs.get(id) as number) - (probs[id] as number)) < 1e-2, `token ${id}`);
    }
  });

  it('Q8_0 blocks dequantise to within half a step of the input, and f16 scales round-trip', () => {
    const values = normalArray(32 * 8, 0, 0.3, 7);
    const packed = quantizeQ8_0(values);
    assert.equal(packed.length, 8 * 34);
    for (let block = 0; block < 8; block++) {
      const d = fromHalf(packed.readUInt16LE(block * 34));
      for (let i = 0; i < 32; i++) {
        const restored = d * packed.readInt8(block * 34 + 2 + i);
        // Half a step of rounding plus the f16 rounding of the scale, which scales with |q| ≤ 127.
        assert.ok(Math.abs(restored - (values[block * 32 + i] as number)) <= d * (0.5 + 127 * 2 ** -11), `block ${block} value ${i}`);
      }
    }
    for (const x of [0, 1, -2.5, 0.000123, 65504, 1 / 3]) assert.ok(Math.abs(fromHalf(toHalf(x)) - x) <= Math.abs(x) * 2 ** -11 + 2 ** -25, String(x));
    assert.throws(() => quantizeQ8_0(new Float32Array(33)), /multiple of 32/);
  });
});
