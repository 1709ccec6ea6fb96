import type { Engine } from './engine';
import { contextWindowStart } from './engine';
import { entropy, logSoftmax, samplingLogProbs, topKIndices } from './distribution';
import type { SamplingSettings } from './distribution';

export interface TopToken {
  id: number;
  text: string;
  prob: number;
  logprob: number;
  logit: number;
}

export interface SampledToken {
  id: number;
  text: string;
  /** Probability under the transformed (temperature / top-k / top-p) distribution; 0 if removed. */
  prob: number;
}

export interface NextTokenOptions extends SamplingSettings {
  /** How many rows to list (default 10). */
  top?: number;
  signal?: AbortSignal;
  /** Prepend `<|endoftext|>`. An empty text always conditions on it, as GPT-2 does at the start of a text. */
  bos?: boolean;
}

export interface NextTokenResult {
  contextTokens: number;
  /** Context ids actually used (the tail of the text when it exceeds the window). */
  contextIds: number[];
  /** Whether the text was cut to fit the context window. */
  truncated: boolean;
  entropy: number;
  top: TopToken[];
  /** The distribution sampling draws from, when any transform is active. */
  sampling?: { entropy: number; keptTokens: number; top: SampledToken[] };
}

export function isIdentitySampling(settings: SamplingSettings): boolean {
  return (settings.temperature ?? 1) === 1 && !(settings.topK ?? 0) && (settings.topP ?? 1) >= 1;
}

/** Ids a generation conditions on: `tokenizer(text)`'s, after the start token when asked or the text is empty (`contextIds`). */
export function promptIds(engine: Engine, text: string, bos = false): number[] {
  return engine.model.tokenizer.contextIds(text, engine.model.info.startTokenId, bos);
}

/** Cuts a prompt so that it plus `newTokens` fits the model's window. */
export function fitContext(ids: number[], contextSize: number, newTokens = 0): { ids: number[]; truncated: boolean } {
  const start = contextWindowStart(ids.length, Math.max(1, contextSize - newTokens));
  return { ids: start > 0 ? ids.slice(start) : ids, truncated: start > 0 };
}

/** The notebook's cell: logits at the last position → softmax → top-k, plus entropy. */
export async function nextTokenDistribution(engine: Engine, text: string, options: NextTokenOptions = {}): Promise<NextTokenResult> {
  const fitted = fitContext(promptIds(engine, text, options.bos), engine.contextSize);
  const { lastLogits } = await engine.run(fitted.ids, { signal: options.signal });
  return describeDistribution(engine, lastLogits, fitted.ids, fitted.truncated, options);
}

export function describeDistribution(engine: Engine, logits: Float32Array, contextIds: number[], truncated: boolean, options: NextTokenOptions): NextTokenResult {
  const tokenizer = engine.model.tokenizer;
  const top = options.top ?? 10;
  const logProbs = logSoftmax(logits);
  const result: NextTokenResult = {
    contextTokens: contextIds.length,
    contextIds,
    truncated,
    entropy: entropy(logProbs),
    top: topKIndices(logits, top).map((id) => ({
      id,
      text: tokenizer.tokenText(id),
      prob: Math.exp(logProbs[id] as number),
      logprob: logProbs[id] as number,
      logit: logits[id] as number,
    })),
  };
  if (!isIdentitySampling(options)) {
    const sampled = samplingLogProbs(logits, options);
    let kept = 0;
    for (let i = 0; i < sampled.length; i++) if ((sampled[i] as number) > -Infinity) kept++;
    result.sampling = {
      entropy: entropy(sampled),
      keptTokens: kept,
      top: topKIndices(sampled, Math.min(top, kept)).map((id) => ({ id, text: tokenizer.tokenText(id), prob: Math.exp(sampled[id] as number) })),
    };
  }
  return result;
}
