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
const MODELS: Record<string, { load: () => Promise<string>; nfc: boolean }> = {
  gpt2: { load: () => ensureTestModel({ layers: 2, dim: 64, heads: 4, seed: 1 }), nfc: false },
  llama: { load: () => ensureLlamaTestModel({ family: 'llama' }), nfc: false },
  qwen: { load: () => ensureLlamaTestModel({ family: 'qwen3' }), nfc: true },
};

/**
 * The text's tokens cover it from 0 to its end in order, no span edge splits a character, and
 * with an NFC normalizer (Qwen) none falls between a character and its combining marks either:
 * an NFD "e" + U+0301 is read as one "é".
 */
function assertSpansTile(text: string, spans: Array<{ start: number; end: number }>, nfc: boolean): void {
  if (spans.length === 0) return assert.equal(text, '');
  const edges = new Set([0]);
  for (const piece of text.match(nfc ? /\P{M}\p{M}*|\p{M}+/gsu : /./gsu) ?? []) edges.add(Math.max(...edges) + piece.length);
  assert.equal(spans[0]?.start, 0, JSON.stringify(text));
  assert.equal(spans.at(-1)?.end, text.length, JSON.stringify(text));
  spans.forEach((span, i) => {
    assert.ok(span.start <= span.end && edges.has(span.start) && edges.has(span.end), `${JSON.stringify(text)}: span ${i} ${JSON.stringify(span)}`);
    if (i > 0) assert.ok(span.start >= (spans[i - 1] as { start: number }).start, `${JSON.stringify(text)}: span ${i} goes back`);
  });
}

for (const [family, { load, nfc }] of Object.entries(MODELS)) {
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
        const { ids, spans, added } = await backend.tokenize(text);
        if (JSON.stringify(ids) !== JSON.stringify(expected?.ids[i])) wrong.push(`${JSON.stringify(text)}: ${JSON.stringify(ids)} vs ${JSON.stringify(expected?.ids[i])}`);
        assertSpansTile(text, spans.slice(added), nfc);
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
