import type { Backend } from '../core/backend';
import { degradations, isSamplingActive } from '../core/backend';
import { meanOverHeads } from '../core/lens';
import type { LensResult } from '../core/lens';
import { scoreSentences } from '../core/sentenceLoss';
import { scoreTextOn } from '../core/textScore';
import { formatFixed, formatJointProbability, formatProbability, showWhitespace } from '../shared/format';
import { reportCommand } from './report';
import type { StopUnit } from '../core/stopRules';

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
  /** complete: the stop rules' settings (their lmLens.inline.* defaults when absent). */
  stopAt?: StopUnit;
  minTokenProb?: number;
  threads?: number;
  model: string;
  dtype: string;
  cacheDir: string;
  offline: boolean;
  /** report: write a self-contained page here. */
  html?: string;
  /** report: each token's settled layer (logit lens). */
  layers?: boolean;
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
  /** Print the engine's notices on stderr (see notices.ts). */
  verbose?: boolean;
}

/** Every command works on any backend and prints the same JSON; what a server cannot give is null. */
export type CliCommand = (backend: Backend, text: string, values: CliValues) => Promise<string>;

const json = (value: unknown): string => JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2);
const fixed = (value: number | null, digits = 4): string => formatFixed(value, digits);
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

const lens: CliCommand = async (backend, text, values) => {
  const result = await backend.lens(text, { top: values.top ?? 5, bos: values.bos });
  if (values.json) return json({ model: result.model, contextTokens: result.contextTokens, tokens: result.tokens, layers: result.layers, attention: result.attention });
  const top = Math.max(...result.layers.map((layer) => layer.top.length));
  const header = ['layer', ...Array.from({ length: top }, (_, i) => `top ${i + 1}`), 'final rank', 'entropy', 'KL to final'];
  const rows = result.layers.map((layer) => [
    layer.layer === 0 ? 'embed' : String(layer.layer),
    ...layer.top.map((token) => `${quoted(token.text)} ${formatProbability(token.prob)}`),
    String(layer.final.rank),
    fixed(layer.entropy, 3),
    fixed(layer.klToFinal, 3),
  ]);
  const final = result.layers.at(-1)?.final;
  const finalText = final ? quoted(result.layers.at(-1)?.top[0]?.text ?? '') : '—';
  return `${table(header, rows)}
context ${result.contextTokens} tokens${result.truncated ? ' (cut to the window)' : ''}  final prediction ${finalText}; final rank = its rank in each layer's distribution
${attentionSummary(result)}`;
};

/** One line per layer: the context tokens the next token attends to most (mean over heads). */
function attentionSummary(result: LensResult): string {
  return result.attention
    .map((heads, layer) => {
      const mean = meanOverHeads(heads);
      const order = mean.map((weight, position) => ({ weight, position })).sort((a, b) => b.weight - a.weight || a.position - b.position).slice(0, 3);
      return `attention ${layer + 1}: ${order.map(({ weight, position }) => `${quoted(result.tokens[position]?.text ?? '')}@${position} ${formatProbability(weight)}`).join(', ')}`;
    })
    .join('\n');
}

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
  const completion = await backend.complete(await backend.promptIds(text), { maxNewTokens: values.maxNewTokens ?? 16, stopAt: values.stopAt, minTokenProb: values.minTokenProb });
  if (values.json) return json({ model: backend.info.model, ...completion });
  return `${quoted(completion.text)}\nstop: ${completion.stopReason}  mean prob ${formatProbability(completion.meanProb)}  joint prob ${formatJointProbability(completion.jointProb)}`;
};

const sentences: CliCommand = async (backend, text, values) => {
  const result = await scoreSentences(backend, text, {});
  if (values.json) return json({ model: backend.info.model, ...result });
  const rows = result.sentences.map((sentence, i) => [String(i + 1), fixed(sentence.loss, 3), fixed(sentence.perplexity, 1), String(sentence.tokenCount), quoted(sentence.text.slice(0, 60))]);
  return `${table(['#', 'loss', 'ppl', 'tokens', 'sentence'], rows)}\ndocument loss ${fixed(result.loss)}  perplexity ${fixed(result.perplexity, 2)}`;
};

export const commands = { tokens, loss, next, lens, sample, complete, sentences, report: reportCommand } satisfies Record<string, CliCommand>;
