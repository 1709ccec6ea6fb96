// The tokenizer's dead merge list is released without changing a single id or decoded string:
// a tokenizer whose list was dropped encodes and decodes exactly as a fresh one of the same files.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AutoTokenizer } from '@huggingface/transformers';
import type { PreTrainedTokenizer } from '@huggingface/transformers';
import { releaseUnusedTokenizerTables } from '../../src/core/tokenizerMemory';
import { llamaTokenizerFiles } from '../support/llamaModel';
import type { LlamaFamily } from '../support/llamaModel';

// Prose, code, CRLF, runs of spaces, accents, CJK, emoji (4-byte UTF-8), digits and a special token's text.
const TEXTS = [
  'The old lighthouse keeper climbed the spiral stairs every evening, counting one hundred and twelve steps.',
  'function add(a, b) {\r\n    return a + b; // 42\r\n}\n\n\tindent',
  'Ünïcödé façade — naïve café, 東京タワー, 🦜🚀 and 12345678901234567890.',
  'Words<|endoftext|>after   many    spaces\u00a0here',
];

const load = (folder: string): Promise<PreTrainedTokenizer> => AutoTokenizer.from_pretrained(folder, { local_files_only: true });

describe('releaseUnusedTokenizerTables', () => {
  for (const family of ['llama', 'qwen3'] as LlamaFamily[]) {
    it(`drops ${family}'s merge list and the tokenizer still encodes and decodes exactly as before`, async () => {
      const folder = mkdtempSync(join(tmpdir(), 'lm-lens-tokmem-'));
      try {
        const files = llamaTokenizerFiles(family, 512);
        writeFileSync(join(folder, 'tokenizer.json'), files.tokenizerJson);
        writeFileSync(join(folder, 'tokenizer_config.json'), files.tokenizerConfigJson);
        const merges = (JSON.parse(readFileSync(join(folder, 'tokenizer.json'), 'utf8')) as { model: { merges: unknown[] } }).model.merges.length;
        const fresh = await load(folder);
        const released = await load(folder);
        assert.equal(releaseUnusedTokenizerTables(released), merges);
        // A second call finds nothing left to release.
        assert.equal(releaseUnusedTokenizerTables(released), 0);
        for (const text of TEXTS) {
          const ids = fresh.encode(text);
          assert.deepEqual(released.encode(text), ids, text);
          assert.deepEqual(released.encode(text, { add_special_tokens: false }), fresh.encode(text, { add_special_tokens: false }), text);
          assert.equal(released.decode(ids), fresh.decode(ids), text);
        }
      } finally {
        rmSync(folder, { recursive: true, force: true });
      }
    });
  }

  it('leaves a tokenizer of another shape alone', () => {
    const shapes = [{}, { _tokenizer: {} }, { _tokenizer: { model: { merges: [['a', 'b']] } } }, { _tokenizer: { model: { merges: [['a', 'b']], bpe_ranks: new Map() } } }];
    for (const shape of shapes) {
      const before = JSON.stringify(shape);
      assert.equal(releaseUnusedTokenizerTables(shape as unknown as PreTrainedTokenizer), 0);
      assert.equal(JSON.stringify(shape), before);
    }
  });
});
