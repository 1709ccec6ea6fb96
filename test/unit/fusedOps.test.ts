// The decode graph's fusions (src/core/local/fusedOps.ts): which chains become SkipLayerNormalization
// and FastGelu, that a chain computing something else is left alone, and that the fused graph
// computes the unfused one's logits. The fused graph against the export and the float64
// reference: decodePath.test.ts (it runs the product's graph, which is fused).
import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { prepareDecodeGraph } from '../../src/core/local/decodeFile';
import { fuseDecodeOps, geluNew, unfuseSkipLayerNorm } from '../../src/core/local/fusedOps';
import { ensureTestModel } from '../support/testModel';
import type { TestModelShape } from '../support/testModel';

const LAYERS = 2;
const SHAPES: Array<{ name: string; shape: TestModelShape }> = [
  { name: 'compact export', shape: { layers: LAYERS, dim: 64, heads: 4, seed: 1 } },
  { name: 'Optimum-style export', shape: { layers: LAYERS, dim: 64, heads: 4, contextSize: 64, seed: 3, pattern: 'optimum' } },
];

const count = (model: onnx.IModelProto, opType: string): number => (model.graph?.node ?? []).filter((node) => node.opType === opType).length;
const copy = (model: onnx.IModelProto): onnx.IModelProto => onnx.ModelProto.decode(onnx.ModelProto.encode(model).finish());

/** Logits of one 3-token forward from an empty cache, through `model` with its weights in `dataFolder`. */
async function logitsOf(model: onnx.IModelProto, dataFolder: string): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(onnx.ModelProto.encode(model).finish(), { intraOpNumThreads: 1, extra: { session: { model_external_initializers_file_folder_path: dataFolder } } });
  try {
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of session.inputNames) {
      if (name === 'input_ids') feeds[name] = new ort.Tensor('int64', BigInt64Array.of(44484n, 318n, 257n), [1, 3]);
      else if (name === 'attention_mask') feeds[name] = new ort.Tensor('int64', BigInt64Array.of(1n, 1n, 1n), [1, 3]);
      else if (name === 'position_ids') feeds[name] = new ort.Tensor('int64', BigInt64Array.of(0n, 1n, 2n), [1, 3]);
      else if (name === 'num_logits_to_keep') feeds[name] = new ort.Tensor('int64', BigInt64Array.of(0n), []);
      else feeds[name] = new ort.Tensor('float32', new Float32Array(0), [1, 4, 0, 16]);
    }
    return (await session.run(feeds)).logits?.data as Float32Array;
  } finally {
    await session.release();
  }
}

for (const { name, shape } of SHAPES) {
  describe(`decode graph fusions on the ${name}`, function () {
    let cacheDir: string;
    let dataFolder: string;
    let unfused: onnx.IModelProto;
    let fused: onnx.IModelProto;

    before(async () => {
      cacheDir = mkdtempSync(join(tmpdir(), 'lmlens-fused-'));
      const file = join(await ensureTestModel(shape), 'onnx', 'model.onnx');
      const dims = { contextSize: shape.contextSize ?? 1024, hiddenSize: 64, vocabSize: 50257 };
      const plain = prepareDecodeGraph(file, dims, cacheDir, 'float', false);
      dataFolder = plain.dataFolder;
      unfused = onnx.ModelProto.decode(plain.bytes);
      fused = onnx.ModelProto.decode(prepareDecodeGraph(file, dims, cacheDir).bytes);
    });
    after(() => rmSync(cacheDir, { recursive: true, force: true }));

    it('every norm becomes SkipLayerNormalization and every GELU FastGelu, with the bias Adds folded in', () => {
      assert.equal(count(unfused, 'LayerNormalization'), 2 * LAYERS + 1);
      assert.equal(count(fused, 'LayerNormalization'), 0);
      assert.equal(count(fused, 'SkipLayerNormalization'), 2 * LAYERS + 1);
      assert.equal(count(fused, 'FastGelu'), LAYERS);
      assert.equal(count(fused, 'Tanh'), 0);
      // Per layer: c_proj's and the MLP's output biases go into the next norm, c_fc's into FastGelu.
      const biasInputs = (fused.graph?.node ?? []).filter((node) => (node.opType === 'SkipLayerNormalization' && node.input?.[4]) || (node.opType === 'FastGelu' && node.input?.[1]));
      assert.equal(biasInputs.length, 3 * LAYERS);
    });

    it('computes the unfused graph’s logits (float32 rounding apart)', async () => {
      const [mine, theirs] = [await logitsOf(fused, dataFolder), await logitsOf(unfused, dataFolder)];
      assert.equal(mine.length, theirs.length);
      const scale = theirs.reduce((max, v) => Math.max(max, Math.abs(v)), 0);
      const worst = mine.reduce((max, v, i) => Math.max(max, Math.abs(v - (theirs[i] as number))), 0);
      assert.ok(worst <= 1e-5 * Math.max(1, scale), `max |Δ| ${worst} at scale ${scale}`);
    });

    it('the lens graph’s unfusing gives back one LayerNormalization per norm, reading the residual stream', () => {
      const model = copy(fused);
      unfuseSkipLayerNorm(model);
      assert.equal(count(model, 'SkipLayerNormalization'), 0);
      assert.equal(count(model, 'LayerNormalization'), 2 * LAYERS + 1);
    });
  });
}

describe('decode graph fusions leave other chains alone', function () {
  let cacheDir: string;
  let unfused: onnx.IModelProto;

  before(async () => {
    cacheDir = mkdtempSync(join(tmpdir(), 'lmlens-fused-'));
    const file = join(await ensureTestModel(SHAPES[0]?.shape as TestModelShape), 'onnx', 'model.onnx');
    unfused = onnx.ModelProto.decode(prepareDecodeGraph(file, { contextSize: 1024, hiddenSize: 64, vocabSize: 50257 }, cacheDir, 'float', false).bytes);
  });
  after(() => rmSync(cacheDir, { recursive: true, force: true }));

  /** Sets the float scalar initializer `name` of `model` to `value`. */
  const setScalar = (model: onnx.IModelProto, name: string, value: number): void => {
    const tensor = model.graph?.initializer?.find((t) => t.name === name) as onnx.ITensorProto;
    tensor.rawData = new Uint8Array(Float32Array.of(value).buffer);
    tensor.floatData = [];
  };

  it('a tanh chain with another coefficient than gelu_new’s is not taken for a GELU (the norms still fuse)', () => {
    const model = copy(unfused);
    setScalar(model, 'gelu_coefficient', 0.05);
    const summary = fuseDecodeOps(model);
    assert.equal(summary.fastGelus, 0);
    assert.equal(count(model, 'Tanh'), LAYERS);
    assert.equal(summary.skipLayerNorms, 2 * LAYERS + 1);
  });

  it('the cube written as Pow(x, 3), as PyTorch exports it, is still gelu_new', () => {
    const model = copy(unfused);
    model.graph?.initializer?.push({ name: 'three', dims: [], dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(Float32Array.of(3).buffer) });
    const nodes = model.graph?.node ?? [];
    for (const node of nodes.filter((n) => n.opType === 'Mul' && n.input?.[0] === n.input?.[1])) {
      // Mul(Mul(x, x), x) → Pow(x, 3): the outer Mul reads the square; it becomes the Pow, the square goes.
      const outer = nodes.find((n) => n.opType === 'Mul' && n.input?.[0] === node.output?.[0]) as onnx.INodeProto;
      outer.opType = 'Pow';
      outer.input = [node.input?.[0] as string, 'three'];
      nodes.splice(nodes.indexOf(node), 1);
    }
    assert.equal(count(model, 'Pow'), LAYERS);
    assert.equal(fuseDecodeOps(model).fastGelus, LAYERS);
  });

  it('gelu_new itself: 0 at 0, x for large x, 0 for very negative x', () => {
    assert.equal(geluNew(0), 0);
    assert.ok(Math.abs(geluNew(10) - 10) < 1e-9);
    assert.ok(Math.abs(geluNew(-10)) < 1e-9);
    // Against the erf form it approximates: within 1e-3 everywhere.
    for (let x = -5; x <= 5; x += 0.5) assert.ok(Math.abs(geluNew(x) - 0.5 * x * (1 + erf(x / Math.SQRT2))) < 1e-3, String(x));
  });
});

/** Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7), independent of the code under test. */
function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return x >= 0 ? y : -y;
}
