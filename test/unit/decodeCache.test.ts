// Where the rewritten decode graph lives: in LM Lens's cache folder, keyed by the model file's
// identity, never in the model's folder (which may be read-only, shared or under version
// control); a changed model file gets a new rewrite; the folder stays bounded.
import * as assert from 'node:assert/strict';
import { chmodSync, copyFileSync, cpSync, existsSync, linkSync, mkdirSync, readdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import { join, relative } from 'node:path';
import { onnx } from 'onnx-proto';
import { loadEngine } from '../../src/core/engine';
import { MAX_DECODE_GRAPHS, decodeGraphFolder, decodeGraphPath, prepareDecodeGraph } from '../../src/core/local/decodeFile';
import { nextTokenDistribution } from '../../src/core/nextToken';
import { loadReference, topK } from '../support/reference';
import { ensureTestModel, repoRoot } from '../support/testModel';
import type { TestModelShape } from '../support/testModel';

const TOLERANCE = 1e-4;
const shape: TestModelShape = { layers: 2, dim: 64, heads: 4, seed: 1 };

/** Every file under `folder` with its size and mtime: a folder that "gains no files" keeps this list. */
function snapshot(folder: string): string[] {
  return (readdirSync(folder, { recursive: true, encoding: 'utf8' }) as string[])
    .map((name) => join(folder, name))
    .map((file) => `${relative(folder, file)} ${statSync(file).isDirectory() ? 'dir' : `${statSync(file).size} ${statSync(file).mtimeMs}`}`)
    .sort();
}

/** The top 5 after "Alice is a" against the float64 reference of the folder's weights. */
async function assertMatchesReference(folder: string, cacheDir: string): Promise<void> {
  const engine = await loadEngine({ model: folder, allowDownloads: false, threads: 1, cacheDir, onLog: (line) => assert.fail(`unexpected fallback: ${line}`) });
  try {
    assert.equal(engine.model.info.decodePath, 'owned-kv');
    const reference = await loadReference(folder);
    const result = await nextTokenDistribution(engine, 'Alice is a', { top: 5 });
    const expected = topK(reference.logits([44484, 318, 257])[2] as Float64Array, 5);
    result.top.forEach((entry, i) => {
      assert.equal(entry.id, expected[i]?.id);
      assert.ok(Math.abs(entry.prob - (expected[i]?.prob as number)) < TOLERANCE);
    });
  } finally {
    await engine.dispose();
  }
}

const entries = (cacheDir: string): string[] => (existsSync(decodeGraphFolder(cacheDir)) ? readdirSync(decodeGraphFolder(cacheDir)).sort() : []);

describe('decode graph cache', function () {
  let work: string;
  let model: string;
  let cacheDir: string;

  beforeEach(async () => {
    work = join(repoRoot(), '.cache', `decode-cache-test-${process.pid}`);
    rmSync(work, { recursive: true, force: true });
    model = join(work, 'model');
    cacheDir = join(work, 'cache');
    cpSync(await ensureTestModel(shape), model, { recursive: true, filter: (source) => !source.includes('lmlens-decode') && !source.includes('gguf') });
  });
  afterEach(() => {
    chmodSync(model, 0o755);
    for (const name of readdirSync(model, { recursive: true, encoding: 'utf8' })) chmodSync(join(model, name), statSync(join(model, name)).isDirectory() ? 0o755 : 0o644);
    rmSync(work, { recursive: true, force: true });
  });

  it('a read-only model folder loads on the owned-KV path and gains no files; the graph is in the cache folder', async () => {
    const before = snapshot(model);
    // Root ignores these modes, so the snapshot is what proves that nothing was written there.
    for (const name of readdirSync(model, { recursive: true, encoding: 'utf8' })) chmodSync(join(model, name), statSync(join(model, name)).isDirectory() ? 0o555 : 0o444);
    chmodSync(model, 0o555);
    await assertMatchesReference(model, cacheDir);
    assert.deepEqual(snapshot(model), before);
    const graph = decodeGraphPath(cacheDir, join(model, 'onnx', 'model.onnx'));
    assert.ok(existsSync(graph) && existsSync(`${graph}.json`), 'the rewrite is cached under the cache folder');
    assert.equal(entries(cacheDir).length, 2);
  });

  it("the token embeddings' Gather reads its own entry of the same bytes as the tied output Gemm (so the Gemm's copy can go once packed)", async () => {
    const prepared = prepareDecodeGraph(join(model, 'onnx', 'model.onnx'), { contextSize: 1024, hiddenSize: 64, vocabSize: 50257 }, cacheDir);
    const graph = onnx.ModelProto.decode(prepared.bytes).graph as onnx.IGraphProto;
    const initializer = (name: string | undefined): onnx.ITensorProto | undefined => graph.initializer?.find((tensor) => tensor.name === name);
    const where = (tensor: onnx.ITensorProto | undefined): string[] => (tensor?.externalData ?? []).map((entry) => `${entry.key}=${entry.value}`).sort();
    const gemm = graph.node?.find((node) => node.opType === 'Gemm');
    const embedding = initializer(gemm?.input?.[1] ?? undefined);
    assert.ok(embedding && where(embedding).length === 3, 'the output Gemm reads the external token embeddings');
    const gathers = (graph.node ?? []).filter((node) => node.opType === 'Gather' && where(initializer(node.input?.[0])).join() === where(embedding).join());
    assert.equal(gathers.length, 1, 'one Gather reads the same bytes');
    assert.notEqual(gathers[0]?.input?.[0], embedding.name, 'through an entry of its own');
    await assertMatchesReference(model, cacheDir);
  });

  it('reuses the entry while the model file is unchanged, and a changed file (size or mtime) gets a new rewrite that replaces it', async () => {
    const file = join(model, 'onnx', 'model.onnx');
    const dims = { contextSize: 1024, hiddenSize: 64, vocabSize: 50257 };
    const first = prepareDecodeGraph(file, dims, cacheDir);
    assert.equal(first.rebuilt, true);
    assert.equal(prepareDecodeGraph(file, dims, cacheDir).rebuilt, false);

    // Same shape and size, other weights: a stale graph would point at the right offsets of the wrong bytes and still run.
    copyFileSync(join(await ensureTestModel({ ...shape, seed: 4 }), 'onnx', 'model.onnx'), file);
    const later = new Date(Date.now() + 5000);
    utimesSync(file, later, later);
    const second = prepareDecodeGraph(file, dims, cacheDir);
    assert.equal(second.rebuilt, true);
    assert.notEqual(second.file, first.file);
    assert.ok(!existsSync(first.file as string), 'the entry of the old file is removed');
    assert.deepEqual(entries(cacheDir), [`${(second.file as string).split('/').pop()}`, `${(second.file as string).split('/').pop()}.json`].sort());
    await assertMatchesReference(model, cacheDir);
  });

  it(`keeps at most ${MAX_DECODE_GRAPHS} entries, the most recently used`, () => {
    const dims = { contextSize: 1024, hiddenSize: 64, vocabSize: 50257 };
    const links = join(work, 'links');
    mkdirSync(links);
    // Hard links: other paths (so other identities) of one file, without copying its bytes.
    const files = Array.from({ length: MAX_DECODE_GRAPHS + 3 }, (_, i) => join(links, `model-${i}.onnx`));
    for (const file of files) linkSync(join(model, 'onnx', 'model.onnx'), file);
    const graphs = files.map((file) => prepareDecodeGraph(file, dims, cacheDir).file as string);
    const kept = entries(cacheDir).filter((name) => name.endsWith('.onnx'));
    assert.equal(kept.length, MAX_DECODE_GRAPHS);
    assert.deepEqual(kept, graphs.slice(-MAX_DECODE_GRAPHS).map((graph) => graph.split('/').pop()).sort());
  });

  it('a cache folder that cannot be written still gives the owned-KV path (the graph then lives in memory)', async () => {
    // A file where the decode graphs' folder should be: no user can create it, root included.
    mkdirSync(cacheDir, { recursive: true });
    copyFileSync(join(model, 'config.json'), decodeGraphFolder(cacheDir));
    await assertMatchesReference(model, cacheDir);
    const prepared = prepareDecodeGraph(join(model, 'onnx', 'model.onnx'), { contextSize: 1024, hiddenSize: 64, vocabSize: 50257 }, cacheDir);
    assert.equal(prepared.file, undefined);
    assert.deepEqual(readdirSync(cacheDir), ['.decode-graphs']);
  });
});
