// The owned-KV decode path (src/core/local) against the export's own graph and the float64
// reference: same logits, losses, top-k and sampled probabilities; a fallback for exports it does
// not recognise. Where the rewritten graph is cached: decodeCache.test.ts.
import * as assert from 'node:assert/strict';
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadEngine } from '../../src/core/engine';
import type { Engine } from '../../src/core/engine';
import { sampleContinuations } from '../../src/core/generation';
import { kvForRows } from '../../src/core/prefixCache';
import type { KvState } from '../../src/core/model';
import { nextTokenDistribution } from '../../src/core/nextToken';
import { scoreIds } from '../../src/core/scoring';
import { loadReference, logSoftmax, topK } from '../support/reference';
import { unrecognisedExport } from '../support/brokenOnnx';
import { ensureTestModel, repoRoot } from '../support/testModel';
import type { TestModelShape } from '../support/testModel';

const TOLERANCE = 1e-4;
const IDS = [44484, 373, 3726, 284, 651, 845, 10032, 286, 5586, 416, 607, 6621, 319, 262, 3331, 11, 290];

const SHAPES: Array<{ name: string; shape: TestModelShape }> = [
  { name: '2 layers × 64', shape: { layers: 2, dim: 64, heads: 4, seed: 1 } },
  { name: '3 layers × 48, window 64, logits-to-keep', shape: { layers: 3, dim: 48, heads: 3, contextSize: 64, seed: 2, numLogitsToKeep: true } },
  { name: 'Optimum-style export (no position_ids, causal-mask table, additive mask), window 64', shape: { layers: 2, dim: 64, heads: 4, contextSize: 64, seed: 3, pattern: 'optimum' } },
];

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}

/** Chained forward passes (prefill in two chunks, then single tokens); every step's logits. */
async function chain(engine: Engine, rows: number[][], mask?: number[][]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  let past: KvState | undefined;
  const width = rows[0]?.length ?? 0;
  const cuts = [0, 5, 9, ...Array.from({ length: width - 9 }, (_, i) => 10 + i)].filter((cut) => cut <= width);
  for (let c = 0; c + 1 < cuts.length; c++) {
    const [from, to] = [cuts[c] as number, cuts[c + 1] as number];
    const result = await engine.forward(
      rows.map((row) => row.slice(from, to)),
      past,
      { attentionMask: mask?.map((row) => row.slice(0, to)) },
    );
    out.push(result.logits);
    past = result.present;
  }
  return out;
}

for (const { name, shape } of SHAPES) {
  describe(`owned-KV decode path on ${name}`, function () {
    let owned: Engine;
    let exported: Engine;
    let folder: string;

    before(async () => {
      folder = await ensureTestModel(shape);
      owned = await loadEngine({ model: folder, allowDownloads: false, threads: 1, onLog: (line) => assert.fail(`unexpected fallback: ${line}`) });
      exported = await loadEngine({ model: folder, allowDownloads: false, threads: 1, decodePath: 'export' });
    });
    after(async () => {
      await owned?.dispose();
      await exported?.dispose();
    });

    it('is the default and returns only the new K/V', () => {
      assert.equal(owned.model.info.decodePath, 'owned-kv');
      assert.equal(exported.model.info.decodePath, 'export');
    });

    it('keeps only the last positions’ logits when asked (the rewrite adds num_logits_to_keep where the export lacks it), per row of a batch', async () => {
      assert.equal(owned.model.info.supportsLogitsToKeep, true);
      const rows = [IDS, [...IDS].reverse()];
      const vocab = owned.model.info.vocabSize;
      const full = await exported.forward(rows, undefined);
      const kept = await owned.forward(rows, undefined, { logitsToKeep: 3 });
      assert.equal(kept.keptPositions, 3);
      rows.forEach((_, b) => {
        const lastThree = full.logits.subarray((b * IDS.length + IDS.length - 3) * vocab, (b + 1) * IDS.length * vocab);
        assert.ok(maxDiff(kept.logits.subarray(b * 3 * vocab, (b + 1) * 3 * vocab), lastThree) < TOLERANCE, `row ${b}`);
      });
      const all = await owned.forward(rows, undefined, { logitsToKeep: 0 });
      assert.equal(all.keptPositions, IDS.length);
      assert.ok(maxDiff(all.logits, full.logits) < TOLERANCE);
    });

    it('chained forward passes equal the export graph within 1e-4', async () => {
      const mine = await chain(owned, [IDS]);
      const theirs = await chain(exported, [IDS]);
      mine.forEach((logits, i) => assert.ok(maxDiff(logits, theirs[i] as Float32Array) < TOLERANCE, `step ${i}`));
    });

    it('a left-padded batch equals the export graph (Optimum-style export: the reference, since its own positions ignore padding)', async () => {
      const padded = [IDS, [50256, 50256, 50256, ...IDS.slice(3)]];
      const mask = [IDS.map(() => 1), [0, 0, 0, ...IDS.slice(3).map(() => 1)]];
      const mine = await chain(owned, padded, mask);
      if (shape.pattern === 'optimum') {
        const reference = await loadReference(folder);
        const expected = reference.logits(IDS.slice(3)).at(-1) as Float64Array;
        const last = mine.at(-1) as Float32Array;
        const vocab = expected.length;
        assert.ok(maxDiff(last.subarray(last.length - vocab), expected) < TOLERANCE);
        return;
      }
      const theirs = await chain(exported, padded, mask);
      // Each row's last position: padded positions attend to nothing and nobody reads their logits.
      const vocab = owned.vocabSize;
      const lastOfRows = (logits: Float32Array): Float32Array[] => {
        const perRow = logits.length / padded.length;
        return padded.map((_, b) => logits.subarray((b + 1) * perRow - vocab, (b + 1) * perRow));
      };
      mine.forEach((logits, i) => lastOfRows(logits).forEach((row, b) => assert.ok(maxDiff(row, lastOfRows(theirs[i] as Float32Array)[b] as Float32Array) < TOLERANCE, `step ${i} row ${b}`)));
    });

    it('scores past the window, and repeats after prefix-cache reuse, like the export graph', async () => {
      const long = Array.from({ length: 150 }, (_, i) => IDS[i % IDS.length] as number);
      const mine = await scoreIds(owned, long);
      const again = await scoreIds(owned, long);
      const theirs = await scoreIds(exported, long, {});
      for (const [i, token] of mine.entries()) {
        assert.ok(Math.abs(token.logprob - (theirs[i]?.logprob as number)) < TOLERANCE, `token ${i}`);
        assert.ok(Math.abs(token.logprob - (again[i]?.logprob as number)) < TOLERANCE, `token ${i} after reuse`);
      }
    });

    it('top-k after an edit of the last token (the cache forks its buffer) and sampled probabilities equal the reference', async () => {
      const reference = await loadReference(folder);
      const edited = [...IDS.slice(0, -1), 1049];
      await nextTokenDistribution(owned, owned.model.tokenizer.decode(IDS), { top: 10 });
      for (const ids of [edited, IDS]) {
        const result = await nextTokenDistribution(owned, owned.model.tokenizer.decode(ids), { top: 10 });
        const expected = topK(reference.logits(ids).at(-1) as Float64Array, 10);
        result.top.forEach((entry, i) => assert.ok(Math.abs(entry.prob - (expected[i]?.prob as number)) < TOLERANCE, `rank ${i}`));
      }
      const prompt = IDS.slice(0, 6);
      // Three rows attend to the prompt's K/V as shared positions where the window leaves room, else to copies.
      const rows = kvForRows((await owned.run(prompt)).kv, 3, 4, owned.contextSize);
      assert.equal(rows.shared !== undefined, owned.contextSize >= 128, `shared: ${rows.shared !== undefined}, window ${owned.contextSize}`);
      const samples = await sampleContinuations(owned, prompt, { n: 3, maxNewTokens: 4, seed: 5, topK: 0 });
      for (const sequence of samples) {
        let context = [...prompt];
        for (const token of sequence.tokens) {
          const logProbs = logSoftmax(reference.logits(context).at(-1) as Float64Array);
          assert.ok(Math.abs(token.prob - Math.exp(logProbs[token.id] as number)) < TOLERANCE);
          assert.ok(Math.abs(token.sampledProb - token.prob) < TOLERANCE, 'top-k 0, temperature 1: sampled = raw');
          context = [...context, token.id];
        }
      }
    });
  });
}

describe('owned-KV decode path: fallback', function () {
  const shape: TestModelShape = { layers: 2, dim: 64, heads: 4, seed: 1 };
  let work: string;

  beforeEach(async () => {
    work = join(repoRoot(), '.cache', `decode-path-test-${process.pid}`);
    rmSync(work, { recursive: true, force: true });
    cpSync(await ensureTestModel(shape), work, { recursive: true, filter: (source) => !source.includes('lmlens-decode') && !source.includes('gguf') });
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  it('an export it does not recognise still loads on its own graph, with one log line', async () => {
    // Valid ONNX that runs, but not the pattern.
    unrecognisedExport(join(work, 'onnx', 'model.onnx'));
    const lines: string[] = [];
    const engine = await loadEngine({ model: work, allowDownloads: false, threads: 1, onLog: (line) => lines.push(line) });
    try {
      assert.equal(engine.model.info.decodePath, 'export');
      assert.equal(lines.length, 1);
      assert.match(lines[0] as string, /present\.0\.key is not Concat.*using the export's graph/);
      const reference = await loadReference(work);
      const result = await nextTokenDistribution(engine, 'Alice is a', { top: 5 });
      const expected = topK(reference.logits([44484, 318, 257])[2] as Float64Array, 5);
      assert.deepEqual(result.top.map((entry) => entry.id), expected.map((entry) => entry.id));
    } finally {
      await engine.dispose();
    }
  });
});
