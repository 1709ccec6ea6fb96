// `lm-lens next|loss --server … --api llama.cpp` against a real llama.cpp `llama-server` running
// the GGUF of a test model, checked against the float64 reference of that model. No such binary
// ships with the project or is built by it: set LM_LENS_LLAMA_SERVER to a llama-server built from
// a llama.cpp checkout to run this; without it the suite is skipped (as on CI).
import * as assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { freePort } from '../../scripts/codeServer';
import { createRemoteBackend } from '../../src/core/remote';
import { loadReference, logSoftmax, softmax, topK } from '../support/reference';
import type { ReferenceModel } from '../support/reference';
import { ensureTestGguf, ensureTestModel, repoRoot } from '../support/testModel';
import type { TestModelShape } from '../support/testModel';

const binary = process.env.LM_LENS_LLAMA_SERVER;
const SHAPE: TestModelShape = { layers: 2, dim: 64, heads: 4, seed: 1 };
const TOLERANCE = 1e-3;
const LOG_TOLERANCE = 1e-2;
const cliBundle = path.join(repoRoot(), 'dist', 'cli.js');

async function waitHealthy(url: string, child: ChildProcess): Promise<void> {
  for (let attempt = 0; attempt < 300; attempt++) {
    if (child.exitCode !== null) throw new Error(`llama-server exited with ${child.exitCode}`);
    const healthy = await fetch(`${url}/health`).then((response) => response.ok, () => false);
    if (healthy) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('llama-server did not become healthy within 30 s');
}

function cliJson(args: string[]): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [cliBundle, ...args, '--json'], { env: { ...process.env, LM_LENS_API_KEY: '' }, timeout: 120_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`lm-lens ${args.join(' ')}: ${stderr || error.message}`));
      else resolve(JSON.parse(stdout) as Record<string, unknown>);
    });
  });
}

(binary ? describe : describe.skip)('lm-lens against a real llama-server (LM_LENS_LLAMA_SERVER)', function () {
  this.timeout(180_000);
  let server: ChildProcess;
  let url: string;
  let reference: ReferenceModel;
  let tokenize: (text: string) => number[];

  before(async () => {
    assert.ok(existsSync(cliBundle), 'dist/cli.js is missing: run `npm run build` first');
    const folder = await ensureTestModel(SHAPE);
    reference = await loadReference(folder);
    const { AutoTokenizer } = await import('@huggingface/transformers');
    const tokenizer = await AutoTokenizer.from_pretrained(folder, { local_files_only: true });
    tokenize = (text) => tokenizer.encode(text, { add_special_tokens: false });
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    server = spawn(binary as string, ['-m', await ensureTestGguf(SHAPE, 'f32'), '--host', '127.0.0.1', '--port', String(port), '-c', '1024', '-t', '1', '-np', '1'], { stdio: 'ignore' });
    await waitHealthy(url, server);
  });
  after(() => {
    server?.kill();
  });

  it('next --top 10: the ids and probabilities of the reference within 1e-3', async () => {
    const text = 'Alice is a';
    const ids = tokenize(text);
    const probs = softmax(reference.logits(ids)[ids.length - 1] as Float64Array);
    const expected = topK(reference.logits(ids)[ids.length - 1] as Float64Array, 10);
    const answer = await cliJson(['next', text, '--server', url, '--api', 'llama.cpp', '--top', '10']);
    const top = answer.top as Array<{ id: number; prob: number }>;
    assert.equal(top.length, 10);
    top.forEach((entry, i) => {
      assert.ok(Math.abs(entry.prob - (probs[entry.id] as number)) < TOLERANCE, `rank ${i + 1} (${entry.id}): ${entry.prob} vs ${probs[entry.id] as number}`);
      // The same id at each rank, unless the reference's own two candidates there are closer than the tolerance.
      const wanted = expected[i] as { id: number; prob: number };
      if (entry.id !== wanted.id) assert.ok(Math.abs((probs[entry.id] as number) - wanted.prob) < TOLERANCE, `rank ${i + 1}: ${entry.id} instead of ${wanted.id}`);
    });
    assert.deepEqual(new Set(top.map((entry) => entry.id)), new Set(expected.map((entry) => entry.id)));
  });

  it('loss: every token id and probability of the reference within 1e-3, log-probabilities and the mean loss within 1e-2', async () => {
    const text = 'Alice was beginning to get very tired of sitting by her sister on the bank.';
    const ids = tokenize(text);
    const logits = reference.logits(ids);
    const answer = await cliJson(['loss', text, '--server', url, '--api', 'llama.cpp']);
    const tokens = answer.tokens as Array<{ id: number; logprob: number | null; prob: number | null }>;
    assert.deepEqual(tokens.map((token) => token.id), ids);
    let sum = 0;
    for (let i = 1; i < ids.length; i++) {
      const exact = (logSoftmax(logits[i - 1] as Float64Array)[ids[i] as number] as number);
      sum -= exact;
      const got = tokens[i]?.logprob ?? Number.NaN;
      // This llama.cpp computes GELU from an fp16 table, which moves logits by ~1e-3 on these
      // random weights (logits of ±20): probabilities agree to 1e-3, log-probabilities to 1e-2.
      assert.ok(Math.abs(got - exact) < LOG_TOLERANCE, `token ${i} (${ids[i]}): ${got} vs ${exact}`);
      assert.ok(Math.abs((tokens[i]?.prob ?? Number.NaN) - (softmax(logits[i - 1] as Float64Array)[ids[i] as number] as number)) < TOLERANCE);
    }
    assert.ok(Math.abs((answer.loss as number) - sum / (ids.length - 1)) < LOG_TOLERANCE, `loss ${answer.loss as number} vs ${sum / (ids.length - 1)}`);
  });

  it('ghost text, streamed: the greedy tokens of the reference, and a stop rule closes the stream early', async () => {
    const text = 'Alice was beginning to get very';
    const ids = tokenize(text);
    const expected = [...ids];
    for (let step = 0; step < 8; step++) expected.push((topK(reference.logits(expected)[expected.length - 1] as Float64Array, 1)[0] as { id: number }).id);
    const backend = createRemoteBackend('llama.cpp', { url });
    const completion = await backend.complete(ids, { maxNewTokens: 8 });
    assert.deepEqual(completion.tokens.map((token) => token.id), expected.slice(ids.length));
    const greedy = (backend as unknown as { greedy: (ids: number[], max: number, signal?: AbortSignal, stop?: (tokens: unknown[]) => boolean) => Promise<{ tokens: unknown[] }> }).greedy.bind(backend);
    assert.equal((await greedy(ids, 8, undefined, (tokens) => tokens.length >= 3)).tokens.length, 3);
  });
});
