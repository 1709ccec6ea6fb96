// "Settled at layer k" per token (src/core/settledLayers.ts) against the float64 reference, in
// the scoring windows of a document longer than the model's window; and `lm-lens report --layers`.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadEngine } from '../../src/core/engine';
import { scoreWindows } from '../../src/core/scoring';
import { settledHistogram, settledLayers, settledRow } from '../../src/core/settledLayers';
import { loadLensReference, topK } from '../support/reference';
import { ensureTestModel, repoRoot } from '../support/testModel';

const SHAPE = { layers: 3, dim: 48, heads: 3, contextSize: 64, seed: 2 };
const DOCUMENT = 'Alice was beginning to get very tired of sitting by her sister on the bank, and of having nothing to do. Once or twice she had peeped into the book her sister was reading, but it had no pictures or conversations in it. "And what is the use of a book," thought Alice, "without pictures or conversations?"\n';

describe('settled layer per token (logit lens)', function () {
  this.timeout(180_000);

  it('settledRow: the first row from which every later row agrees with the last', () => {
    assert.equal(settledRow(BigInt64Array.from([5n, 7n, 7n, 7n]), 4), 1);
    assert.equal(settledRow(BigInt64Array.from([7n, 5n, 7n, 7n]), 4), 2, 'agreeing early and then not does not count');
    assert.equal(settledRow(BigInt64Array.from([7n, 7n, 7n]), 3), 0);
    assert.equal(settledRow(BigInt64Array.from([1n, 2n, 3n]), 3), 2);
    const { histogram, mean } = settledHistogram([null, 2, 2, 3, undefined, 0], 3);
    assert.deepEqual(histogram.counts, [1, 0, 2, 1]);
    assert.deepEqual(histogram.labels, ['embeddings', 'block 1', 'block 2', 'block 3']);
    assert.equal(mean, 7 / 4);
  });

  it('equals the float64 reference for every token of a document three windows long', async () => {
    const folder = await ensureTestModel(SHAPE);
    const engine = await loadEngine({ model: folder, allowDownloads: false, threads: 1 });
    try {
      const reference = await loadLensReference(folder);
      const ids = [engine.model.info.eosTokenId, ...engine.model.tokenizer.encode(DOCUMENT + DOCUMENT)];
      const windows = scoreWindows(ids.length, SHAPE.contextSize);
      assert.ok(windows.length >= 3, `${ids.length} tokens`);
      const expected: Array<number | null> = ids.map(() => null);
      for (const window of windows) {
        const forward = reference.forward(ids.slice(window.begin, window.end));
        for (let t = window.scoreFrom; t < window.end; t++) {
          const tops = forward.hidden.map((layer) => BigInt(topK(reference.project(layer[t - 1 - window.begin] as Float64Array), 1)[0]?.id as number));
          expected[t] = settledRow(tops, tops.length);
        }
      }
      const actual = await settledLayers(engine, ids);
      assert.deepEqual(actual, expected);
      assert.ok(new Set(actual.filter((layer) => layer !== null)).size > 1, 'the tokens settle at different layers');
    } finally {
      await engine.dispose();
    }
  });

  it('lm-lens report --layers: each token’s settled layer in --json, with the histogram, its mean and each sentence’s mean', async () => {
    const cli = path.join(repoRoot(), 'dist', 'cli.js');
    assert.ok(existsSync(cli), 'dist/cli.js is missing: run `npm run build` first');
    const scratch = mkdtempSync(path.join(os.tmpdir(), 'lm-lens-settled-'));
    try {
      const file = path.join(scratch, 'alice.txt');
      writeFileSync(file, DOCUMENT);
      const model = await ensureTestModel(SHAPE);
      const run = spawnSync(process.execPath, [cli, 'report', file, '--model', model, '--offline', '--threads', '1', '--layers', '--json'], { encoding: 'utf8', timeout: 120_000 });
      assert.equal(run.status, 0, run.stderr);
      const json = JSON.parse(run.stdout) as { settled: { histogram: { counts: number[] }; mean: number; sentenceMeans: number[] }; tokens: Array<{ sentence: number; settledLayer?: number }>; report: { sentenceCount: number } };
      const layers = json.tokens.map((token) => token.settledLayer);
      assert.ok(layers.every((layer) => Number.isInteger(layer) && (layer as number) >= 0 && (layer as number) <= SHAPE.layers), JSON.stringify(layers));
      assert.deepEqual(json.settled.histogram.counts, [0, 1, 2, 3].map((layer) => layers.filter((l) => l === layer).length));
      assert.ok(Math.abs(json.settled.mean - layers.reduce((a, b) => (a as number) + (b as number), 0)! / layers.length) < 1e-12);
      assert.equal(json.settled.sentenceMeans.length, json.report.sentenceCount);
      json.settled.sentenceMeans.forEach((mean, sentence) => {
        const own = json.tokens.filter((token) => token.sentence === sentence).map((token) => token.settledLayer as number);
        assert.ok(Math.abs(mean - own.reduce((a, b) => a + b, 0) / own.length) < 1e-12, `sentence ${sentence}`);
      });
      const text = spawnSync(process.execPath, [cli, 'report', file, '--model', model, '--offline', '--threads', '1', '--layers'], { encoding: 'utf8', timeout: 120_000 });
      assert.match(text.stdout, /settled at layer \(logit lens; mean \d\.\d\d\)\n {2}embeddings/);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
