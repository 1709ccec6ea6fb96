import type { Backend, BackendTokenScore } from './backend';
import { LmLensError } from './errors';
import { meanLoss } from './scoring';

export interface BackendTextScore {
  ids: number[];
  /** Each id's text, the start token's included. */
  texts: string[];
  /** Whether the start token was prepended so the first real token is scored too. */
  bos: boolean;
  loss: number;
  perplexity: number;
  tokens: BackendTokenScore[];
}

/** `scoreText` on any backend: the text's tokens, optionally after the model's start token, each scored. */
export async function scoreTextOn(backend: Backend, text: string, options: { bos?: boolean; stride?: number; signal?: AbortSignal } = {}): Promise<BackendTextScore> {
  const tokenized = await backend.tokenize(text, options.signal);
  const bos = options.bos ?? false;
  if (tokenized.ids.length === 0 && !bos) {
    throw new LmLensError('text-invalid', 'The text is empty: give at least one token (or use --bos to score from the start of a text).');
  }
  const start = backend.info.startTokenId;
  if (bos && start === null) throw new LmLensError('text-invalid', `The model ${backend.info.model} has no start token to prepend: score without --bos.`);
  const ids = bos ? [start as number, ...tokenized.ids] : tokenized.ids;
  const texts = bos ? [await backend.tokenText(start as number, options.signal), ...tokenized.texts] : tokenized.texts;
  const tokens = await backend.score(ids, { stride: options.stride, signal: options.signal });
  const loss = meanLoss(tokens);
  return { ids, texts, bos, loss, perplexity: Math.exp(loss), tokens };
}
