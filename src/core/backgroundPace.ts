/**
 * How many tokens a background step (sentence scoring, the report's comparison) runs while
 * someone is typing, chosen by measured cost rather than a fixed count: a keystroke that arrives
 * during a background step waits for the rest of it, so that step should cost no more than about
 * BACKGROUND_BUDGET keystroke steps. The pace halves the step after one that went over that
 * budget and doubles it after one well under it, between MIN_BACKGROUND_TOKENS and
 * BACKGROUND_CHUNK; it follows the model's size, the context's length (a step at 960 tokens of
 * past costs twice one at 0) and the machine's load. While nobody types, background work runs
 * BACKGROUND_CHUNK tokens a step: fewer, larger steps score faster (bench/README.md, W12/W13).
 */
import type { WorkClass } from './scheduler';

/** Tokens per background step while nobody is typing (and the most while someone is). */
export const BACKGROUND_CHUNK = 32;
export const MIN_BACKGROUND_TOKENS = 8;
/** A background step while typing costs at most this many keystroke steps (124M shape, quiet: a keystroke at 512 tokens ≈ 34 ms, 8 tokens at 960 ≈ 63 ms, 16 ≈ 96 ms). */
export const BACKGROUND_BUDGET = 2;
/** Someone is typing while the last interactive step is at most this old (W14's bursts pause 1.2 s). */
export const TYPING_MS = 2000;
/** Weight of the newest keystroke step in the running estimate of its cost. */
const KEYSTROKE_WEIGHT = 0.2;

export class BackgroundPace {
  private keystrokeMs: number | undefined;
  private lastInteractiveAt = Number.NEGATIVE_INFINITY;
  private typingTokens = BACKGROUND_CHUNK;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** A forward step of `work` that ran `tokens` tokens (one row) in `ms`. */
  observe(work: WorkClass, tokens: number, ms: number): void {
    if (work === 'interactive') {
      this.lastInteractiveAt = this.now();
      // A keystroke extends its cached context by a token or two; a prefill chunk is no keystroke.
      if (tokens <= 2) this.keystrokeMs = this.keystrokeMs === undefined ? ms : this.keystrokeMs + KEYSTROKE_WEIGHT * (ms - this.keystrokeMs);
      return;
    }
    if (!this.typing() || this.keystrokeMs === undefined) return;
    const budget = BACKGROUND_BUDGET * this.keystrokeMs;
    if (ms > budget && tokens <= this.typingTokens) this.typingTokens = Math.max(MIN_BACKGROUND_TOKENS, Math.floor(tokens / 2));
    else if (ms < budget / 2 && tokens >= this.typingTokens) this.typingTokens = Math.min(BACKGROUND_CHUNK, tokens * 2);
  }

  /** Tokens for the next background step. */
  tokens(): number {
    return this.typing() && this.keystrokeMs !== undefined ? this.typingTokens : BACKGROUND_CHUNK;
  }

  private typing(): boolean {
    return this.now() - this.lastInteractiveAt <= TYPING_MS;
  }
}
