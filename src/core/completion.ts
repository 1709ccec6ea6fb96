import type { Engine } from './engine';
import { generate } from './generation';
import type { GeneratedToken } from './generation';
import type { CompletionStop } from '../shared/engineTypes';
export type { CompletionStop } from '../shared/engineTypes';
import { findStop, stopsAfter } from './stopRules';
import type { StopOptions } from './stopRules';

export interface CompletionOptions extends StopOptions {
  maxNewTokens?: number;
  signal?: AbortSignal;
}

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

/** Whether the text generated so far already ends the completion (see stopRules.ts). */
export function stopRule(options: CompletionOptions): (tokens: ReadonlyArray<Pick<GeneratedToken, 'text' | 'prob'> & { id: number | null }>) => boolean {
  return stopsAfter(options);
}

/** Turns generated tokens into what an editor inserts: cut by the stop rules, with the tokens that remain. */
export function finishCompletion<T extends Pick<GeneratedToken, 'text' | 'prob'> & { id: number | null }>(
  tokens: T[],
  eosId: number,
  fallbackReason: 'length' | 'eos' | 'stop',
  options: CompletionOptions,
): Omit<Completion, 'tokens'> & { tokens: T[] } {
  const eosAt = tokens.findIndex((token) => token.id === eosId);
  const visible = eosAt >= 0 ? tokens.slice(0, eosAt) : tokens;
  const full = visible.map((token) => token.text).join('');
  const cut = findStop(visible, options);
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
    stopReason: cut.reason ?? (fallbackReason === 'eos' || eosAt >= 0 ? 'eos' : 'length'),
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
