import { completeGreedy } from '../core/completion';
import type { Engine } from '../core/engine';
import { sampleContinuations } from '../core/generation';
import { nextTokenDistribution, promptIds } from '../core/nextToken';
import { scoreText } from '../core/scoring';
import { scoreSentences } from '../core/sentenceLoss';
import { formatJointProbability, formatProbability, showWhitespace } from '../shared/format';

export interface CliValues {
  json: boolean;
  bos: boolean;
  stride?: number;
  top?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  n?: number;
  maxNewTokens?: number;
  seed?: number;
  threads?: number;
  model: string;
  dtype: string;
  cacheDir: string;
  offline: boolean;
  /** Hub or mirror base URL (empty: the hub). */
  hubEndpoint?: string;
  redownload?: boolean;
}

export type CliCommand = (engine: Engine, text: string, values: CliValues) => Promise<string>;

const json = (value: unknown): string => JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2);
const fixed = (value: number, digits = 4): string => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');
const quoted = (text: string): string => JSON.stringify(showWhitespace(text));

function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: string[]): string => cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd();
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n');
}

const tokens: CliCommand = async (engine, text, values) => {
  const ids = engine.model.tokenizer.encode(text);
  const texts = ids.map((id) => engine.model.tokenizer.tokenText(id));
  if (values.json) return json({ model: engine.model.info.id, vocabSize: engine.vocabSize, ids, tokens: texts });
  return `${table(['#', 'id', 'token'], ids.map((id, i) => [String(i), String(id), quoted(texts[i] ?? '')]))}\n${ids.length} tokens, vocabulary ${engine.vocabSize}`;
};

const loss: CliCommand = async (engine, text, values) => {
  const result = await scoreText(engine, text, { bos: values.bos, stride: values.stride });
  const tokenizer = engine.model.tokenizer;
  const byIndex = new Map(result.tokens.map((token) => [token.index, token]));
  const rows = result.ids.map((id, index) => {
    const score = byIndex.get(index);
    return { id, text: tokenizer.tokenText(id), logprob: score?.logprob ?? null, prob: score?.prob ?? null, rank: score?.rank ?? null };
  });
  if (values.json) {
    return json({ model: engine.model.info.id, loss: result.loss, perplexity: result.perplexity, predicted: result.tokens.length, bos: result.bos, tokens: rows });
  }
  const body = table(
    ['#', 'id', 'token', 'logprob', 'prob', 'rank'],
    rows.map((row, i) => [String(i), String(row.id), quoted(row.text), row.logprob === null ? '—' : fixed(row.logprob), row.prob === null ? '—' : formatProbability(row.prob), row.rank === null ? '—' : String(row.rank)]),
  );
  return `${body}\nloss ${fixed(result.loss)}  perplexity ${fixed(result.perplexity, 2)}  (${result.tokens.length} predicted tokens${result.bos ? ', after <|endoftext|>' : ''})`;
};

const next: CliCommand = async (engine, text, values) => {
  const result = await nextTokenDistribution(engine, text, { top: values.top ?? 10, temperature: values.temperature, topK: values.topK, topP: values.topP, bos: values.bos });
  if (values.json) {
    const { contextIds: _ids, ...rest } = result;
    return json({ model: engine.model.info.id, ...rest });
  }
  const sampled = new Map(result.sampling?.top.map((token) => [token.id, token.prob]));
  const header = ['rank', 'id', 'token', 'prob', 'logprob', 'logit', ...(result.sampling ? ['sampled'] : [])];
  const rows = result.top.map((token, i) => [
    String(i + 1),
    String(token.id),
    quoted(token.text),
    formatProbability(token.prob),
    fixed(token.logprob),
    fixed(token.logit, 3),
    ...(result.sampling ? [formatProbability(sampled.get(token.id) ?? 0)] : []),
  ]);
  const sampling = result.sampling ? `  sampling entropy ${fixed(result.sampling.entropy)} over ${result.sampling.keptTokens} tokens` : '';
  return `${table(header, rows)}\ncontext ${result.contextTokens} tokens${result.truncated ? ' (cut to the window)' : ''}  entropy ${fixed(result.entropy)} nats${sampling}`;
};

const sample: CliCommand = async (engine, text, values) => {
  const sequences = await sampleContinuations(engine, promptIds(engine, text), {
    n: values.n ?? 3,
    maxNewTokens: values.maxNewTokens ?? 10,
    seed: values.seed,
    temperature: values.temperature,
    topK: values.topK,
    topP: values.topP,
  });
  if (values.json) {
    return json({ model: engine.model.info.id, sequences: sequences.map(({ stopReason: _stop, ...sequence }) => sequence) });
  }
  return sequences
    .map((sequence, i) =>
      [
        `#${i + 1} ${JSON.stringify(sequence.text)}`,
        `   tokens: ${sequence.tokens.map((token) => `${quoted(token.text)} ${formatProbability(token.prob)}`).join(', ')}`,
        `   prob ${formatJointProbability(sequence.prob)}  sampled prob ${formatJointProbability(sequence.sampledProb)}  share ${formatProbability(sequence.share)}  normed prod ${formatJointProbability(sequence.normedProd)}`,
      ].join('\n'),
    )
    .join('\n');
};

const complete: CliCommand = async (engine, text, values) => {
  const completion = await completeGreedy(engine, promptIds(engine, text), { maxNewTokens: values.maxNewTokens ?? 16 });
  if (values.json) return json({ model: engine.model.info.id, ...completion });
  return `${quoted(completion.text)}\nstop: ${completion.stopReason}  mean prob ${formatProbability(completion.meanProb)}  joint prob ${formatJointProbability(completion.jointProb)}`;
};

const sentences: CliCommand = async (engine, text, values) => {
  const result = await scoreSentences(engine, text, {});
  if (values.json) return json({ model: engine.model.info.id, ...result });
  const rows = result.sentences.map((sentence, i) => [String(i + 1), fixed(sentence.loss, 3), fixed(sentence.perplexity, 1), String(sentence.tokenCount), quoted(sentence.text.slice(0, 60))]);
  return `${table(['#', 'loss', 'ppl', 'tokens', 'sentence'], rows)}\ndocument loss ${fixed(result.loss)}  perplexity ${fixed(result.perplexity, 2)}`;
};

export const commands = { tokens, loss, next, sample, complete, sentences } satisfies Record<string, CliCommand>;
