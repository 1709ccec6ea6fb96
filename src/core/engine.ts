import { throwIfAborted } from './errors';
import { LanguageModel } from './model';
import type { ForwardOptions, ForwardResult, KvState, LensForward, LoadOptions } from './model';
import { PrefixCache, sliceKv } from './prefixCache';
import { ScoringHead } from './scoringHead';
import type { RowStats } from './scoringHead';
import type { PrefixCacheStats } from './prefixCache';
import { BackgroundPace } from './backgroundPace';
import { Scheduler, currentWork } from './scheduler';
import { traceStep, tracing } from './stepTrace';

export interface RunOptions {
  signal?: AbortSignal;
  /** First position whose logits the caller wants (default: only the last position). */
  logitsFrom?: number;
  /** Receives logits rows `[count, vocab]` for positions `first..first+count-1`, chunk by chunk. */
  onLogits?: (first: number, rows: Float32Array, count: number) => void | Promise<void>;
  /** Skip the prefix cache (used by tests and the benchmark's baselines). */
  noCache?: boolean;
}

export interface ContextRun {
  kv: KvState;
  lastLogits: Float32Array;
  reusedTokens: number;
  computedTokens: number;
}

/** Tokens per forward call during prefill: a cancellation is noticed at most one chunk late. */
export const PREFILL_CHUNK = 128;
export { BACKGROUND_CHUNK } from './backgroundPace';

export interface EngineOptions {
  cacheBytes?: number;
}

/**
 * The model plus its prefix-KV cache, with every forward pass a step of one scheduler: requests
 * from the panel, ghost text and scoring interleave at step boundaries, the person typing first
 * (see scheduler.ts).
 */
export class Engine {
  readonly cache: PrefixCache;
  readonly scheduler = new Scheduler();
  /** Tokens per background step: fewer while someone types (see backgroundPace.ts). */
  readonly pace = new BackgroundPace();
  private head: Promise<ScoringHead> | undefined;

  constructor(
    readonly model: LanguageModel,
    options: EngineOptions = {},
  ) {
    // GPT-2's KV state is 75 MB per full 1024-token window: room for the panel's context, a
    // ghost-text prompt and a scoring window, without doubling the model's memory.
    this.cache = new PrefixCache(options.cacheBytes ?? 192 * 1024 * 1024);
  }

  get vocabSize(): number {
    return this.model.info.vocabSize;
  }

  get contextSize(): number {
    return this.model.info.contextSize;
  }

  /** One forward pass, a step of the scheduler under the caller's class and owner. */
  forward(inputIds: number[][], past: KvState | undefined, options: ForwardOptions & { signal?: AbortSignal } = {}): Promise<ForwardResult> {
    // The class of the caller: the step itself runs from whatever turn of the event loop the queue reaches it in.
    const work = currentWork().class;
    return this.scheduler.run(async () => {
      throwIfAborted(options.signal);
      const started = performance.now();
      const result = await this.model.forward(inputIds, past, options);
      if (inputIds.length === 1) this.pace.observe(work, inputIds[0]?.length ?? 0, performance.now() - started);
      return result;
    }, options.signal, undefined, { kind: 'forward', rows: inputIds.length, tokens: inputIds[0]?.length ?? 0, past: past?.length ?? 0, keep: options.logitsToKeep });
  }

  /** One lens step (LanguageModel.lensForward), a step of the scheduler like forward(). */
  lensForward(inputIds: number[], past: KvState | undefined, top: number, signal?: AbortSignal): Promise<LensForward> {
    return this.scheduler.run(() => {
      throwIfAborted(signal);
      return this.model.lensForward(inputIds, past, top);
    }, signal, undefined, { kind: 'lens', tokens: inputIds.length, past: past?.length ?? 0 });
  }

  /** Log-prob, entropy, rank and top-k of logits rows against targets, computed by ORT (see ScoringHead). */
  rowStats(logits: Float32Array, rows: number, targets: ArrayLike<number>, k: number, signal?: AbortSignal): Promise<RowStats> {
    this.head ??= ScoringHead.create(this.model.info.threads);
    const head = this.head;
    return this.scheduler.run(async () => {
      throwIfAborted(signal);
      return (await head).analyze(logits, rows, this.vocabSize, targets, k);
    }, signal, undefined, { kind: 'head', rows });
  }

  /**
   * Runs `ids` (at most one context window) and returns their KV state and last logits,
   * computing only what the cache does not already hold.
   */
  async run(ids: number[], options: RunOptions = {}): Promise<ContextRun> {
    const n = ids.length;
    const vocab = this.vocabSize;
    const logitsFrom = Math.min(Math.max(0, options.logitsFrom ?? n - 1), n - 1);
    const match = options.noCache ? undefined : this.cache.longestPrefix(ids);

    if (match && match.length === n && match.entry.ids.length === n && match.entry.lastLogits && logitsFrom === n - 1) {
      this.cache.recordWork(n, 0);
      await options.onLogits?.(n - 1, match.entry.lastLogits, 1);
      return { kv: match.entry.kv, lastLogits: match.entry.lastLogits, reusedTokens: n, computedTokens: 0 };
    }

    const start = Math.min(match?.length ?? 0, logitsFrom);
    const work = currentWork().class;
    if (tracing) traceStep('run', { ...currentWork(), n, logitsFrom, matched: match?.length ?? 0, matchedEntry: match?.entry.ids.length ?? 0, start, entries: this.cache.stats().entries });
    let kv: KvState | undefined = start > 0 && match ? sliceKv(match.entry.kv, start) : undefined;
    let lastLogits = new Float32Array(0);
    try {
      for (let chunkStart = start, chunkEnd = start; chunkStart < n; chunkStart = chunkEnd) {
        throwIfAborted(options.signal);
        chunkEnd = Math.min(n, chunkStart + (work === 'background' ? this.pace.tokens() : PREFILL_CHUNK));
        const wanted = chunkEnd - Math.max(chunkStart, logitsFrom);
        const keep = Math.max(1, wanted);
        if (kv && kv.length > 0 && chunkStart === start && !options.noCache) {
          // The past this run starts from is itself a reusable context (typing usually edits the last token).
          this.cache.put(ids.slice(0, start), kv, undefined, work);
        }
        const result = await this.forward([ids.slice(chunkStart, chunkEnd)], kv, { logitsToKeep: keep, signal: options.signal });
        kv = result.present;
        const rows = result.keptPositions;
        const firstRowPosition = chunkEnd - rows;
        lastLogits = result.logits.slice((rows - 1) * vocab, rows * vocab);
        if (options.onLogits && wanted > 0) {
          const skip = Math.max(chunkStart, logitsFrom) - firstRowPosition;
          await options.onLogits(Math.max(chunkStart, logitsFrom), result.logits.subarray(skip * vocab, rows * vocab), rows - skip);
        }
      }
    } catch (error) {
      // A superseded keystroke's prefill is the next keystroke's prefix: keep what it computed,
      // so typing faster than a prefill still converges instead of restarting it every key.
      if (kv && kv.length > start && !options.noCache) this.cache.put(ids.slice(0, kv.length), kv, undefined, work);
      throw error;
    }
    if (!kv) throw new Error('run() needs at least one token');
    if (!options.noCache) {
      this.cache.put(ids, kv, lastLogits, work);
      this.cache.recordWork(start, n - start);
    }
    return { kv, lastLogits, reusedTokens: start, computedTokens: n - start };
  }

  cacheStats(): PrefixCacheStats {
    return this.cache.stats();
  }

  async dispose(): Promise<void> {
    this.cache.clear();
    if (this.head) await (await this.head).dispose();
    await this.model.dispose();
  }
}

/**
 * The tokens a next-token or generation request conditions on when the text is longer than
 * the window leaves room for. The start moves in steps of a quarter window so consecutive
 * keystrokes keep sharing a prefix (and its cached KV state) instead of shifting every time.
 */
export function contextWindowStart(tokenCount: number, room: number): number {
  if (tokenCount <= room) return 0;
  const step = Math.max(1, Math.floor(room / 4));
  return Math.ceil((tokenCount - room) / step) * step;
}

export async function loadEngine(options: LoadOptions & EngineOptions = {}): Promise<Engine> {
  return new Engine(await LanguageModel.load(options), options);
}
