import type { Engine } from './engine';
import { LmLensError, throwIfAborted } from './errors';

export interface TokenScore {
  /** Index of the token in the scored id sequence. */
  index: number;
  id: number;
  logprob: number;
  prob: number;
  /** 1 = the model's most likely choice. */
  rank: number;
  /** Entropy (nats) of the distribution the token was drawn against. */
  entropy: number;
  /** log p of the model's first choice at this position (GLTR's p(token) ÷ p(top 1) needs it). */
  topLogprob: number;
  /** Entropy (nats) of the top-10 probabilities renormalised to sum to 1, as GLTR's histogram. */
  top10Entropy: number;
  /** The model's most likely tokens at this position, when asked for. */
  alternatives?: Array<{ id: number; prob: number }>;
}

export interface ScoreOptions {
  signal?: AbortSignal;
  /** First token index to score (default 1: the first token has nothing to be predicted from). */
  fromToken?: number;
  /** How many top alternatives to attach per token (0 = none). */
  alternatives?: number;
  /** Window stride when the sequence is longer than the model's context (default: half a window). */
  stride?: number;
  /** Called after each window with the number of tokens scored so far. */
  onProgress?: (scored: number, total: number) => void;
  /** Called after each window with the scores it added, in order. */
  onScores?: (scores: readonly TokenScore[]) => void;
}

export interface ScoreWindow {
  begin: number;
  end: number;
  /** Tokens `[scoreFrom, end)` are scored in this window, each with context `ids[begin..i)`. */
  scoreFrom: number;
}

/**
 * HF's strided perplexity recipe: windows of `contextSize` tokens, `stride` apart; each
 * token is scored exactly once, in the first window that contains it with at least one token
 * before it, so it sees as much left context as that window allows.
 */
export function scoreWindows(tokenCount: number, contextSize: number, stride = Math.floor(contextSize / 2)): ScoreWindow[] {
  const windows: ScoreWindow[] = [];
  if (tokenCount < 2) return windows;
  const step = Math.max(1, Math.min(stride, contextSize - 1));
  let scoredUpTo = 1;
  for (let begin = 0; ; begin += step) {
    const end = Math.min(begin + contextSize, tokenCount);
    const scoreFrom = Math.max(scoredUpTo, begin + 1);
    if (scoreFrom < end) windows.push({ begin, end, scoreFrom });
    scoredUpTo = end;
    if (end >= tokenCount) break;
  }
  return windows;
}

/** Logits of one chunk inside a scoring window: `rows` predict `targets`, the tokens at `index`, `index + 1`, … of the sequence. */
export interface LogitChunk {
  index: number;
  rows: Float32Array;
  count: number;
  targets: number[];
  /** The window's ids, and the window position whose logits are the first row (a second model can see the same context). */
  windowIds: number[];
  first: number;
}

/**
 * Runs `engine` over `windows` of `ids` and hands on, chunk by chunk, the logits that predict
 * tokens `fromToken` onward, each with its context inside its window (HF's strided recipe).
 */
export async function forEachLogitChunk(
  engine: Engine,
  ids: number[],
  windows: readonly ScoreWindow[],
  options: { fromToken: number; signal?: AbortSignal; onChunk: (chunk: LogitChunk) => Promise<void>; onWindow?: () => void },
): Promise<void> {
  for (const window of windows) {
    throwIfAborted(options.signal);
    const windowIds = ids.slice(window.begin, window.end);
    const firstScored = Math.max(window.scoreFrom, options.fromToken);
    await engine.run(windowIds, {
      signal: options.signal,
      // Logits at position p predict token p + 1.
      logitsFrom: firstScored - window.begin - 1,
      onLogits: async (first, rows, count) => {
        // The window's last position predicts nothing here.
        const usable = Math.min(count, windowIds.length - 1 - first);
        if (usable <= 0) return;
        await options.onChunk({ index: window.begin + first + 1, rows, count: usable, targets: windowIds.slice(first + 1, first + 1 + usable), windowIds, first });
      },
    });
    options.onWindow?.();
  }
}

/**
 * Per-token log-probability, rank and entropy of `ids[fromToken..]`, each conditioned on
 * the ids before it. The mean of `-logprob` over tokens 1..n-1 is exactly HF's
 * `GPT2LMHeadModel(input_ids, labels=input_ids).loss`.
 */
export async function scoreIds(engine: Engine, ids: number[], options: ScoreOptions = {}): Promise<TokenScore[]> {
  const fromToken = Math.max(1, options.fromToken ?? 1);
  const scores: TokenScore[] = [];
  const windows = scoreWindows(ids.length, engine.contextSize, options.stride).filter((window) => window.end > fromToken);
  let reported = 0;
  await forEachLogitChunk(engine, ids, windows, {
    fromToken,
    signal: options.signal,
    onChunk: async ({ index, rows, count, targets }) => {
      const k = Math.max(GLTR_TOP, options.alternatives ?? 0);
      const stats = await engine.rowStats(rows, count, targets, k, options.signal);
      for (let row = 0; row < count; row++) {
        const logprob = stats.logprob[row] as number;
        const top = stats.topLogits.subarray(row * k, row * k + Math.min(k, GLTR_TOP));
        const score: TokenScore = {
          index: index + row,
          id: targets[row] as number,
          logprob,
          prob: Math.exp(logprob),
          rank: (stats.greater[row] as number) + 1,
          entropy: stats.entropy[row] as number,
          topLogprob: (top[0] as number) - (stats.logZ[row] as number),
          top10Entropy: entropyOfLogits(top),
        };
        if (options.alternatives) {
          const logZ = stats.logZ[row] as number;
          score.alternatives = Array.from({ length: options.alternatives }, (_, j) => ({
            id: Number(stats.topIds[row * k + j]),
            prob: Math.exp((stats.topLogits[row * k + j] as number) - logZ),
          }));
        }
        scores.push(score);
      }
    },
    onWindow: () => {
      options.onScores?.(scores.slice(reported));
      reported = scores.length;
      options.onProgress?.(scores.length, Math.max(0, ids.length - fromToken));
    },
  });
  return scores;
}

/** How many of the model's first choices GLTR's entropy histogram looks at. */
export const GLTR_TOP = 10;

/** Entropy (nats) of softmax over a few logits (largest first). */
export function entropyOfLogits(logits: ArrayLike<number>): number {
  const max = logits[0] as number;
  let sum = 0;
  let weighted = 0;
  for (let i = 0; i < logits.length; i++) {
    const shifted = (logits[i] as number) - max;
    const e = Math.exp(shifted);
    sum += e;
    weighted += e * shifted;
  }
  return Math.log(sum) - weighted / sum;
}

/** Mean negative log-likelihood; NaN when nothing was predicted (as HF returns for one token). */
export function meanLoss(scores: ReadonlyArray<{ logprob: number }>): number {
  if (scores.length === 0) return Number.NaN;
  return scores.reduce((sum, score) => sum - score.logprob, 0) / scores.length;
}

export interface TextScore {
  ids: number[];
  /** Whether ids[0] is a start token (`--bos`, or Llama 3's own), so the first text token is scored too. */
  bos: boolean;
  loss: number;
  perplexity: number;
  tokens: TokenScore[];
}

export async function scoreText(engine: Engine, text: string, options: ScoreOptions & { bos?: boolean } = {}): Promise<TextScore> {
  const tokenizer = engine.model.tokenizer;
  const textIds = tokenizer.encode(text);
  if (textIds.length === 0 && !options.bos) {
    throw new LmLensError('text-invalid', 'The text is empty: give at least one token (or use --bos to score from the start of a text).');
  }
  const ids = tokenizer.contextIds(text, engine.model.info.startTokenId, options.bos ?? false);
  // Whether ids[0] is a start token (prepended, or the tokenizer's own), so every text token is scored.
  const bos = ids.length > textIds.length;
  const tokens = await scoreIds(engine, ids, options);
  const loss = meanLoss(tokens);
  return { ids, bos, loss, perplexity: Math.exp(loss), tokens };
}
