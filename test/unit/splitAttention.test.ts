// The owned-KV rewrite of the Optimum Llama form (splitAttention.ts): attention behind repeat_kv is
// split per KV head, so no step concatenates or widens the cache. Exactness on that graph against
// the float64 reference: families.test.ts (the Optimum shapes on the owned-KV path), lens.test.ts.
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { onnx } from 'onnx-proto';
import { rewriteForOwnedKv } from '../../src/core/local/decodeGraph';
import type { ModelDims } from '../../src/core/local/decodeGraph';
import { ensureLlamaTestModel, llamaDims } from '../support/llamaTestModel';
import type { LlamaTestShape } from '../support/llamaTestModel';

const SHAPES: LlamaTestShape[] = [{ family: 'qwen2', tied: false, headDim: 24 }, { family: 'llama' }];

const nodesOf = (model: onnx.IModelProto, opType: string): onnx.INodeProto[] => (model.graph?.node ?? []).filter((node) => node.opType === opType);
/** Concat nodes that read a layer's past buffer: the whole cache copied inside the step. */
const cacheConcats = (model: onnx.IModelProto): onnx.INodeProto[] => nodesOf(model, 'Concat').filter((node) => node.input?.some((name) => name.startsWith('past_key_values.')));

describe('owned-KV rewrite of the Optimum Llama form (repeat_kv)', () => {
  for (const shape of SHAPES) {
    it(`${shape.family}: splits attention per KV head with the head counts, and concatenates the cache in the graph without them`, async () => {
      const folder = await ensureLlamaTestModel(shape);
      const bytes = readFileSync(join(folder, 'onnx', 'model.onnx'));
      const d = llamaDims(shape);
      assert.ok(d.kvHeads < d.heads, 'the test shape has grouped-query attention');
      const base: ModelDims = { contextSize: d.contextSize, hiddenSize: d.hidden, vocabSize: d.vocabSize, headDim: d.headDim };
      const original = onnx.ModelProto.decode(bytes);
      assert.equal(nodesOf(original, 'Expand').length, 2 * d.layers, 'the export widens K and V with repeat_kv in every layer');

      const split = onnx.ModelProto.decode(bytes);
      rewriteForOwnedKv(split, { ...base, heads: d.heads, kvHeads: d.kvHeads });
      assert.deepEqual(cacheConcats(split), []);
      assert.equal(nodesOf(split, 'Expand').length, 0, 'no K/V widened to every query head');
      // Each layer reads its past keys and values once each, per KV head.
      for (let layer = 0; layer < d.layers; layer++) {
        for (const part of ['key', 'value']) {
          const readers = (split.graph?.node ?? []).filter((node) => node.input?.includes(`past_key_values.${layer}.${part}`) && node.opType !== 'Shape');
          assert.deepEqual(readers.map((node) => node.opType), [part === 'key' ? 'Transpose' : 'MatMul']);
        }
      }

      const whole = onnx.ModelProto.decode(bytes);
      rewriteForOwnedKv(whole, base);
      assert.equal(cacheConcats(whole).length, 2 * d.layers);
    });
  }
});
