// The `lm-lens` CLI as a user runs it: exit codes, one-line errors, JSON contracts.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BROKEN_ONNX, unrecognisedExport } from '../support/brokenOnnx';
import { ensureTestModel, repoRoot } from '../support/testModel';

interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], input?: string): CliResult {
  // The bundle users run (npm test builds it first).
  const result = spawnSync(process.execPath, [cliBundle, ...args], {
    encoding: 'utf8',
    input,
    // An empty cache and no hub: nothing here may reach the network.
    env: { ...process.env, LM_LENS_CACHE_DIR: emptyCache },
    timeout: 120_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function assertOneLineError(result: CliResult, pattern: RegExp): void {
  assert.equal(result.status, 1, `exit status (stderr: ${result.stderr})`);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line: ${result.stderr}`);
  assert.match(lines[0] ?? '', pattern);
}

let emptyCache = '';
const cliBundle = path.join(repoRoot(), 'dist', 'cli.js');

describe('lm-lens CLI', function () {
  let model: string;
  let scratch: string;

  before(async () => {
    assert.ok(existsSync(cliBundle), 'dist/cli.js is missing: run `npm run build` first');
    model = await ensureTestModel({ layers: 2, dim: 64, heads: 4, seed: 1 });
    scratch = mkdtempSync(path.join(os.tmpdir(), 'lm-lens-cli-'));
    emptyCache = path.join(scratch, 'empty-cache');
  });
  after(() => rmSync(scratch, { recursive: true, force: true }));

  function brokenCopy(name: string, breakIt: (folder: string) => void): string {
    const folder = path.join(scratch, name);
    cpSync(model, folder, { recursive: true });
    breakIt(folder);
    return folder;
  }

  it('tokens --json gives GPT-2 ids and vocabulary size', () => {
    const result = cli(['tokens', 'Alice is a', '--model', model, '--json']);
    assert.equal(result.status, 0, result.stderr);
    const json = JSON.parse(result.stdout) as { ids: number[]; vocabSize: number; tokens: string[] };
    assert.deepEqual(json.ids, [44484, 318, 257]);
    assert.equal(json.vocabSize, 50257);
    assert.deepEqual(json.tokens, ['Alice', ' is', ' a']);
  });

  it('reads TEXT from stdin with "-" and prints a readable table by default', () => {
    const result = cli(['loss', '-', '--model', model], 'Alice is a');
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /loss \d+\.\d{4}\s+perplexity/);
    assert.match(result.stdout, /"␣is"/);
  });

  it('loss, next and sample --json follow the documented shapes', () => {
    const loss = JSON.parse(cli(['loss', 'Alice is a', '--model', model, '--json', '--bos']).stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(loss).sort(), ['bos', 'loss', 'model', 'perplexity', 'predicted', 'tokens'].sort());
    assert.equal(loss.predicted, 3);
    const next = JSON.parse(cli(['next', 'Alice', '--model', model, '--json', '--top', '3']).stdout) as { top: Array<Record<string, unknown>>; contextTokens: number };
    assert.equal(next.top.length, 3);
    assert.deepEqual(Object.keys(next.top[0] ?? {}).sort(), ['id', 'logit', 'logprob', 'prob', 'text']);
    assert.equal(next.contextTokens, 1);
  });

  it('sample --seed 7 twice gives identical JSON whose shares sum to 1', () => {
    const args = ['sample', 'Alice', '--model', model, '--json', '--seed', '7', '-n', '3', '--max-new-tokens', '10'];
    const first = cli(args);
    const second = cli(args);
    assert.equal(first.status, 0, first.stderr);
    assert.equal(first.stdout, second.stdout);
    const json = JSON.parse(first.stdout) as { sequences: Array<{ share: number; normedProd: number; tokens: Array<{ normedProb: number }> }> };
    assert.equal(json.sequences.length, 3);
    assert.ok(Math.abs(json.sequences.reduce((sum, s) => sum + s.share, 0) - 1) < 1e-9);
    for (let step = 0; step < 10; step++) {
      const column = json.sequences.filter((s) => s.tokens.length > step).reduce((sum, s) => sum + (s.tokens[step]?.normedProb as number), 0);
      assert.ok(Math.abs(column - 1) < 1e-9, `normedProb at step ${step} sums to ${column}`);
    }
    for (const s of json.sequences) assert.ok(s.normedProd > 0 && s.normedProd <= 1);
  });

  it('report FILE --json gives the same per-sentence numbers as sentences, and --compare the cross-perplexity', () => {
    const file = path.join(scratch, 'report.md');
    const text = '# Title\n\nAlice is a girl. She reads a book!\n\nThe book has no pictures.\n';
    writeFileSync(file, text);
    const result = cli(['report', file, '--model', model, '--json', '--compare', model]);
    assert.equal(result.status, 0, result.stderr);
    const json = JSON.parse(result.stdout) as {
      report: { summary: { tokens: number; perplexity: number }; sentences: Array<{ loss: number; tokenCount: number }> };
      comparison: { ratio: number; lossA: number; lossB: number; crossEntropy: number };
      tokens: Array<{ sentence: number; logprob: number }>;
    };
    const sentences = JSON.parse(cli(['sentences', text, '--model', model, '--json']).stdout) as { sentences: Array<{ loss: number; tokenCount: number }> };
    assert.deepEqual(json.report.sentences.map((s) => s.tokenCount), sentences.sentences.map((s) => s.tokenCount));
    json.report.sentences.forEach((s, i) => assert.ok(Math.abs(s.loss - (sentences.sentences[i]?.loss as number)) < 1e-9));
    assert.equal(json.tokens.length, json.report.summary.tokens);
    // A model against itself: H(p, p) is its entropy, and both losses agree.
    assert.ok(Math.abs(json.comparison.lossA - json.comparison.lossB) < 1e-4);
    assert.ok(json.comparison.ratio > 0 && Number.isFinite(json.comparison.ratio));
    const plain = cli(['report', file, '--model', model]);
    assert.equal(plain.status, 0, plain.stderr);
    assert.match(plain.stdout, /perplexity/u);
    assert.match(plain.stdout, /most surprising sentences/u);
  });

  it('report of a missing file exits 1 with one line', () => {
    assertOneLineError(cli(['report', path.join(scratch, 'absent.md'), '--model', model]), /Cannot read .*absent\.md: ENOENT/u);
  });

  it('exits 2 with usage on bad arguments', () => {
    assert.equal(cli([]).status, 2);
    assert.equal(cli(['frobnicate', 'x']).status, 2);
    const bad = cli(['next', 'x', '--top', 'many']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--top needs an integer/);
  });

  it('complete: --stop-at and --min-token-prob outside their values exit 2 naming them; --json reports stopReason', () => {
    assert.match(cli(['complete', 'x', '--stop-at', 'page']).stderr, /--stop-at must be sentence, line, paragraph, got "page"/);
    const high = cli(['complete', 'x', '--min-token-prob', '0.9']);
    assert.equal(high.status, 2);
    assert.match(high.stderr, /--min-token-prob must lie between 0 and 0\.5, got 0\.9/);
    const result = cli(['complete', 'Alice was beginning to get very', '--model', model, '--json', '--stop-at', 'paragraph', '--min-token-prob', '0']);
    assert.equal(result.status, 0, result.stderr);
    const json = JSON.parse(result.stdout) as { text: string; stopReason: string; tokens: Array<{ id: number }> };
    assert.ok(['eos', 'paragraph', 'repetition', 'length'].includes(json.stopReason), json.stopReason);
    assert.ok(json.tokens.length > 0);
  });

  it('a missing folder exits 1 with one line naming the fix', () => {
    assertOneLineError(cli(['tokens', 'x', '--model', path.join(scratch, 'nope')]), /does not exist.*lmLens\.model|--model/);
  });

  it('a folder without tokenizer_config.json names the file', () => {
    const folder = brokenCopy('no-tokenizer-config', (dir) => unlinkSync(path.join(dir, 'tokenizer_config.json')));
    assertOneLineError(cli(['tokens', 'x', '--model', folder]), /missing tokenizer_config\.json/);
  });

  for (const [name, breakIt] of BROKEN_ONNX) {
    it(`a ${name} model.onnx is one line on stderr, the real error (no notice about the decode path before it)`, () => {
      const folder = brokenCopy(`${name}-onnx`, (dir) => breakIt(path.join(dir, 'onnx', 'model.onnx')));
      assertOneLineError(cli(['next', 'x', '--model', folder]), /^lm-lens: .*model\.onnx is not a readable ONNX model/);
      // Not even --verbose has a notice to give: a file that is no model is no export that "does not fit".
      assertOneLineError(cli(['next', 'x', '--model', folder, '--verbose']), /^lm-lens: .*model\.onnx is not a readable ONNX model/);
    });
  }

  it('notices go to stderr only with --verbose: an export the decode path does not recognise still answers', () => {
    const folder = brokenCopy('unrecognised-export', (dir) => unrecognisedExport(path.join(dir, 'onnx', 'model.onnx')));
    const quiet = cli(['next', 'Alice is a', '--model', folder, '--json']);
    assert.equal(quiet.status, 0, quiet.stderr);
    assert.equal(quiet.stderr, '');
    const verbose = cli(['next', 'Alice is a', '--model', folder, '--json', '--verbose']);
    assert.equal(verbose.status, 0, verbose.stderr);
    assert.deepEqual(JSON.parse(verbose.stdout), JSON.parse(quiet.stdout));
    assert.match(verbose.stderr.trim(), /^LM Lens: .*does not fit the owned-KV decode path \(present\.0\.key is not Concat.*\); using the export's graph\.$/);
  });

  it('config.json of a non-causal model is refused, even when its architectures name an LM head', () => {
    const folder = brokenCopy('bert-config', (dir) => writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ model_type: 'bert', architectures: ['BertForMaskedLM'] })));
    assertOneLineError(cli(['tokens', 'x', '--model', folder]), /not a causal language model/);
    const headed = brokenCopy('bert-lm-head-config', (dir) => writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ model_type: 'bert', architectures: ['BertLMHeadModel'] })));
    assertOneLineError(cli(['tokens', 'x', '--model', headed]), /"bert" model, not a causal language model.*the model type decides/);
  });

  it('an unknown or absent precision names what is available', () => {
    assertOneLineError(cli(['tokens', 'x', '--model', model, '--dtype', 'fp64']), /Unknown precision "fp64"/);
    const folder = brokenCopy('fp32-only', (dir) => copyFileSync(path.join(dir, 'config.json'), path.join(dir, 'config.copy.json')));
    assertOneLineError(cli(['tokens', 'x', '--model', folder, '--dtype', 'q4']), /no onnx\/model_q4\.onnx.*fp32/);
  });

  it('Xenova/gpt2 with downloads off and nothing cached says how to fix it', () => {
    assertOneLineError(cli(['tokens', 'Alice', '--model', 'Xenova/gpt2', '--offline']), /not in the model cache and downloads are off/);
  });
});
