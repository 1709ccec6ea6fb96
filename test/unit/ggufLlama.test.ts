// The GGUF writer for the Llama family against the float64 reference: llama.cpp (node-llama-cpp's
// CPU prebuilt) must run the same weights as LM Lens for the benchmark's peer rows to compare.
import assert from 'node:assert/strict';
import { ensureLlamaTestGguf, ensureLlamaTestModel } from '../support/llamaTestModel';
import type { LlamaTestShape } from '../support/llamaTestModel';
import { loadReference, softmax, topK } from '../support/reference';

/** llama.cpp's next-token probabilities after `ids` (softmax of the raw logits). */
async function llamaNext(file: string, ids: number[]): Promise<Map<number, number>> {
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', progressLogs: false, logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
  try {
    const context = await model.createContext({ contextSize: 64, threads: 1 });
    const last = ids.length - 1;
    const input = ids.map((id, i) => (i === last ? [id, { generateNext: { probabilities: true } }] : id));
    const output = await context.getSequence().controlledEvaluate(input as never);
    const probs = output[last]?.next.probabilities;
    await context.dispose();
    if (!probs) throw new Error('llama.cpp returned no probabilities');
    return probs as Map<number, number>;
  } finally {
    await model.dispose();
  }
}

// Ids of "Hello, world! The cat" in each vocabulary; any ids do, these keep it readable.
const IDS: Record<string, number[]> = { llama: [128000, 9906, 11, 1917, 0, 578, 8415], qwen2: [9707, 11, 1879, 0, 576, 8251], qwen3: [9707, 11, 1879, 0, 576, 8251] };
// llama.cpp's qwen2 takes head_dim = hidden / heads (as every Qwen2 has); llama and qwen3 read key_length.
const SHAPES: LlamaTestShape[] = [{ family: 'llama' }, { family: 'qwen2', tied: false, headDim: 16 }, { family: 'qwen3' }];
const TOLERANCE = 1e-3;

describe('GGUF writer for the Llama family (llama.cpp peer)', function () {
  this.timeout(180_000);
  for (const shape of SHAPES) {
    it(`${shape.family}: F32 top-10 probabilities within 1e-3 of the float64 reference (ranks where it separates them); Q8_0 within 1e-2`, async () => {
      const ids = IDS[shape.family] as number[];
      const reference = await loadReference(await ensureLlamaTestModel(shape));
      const row = reference.logits(ids).at(-1) as Float64Array;
      const expected = topK(row, 10);
      const f32 = await llamaNext(await ensureLlamaTestGguf(shape, 'f32'), ids);
      for (const entry of expected) assert.ok(Math.abs((f32.get(entry.id) as number) - entry.prob) < TOLERANCE, `token ${entry.id}: llama.cpp ${f32.get(entry.id)}, reference ${entry.prob}`);
      // The ranks must agree wherever the reference separates neighbours by more than the tolerance.
      const ranked = [...f32.keys()];
      const eleventh = (topK(row, 11)[10] as { prob: number }).prob;
      expected.forEach((entry, rank) => {
        const next = (expected[rank + 1] as { prob: number } | undefined)?.prob ?? eleventh;
        const previous = rank === 0 ? Infinity : (expected[rank - 1] as { prob: number }).prob;
        if (entry.prob - next > TOLERANCE && previous - entry.prob > TOLERANCE) assert.equal(ranked[rank], entry.id, `rank ${rank + 1}`);
      });
      const probs = softmax(row);
      const q8 = await llamaNext(await ensureLlamaTestGguf(shape, 'q8_0'), ids);
      for (const id of [...q8.keys()].slice(0, 10)) assert.ok(Math.abs((q8.get(id) as number) - (probs[id] as number)) < 1e-2, `q8_0 token ${id}`);
    });
  }
});
