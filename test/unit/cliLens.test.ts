// `lm-lens lens TEXT`: the JSON shape, the text grid, the same numbers as the core, and
// one line (never layers) from a server backend.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { LENS_NEEDS_LOCAL } from '../../src/core/backend';
import { LmLensError } from '../../src/core/errors';
import { createRemoteBackend } from '../../src/core/remote';
import { formatProbability } from '../../src/shared/format';
import { loadLensReference, logSoftmax, topK } from '../support/reference';
import { specialIds } from '../support/llamaModel';
import { ensureLlamaTestModel } from '../support/llamaTestModel';
import { ensureTestModel, repoRoot } from '../support/testModel';

const cliBundle = path.join(repoRoot(), 'dist', 'cli.js');
const TEXT = 'Alice was beginning to get very tired';

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [cliBundle, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('lm-lens lens', function () {
  let model: string;

  before(async () => {
    assert.ok(existsSync(cliBundle), 'dist/cli.js is missing: run `npm run build` first');
    model = await ensureTestModel({ layers: 2, dim: 64, heads: 4, seed: 1 });
  });

  it('--json has the issue’s shape: L+1 layer rows, attention [layer][head][position], the last row equal to `next`', () => {
    const run = cli(['lens', TEXT, '--model', model, '--offline', '--threads', '1', '--json', '--top', '3']);
    assert.equal(run.status, 0, run.stderr);
    const lens = JSON.parse(run.stdout) as {
      model: string;
      contextTokens: number;
      tokens: Array<{ id: number; text: string }>;
      layers: Array<{ layer: number; top: Array<Record<string, unknown>>; entropy: number; klToFinal: number; final: { id: number; prob: number; rank: number } }>;
      attention: number[][][];
    };
    assert.deepEqual(Object.keys(lens).sort(), ['attention', 'contextTokens', 'layers', 'model', 'tokens']);
    assert.equal(lens.layers.length, 3);
    assert.deepEqual(Object.keys(lens.layers[0] ?? {}).sort(), ['entropy', 'final', 'klToFinal', 'layer', 'top']);
    assert.deepEqual(Object.keys(lens.layers[0]?.top[0] ?? {}).sort(), ['id', 'logprob', 'prob', 'text']);
    assert.deepEqual(Object.keys(lens.layers[0]?.final ?? {}).sort(), ['id', 'prob', 'rank']);
    assert.equal(lens.tokens.length, lens.contextTokens);
    assert.equal(lens.attention.length, 2);
    assert.ok(lens.attention.every((heads) => heads.length === 4 && heads.every((row) => row.length === lens.contextTokens)));
    const next = JSON.parse(cli(['next', TEXT, '--model', model, '--offline', '--threads', '1', '--json', '--top', '3']).stdout) as { top: Array<{ id: number; prob: number }> };
    assert.deepEqual(lens.layers[2]?.top.map((t) => t.id), next.top.map((t) => t.id));
    lens.layers[2]?.top.forEach((t, i) => assert.ok(Math.abs((t.prob as number) - (next.top[i]?.prob as number)) < 1e-6));
  });

  it('prints the grid as a table: layers down, top tokens across with probabilities, rank, entropy and KL', async () => {
    const run = cli(['lens', TEXT, '--model', model, '--offline', '--threads', '1', '--top', '2']);
    assert.equal(run.status, 0, run.stderr);
    const lines = run.stdout.trim().split('\n');
    assert.match(lines[0] ?? '', /^layer\s+top 1\s+top 2\s+final rank\s+entropy\s+KL to final$/);
    // The embeddings row: its top token from the reference (wte + wpe through ln_f and the tied matrix).
    const reference = await loadLensReference(model);
    const ids = JSON.parse(cli(['tokens', TEXT, '--model', model, '--offline', '--json']).stdout).ids as number[];
    const embedded = reference.project(reference.forward(ids).hidden[0]?.[ids.length - 1] as Float64Array);
    const best = topK(embedded, 1)[0];
    assert.ok(best);
    assert.match(lines[2] ?? '', /^embed\s+"/);
    const percent = formatProbability(Math.exp(logSoftmax(embedded)[best.id] as number));
    assert.ok((lines[2] ?? '').includes(percent), `${lines[2]} should show ${percent}%`);
    assert.match(lines[4] ?? '', /^2\s+".*\s1\s+\d+\.\d{3}\s+0\.000$/);
    assert.match(run.stdout, /attention 1: /);
  });

  it('a server backend says in one line that layers need the local engine', async () => {
    const backend = createRemoteBackend('openai', { url: 'http://127.0.0.1:9' });
    assert.equal(backend.capabilities.lens, false);
    await assert.rejects(backend.lens(TEXT), (error) => error instanceof LmLensError && error.code === 'lens-unavailable' && error.message === LENS_NEEDS_LOCAL);
  });
});

describe('lm-lens lens on a Llama 3-tokenizer model (RMSNorm, RoPE, 4 query heads over 2 KV heads)', function () {
  it('starts from <|begin_of_text|>, gives L+1 rows and every query head, the last row equal to `next`, in fp32 and q4', async () => {
    assert.ok(existsSync(cliBundle), 'dist/cli.js is missing: run `npm run build` first');
    const model = await ensureLlamaTestModel({ family: 'llama' });
    for (const dtype of ['fp32', 'q4']) {
      const args = [TEXT, '--model', model, '--dtype', dtype, '--offline', '--threads', '1', '--json', '--top', '3'];
      const run = cli(['lens', ...args]);
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stderr, '');
      const lens = JSON.parse(run.stdout) as { tokens: Array<{ id: number }>; layers: Array<{ top: Array<{ id: number; prob: number }> }>; attention: number[][][] };
      assert.equal(lens.tokens[0]?.id, specialIds('llama').bos);
      assert.equal(lens.layers.length, 3);
      assert.ok(lens.attention.length === 2 && lens.attention.every((heads) => heads.length === 4 && heads.every((row) => row.length === lens.tokens.length)));
      const next = JSON.parse(cli(['next', ...args]).stdout) as { top: Array<{ id: number; prob: number }> };
      assert.deepEqual(lens.layers[2]?.top.map((t) => t.id), next.top.map((t) => t.id), dtype);
      lens.layers[2]?.top.forEach((t, i) => assert.ok(Math.abs(t.prob - (next.top[i]?.prob as number)) < 1e-6, `${dtype} prob ${i}`));
    }
  });
});
