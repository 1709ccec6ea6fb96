// The lens graph finds its roles in exports written differently from the test builder's: layer
// norms decomposed into ReduceMean/Sub/Pow/Sqrt/Div (as torch exports them below opset 17, e.g.
// older hub files), and an export it cannot read (opset 12) says so in one line.
import * as assert from 'node:assert/strict';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { onnx } from 'onnx-proto';
import { loadEngine } from '../../src/core/engine';
import { lensAt } from '../../src/core/lens';
import { promptIds } from '../../src/core/nextToken';
import { addLensOutputs } from '../../src/core/local/lensGraph';
import { UnrecognisedExport, rewriteForOwnedKv } from '../../src/core/local/decodeGraph';
import { loadLensReference, logSoftmax, topK } from '../support/reference';
import { ensureLlamaTestModel, llamaDims } from '../support/llamaTestModel';
import { ensureTestModel, repoRoot } from '../support/testModel';

const TEXT = 'Alice was beginning to get very tired of sitting';

/** Every LayerNormalization node as torch's opset-14 export writes it: mean, centred, variance, √(var + ε), scale, shift. */
function decomposeLayerNorms(model: onnx.IModelProto): number {
  const graph = model.graph as onnx.IGraphProto;
  const nodes: onnx.INodeProto[] = [];
  let count = 0;
  const float = (name: string, value: number): void => {
    graph.initializer?.push({ name, dims: [], dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(Float32Array.of(value).buffer) });
  };
  float('decomposed_two', 2);
  for (const node of graph.node ?? []) {
    if (node.opType !== 'LayerNormalization') {
      nodes.push(node);
      continue;
    }
    const [x, scale, bias] = node.input as string[];
    const epsilon = node.attribute?.find((a) => a.name === 'epsilon')?.f ?? 1e-5;
    const n = `decomposed_${count++}`;
    float(`${n}_epsilon`, epsilon);
    const axes = { name: 'axes', type: onnx.AttributeProto.AttributeType.INTS, ints: [-1] };
    const op = (opType: string, input: string[], output: string, attribute: onnx.IAttributeProto[] = []): void => void nodes.push({ opType, input, output: [output], name: `${output}_node`, attribute });
    op('ReduceMean', [x as string], `${n}_mean`, [axes]);
    op('Sub', [x as string, `${n}_mean`], `${n}_centred`);
    op('Pow', [`${n}_centred`, 'decomposed_two'], `${n}_squared`);
    op('ReduceMean', [`${n}_squared`], `${n}_variance`, [axes]);
    op('Add', [`${n}_variance`, `${n}_epsilon`], `${n}_variance_eps`);
    op('Sqrt', [`${n}_variance_eps`], `${n}_std`);
    op('Div', [`${n}_centred`, `${n}_std`], `${n}_normed`);
    op('Mul', [`${n}_normed`, scale as string], `${n}_scaled`);
    op('Add', [`${n}_scaled`, bias as string], node.output?.[0] as string);
  }
  graph.node = nodes;
  return count;
}

/** The lens of `folder` at the end of TEXT: per layer the reference's top 3 ids, their probabilities and the entropy within 1e-4. */
async function assertLensAsReference(folder: string): Promise<void> {
  const engine = await loadEngine({ model: folder, allowDownloads: false, threads: 1, onLog: (line) => assert.fail(`unexpected fallback: ${line}`) });
  try {
    const reference = await loadLensReference(folder);
    const ids = promptIds(engine, TEXT);
    const lens = await lensAt(engine, TEXT, { top: 3 });
    const hidden = reference.forward(ids).hidden;
    assert.equal(lens.layers.length, reference.config.layers + 1);
    lens.layers.forEach((layer, i) => {
      const row = reference.project(hidden[i]?.[ids.length - 1] as Float64Array);
      const expected = topK(row, 3);
      assert.deepEqual(layer.top.map((t) => t.id), expected.map((t) => t.id), `layer ${i}`);
      layer.top.forEach((t, k) => assert.ok(Math.abs(t.prob - (expected[k]?.prob as number)) < 1e-4));
      const lp = logSoftmax(row);
      assert.ok(Math.abs(layer.entropy - lp.reduce((h, v) => h - Math.exp(v) * v, 0)) < 1e-4, `layer ${i} entropy`);
    });
  } finally {
    await engine.dispose();
  }
}

/**
 * Every RMSNorm of the Llama test builder (Pow, ReduceMean, Add ε, Sqrt, Div, Mul w) rewritten as
 * another exporter writes it: onnxruntime's fused SimplifiedLayerNormalization, or torch's rsqrt
 * (Reciprocal of the root, then Mul(x, ·) and Mul(w, ·), factors in the other order).
 */
function rewriteRmsNorms(model: onnx.IModelProto, form: 'fused' | 'rsqrt'): number {
  const graph = model.graph as onnx.IGraphProto;
  const nodes = graph.node ?? [];
  const readers = (name: string): onnx.INodeProto[] => nodes.filter((node) => node.input?.includes(name));
  const only = (name: string, opType: string): onnx.INodeProto => {
    const found = readers(name).filter((node) => node.opType === opType);
    assert.equal(found.length, 1, `${opType} after ${name}`);
    return found[0] as onnx.INodeProto;
  };
  const dropped = new Set<onnx.INodeProto>();
  const added: onnx.INodeProto[] = [];
  let count = 0;
  for (const pow of nodes.filter((node) => node.opType === 'Pow' && node.input?.[1] === 'const_two')) {
    const x = pow.input?.[0] as string;
    const mean = only(pow.output?.[0] as string, 'ReduceMean');
    const add = only(mean.output?.[0] as string, 'Add');
    const sqrt = only(add.output?.[0] as string, 'Sqrt');
    const div = only(sqrt.output?.[0] as string, 'Div');
    const scale = only(div.output?.[0] as string, 'Mul');
    const weight = scale.input?.[1] as string;
    const output = scale.output?.[0] as string;
    const name = `rms_${count++}`;
    if (form === 'fused') {
      const epsilon = graph.initializer?.find((t) => t.name === add.input?.[1]);
      const value = new DataView((epsilon?.rawData as Uint8Array).buffer, (epsilon?.rawData as Uint8Array).byteOffset).getFloat32(0, true);
      added.push({ opType: 'SimplifiedLayerNormalization', input: [x, weight], output: [output], name, attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: -1 }, { name: 'epsilon', type: onnx.AttributeProto.AttributeType.FLOAT, f: value }] });
      dropped.add(pow).add(mean).add(add).add(sqrt);
    } else {
      added.push({ opType: 'Reciprocal', input: [sqrt.output?.[0] as string], output: [`${name}_inverse`], name: `${name}_inverse` });
      added.push({ opType: 'Mul', input: [`${name}_inverse`, x], output: [`${name}_normed`], name: `${name}_normed` });
      added.push({ opType: 'Mul', input: [weight, `${name}_normed`], output: [output], name: `${name}_scaled` });
    }
    dropped.add(div).add(scale);
  }
  graph.node = [...nodes.filter((node) => !dropped.has(node)), ...added];
  return count;
}

describe('lens graph on other exports', function () {
  this.timeout(120_000);
  const shape = { layers: 2, dim: 64, heads: 4, seed: 1 };
  let work: string;

  beforeEach(async () => {
    work = join(repoRoot(), '.cache', `lens-graph-test-${process.pid}`);
    rmSync(work, { recursive: true, force: true });
    cpSync(await ensureTestModel(shape), work, { recursive: true, filter: (source) => !source.includes('lmlens-decode') && !source.includes('gguf') });
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  it('decomposed layer norms: the same lens as the reference', async () => {
    const file = join(work, 'onnx', 'model.onnx');
    const model = onnx.ModelProto.decode(readFileSync(file));
    assert.equal(decomposeLayerNorms(model), 2 * shape.layers + 1);
    writeFileSync(file, onnx.ModelProto.encode(model).finish());
    await assertLensAsReference(work);
  });

  it('an export below opset 13 is refused with the reason (the lens error names it)', async () => {
    const model = onnx.ModelProto.decode(readFileSync(join(work, 'onnx', 'model.onnx')));
    model.opsetImport = [{ domain: '', version: 12 }];
    assert.throws(() => addLensOutputs(model, shape.layers, shape.dim), (error) => error instanceof UnrecognisedExport && /opset 12/.test(error.message));
  });
});

describe('lens graph on the Llama family as other exporters write RMSNorm', function () {
  this.timeout(120_000);
  let work: string;
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  for (const { family, form, norms } of [
    // Qwen3's per-head q/k norms are fused too: they are not on the residual stream and must drop out.
    { family: 'qwen3', form: 'fused', norms: 4 * 2 + 1 },
    { family: 'llama', form: 'rsqrt', norms: 2 * 2 + 1 },
  ] as const) {
    it(`${family} with ${form === 'fused' ? 'SimplifiedLayerNormalization' : 'x · Reciprocal(√(mean(x²) + ε))'}: the same lens as the reference`, async () => {
      work = join(repoRoot(), '.cache', `lens-graph-${family}-${process.pid}`);
      rmSync(work, { recursive: true, force: true });
      cpSync(await ensureLlamaTestModel({ family }), work, { recursive: true, filter: (source) => !source.includes('gguf') && !source.includes('_q4') });
      const file = join(work, 'onnx', 'model.onnx');
      const model = onnx.ModelProto.decode(readFileSync(file));
      assert.equal(rewriteRmsNorms(model, form), norms);
      writeFileSync(file, onnx.ModelProto.encode(model).finish());
      await assertLensAsReference(work);
    });
  }

});

describe('lens graph on the GroupQueryAttention (onnxruntime-genai) form', () => {
  it('on the rewritten GroupQueryAttention form, every layer’s attention is read from the per-query-head Softmax, not the per-KV-head regrouping', async () => {
    const shape = { family: 'qwen3', form: 'genai' } as const;
    const d = llamaDims(shape);
    const model = onnx.ModelProto.decode(readFileSync(join(await ensureLlamaTestModel(shape), 'onnx', 'model.onnx')));
    rewriteForOwnedKv(model, { contextSize: d.contextSize, hiddenSize: d.hidden, vocabSize: d.vocabSize, headDim: d.headDim });
    addLensOutputs(model, d.layers, d.hidden);
    const nodes = model.graph?.node ?? [];
    const producer = (name: string): onnx.INodeProto | undefined => nodes.find((node) => node.output?.includes(name));
    const rows = producer('lens.attention')?.input ?? [];
    assert.equal(rows.length, d.layers);
    for (const row of rows) assert.equal(producer(producer(row)?.input?.[0] as string)?.opType, 'Softmax', 'the last row is sliced from a Softmax');
  });

  it("a GroupQueryAttention export (onnxruntime-genai's builder) is refused in one line naming the op", async () => {
    const model = onnx.ModelProto.decode(readFileSync(join(await ensureLlamaTestModel({ family: 'qwen3', form: 'genai' }), 'onnx', 'model.onnx')));
    assert.throws(
      () => addLensOutputs(model, 2, 64),
      (error) => error instanceof UnrecognisedExport && /GroupQueryAttention/.test(error.message) && !error.message.includes('\n'),
    );
  });
});
