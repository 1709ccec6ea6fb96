// The stop rules end loops: a scripted engine that repeats itself in each way a language model
// does (one token over and over, a phrase over and over), runs into a sentence, line or
// paragraph end, loses confidence, or just runs out of tokens. The engine streams like a
// server does, so the tests see both the cut text and how early generation stopped.
import * as assert from 'node:assert/strict';
import type { BackendGeneratedToken, BackendNextToken, BackendSequence, BackendTokenScore, TokenizedText } from '../../src/core/backend';
import { commands } from '../../src/cli/commands';
import type { CliValues } from '../../src/cli/commands';
import { finishCompletion } from '../../src/core/completion';
import { completeWithAlternatives } from '../../src/core/ghostText';
import { LocalBackend } from '../../src/core/local/localBackend';
import type { CompletionOptions } from '../../src/core/completion';
import { RemoteBackend } from '../../src/core/remote/remoteBackend';
import type { GreedyResult } from '../../src/core/remote/remoteBackend';
import type { TopEntry } from '../../src/core/remote/common';
import { findStop, repetitionStart, samplingStops } from '../../src/core/stopRules';
import type { StopToken } from '../../src/core/stopRules';
import { SETTINGS } from '../../src/shared/settings';
import { loadEngine } from '../../src/core/engine';
import { promptIds } from '../../src/core/nextToken';
import { ensureTestModel } from '../support/testModel';

const EOS = 50256;

/** A token of the script: its text, and the model's probability for it (high unless said). */
type Step = string | [text: string, prob: number] | [text: string, prob: number, id: number];

function tokensOf(script: readonly Step[]): StopToken[] {
  const ids = new Map<string, number>();
  return script.map((step) => {
    const [text, prob, id] = typeof step === 'string' ? [step, 0.5, undefined] : step;
    if (!ids.has(text)) ids.set(text, text === '<eos>' ? EOS : ids.size + 1);
    return { id: id ?? (ids.get(text) as number), text: text === '<eos>' ? '' : text, prob };
  });
}

/** Plays a script as a streaming server would: token by token, closing once `stop` holds. */
class ScriptedBackend extends RemoteBackend {
  generated = 0;
  protected readonly scoresWindowAtOnce = false;

  constructor(private readonly script: readonly Step[]) {
    super('openai', { url: 'http://127.0.0.1:9' }, { maxTopK: 20, entropy: false, logits: false, exactRank: false, samplingView: false, seededSampling: true });
    (this.info as { startTokenId: number | null }).startTokenId = EOS;
  }

  protected async connect(): Promise<void> {}
  protected async tokenizeRaw(text: string): Promise<TokenizedText> {
    return { ids: [1], texts: [text], spans: [{ start: 0, end: text.length }] };
  }
  protected async greedy(_ids: number[], maxNewTokens: number, _signal?: AbortSignal, stop?: (tokens: BackendGeneratedToken[]) => boolean): Promise<GreedyResult> {
    const tokens: BackendGeneratedToken[] = [];
    for (const token of tokensOf(this.script).slice(0, maxNewTokens)) {
      tokens.push({ ...token, sampledProb: null });
      this.generated++;
      if (token.id === EOS) return { tokens, reason: 'eos' };
      if (stop?.(tokens)) return { tokens, reason: 'stop' };
    }
    return { tokens, reason: 'length' };
  }
  protected detokenizeOne(): Promise<string> {
    throw new Error('not scripted');
  }
  protected distribution(): Promise<TopEntry[]> {
    throw new Error('not scripted');
  }
  protected samplingFallback(): Promise<BackendNextToken['sampling']> {
    throw new Error('not scripted');
  }
  protected scoreWindow(): Promise<Array<Omit<BackendTokenScore, 'index'>>> {
    throw new Error('not scripted');
  }
  protected sampleRows(): Promise<BackendSequence[]> {
    throw new Error('not scripted');
  }
}

async function complete(script: readonly Step[], options: CompletionOptions = {}): Promise<{ text: string; stopReason: string; generated: number; kept: number }> {
  const backend = new ScriptedBackend(script);
  const completion = await backend.complete([1], { maxNewTokens: 32, ...options });
  return { text: completion.text, stopReason: completion.stopReason, generated: backend.generated, kept: completion.tokens.length };
}

const loop = (phrase: readonly string[], times: number): string[] => Array.from({ length: times }, () => phrase).flat();

/** Independent check by brute force: some span of 2+ tokens followed by itself, or one token three times in a row. */
function holdsRepetition(tokens: readonly StopToken[]): boolean {
  const same = (a: number, b: number): boolean => tokens[a]?.id === tokens[b]?.id;
  for (let start = 0; start < tokens.length; start++) {
    if (start + 2 < tokens.length && same(start, start + 1) && same(start, start + 2)) return true;
    for (let period = 2; start + 2 * period <= tokens.length; period++) {
      if (Array.from({ length: period }, (_, i) => same(start + i, start + period + i)).every(Boolean)) return true;
    }
  }
  return false;
}

describe('stop rules', () => {
  it('cuts one token repeated three times to its first occurrence, and stops generating at the third', async () => {
    const result = await complete([' the', ' cat', ' sat', ' sat', ' sat', ' sat', ' sat', ' sat'], { minTokenProb: 0 });
    assert.deepEqual(result, { text: ' the cat sat', stopReason: 'repetition', generated: 5, kept: 3 });
  });

  it('keeps a token said twice in a row (“very very”): only a third time is a loop', async () => {
    const result = await complete([' very', ' very', ' tired', '.', ' She'], { minTokenProb: 0 });
    assert.deepEqual(result, { text: ' very very tired.', stopReason: 'sentence', generated: 4, kept: 4 });
  });

  it('cuts a phrase that follows itself back to back (“the United States, the United States, …”)', async () => {
    const result = await complete([' in', ...loop([' the', ' United', ' States', ','], 5)], { minTokenProb: 0 });
    assert.deepEqual(result, { text: ' in the United States,', stopReason: 'repetition', generated: 9, kept: 5 });
  });

  it('cuts a two-token span said twice (“the first, the first”)', async () => {
    const result = await complete([' for', ' the', ' first', ' the', ' first', ' time'], { minTokenProb: 0 });
    assert.deepEqual(result, { text: ' for the first', stopReason: 'repetition', generated: 5, kept: 3 });
  });

  it('stops after the first sentence, at a line break, and at a blank line by lmLens.inline.stopAt', async () => {
    const script: Step[] = [' One', ' two', '.', ' Three', '\n', ' Four', '.', '\n\n', ' Five'];
    assert.deepEqual(await complete(script, { stopAt: 'sentence' }), { text: ' One two.', stopReason: 'sentence', generated: 3, kept: 3 });
    assert.deepEqual(await complete(script, { stopAt: 'line' }), { text: ' One two. Three', stopReason: 'newline', generated: 5, kept: 4 });
    assert.deepEqual(await complete(script, { stopAt: 'paragraph' }), { text: ' One two. Three\n Four.', stopReason: 'paragraph', generated: 8, kept: 7 });
  });

  it('ends before the first token below lmLens.inline.minTokenProb, and never with the rule at 0', async () => {
    const script: Step[] = [[' It', 0.4], [' was', 0.3], [' purple', 0.01], [' and', 0.5], [' late', 0.2]];
    assert.deepEqual(await complete(script, { minTokenProb: 0.02 }), { text: ' It was', stopReason: 'low-confidence', generated: 3, kept: 2 });
    assert.deepEqual(await complete(script, { minTokenProb: 0.005 }), { text: ' It was purple and late', stopReason: 'length', generated: 5, kept: 5 });
    assert.deepEqual(await complete(script, { minTokenProb: 0 }), { text: ' It was purple and late', stopReason: 'length', generated: 5, kept: 5 });
    // An unsure first token leaves nothing to suggest.
    assert.equal((await complete([[' Zebra', 0.001], ' and'], { minTokenProb: 0.02 })).text, '');
  });

  it('reports eos at the end of text and length at the token limit', async () => {
    assert.deepEqual(await complete([' It', ' ends', '<eos>', ' after']), { text: ' It ends', stopReason: 'eos', generated: 3, kept: 2 });
    assert.deepEqual(await complete([' a', ' b', ' c', ' d'], { maxNewTokens: 3 }), { text: ' a b c', stopReason: 'length', generated: 3, kept: 3 });
  });

  it('takes the earliest rule when several apply: a loop inside a sentence is cut before its end', async () => {
    const result = await complete([' ha', ' ha', ' ha', ' ha', '.'], { minTokenProb: 0 });
    assert.deepEqual(result, { text: ' ha', stopReason: 'repetition', generated: 3, kept: 1 });
  });

  it('tells tokens apart by id: byte pieces that all read U+FFFD are no loop; a server’s text-only tokens compare by text', () => {
    const bytes: StopToken[] = [10, 11, 12, 13].map((id) => ({ id, text: '\uFFFD', prob: 0.5 }));
    assert.equal(repetitionStart(bytes), -1);
    const textOnly: StopToken[] = [' a', ' b', ' a', ' b'].map((text) => ({ id: null, text, prob: 0.5 }));
    assert.equal(repetitionStart(textOnly), 2);
  });

  it('never leaves a repetition in what it keeps (random loops over a 3-token alphabet, checked by brute force)', () => {
    let seed = 7;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    let cutSome = 0;
    for (let run = 0; run < 400; run++) {
      const tokens: StopToken[] = Array.from({ length: 4 + Math.floor(random() * 20) }, () => {
        const id = 1 + Math.floor(random() * 3);
        return { id, text: ` w${id}`, prob: 0.5 };
      });
      const completion = finishCompletion(tokens, EOS, 'length', { stopAt: 'paragraph', minTokenProb: 0 });
      assert.ok(!holdsRepetition(completion.tokens), `kept ${completion.tokens.map((token) => token.id).join(',')}`);
      // It cuts only where the whole sequence holds a repetition, and then at most the part from the loop on.
      assert.equal(completion.stopReason === 'repetition', holdsRepetition(tokens));
      if (completion.stopReason === 'repetition') cutSome++;
    }
    assert.ok(cutSome > 0);
  });

  it('uses the settings’ defaults when a caller gives none', () => {
    const tokens: StopToken[] = [{ id: 1, text: ' One', prob: SETTINGS['inline.minTokenProb'].default / 2 }];
    assert.equal(findStop(tokens).reason, SETTINGS['inline.minTokenProb'].default > 0 ? 'low-confidence' : undefined);
    assert.equal(findStop([{ id: 1, text: ' One.', prob: 1 }, { id: 2, text: ' Two', prob: 1 }]).reason, SETTINGS['inline.stopAt'].default === 'sentence' ? 'sentence' : undefined);
  });

  it('sampled alternatives (Alt+]) keep every rule but low confidence: a draw is unlikely by design', async () => {
    assert.deepEqual(samplingStops({ stopAt: 'line', minTokenProb: 0.3 }), { stopAt: 'line', minTokenProb: 0 });
    const engine = await loadEngine({ model: await ensureTestModel({ layers: 2, dim: 64, heads: 4, seed: 1 }), allowDownloads: false, threads: 1 });
    try {
      const min = 0.05;
      const { alternatives } = await completeWithAlternatives(new LocalBackend(engine), promptIds(engine, 'Alice was beginning to get very'), { alternatives: 3, seed: 1, temperature: 0.8, maxNewTokens: 16, stop: { minTokenProb: min } });
      assert.ok(alternatives.every((alternative) => alternative.stopReason !== 'low-confidence'));
      assert.ok(alternatives.some((alternative) => alternative.tokens.some((token) => token.prob < min)), 'no sampled token was below the threshold: the check proves nothing');
      for (const alternative of alternatives) assert.ok(!holdsRepetition(alternative.tokens), alternative.text);
    } finally {
      await engine.dispose();
    }
  });

  it('lm-lens complete --json reports stopReason and the cut text', async () => {
    const backend = new ScriptedBackend([' in', ...loop([' the', ' first', ' time', ','], 4)]);
    const values = { json: true, bos: false, model: '', dtype: 'fp32', cacheDir: '', offline: true, maxNewTokens: 16, minTokenProb: 0 } as CliValues;
    const output = JSON.parse(await commands.complete(backend, 'It happened', values)) as { text: string; stopReason: string };
    assert.equal(output.text, ' in the first time,');
    assert.equal(output.stopReason, 'repetition');
  });
});
