// The Llama family (llama with Llama 3's tokenizer, qwen2, qwen3) through the same loading and
// features as GPT-2, checked against the float64 reference written from the math.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareText } from '../../src/core/compare';
import { loadEngine } from '../../src/core/engine';
import type { Engine } from '../../src/core/engine';
import { sampleContinuations } from '../../src/core/generation';
import { LocalBackend } from '../../src/core/local/localBackend';
import { parseModelConfig } from '../../src/core/modelSource';
import { causalModelType } from '../../src/core/model';
import { nextTokenDistribution } from '../../src/core/nextToken';
import { scoreText } from '../../src/core/scoring';
import { scoreSentences } from '../../src/core/sentenceLoss';
import { scoreTextOn } from '../../src/core/textScore';
import type { ModelInfo } from '../../src/core/model';
import { describeState } from '../../src/extension/statusText';
import { CATALOG_MODELS, LARGE_DOWNLOAD_MB, describeSizes } from '../../src/shared/modelCatalog';
import type { ModelState } from '../../src/shared/hostProtocol';
import { specialIds } from '../support/llamaModel';
import { ensureLlamaTestModel, llamaDims, llamaTestModelName } from '../support/llamaTestModel';
import type { LlamaTestShape } from '../support/llamaTestModel';
import { repoRoot } from '../support/testModel';
import { loadReference, logSoftmax, softmax, topK } from '../support/reference';
import type { ReferenceModel } from '../support/reference';

const TOLERANCE = 1e-4;
// About 60 tokens in both vocabularies: long enough for RoPE's rescaled frequencies to matter.
const TEXT =
  'The old lighthouse keeper climbed the spiral stairs every evening, counting one hundred and twelve steps. ' +
  'From the lamp room he could see the harbour, the fishing boats returning, and the storm clouds gathering over the hills.';

// The genai form: Qwen3 with RoPE outside the op (its q/k norms come first), Llama and Qwen2 with
// RoPE fused into GroupQueryAttention (do_rotary, packed QKV, no position_ids input), whose CPU
// kernel then wants a head size that is a multiple of 16 (still ≠ hidden/heads = 16).
const SHAPES: LlamaTestShape[] = [
  { family: 'qwen3', form: 'genai' },
  { family: 'llama', form: 'genai', headDim: 32 },
  { family: 'qwen2', tied: false, form: 'genai', headDim: 32 },
  { family: 'qwen3' },
  { family: 'qwen2', tied: false },
  { family: 'llama' },
];

function assertClose(actual: number, expected: number, what: string, tolerance = TOLERANCE): void {
  assert.ok(Math.abs(actual - expected) < tolerance, `${what}: ${actual} vs reference ${expected}`);
}

/** The tokenizer.json vocabulary entry of each piece, read straight from the file (byte-level: a space is Ġ). */
function vocabularyIds(folder: string, pieces: string[]): number[] {
  const file = JSON.parse(readFileSync(join(folder, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> } };
  return pieces.map((piece) => {
    const id = file.model.vocab[piece];
    assert.ok(id !== undefined, `${piece} is not in the vocabulary`);
    return id;
  });
}

/** The reference's logits per id sequence, computed once: both decode paths ask for the same ones. */
const referenceRows = new Map<string, Float64Array[]>();
function memoised(folder: string, model: ReferenceModel): ReferenceModel {
  return {
    config: model.config,
    logits: (ids: number[]): Float64Array[] => {
      const key = `${folder}:${ids.join(',')}`;
      const rows = referenceRows.get(key) ?? model.logits(ids);
      referenceRows.set(key, rows);
      return rows;
    },
  };
}

// fp32 on both graphs; q4 (MatMulNBits) against the reference on its dequantised weights.
const RUNS = [
  { decodePath: 'owned-kv', dtype: 'fp32', file: 'onnx/model.onnx' },
  { decodePath: 'export', dtype: 'fp32', file: 'onnx/model.onnx' },
  { decodePath: 'owned-kv', dtype: 'q4', file: 'onnx/model_q4.onnx' },
] as const;

for (const shape of SHAPES) for (const { decodePath, dtype, file } of RUNS) {
  describe(`${shape.family} test model ${llamaTestModelName(shape)}, ${dtype} on the ${decodePath} graph`, function () {
    let folder: string;
    let engine: Engine;
    let backend: LocalBackend;
    let reference: ReferenceModel;
    const logs: string[] = [];
    const startIds = shape.family === 'llama' ? [specialIds('llama').bos] : [];
    const gqa = shape.form === 'genai';

    before(async () => {
      folder = await ensureLlamaTestModel(shape);
      engine = await loadEngine({ model: folder, dtype, threads: 1, decodePath, onLog: (line) => logs.push(line) });
      backend = new LocalBackend(engine);
      reference = memoised(join(folder, file), await loadReference(folder, file));
    });

    after(async () => {
      await engine?.model.dispose();
    });

    it('loads with its own shape on the graph asked for, with no log line (a GroupQueryAttention export too)', () => {
      const info = engine.model.info;
      assert.equal(info.kvHeads, 2);
      assert.equal(info.headDim, llamaDims(shape).headDim);
      assert.equal(info.startTokenId, specialIds(shape.family).bos);
      assert.equal(info.decodePath, decodePath);
      assert.deepEqual(logs, []);
    });

    it("tokenizes as tokenizer(text): Llama 3's <|begin_of_text|> first, nothing added for Qwen", async () => {
      const tokenized = await backend.tokenize('Hello, world!');
      assert.deepEqual(tokenized.ids, [...startIds, ...vocabularyIds(folder, ['Hello', ',', 'Ġworld', '!'])]);
      // The ids Hugging Face's tokenizers publish for this text (Llama 3 / Qwen2.5 model cards and issues).
      assert.deepEqual(tokenized.ids, shape.family === 'llama' ? [128000, 9906, 11, 1917, 0] : [9707, 11, 1879, 0]);
      assert.equal(tokenized.added, startIds.length);
      assert.deepEqual(tokenized.spans[startIds.length], { start: 0, end: 5 });
      if (startIds.length > 0) assert.deepEqual(tokenized.spans[0], { start: 0, end: 0 });
    });

    it('gives the next-token top 10 of the reference (ids, and probabilities within 1e-4)', async () => {
      const ids = [...startIds, ...engine.model.tokenizer.encode(TEXT)];
      const result = await nextTokenDistribution(engine, TEXT, { top: 10 });
      const expected = topK(reference.logits(ids).at(-1) as Float64Array, 10);
      assert.deepEqual(
        result.top.map((t) => t.id),
        expected.map((t) => t.id),
      );
      result.top.forEach((t, i) => assertClose(t.prob, (expected[i] as { prob: number }).prob, `prob of ${t.id}`));
    });

    it('scores every token after the first as labels=input_ids does, within 1e-4', async () => {
      const scored = await scoreText(engine, TEXT);
      assert.deepEqual(scored.ids, [...startIds, ...engine.model.tokenizer.encode(TEXT)]);
      assert.ok(scored.ids.length >= 40 && scored.ids.length <= 70, `${scored.ids.length} tokens`);
      const rows = reference.logits(scored.ids);
      let total = 0;
      for (const token of scored.tokens) {
        const expected = logSoftmax(rows[token.index - 1] as Float64Array)[token.id] as number;
        assertClose(token.logprob, expected, `log-prob of token ${token.index}`);
        total -= expected;
      }
      assert.equal(scored.tokens.length, scored.ids.length - 1);
      assertClose(scored.loss, total / scored.tokens.length, 'loss');
    });

    it("--bos prepends the model's bos_token_id only where the tokenizer added none", async () => {
      const plain = await scoreTextOn(backend, 'Hello, world!');
      const withBos = await scoreTextOn(backend, 'Hello, world!', { bos: true });
      const textIds = vocabularyIds(folder, ['Hello', ',', 'Ġworld', '!']);
      const start = JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8')).bos_token_id as number;
      assert.deepEqual(withBos.ids, [start, ...textIds]);
      assert.equal(withBos.tokens.length, textIds.length);
      assert.deepEqual(plain.ids, [...startIds, ...textIds]);
      assert.equal(plain.bos, startIds.length > 0);
    });

    it("scores sentences after one start token (the tokenizer's own, else the model's): every text token counted, losses as the reference's", async () => {
      const document = await scoreSentences(backend, TEXT);
      const ids = engine.model.tokenizer.contextIds(TEXT, engine.model.info.startTokenId, true);
      // Exactly one start token in front of the text's tokens, never two.
      assert.equal(ids.length, engine.model.tokenizer.encode(TEXT).length + 1);
      const rows = reference.logits(ids);
      const counted = document.sentences.reduce((sum, sentence) => sum + sentence.tokenCount, 0);
      assert.equal(counted, ids.length - 1);
      let index = 1;
      for (const sentence of document.sentences) {
        let total = 0;
        for (const token of sentence.tokens) {
          assert.equal(token.id, ids[index]);
          total -= logSoftmax(rows[index - 1] as Float64Array)[token.id] as number;
          index++;
        }
        assertClose(sentence.loss, total / sentence.tokenCount, `loss of "${sentence.text.slice(0, 20)}…"`);
      }
    });

    it('decodes after a reused prefix exactly as from scratch', async () => {
      const prefix = TEXT.slice(0, 60);
      await engine.run(engine.model.tokenizer.contextIds(prefix, engine.model.info.startTokenId, false));
      const ids = engine.model.tokenizer.contextIds(`${prefix} and then`, engine.model.info.startTokenId, false);
      const run = await engine.run(ids);
      assert.ok(run.reusedTokens > 0, 'the prefix was not reused');
      const expected = softmax(reference.logits(ids).at(-1) as Float64Array);
      const actual = softmax(run.lastLogits);
      for (const { id } of topK(expected, 10)) assertClose(actual[id] as number, expected[id] as number, `prob of ${id}`);
    });

    it('runs a left-padded batch with positions from the mask, each row as on its own', async function () {
      // onnxruntime's CPU GroupQueryAttention takes seqlens_k as the valid positions from the left
      // (right padding): on the export's own graph a left-padded row attends to its pads. The
      // owned-KV rewrite replaces the op by attention that the mask decides, so it runs there.
      if (gqa && decodePath === 'export') this.skip();
      const short = engine.model.tokenizer.contextIds('The storm', engine.model.info.startTokenId, false);
      const long = engine.model.tokenizer.contextIds('Every evening the keeper climbed', engine.model.info.startTokenId, false);
      const pad = long.length - short.length;
      assert.ok(pad > 0);
      const result = await engine.model.forward([[...new Array<number>(pad).fill(short[0] as number), ...short], long], undefined, {
        attentionMask: [[...new Array<number>(pad).fill(0), ...short.map(() => 1)], long.map(() => 1)],
      });
      const vocab = engine.model.info.vocabSize;
      const positions = result.keptPositions;
      [short, long].forEach((ids, row) => {
        const last = result.logits.subarray((row * positions + positions - 1) * vocab, (row * positions + positions) * vocab);
        const expected = softmax(reference.logits(ids).at(-1) as Float64Array);
        const actual = softmax(last);
        for (const { id } of topK(expected, 10)) assertClose(actual[id] as number, expected[id] as number, `row ${row} prob of ${id}`);
      });
    });

    it("samples whose token probabilities are the reference's given the prompt and the tokens before", async () => {
      const prompt = engine.model.tokenizer.contextIds('The lighthouse', engine.model.info.startTokenId, false);
      const samples = await sampleContinuations(engine, prompt, { n: 3, maxNewTokens: 4, seed: 7 });
      assert.equal(samples.length, 3);
      for (const sample of samples) {
        const ids = [...prompt, ...sample.tokens.map((t) => t.id)];
        const rows = reference.logits(ids);
        let logprob = 0;
        sample.tokens.forEach((token, step) => {
          const expected = logSoftmax(rows[prompt.length + step - 1] as Float64Array)[token.id] as number;
          assertClose(Math.log(token.prob), expected, `step ${step}`);
          logprob += expected;
        });
        assertClose(sample.logprob, logprob, 'sequence log-prob');
      }
    });
  });
}

describe('config.json of the Llama family', () => {
  const base = { model_type: 'qwen3', architectures: ['Qwen3ForCausalLM'], vocab_size: 1000, hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4 };

  it('reads num_key_value_heads, head_dim and bos_token_id (else eos_token_id)', () => {
    const config = parseModelConfig(JSON.stringify({ ...base, num_key_value_heads: 2, head_dim: 24, eos_token_id: [7, 8] }), 'config.json', causalModelType);
    assert.deepEqual([config.kvHeads, config.headDim, config.eosTokenId, config.startTokenId], [2, 24, 7, 7]);
    const withBos = parseModelConfig(JSON.stringify({ ...base, bos_token_id: 3, eos_token_id: 7 }), 'config.json', causalModelType);
    assert.deepEqual([withBos.kvHeads, withBos.headDim, withBos.startTokenId], [4, 16, 3]);
  });

  it('refuses KV heads that do not divide the heads, in one line', () => {
    assert.throws(
      () => parseModelConfig(JSON.stringify({ ...base, num_key_value_heads: 3 }), 'config.json', causalModelType),
      (error: Error) => /num_key_value_heads \(3\) must divide num_attention_heads \(4\)/.test(error.message) && !error.message.includes('\n'),
    );
  });

  it("names the family's own keys when one is missing", () => {
    assert.throws(() => parseModelConfig(JSON.stringify({ ...base, hidden_size: undefined }), 'config.json', causalModelType), /lacks vocab_size, hidden_size, num_hidden_layers or num_attention_heads/);
  });

  it('refuses a head width that is not a whole number', () => {
    assert.throws(() => parseModelConfig(JSON.stringify({ ...base, num_attention_heads: 5 }), 'config.json', causalModelType), /head width .* not a positive whole number/);
  });
});

describe('Select model and the status bar for the Llama family', () => {
  it('offers SmolLM2-135M/360M, Qwen2.5-0.5B and Qwen3-0.6B with their download size per precision, large files marked', () => {
    assert.deepEqual(
      CATALOG_MODELS.map((entry) => entry.label),
      ['SmolLM2-135M-Instruct', 'SmolLM2-360M-Instruct', 'Qwen2.5-0.5B-Instruct', 'Qwen3-0.6B'],
    );
    const qwen = CATALOG_MODELS.find((entry) => entry.family === 'qwen2') as (typeof CATALOG_MODELS)[number];
    const sizes = describeSizes(qwen);
    for (const [dtype, mb] of Object.entries(qwen.sizesMb)) assert.ok(sizes.includes(mb >= LARGE_DOWNLOAD_MB ? `${dtype} ${(mb / 1000).toFixed(1)} GB (large)` : `${dtype} ${mb} MB`), sizes);
  });

  it('names the family once a non-GPT-2 model is ready, and leaves GPT-2 as it was', () => {
    const ready = (family: string): ModelState => ({ state: 'ready', info: { family } as ModelInfo });
    assert.equal(describeState(ready('qwen3'), 'onnx-community/Qwen3-0.6B-ONNX', 'q4').text, '$(check) Qwen3-0.6B-ONNX · Qwen3 · q4');
    assert.equal(describeState(ready('gpt2'), 'Xenova/gpt2', 'fp32').text, '$(check) gpt2 · fp32');
  });
});

describe('lm-lens on a Llama 3-tokenizer model', () => {
  const cliBundle = join(repoRoot(), 'dist', 'cli.js');
  const run = (args: string[]): { status: number | null; stdout: string; stderr: string } => {
    const result = spawnSync(process.execPath, [cliBundle, ...args, '--json'], { encoding: 'utf8', timeout: 120_000 });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  };

  it('tokens gives tokenizer(text) with <|begin_of_text|>, loss scores every text token, and nothing is printed on stderr', async () => {
    assert.ok(existsSync(cliBundle), 'dist/cli.js is missing: run `npm run build` first');
    const folder = await ensureLlamaTestModel({ family: 'llama' });
    const textIds = vocabularyIds(folder, ['Hello', ',', 'Ġworld', '!']);
    const tokens = run(['tokens', 'Hello, world!', '--model', folder]);
    assert.equal(tokens.status, 0, tokens.stderr);
    assert.equal(tokens.stderr, '');
    assert.deepEqual((JSON.parse(tokens.stdout) as { ids: number[] }).ids, [specialIds('llama').bos, ...textIds]);
    for (const args of [[], ['--bos']]) {
      const loss = run(['loss', 'Hello, world!', '--model', folder, ...args]);
      assert.equal(loss.status, 0, loss.stderr);
      assert.equal(loss.stderr, '');
      const parsed = JSON.parse(loss.stdout) as { predicted: number; tokens: Array<{ id: number }> };
      assert.deepEqual(parsed.tokens.map((t) => t.id), [specialIds('llama').bos, ...textIds]);
      assert.equal(parsed.predicted, textIds.length);
    }
  });
});

describe('q8-fast on a Llama-family export (int8 MatMulNBits on the owned-KV graph)', () => {
  const shapes: LlamaTestShape[] = [
    { family: 'qwen2', tied: false },
    { family: 'qwen2', tied: false, form: 'genai', headDim: 32 },
  ];
  for (const shape of shapes)
    it(`loads on the owned-KV graph with every projection in int8, and stays close to the fp32 reference (${shape.form ?? 'optimum'} form)`, async () => {
      const folder = await ensureLlamaTestModel(shape);
      const engine = await loadEngine({ model: folder, dtype: 'q8-fast', threads: 1 });
      try {
        assert.equal(engine.model.info.decodePath, 'owned-kv');
        // q, k, v, o, gate, up, down per layer, and the head.
        assert.equal(engine.model.info.fastInt8?.matrices, 7 * 2 + 1);
        const ids = engine.model.tokenizer.contextIds(TEXT, engine.model.info.startTokenId, false);
        const expected = softmax((await loadReference(folder)).logits(ids).at(-1) as Float64Array);
        const actual = softmax((await engine.run(ids)).lastLogits);
        // Not exact (int8 blocks of 32, and this tiny model's activations quantise coarsely): the same
        // first choice, and each of the top 10 within 0.05, where unrelated weights would differ wholly.
        const top = topK(expected, 10);
        assert.equal(topK(actual, 1)[0]?.id, top[0]?.id);
        for (const { id } of top) assertClose(actual[id] as number, expected[id] as number, `prob of ${id}`, 0.05);
      } finally {
        await engine.model.dispose();
      }
    });
});

describe('comparison of two Llama-family models', () => {
  it('Qwen3 against Qwen2 (one tokenizer): per-token log-probs and cross-entropy of both equal the references; Llama 3 against Qwen is refused in one line', async () => {
    const [folderA, folderB, folderC] = await Promise.all([ensureLlamaTestModel({ family: 'qwen3' }), ensureLlamaTestModel({ family: 'qwen2', tied: false }), ensureLlamaTestModel({ family: 'llama' })]);
    const [a, b, c] = await Promise.all([folderA, folderB, folderC].map((model) => loadEngine({ model, threads: 1 })));
    try {
      const text = TEXT.slice(0, 80);
      const compared = await compareText(a as Engine, b as Engine, text);
      const ids = (a as Engine).model.tokenizer.contextIds(text, (a as Engine).model.info.startTokenId, true);
      assert.equal(compared.length, ids.length - 1);
      const [rowsA, rowsB] = [(await loadReference(folderA)).logits(ids), (await loadReference(folderB)).logits(ids)];
      for (const token of compared) {
        const [lpA, lpB] = [logSoftmax(rowsA[token.index - 1] as Float64Array), logSoftmax(rowsB[token.index - 1] as Float64Array)];
        assertClose(token.logprobA, lpA[token.id] as number, `A at ${token.index}`);
        assertClose(token.logprobB, lpB[token.id] as number, `B at ${token.index}`);
        const cross = lpA.reduce((sum, lp, v) => sum - Math.exp(lp) * (lpB[v] as number), 0);
        assertClose(token.crossEntropy, cross, `cross-entropy at ${token.index}`);
      }
      await assert.rejects(compareText(c as Engine, a as Engine, text), (error: Error) => /same tokenizer/.test(error.message) && !error.message.includes('\n'));
    } finally {
      await Promise.all([a, b, c].map((engine) => engine?.model.dispose()));
    }
  });
});
