// Bad models, odd documents and the no-network promise, against the real core and service.
import * as assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadEngine } from '../../src/core/engine';
import type { Engine } from '../../src/core/engine';
import { LmLensError } from '../../src/core/errors';
import { causalModelType } from '../../src/core/model';
import type { LmLensErrorCode } from '../../src/core/errors';
import { scoreSentences } from '../../src/core/sentenceLoss';
import { nextTokenDistribution } from '../../src/core/nextToken';
import { ModelService } from '../../src/host/modelService';
import { MAX_TEXT_CHARS } from '../../src/shared/settings';
import type { ModelState } from '../../src/shared/hostProtocol';
import { BROKEN_ONNX, seededBytes } from '../support/brokenOnnx';
import { ensureTestModel, repoRoot } from '../support/testModel';


describe('faults: bad models', function () {
  let model: string;
  let scratch: string;

  before(async () => {
    model = await ensureTestModel({ layers: 2, dim: 64, heads: 4, seed: 1 });
    scratch = mkdtempSync(path.join(os.tmpdir(), 'lm-lens-faults-'));
  });
  after(() => rmSync(scratch, { recursive: true, force: true }));

  function variant(name: string, breakIt: (folder: string) => void): string {
    const folder = path.join(scratch, name);
    cpSync(model, folder, { recursive: true });
    breakIt(folder);
    return folder;
  }

  async function expectLoadError(folderOrId: string, code: LmLensErrorCode, pattern: RegExp, extra: { dtype?: string; allowDownloads?: boolean } = {}): Promise<void> {
    await assert.rejects(
      loadEngine({ model: folderOrId, allowDownloads: false, cacheDir: path.join(scratch, 'empty-cache'), threads: 1, ...extra }),
      (error: unknown) => {
        assert.ok(error instanceof LmLensError, `an LmLensError, got ${String(error)}`);
        assert.equal(error.code, code, error.message);
        assert.ok(!error.message.includes('\n'), 'one line');
        assert.match(error.message, pattern);
        assert.match(error.message, /lmLens\.|--|Restart|Replace|Add|Re-download/, 'names a fix');
        return true;
      },
    );
  }

  for (const file of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx']) {
    it(`names a missing ${file}`, async () => {
      const folder = variant(`missing-${file.replace('/', '-')}`, (dir) => unlinkSync(path.join(dir, file)));
      await expectLoadError(folder, 'file-missing', new RegExp(`missing ${file.replace('.', '\\.')}`));
    });
  }

  it('a missing folder', async () => expectLoadError(path.join(scratch, 'nowhere'), 'folder-missing', /does not exist/));
  it('config.json that is not JSON', async () => {
    const folder = variant('bad-json', (dir) => writeFileSync(path.join(dir, 'config.json'), '{ "model_type": "gpt2", '));
    await expectLoadError(folder, 'config-invalid', /not valid JSON/);
  });
  it('a config that is not a causal LM', async () => {
    const folder = variant('bert', (dir) => writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ model_type: 'bert', architectures: ['BertModel'], vocab_size: 30522 })));
    await expectLoadError(folder, 'not-causal-lm', /not a causal language model/);
  });
  it('a BERT config.json is refused even when its architectures name an LM head (transformers.js loads by model_type)', async () => {
    for (const architecture of ['BertLMHeadModel', 'GPT2LMHeadModel']) {
      const folder = variant(`bert-as-${architecture}`, (dir) => {
        const config = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
        writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, model_type: 'bert', architectures: [architecture] }));
      });
      await expectLoadError(folder, 'not-causal-lm', /"bert" model, not a causal language model.*the model type decides.*--model/);
    }
  });
  it('the model types taken for causal LMs are transformers.js’s own (AutoModelForCausalLM’s table)', () => {
    for (const type of ['gpt2', 'llama', 'qwen2']) assert.equal(causalModelType(type), true, type);
    for (const type of ['bert', 't5', 'vit', '']) assert.equal(causalModelType(type), false, type);
  });
  for (const [name, breakIt] of BROKEN_ONNX) {
    it(`a ${name} model.onnx`, async () => {
      const folder = variant(`onnx-${name}`, (dir) => breakIt(path.join(dir, 'onnx', 'model.onnx')));
      await expectLoadError(folder, 'onnx-invalid', /not a readable ONNX model/);
    });
  }
  it('a tokenizer larger than the model’s vocabulary', async () => {
    const folder = variant('vocab-mismatch', (dir) => {
      const config = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
      writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, vocab_size: 50000 }));
    });
    await expectLoadError(folder, 'vocab-mismatch', /50257 tokens but the model only 50000/);
  });
  it('a precision whose file is absent, and an unknown one', async () => {
    await expectLoadError(model, 'dtype-unavailable', /no onnx\/model_fp16\.onnx.*fp32/, { dtype: 'fp16' });
    await expectLoadError(model, 'unknown-dtype', /Unknown precision "float64"/, { dtype: 'float64' });
  });
  it('a hub id with downloads off and nothing cached', async () => expectLoadError('Xenova/gpt2', 'downloads-disabled', /downloads are off/));

  it('with downloads off nothing touches the network (fetch stubbed to fail loudly)', async () => {
    const calls: string[] = [];
    const original = globalThis.fetch;
    globalThis.fetch = ((input: string | URL | Request) => {
      calls.push(String(input));
      throw new Error(`network used: ${String(input)}`);
    }) as typeof fetch;
    try {
      const engine = await loadEngine({ model, allowDownloads: false, threads: 1 });
      await nextTokenDistribution(engine, 'Alice', { top: 3 });
      await engine.dispose();
      await assert.rejects(loadEngine({ model: 'Xenova/gpt2', allowDownloads: false, cacheDir: path.join(scratch, 'empty-cache') }));
    } finally {
      globalThis.fetch = original;
    }
    assert.deepEqual(calls, []);
  });

  it('fixing the setting recovers without restarting anything', async () => {
    const states: ModelState[] = [];
    const service = new ModelService((state) => states.push(state), () => undefined);
    const signal = new AbortController().signal;
    try {
      await service.configure({ model: path.join(scratch, 'nowhere'), dtype: 'fp32', allowDownloads: false, cacheDir: '', threads: 1 });
      await assert.rejects(service.nextToken({ text: 'Alice', top: 3 }, signal), /does not exist/);
      assert.equal(states.at(-1)?.state, 'error');
      await service.configure({ model, dtype: 'fp32', allowDownloads: false, cacheDir: '', threads: 1 });
      assert.equal((await service.nextToken({ text: 'Alice', top: 3 }, signal)).top.length, 3);
      assert.equal(states.at(-1)?.state, 'ready');
    } finally {
      await service.dispose();
    }
  });
});

describe('faults: odd documents', function () {
  let engine: Engine;
  before(async () => {
    engine = await loadEngine({ model: await ensureTestModel({ layers: 2, dim: 64, heads: 4, seed: 1 }), allowDownloads: false, threads: 1 });
  });
  after(async () => engine?.dispose());

  const documents: Array<[string, string]> = [
    ['empty', ''],
    ['whitespace only', ' \n\r\n\t '],
    ['CRLF', 'First line here.\r\nSecond sentence follows.\r\n\r\nA new paragraph.'],
    ['emoji and ZWJ', 'Family time 👩‍👩‍👧 is fun. Flags 🇫🇷 too! Done.'],
    ['CJK', '你好。今天天气很好！我们去公园吧。'],
    ['combining marks', 'Cafe\u0301 au lait. Nai\u0308ve approach.'],
    ['right-to-left', 'مرحبا بالعالم. שלום עולם. Mixed text here.'],
    ['binary-looking', seededBytes(600, 3).toString('latin1')],
  ];
  for (const [name, text] of documents) {
    it(`${name}: exact sentence ranges, tokens inside them, nothing throws`, async () => {
      const result = await scoreSentences(engine, text, { languageId: 'markdown' });
      for (const sentence of result.sentences) {
        assert.equal(text.slice(sentence.start, sentence.end), sentence.text);
        for (const token of sentence.tokens) {
          assert.ok(token.start >= 0 && token.end <= text.length && token.start < token.end);
          assert.ok(token.end > sentence.start && token.start < sentence.end, 'token overlaps its sentence');
        }
      }
    });
  }

  it('a single 50,000-character line is scored in bounded windows', async function () {
    this.timeout(300_000);
    const words = ['river', 'stone', 'light', 'quiet', 'morning', 'garden'];
    let line = '';
    for (let i = 0; line.length < 50_000; i++) line += `${words[i % words.length]} `;
    const result = await scoreSentences(engine, line, { languageId: 'plaintext' });
    assert.ok(result.sentences.length >= 25, 'cut into bounded pieces');
    assert.ok(result.sentences.every((sentence) => sentence.end - sentence.start <= 2000));
  });

  it('the model process refuses texts beyond its bound with an actionable message', async () => {
    const service = new ModelService(() => undefined, () => undefined);
    await service.configure({ model: await ensureTestModel({ layers: 2, dim: 64, heads: 4, seed: 1 }), dtype: 'fp32', allowDownloads: false, cacheDir: '', threads: 1 });
    try {
      await assert.rejects(service.scoreText({ text: 'a'.repeat(MAX_TEXT_CHARS + 1), bos: false }, new AbortController().signal), /Score a selection instead/);
    } finally {
      await service.dispose();
    }
  });

  it('a 1 MB document: the next-token request conditions on the window only', async function () {
    this.timeout(300_000);
    const paragraph = 'Alice was beginning to get very tired of sitting by her sister on the bank. ';
    const text = paragraph.repeat(Math.ceil(1_000_000 / paragraph.length));
    const result = await nextTokenDistribution(engine, text, { top: 3 });
    assert.ok(result.truncated);
    assert.ok(result.contextTokens <= engine.contextSize);
  });
});

describe('faults: settings a workspace must not control', () => {
  it('model location settings are machine-scoped', () => {
    const manifest = JSON.parse(readFileSync(path.join(repoRoot(), 'package.json'), 'utf8')) as {
      contributes: { configuration: { properties: Record<string, { scope?: string }> } };
    };
    for (const key of ['lmLens.model', 'lmLens.dtype', 'lmLens.allowDownloads', 'lmLens.cacheDir']) {
      assert.equal(manifest.contributes.configuration.properties[key]?.scope, 'machine', key);
    }
  });
});
