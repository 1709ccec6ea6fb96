// The lens graph finds its roles in exports written differently from the test builder's: layer
// norms decomposed into ReduceMean/Sub/Pow/Sqrt/Div (as torch exports them below opset 17, e.g.
// older hub files), and an export it cannot read (opset 12) says so in one line.
import * as assert from 'node:assert/strict';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { onnx } from 'onnx-proto';
import { loadEngine } from '../../src/core/engine';
import { lensAt } from '../../src/core/lens';
import { addLensOutputs } from '../../src/core/local/lensGraph';
import { UnrecognisedExport } from '../../src/core/local/decodeGraph';
import { loadLensReference, logSoftmax, topK } from '../support/reference';
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
    const engine = await loadEngine({ model: work, allowDownloads: false, threads: 1, onLog: (line) => assert.fail(`unexpected fallback: ${line}`) });
    try {
      const reference = await loadLensReference(work);
      const ids = engine.model.tokenizer.encode(TEXT);
      const lens = await lensAt(engine, TEXT, { top: 3 });
      const hidden = reference.forward(ids).hidden;
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
  });

  it('an export below opset 13 is refused with the reason (the lens error names it)', async () => {
    const model = onnx.ModelProto.decode(readFileSync(join(work, 'onnx', 'model.onnx')));
    model.opsetImport = [{ domain: '', version: 12 }];
    assert.throws(() => addLensOutputs(model, shape.layers, shape.dim), (error) => error instanceof UnrecognisedExport && /opset 12/.test(error.message));
  });
});
