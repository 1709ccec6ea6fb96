import type { Backend } from '../core/backend';
import { degradations, isSamplingActive } from '../core/backend';
import { scoreSentences } from '../core/sentenceLoss';
import { scoreTextOn } from '../core/textScore';
import { formatJointProbability, formatProbability, showWhitespace } from '../shared/format';
import { reportCommand } from './report';

export interface ServerValues {
  url: string;
  api: string;
  model?: string;
  apiKey?: string;
}

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
  /** report: write a self-contained page here. */
  html?: string;
  /** report: a second model for the cross-perplexity. */
  compare?: string;
  language?: string;
  /** report: the file the text came from. */
  file?: string;
  /** A server to ask instead of the local engine. */
  server?: ServerValues;
  /** report: a server's model as the second model (`--compare URL`). */
  compareServer?: ServerValues;
  /** Hub or mirror base URL (empty: the hub). */
  hubEndpoint?: string;
  redownload?: boolean;
}

/** Every command works on any backend and prints the same JSON; what a server cannot give is null. */
export type CliCommand = (backend: Backend, text: string, values: CliValues) => Promise<string>;

const json = (value: unknown): string => JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2);
const fixed = (value: number | null, digits = 4): string => (value !== null && Number.isFinite(value) ? value.toFixed(digits) : 'n/a');
/** What a server could not say reads "n/a". */
const known = (value: number | null, format: (value: number) => string): string => (value === null ? 'n/a' : format(value));
const notesText = (notes: string[]): string => notes.map((note) => `\nnote: ${note}`).join('');
const quoted = (text: string): string => JSON.stringify(showWhitespace(text));

function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: string[]): string => cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd();
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n');
}

const tokens: CliCommand = async (backend, text, values) => {
  const { ids, texts } = await backend.tokenize(text);
  const vocabSize = backend.info.vocabSize;
  if (values.json) return json({ model: backend.info.model, vocabSize, ids, tokens: texts });
  return `${table(['#', 'id', 'token'], ids.map((id, i) => [String(i), String(id), quoted(texts[i] ?? '')]))}\n${ids.length} tokens, vocabulary ${vocabSize ?? 'unknown'}`;
};

const loss: CliCommand = async (backend, text, values) => {
  const result = await scoreTextOn(backend, text, { bos: values.bos, stride: values.stride });
  const byIndex = new Map(result.tokens.map((token) => [token.index, token]));
  const rows = result.ids.map((id, index) => {
    const score = byIndex.get(index);
    return { id, text: result.texts[index] ?? '', logprob: score?.logprob ?? null, prob: score?.prob ?? null, rank: score?.rank ?? null };
  });
  if (values.json) {
    return json({ model: backend.info.model, loss: result.loss, perplexity: result.perplexity, predicted: result.tokens.length, bos: result.bos, tokens: rows });
  }
  const body = table(
    ['#', 'id', 'token', 'logprob', 'prob', 'rank'],
    rows.map((row, i) => [String(i), String(row.id), quoted(row.text), row.logprob === null ? '—' : fixed(row.logprob), row.prob === null ? '—' : formatProbability(row.prob), row.rank === null ? '—' : String(row.rank)]),
  );
  return `${body}\nloss ${fixed(result.loss)}  perplexity ${fixed(result.perplexity, 2)}  (${result.tokens.length} predicted tokens${result.bos ? `, after ${quoted(result.texts[0] ?? '')}` : ''})`;
};

const next: CliCommand = async (backend, text, values) => {
  const settings = { temperature: values.temperature, topK: values.topK, topP: values.topP };
  const top = values.top ?? 10;
  const result = await backend.nextToken(text, { top, ...settings, bos: values.bos });
  const notes = degradations(backend.capabilities, { rows: top, entropy: true, sampling: isSamplingActive(settings) && !result.sampling });
  if (values.json) {
    const { contextIds: _ids, ...rest } = result;
    return json({ model: backend.info.model, ...rest, notes });
  }
  const sampled = new Map(result.sampling?.top.map((token) => [token.id ?? token.text, token.prob]));
  const header = ['rank', 'id', 'token', 'prob', 'logprob', 'logit', ...(result.sampling ? ['sampled'] : [])];
  const rows = result.top.map((token, i) => [
    String(i + 1),
    String(token.id ?? '?'),
    quoted(token.text),
    formatProbability(token.prob),
    fixed(token.logprob),
    fixed(token.logit, 3),
    ...(result.sampling ? [formatProbability(sampled.get(token.id ?? token.text) ?? 0)] : []),
  ]);
  const sampling = result.sampling ? `  sampling entropy ${fixed(result.sampling.entropy)} over ${result.sampling.keptTokens} tokens` : '';
  return `${table(header, rows)}\ncontext ${result.contextTokens} tokens${result.truncated ? ' (cut to the window)' : ''}  entropy ${fixed(result.entropy)} nats${sampling}${notesText(notes)}`;
};

const sample: CliCommand = async (backend, text, values) => {
  const sequences = await backend.sample(await backend.promptIds(text), {
    n: values.n ?? 3,
    maxNewTokens: values.maxNewTokens ?? 10,
    seed: values.seed,
    temperature: values.temperature,
    topK: values.topK,
    topP: values.topP,
  });
  if (values.json) {
    return json({ model: backend.info.model, sequences: sequences.map(({ stopReason: _stop, ...sequence }) => sequence) });
  }
  return sequences
    .map((sequence, i) =>
      [
        `#${i + 1} ${JSON.stringify(sequence.text)}`,
        `   tokens: ${sequence.tokens.map((token) => `${quoted(token.text)} ${formatProbability(token.prob)}`).join(', ')}`,
        `   prob ${formatJointProbability(sequence.prob)}  sampled prob ${known(sequence.sampledProb, formatJointProbability)}  share ${known(sequence.share, formatProbability)}  normed prod ${known(sequence.normedProd, formatJointProbability)}`,
      ].join('\n'),
    )
    .join('\n');
};

const complete: CliCommand = async (backend, text, values) => {
  const completion = await backend.complete(await backend.promptIds(text), { maxNewTokens: values.maxNewTokens ?? 16 });
  if (values.json) return json({ model: backend.info.model, ...completion });
  return `${quoted(completion.text)}\nstop: ${completion.stopReason}  mean prob ${formatProbability(completion.meanProb)}  joint prob ${formatJointProbability(completion.jointProb)}`;
};

const sentences: CliCommand = async (backend, text, values) => {
  const result = await scoreSentences(backend, text, {});
  if (values.json) return json({ model: backend.info.model, ...result });
  const rows = result.sentences.map((sentence, i) => [String(i + 1), fixed(sentence.loss, 3), fixed(sentence.perplexity, 1), String(sentence.tokenCount), quoted(sentence.text.slice(0, 60))]);
  return `${table(['#', 'loss', 'ppl', 'tokens', 'sentence'], rows)}\ndocument loss ${fixed(result.loss)}  perplexity ${fixed(result.perplexity, 2)}`;
};

export const commands = { tokens, loss, next, sample, complete, sentences, report: reportCommand } satisfies Record<string, CliCommand>;
