// Fast int8 (MatMulNBits bits 8): the block quantiser and the engine built on it, against the
// float64 reference. Approximate by design: the tolerances are those of int8 blocks of 32.
import * as assert from 'node:assert/strict';
import { loadEngine } from '../../src/core/engine';
import { INT8_BLOCK, quantizeBlocks } from '../../src/core/local/int8Weights';
import { nextTokenDistribution } from '../../src/core/nextToken';
import { loadReference, topK } from '../support/reference';
import { ensureTestModel } from '../support/testModel';
import { normalArray } from '../support/weights';

describe('fast int8 (MatMulNBits)', function () {
  it('blocks of 32 dequantise to within half a step, in both weight layouts', () => {
    const [k, n] = [64, 3];
    const weights = normalArray(k * n, 0, 0.2, 11);
    for (const transposed of [false, true]) {
      const { blocks, scales } = quantizeBlocks(weights, k, n, transposed);
      assert.equal(blocks.length, k * n);
      for (let col = 0; col < n; col++) {
        for (let row = 0; row < k; row++) {
          const b = Math.floor(row / INT8_BLOCK);
          const scale = scales[col * (k / INT8_BLOCK) + b] as number;
          const restored = ((blocks[(col * (k / INT8_BLOCK) + b) * INT8_BLOCK + (row % INT8_BLOCK)] as number) - 128) * scale;
          const original = (transposed ? weights[col * k + row] : weights[row * n + col]) as number;
          assert.ok(Math.abs(restored - original) <= scale / 2 + 1e-7, `row ${row} col ${col} transposed ${transposed}`);
        }
      }
    }
  });

  it('an engine with fastInt8 keeps the reference top-1 and probabilities within 1e-2', async () => {
    const folder = await ensureTestModel({ layers: 2, dim: 64, heads: 4, seed: 1 });
    const engine = await loadEngine({ model: folder, allowDownloads: false, threads: 1, fastInt8: true });
    try {
      assert.equal(engine.model.info.decodePath, 'owned-kv');
      assert.equal(engine.model.info.fastInt8?.matrices, 2 * 4 + 1, 'every block matrix and the output projection');
      const reference = await loadReference(folder);
      const expected = topK(reference.logits([44484, 318, 257])[2] as Float64Array, 10);
      const result = await nextTokenDistribution(engine, 'Alice is a', { top: 10 });
      assert.equal(result.top[0]?.id, expected[0]?.id);
      for (const entry of result.top) {
        const exact = expected.find((e) => e.id === entry.id);
        if (exact) assert.ok(Math.abs(entry.prob - exact.prob) < 1e-2, `token ${entry.id}`);
      }
    } finally {
      await engine.dispose();
    }
  });

  it('the precision q8-fast (lmLens.dtype, --dtype) is the fp32 file with fast int8 weights, and says so', async () => {
    const folder = await ensureTestModel({ layers: 2, dim: 64, heads: 4, seed: 1 });
    const engine = await loadEngine({ model: folder, allowDownloads: false, threads: 1, dtype: 'q8-fast' });
    try {
      assert.equal(engine.model.info.dtype, 'q8-fast');
      assert.equal(engine.model.info.fastInt8?.matrices, 2 * 4 + 1);
    } finally {
      await engine.dispose();
    }
    const exported = await loadEngine({ model: folder, allowDownloads: false, threads: 1, dtype: 'q8-fast', decodePath: 'export', onLog: () => undefined });
    try {
      assert.equal(exported.model.info.dtype, 'fp32', 'without the owned-KV path the fp32 file runs as it is');
      assert.equal(exported.model.info.fastInt8, undefined);
    } finally {
      await exported.dispose();
    }
  });
});
