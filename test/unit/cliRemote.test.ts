// `lm-lens … --server URL --api openai|llama.cpp`: the same --json shapes as the local engine,
// the same numbers, null where a server cannot say, one-line errors.
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadEngine } from '../../src/core/engine';
import type { Engine } from '../../src/core/engine';
import { ProtocolFixture } from '../support/serverFixture';
import type { FixtureApi } from '../support/serverFixture';
import { ensureTestModel, repoRoot } from '../support/testModel';

const TOLERANCE = 1e-4;
const cliBundle = path.join(repoRoot(), 'dist', 'cli.js');

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

/** Asynchronous, so the fixture in this process keeps answering while the CLI runs. */
function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cliBundle, ...args], { env: { ...process.env, LM_LENS_API_KEY: '', ...env }, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ status: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

async function json(args: string[], env?: Record<string, string>): Promise<Record<string, unknown>> {
  const run = await cli([...args, '--json'], env);
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

/** Same keys everywhere (a server's nulls included), numbers within the tolerance except where the server gives null. */
function sameShape(remote: unknown, local: unknown, where: string, loose: ReadonlySet<string>): void {
  if (remote === null && local !== null && loose.has(where.replace(/\[\d+\]/g, '[]'))) return;
  // What a server could not give is listed in `notes`; the local engine has none.
  if (where.endsWith('.notes')) return;
  if (typeof local === 'number' && typeof remote === 'number') {
    assert.ok(Math.abs(remote - local) < TOLERANCE * Math.max(1, Math.abs(local)), `${where}: ${remote} vs ${local}`);
    return;
  }
  if (Array.isArray(local)) {
    assert.ok(Array.isArray(remote), where);
    assert.equal(remote.length, local.length, `${where} length`);
    local.forEach((item, i) => sameShape(remote[i], item, `${where}[${i}]`, loose));
    return;
  }
  if (local && typeof local === 'object') {
    assert.ok(remote && typeof remote === 'object', where);
    assert.deepEqual(Object.keys(remote).sort(), Object.keys(local).sort(), `${where} keys`);
    for (const key of Object.keys(local)) sameShape((remote as Record<string, unknown>)[key], (local as Record<string, unknown>)[key], `${where}.${key}`, loose);
    return;
  }
  if (!where.endsWith('.model')) assert.deepEqual(remote, local, where);
}

describe('lm-lens CLI against a server', function () {
  let engine: Engine;
  let folder: string;

  before(async () => {
    assert.ok(existsSync(cliBundle), 'dist/cli.js is missing: run `npm run build` first');
    folder = await ensureTestModel({ layers: 2, dim: 64, heads: 4, seed: 1 });
    engine = await loadEngine({ model: folder, allowDownloads: false, threads: 1 });
  });
  after(async () => engine?.dispose());

  for (const api of ['openai', 'llama.cpp'] as FixtureApi[]) {
    describe(`--api ${api}`, () => {
      let fixture: ProtocolFixture;
      const local = (args: string[]): Promise<Record<string, unknown>> => json([...args, '--model', folder, '--offline', '--threads', '1']);
      const remote = (args: string[], env?: Record<string, string>): Promise<Record<string, unknown>> => json([...args, '--server', fixture.url, '--api', api], env);

      before(async () => {
        fixture = await ProtocolFixture.start({ api, engine, apiKey: 'sk-cli' });
      });
      after(async () => fixture?.close());
      const key = { LM_LENS_API_KEY: 'sk-cli' };

      it('tokens, next, loss and sentences: the local shapes and numbers; entropy, logits and unknown ranks null', async () => {
        const text = 'Alice was beginning to get very tired. She peeped into the book.';
        for (const args of [['tokens', text], ['next', text, '--top', '10'], ['loss', text, '--bos'], ['sentences', text]]) {
          const [mine, theirs] = await Promise.all([local(args), remote(args, key)]);
          sameShape(theirs, mine, args[0] as string, new Set(['next.entropy', 'loss.tokens[].rank', 'next.top[].logit', 'tokens.vocabSize', 'sentences.computedTokens', 'sentences.sentences[].tokens[].rank', 'sentences.sentences[].tokens[].entropy', 'sentences.sentences[].tokens[].topLogprob', 'sentences.sentences[].tokens[].top10Entropy', 'sentences.sentences[].leastLikely[].entropy', 'sentences.sentences[].leastLikely[].topLogprob', 'sentences.sentences[].leastLikely[].top10Entropy', 'sentences.sentences[].leastLikely[].rank', 'sentences.sentences[].leastLikely[].alternatives[].id']));
        }
        const next = await remote(['next', 'Alice is a'], key);
        assert.equal(next.entropy, null);
        assert.deepEqual(next.notes, ['No entropy: the server gives only the top log-probabilities, not the whole distribution.']);
        assert.equal(fixture.requests.at(-1)?.authorization, 'Bearer sk-cli');
      });

      it('complete and sample give the same shapes; sampled probabilities known with top-k on', async () => {
        const [mine, theirs] = await Promise.all([local(['complete', 'Alice is a', '--max-new-tokens', '6']), remote(['complete', 'Alice is a', '--max-new-tokens', '6'], key)]);
        sameShape(theirs, mine, 'complete', new Set(['complete.tokens[].id']));
        const sampled = await remote(['sample', 'Alice is a', '-n', '2', '--seed', '3', '--top-k', '10', '--max-new-tokens', '4'], key);
        const sequences = sampled.sequences as Array<{ share: number; sampledProb: number; normedProd: number; tokens: unknown[] }>;
        assert.equal(sequences.length, 2);
        assert.ok(Math.abs(sequences.reduce((sum, sequence) => sum + sequence.share, 0) - 1) < TOLERANCE);
        assert.ok(sequences.every((sequence) => sequence.sampledProb > 0 && sequence.normedProd > 0 && sequence.tokens.length > 0));
        const localSample = await local(['sample', 'Alice is a', '-n', '2', '--seed', '3', '--top-k', '10', '--max-new-tokens', '4']);
        assert.deepEqual(Object.keys(sampled).sort(), Object.keys(localSample).sort());
        assert.deepEqual(Object.keys(sequences[0] as object).sort(), Object.keys((localSample.sequences as object[])[0] as object).sort());
      });

      it('report --compare URL: the served model as the second, per sentence; no ratio, and the line saying why', async () => {
        const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'lm-lens-cli-compare-')), 'compare.md');
        writeFileSync(file, 'Alice was beginning to get very tired. She peeped into the book her sister was reading.\n\nIt had no pictures in it.\n');
        const args = ['report', file, '--model', folder, '--offline', '--threads', '1', '--compare', fixture.url, '--compare-api', api];
        const report = await json(args, key);
        const comparison = report.comparison as { ratio: number | null; crossEntropy: number | null; note?: string; sentences: Array<{ lossA: number; lossB: number }> };
        // The fixture serves the same model: its per-sentence loss, computed over the protocol, is the local one.
        assert.equal(comparison.sentences.length, 3);
        comparison.sentences.forEach((sentence, i) => assert.ok(Math.abs(sentence.lossB - sentence.lossA) < TOLERANCE, `sentence ${i}: ${sentence.lossB} vs ${sentence.lossA}`));
        assert.equal(comparison.ratio, null);
        assert.equal(comparison.crossEntropy, null);
        assert.match(comparison.note ?? '', /No cross-perplexity ratio with a server/u);
        const text = await cli(args, key);
        assert.equal(text.status, 0, text.stderr);
        assert.match(text.stdout, /compared with test-gpt2 @ 127\.0\.0\.1:\d+[^\n]*\nNo cross-perplexity ratio with a server/u);
        const refused = await cli(args);
        assert.equal(refused.status, 1);
        assert.match(refused.stderr.trim(), /^[^\n]*refused the request \(401[^\n]*LM_LENS_API_KEY environment variable[^\n]*$/u);
      });

      it('without the key: exit 1 and one line naming LM_LENS_API_KEY', async () => {
        const run = await cli(['next', 'Alice', '--server', fixture.url, '--api', api]);
        assert.equal(run.status, 1);
        const lines = run.stderr.trim().split('\n');
        assert.equal(lines.length, 1, run.stderr);
        assert.match(lines[0] as string, /refused the request \(401.*set its API key with the LM_LENS_API_KEY environment variable/);
      });
    });
  }

  it('usage errors exit 2: --api without --server, an unknown --api', async () => {
    assert.equal((await cli(['next', 'Alice', '--api', 'llama.cpp'])).status, 2);
    const unknown = await cli(['next', 'Alice', '--server', 'http://127.0.0.1:1', '--api', 'tgi']);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /--api must be openai \(vLLM, SGLang\) or llama\.cpp/);
    assert.equal((await cli(['report', 'x.md', '--compare-model', 'm'])).status, 2, '--compare-model without --compare URL');
  });
});
