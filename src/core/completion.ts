import type { Engine } from './engine';
import { generate } from './generation';
import type { GeneratedToken } from './generation';

export interface CompletionOptions {
  maxNewTokens?: number;
  /** Stop at the first line break (default true). */
  stopAtNewline?: boolean;
  /** Stop after the first sentence end (default true). */
  stopAtSentenceEnd?: boolean;
  signal?: AbortSignal;
}

export type CompletionStop = 'length' | 'eos' | 'newline' | 'sentence';

export interface Completion {
  /** The text to insert after the prompt, cut by the stop rules. */
  text: string;
  tokens: GeneratedToken[];
  stopReason: CompletionStop;
  /** Mean of the raw probabilities of the tokens shown. */
  meanProb: number;
  /** Product of the raw probabilities of the tokens shown. */
  jointProb: number;
}

// A sentence ends at . ! ? … (optionally closed by quotes or brackets) followed by a space or the end.
const SENTENCE_END = /[.!?…]["'”’)\]]*(?=\s|$)/u;

/**
 * Where the stop rules cut `text`: before the first line break, after the first sentence end
 * that follows some word. Returns the kept length and why it was cut.
 */
export function applyStopRules(text: string, options: Pick<CompletionOptions, 'stopAtNewline' | 'stopAtSentenceEnd'> = {}): { length: number; reason?: 'newline' | 'sentence' } {
  let cut: { length: number; reason?: 'newline' | 'sentence' } = { length: text.length };
  if (options.stopAtNewline ?? true) {
    const newline = text.search(/\r|\n/);
    if (newline >= 0) cut = { length: newline, reason: 'newline' };
  }
  if (options.stopAtSentenceEnd ?? true) {
    const head = text.slice(0, cut.length);
    const firstWord = head.search(/\p{L}|\p{N}/u);
    if (firstWord >= 0) {
      const match = SENTENCE_END.exec(head.slice(firstWord));
      if (match) {
        const end = firstWord + match.index + match[0].length;
        if (end < cut.length || (end === cut.length && cut.reason === undefined)) cut = { length: end, reason: 'sentence' };
      }
    }
  }
  return cut;
}

/** Whether the text generated so far already ends the completion (a line break, a sentence end). */
export function stopRule(options: CompletionOptions): (tokens: ReadonlyArray<Pick<GeneratedToken, 'text'>>) => boolean {
  return (tokens) => applyStopRules(tokens.map((token) => token.text).join(''), options).reason !== undefined;
}

/** Turns generated tokens into what an editor inserts: cut by the stop rules, with the tokens that remain. */
export function finishCompletion<T extends Pick<GeneratedToken, 'text' | 'prob'> & { id: number | null }>(
  tokens: T[],
  eosId: number,
  fallbackReason: 'length' | 'eos' | 'stop',
  options: CompletionOptions,
): Omit<Completion, 'tokens'> & { tokens: T[] } {
  const visible = tokens.filter((token) => token.id !== eosId);
  const full = visible.map((token) => token.text).join('');
  const cut = applyStopRules(full, options);
  const text = full.slice(0, cut.length).replace(/\s+$/u, '');
  const kept: T[] = [];
  let consumed = 0;
  for (const token of visible) {
    if (consumed >= text.length) break;
    kept.push(token);
    consumed += token.text.length;
  }
  const probs = kept.map((token) => token.prob);
  return {
    text,
    tokens: kept,
    stopReason: cut.reason ?? (fallbackReason === 'eos' ? 'eos' : 'length'),
    meanProb: probs.length ? probs.reduce((a, b) => a + b, 0) / probs.length : 0,
    jointProb: probs.reduce((a, b) => a * b, 1),
  };
}

/** Greedy continuation (argmax at every step), as ghost text shows first. */
export async function completeGreedy(engine: Engine, prompt: number[], options: CompletionOptions = {}): Promise<Completion> {
  const [row] = await generate(engine, prompt, {
    rows: 1,
    maxNewTokens: options.maxNewTokens ?? 16,
    signal: options.signal,
    stopAfter: stopRule(options),
    choose: (logProbs) => {
      let best = 0;
      for (let i = 1; i < logProbs.length; i++) if ((logProbs[i] as number) > (logProbs[best] as number)) best = i;
      return { id: best, sampledProb: 1 };
    },
  });
  return finishCompletion(row?.tokens ?? [], engine.model.info.eosTokenId, row?.stopReason ?? 'length', options);
}
