// What the ghost-text provider does between "VS Code asks" and "items to show", without the
// vscode module: trigger rules, the typed-through cache, debounce, the model request, the stale
// check. The extension adapts it to InlineCompletionItemProvider; unit tests drive it in Node
// with a fake model.
import { CompletionCache, joinCompletion } from '../core/completionCache';
import type { LookupOptions } from '../core/completionCache';
import { isCancelled } from '../core/errors';
import type { CompleteParams, CompleteResponse } from '../shared/hostProtocol';
import type { StopUnit } from '../core/stopRules';
import { autoTriggerBlock, isStale } from './inlineRules';
import type { DocumentPoint } from './inlineRules';

export interface Suggestion {
  /** Text to insert at the cursor (already joined with the text before it). */
  text: string;
  meanProb: number;
  jointProb: number;
}

export interface SuggestRequest {
  /** Text before the cursor: from the document start, or at least `lookbehind` characters of it (ending at `at.offset`). */
  prefix: string;
  /** The rest of the cursor's line. */
  lineSuffix: string;
  /** Typing triggered it (debounced, trigger rules apply), not an explicit command. */
  automatic: boolean;
  /** Document version and cursor offset when VS Code asked. */
  at: DocumentPoint;
}

export type SuggestOutcome =
  | { kind: 'items'; source: 'model' | 'cache'; items: Suggestion[]; latencyMs: number }
  | { kind: 'none'; reason: 'blocked' | 'cancelled' | 'stale' | 'empty' }
  | { kind: 'none'; reason: 'error'; error: unknown };

export interface SuggesterSettings {
  maxNewTokens: number;
  /** Sampled alternatives for explicit requests (typing asks for the greedy completion alone). */
  alternatives: number;
  debounceMs: number;
  /** The stop rules' settings, sent with every request. */
  stopAt: StopUnit;
  minTokenProb: number;
}

/** Sends one completion request; rejects with CancelledError when `signal` aborts or a newer request supersedes it. */
export type CompleteSender = (params: CompleteParams, signal: AbortSignal) => Promise<CompleteResponse>;

/** Read-only counters for tests and the status bar. */
export interface SuggesterStats {
  /** Requests handed to the model (some are then cancelled by newer ones). */
  modelRequests: number;
  cacheHits: number;
  cancelled: number;
  stale: number;
  blocked: number;
  errors: number;
  /** Calls still running (debouncing or waiting for the model). */
  pending: number;
}

/** Resolves after `ms`, or as soon as `signal` aborts: a debounce that never outlives its request. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** The model's answer as items: greedy first, then the alternatives; joined, empty and duplicate texts dropped. */
export function suggestionsFrom(prompt: string, response: Pick<CompleteResponse, 'greedy' | 'alternatives'>): Suggestion[] {
  const seen = new Set<string>();
  const items: Suggestion[] = [];
  for (const completion of [response.greedy, ...response.alternatives]) {
    const text = joinCompletion(prompt, completion.text);
    if (text.trim() === '' || seen.has(text)) continue;
    seen.add(text);
    items.push({ text, meanProb: completion.meanProb, jointProb: completion.jointProb });
  }
  return items;
}

export class InlineSuggester {
  readonly cache = new CompletionCache<Suggestion>();
  readonly stats: SuggesterStats = { modelRequests: 0, cacheHits: 0, cancelled: 0, stale: 0, blocked: 0, errors: 0, pending: 0 };

  constructor(
    private readonly send: CompleteSender,
    private readonly settings: () => SuggesterSettings,
  ) {}

  /** Characters before the cursor that `suggest` needs in `prefix` (fewer only at the document start). */
  get lookbehind(): number {
    return this.cache.lookbehind;
  }

  /**
   * Items for the cursor described by `request`. `signal` aborts when VS Code gives up on the
   * request (the user typed on); `current` tells where the user is when the answer arrives.
   */
  async suggest(request: SuggestRequest, signal: AbortSignal, current: () => DocumentPoint | undefined): Promise<SuggestOutcome> {
    this.stats.pending++;
    try {
      return await this.run(request, signal, current);
    } finally {
      this.stats.pending--;
    }
  }

  private async run(request: SuggestRequest, signal: AbortSignal, current: () => DocumentPoint | undefined): Promise<SuggestOutcome> {
    if (request.automatic && autoTriggerBlock(request.lineSuffix)) {
      this.stats.blocked++;
      return { kind: 'none', reason: 'blocked' };
    }
    const settings = this.settings();
    // VS Code shows one item while typing and asks explicitly (Alt+], the trigger command) for
    // all of them: sampling alternatives costs several times the greedy pass, so only then.
    const alternatives = request.automatic ? 0 : settings.alternatives;
    const lookup = { origin: request.at.offset - request.prefix.length, complete: alternatives > 0 };
    const cached = this.fromCache(request.prefix, lookup);
    if (cached) return cached;
    if (request.automatic) {
      await pause(settings.debounceMs, signal);
      if (signal.aborted) return this.cancelled();
      // Another request may have answered this very prompt while this one waited.
      const filled = this.fromCache(request.prefix, lookup);
      if (filled) return filled;
    }
    const prompt = this.cache.promptFor(request.prefix, lookup.origin);
    const started = performance.now();
    let response: CompleteResponse;
    try {
      this.stats.modelRequests++;
      response = await this.send({ text: prompt, maxNewTokens: settings.maxNewTokens, alternatives, stop: { stopAt: settings.stopAt, minTokenProb: settings.minTokenProb } }, signal);
    } catch (error) {
      if (isCancelled(error)) return this.cancelled();
      this.stats.errors++;
      return { kind: 'none', reason: 'error', error };
    }
    const latencyMs = performance.now() - started;
    const items = suggestionsFrom(prompt, response);
    // Kept even when stale: the user may well be typing through exactly this answer.
    this.cache.set(prompt, items, alternatives > 0 || settings.alternatives === 0);
    if (isStale(request.at, current())) {
      this.stats.stale++;
      return { kind: 'none', reason: 'stale' };
    }
    return items.length > 0 ? { kind: 'items', source: 'model', items, latencyMs } : { kind: 'none', reason: 'empty' };
  }

  private fromCache(prefix: string, options: LookupOptions): SuggestOutcome | undefined {
    const hit = this.cache.lookup(prefix, options);
    if (!hit) return undefined;
    this.stats.cacheHits++;
    return { kind: 'items', source: 'cache', items: hit.items, latencyMs: 0 };
  }

  private cancelled(): SuggestOutcome {
    this.stats.cancelled++;
    return { kind: 'none', reason: 'cancelled' };
  }
}
