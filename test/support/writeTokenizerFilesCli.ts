// Writes the tokenizer.json each test-model family uses (gpt2, llama, qwen) into OUT/<family>/,
// exactly as the test-model builders write them, for scripts/hf_token_ids.py to read.
// npx tsx test/support/writeTokenizerFilesCli.ts OUT
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { llamaTokenizerFiles } from './llamaModel';
import { gpt2TokenizerFiles } from './tokenizerFiles';

const out = process.argv[2];
if (!out) throw new Error('usage: tsx test/support/writeTokenizerFilesCli.ts OUT');
const files = { gpt2: gpt2TokenizerFiles(1024), llama: llamaTokenizerFiles('llama', 512), qwen: llamaTokenizerFiles('qwen3', 512) };
for (const [family, { tokenizerJson }] of Object.entries(files)) {
  mkdirSync(join(out, family), { recursive: true });
  writeFileSync(join(out, family, 'tokenizer.json'), tokenizerJson);
}
