import type { Backend, BackendTokenScore } from './backend';
import { LmLensError } from './errors';
import { meanLoss } from './scoring';

export interface BackendTextScore {
  ids: number[];
  /** Each id's text, the start token's included. */
  texts: string[];
  /** Whether ids[0] is a start token (`--bos`, or one the tokenizer adds), so every text token is scored. */
  bos: boolean;
  loss: number;
  perplexity: number;
  tokens: BackendTokenScore[];
}

/** `scoreText` on any backend: the text's tokens, optionally after the model's start token, each scored. */
export async function scoreTextOn(backend: Backend, text: string, options: { bos?: boolean; stride?: number; signal?: AbortSignal } = {}): Promise<BackendTextScore> {
  const tokenized = await backend.tokenize(text, options.signal);
  const added = tokenized.added ?? 0;
  if (tokenized.ids.length === added && !options.bos) {
    throw new LmLensError('text-invalid', 'The text is empty: give at least one token (or use --bos to score from the start of a text).');
  }
  // --bos prepends the model's start token only where the tokenizer put none there itself.
  const prepend = (options.bos ?? false) && added === 0;
  const start = backend.info.startTokenId;
  if (prepend && start === null) throw new LmLensError('text-invalid', `The model ${backend.info.model} has no start token to prepend: score without --bos.`);
  const ids = prepend ? [start as number, ...tokenized.ids] : tokenized.ids;
  const texts = prepend ? [await backend.tokenText(start as number, options.signal), ...tokenized.texts] : tokenized.texts;
  const bos = prepend || added > 0;
  const tokens = await backend.score(ids, { stride: options.stride, signal: options.signal });
  const loss = meanLoss(tokens);
  return { ids, texts, bos, loss, perplexity: Math.exp(loss), tokens };
}
