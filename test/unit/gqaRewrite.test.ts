// The owned-KV rewrite of the onnxruntime-genai form (GroupQueryAttention, gqaAttention.ts): what the
// rewritten graph holds, and the op's variants it does not reproduce, which keep the export's
// graph with one log line. Exactness against the float64 reference: families.test.ts.
import * as assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onnx } from 'onnx-proto';
import { loadEngine } from '../../src/core/engine';
import { UnrecognisedExport, rewriteForOwnedKv } from '../../src/core/local/decodeGraph';
import type { ModelDims } from '../../src/core/local/decodeGraph';
import { ensureLlamaTestModel, llamaDims } from '../support/llamaTestModel';
import type { LlamaTestShape } from '../support/llamaTestModel';

const FUSED: LlamaTestShape = { family: 'llama', form: 'genai', headDim: 32 };
const UNFUSED: LlamaTestShape = { family: 'qwen3', form: 'genai' };

async function exportOf(shape: LlamaTestShape): Promise<{ folder: string; model: () => onnx.ModelProto; dims: ModelDims }> {
  const folder = await ensureLlamaTestModel(shape);
  const bytes = readFileSync(join(folder, 'onnx', 'model.onnx'));
  const d = llamaDims(shape);
  return { folder, model: () => onnx.ModelProto.decode(bytes), dims: { contextSize: d.contextSize, hiddenSize: d.hidden, vocabSize: d.vocabSize, headDim: d.headDim } };
}

const gqaNodes = (model: onnx.IModelProto): onnx.INodeProto[] => (model.graph?.node ?? []).filter((node) => node.opType === 'GroupQueryAttention');

function setAttribute(node: onnx.INodeProto, name: string, value: { i?: number; f?: number }): void {
  const type = value.f === undefined ? onnx.AttributeProto.AttributeType.INT : onnx.AttributeProto.AttributeType.FLOAT;
  node.attribute = [...(node.attribute ?? []).filter((a) => a.name !== name), { name, type, ...value }];
}

describe('owned-KV rewrite of a GroupQueryAttention export', () => {
  it('replaces every GroupQueryAttention by plain ops: new.N.* out, no present.*, nothing left of seqlens_k, position_ids added only where RoPE was fused', async () => {
    for (const shape of [FUSED, UNFUSED]) {
      const { model: fresh, dims } = await exportOf(shape);
      const model = fresh();
      const layers = llamaDims(shape).layers;
      assert.equal(gqaNodes(model).length, layers);
      const hadPositionIds = (model.graph?.input ?? []).some((v) => v.name === 'position_ids');
      const info = rewriteForOwnedKv(model, dims);
      const graph = model.graph as onnx.IGraphProto;
      assert.equal(gqaNodes(model).length, 0);
      assert.equal(info.layers, layers);
      assert.equal(info.addedPositionIds, !hadPositionIds);
      assert.equal(hadPositionIds, shape.family === 'qwen3', 'the builder fuses RoPE where no q/k norm comes first');
      const outputs = (graph.output ?? []).map((v) => v.name as string);
      assert.deepEqual(outputs.filter((name) => name.startsWith('present.')), []);
      assert.equal(outputs.filter((name) => name.startsWith('new.')).length, 2 * layers);
      // The op's lengths were derived from attention_mask; with the op gone, so are they.
      assert.ok(!(graph.node ?? []).some((node) => node.output?.some((name) => name.startsWith('gqa_seqlens_k') || name.startsWith('gqa_total_sequence_length'))));
    }
  });

  // Each changes layer 1's op; the cos/sin caches are every layer's, so their refusal names layer 0.
  const unsupported: Array<{ what: string; change: (node: onnx.INodeProto, model: onnx.IModelProto) => void; reason: RegExp }> = [
    { what: 'a sliding window', change: (node) => setAttribute(node, 'local_window_size', { i: 16 }), reason: /layer 1: .*sliding window/ },
    { what: 'softcap', change: (node) => setAttribute(node, 'softcap', { f: 30 }), reason: /layer 1: .*softcap/ },
    { what: 'interleaved rotary', change: (node) => setAttribute(node, 'rotary_interleaved', { i: 1 }), reason: /layer 1: .*interleaved rotary/ },
    {
      what: 'partial rotary (cos_cache narrower than half a head)',
      change: (node, model) => {
        const cache = model.graph?.initializer?.find((t) => t.name === node.input?.[7]) as onnx.ITensorProto;
        cache.dims = [Number(cache.dims?.[0]) * 2, Number(cache.dims?.[1]) / 2];
      },
      reason: /layer 0: .*cos_cache is not a \[positions, 16\] initializer/,
    },
    {
      what: 'a float16 cache (q4f16 exports)',
      change: (node, model) => {
        const past = model.graph?.input?.find((v) => v.name === node.input?.[3]) as onnx.IValueInfoProto;
        (past.type?.tensorType as onnx.TypeProto.ITensor).elemType = onnx.TensorProto.DataType.FLOAT16;
      },
      reason: /layer 1: past_key_values\.1\.key is not float32/,
    },
    { what: 'an attention_bias input', change: (node) => (node.input = [...(node.input ?? []), '', 'attention_mask']), reason: /layer 1: .*attention_bias/ },
  ];
  for (const { what, change, reason } of unsupported) {
    it(`refuses ${what}, naming it`, async () => {
      const { model: fresh, dims } = await exportOf(FUSED);
      const model = fresh();
      change(gqaNodes(model)[1] as onnx.INodeProto, model);
      assert.throws(() => rewriteForOwnedKv(model, dims), (error: Error) => error instanceof UnrecognisedExport && reason.test(error.message));
    });
  }

  it('an export with a sliding-window GroupQueryAttention loads on its own graph with one log line', async () => {
    const { folder, model: fresh } = await exportOf(FUSED);
    const copy = mkdtempSync(join(tmpdir(), 'lmlens-gqa-window-'));
    try {
      cpSync(folder, copy, { recursive: true });
      const model = fresh();
      for (const node of gqaNodes(model)) setAttribute(node, 'local_window_size', { i: 16 });
      writeFileSync(join(copy, 'onnx', 'model.onnx'), onnx.ModelProto.encode(model).finish());
      const logs: string[] = [];
      const engine = await loadEngine({ model: copy, allowDownloads: false, threads: 1, cacheDir: join(copy, 'cache'), onLog: (line) => logs.push(line) });
      try {
        assert.equal(engine.model.info.decodePath, 'export');
        assert.equal(logs.length, 1, logs.join('\n'));
        assert.match(logs[0] as string, /does not fit the owned-KV decode path \(layer 0: GroupQueryAttention with a sliding window \(local_window_size\)\); using the export's graph/);
      } finally {
        await engine.dispose();
      }
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });
});
