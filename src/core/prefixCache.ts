import { Tensor } from '@huggingface/transformers';
import { KvBuffer, capacityFor, firstSlots } from './local/ownedKv';
import type { KvState } from './model';
import type { PrefixCacheStats } from '../shared/engineTypes';
export type { PrefixCacheStats } from '../shared/engineTypes';
import type { WorkClass } from './scheduler';
import { traceStep, tracing } from './stepTrace';

export interface CachedContext {
  ids: number[];
  kv: KvState;
  /** Logits after the last id, when known: a request for exactly `ids` then costs nothing. */
  lastLogits?: Float32Array;
  bytes: number;
  /** The class of work that computed it: background work never evicts interactive contexts. */
  work: WorkClass;
}

export interface PrefixMatch {
  entry: CachedContext;
  /** Number of leading ids shared with `entry.ids`. */
  length: number;
}

/**
 * Interactive contexts that background work never evicts: the ones the next keystroke extends.
 * A window typing with the panel and ghost text on uses two (the text before the cursor and the
 * ghost-text prompt), each in its own KV buffer; older interactive contexts (a buffer compacted
 * away, a prompt window that moved on, another file typed into minutes ago) are fair game.
 */
export const LIVE_INTERACTIVE_BUFFERS = 2;

/**
 * Recent contexts and their KV state, bounded in bytes. A request re-runs only the tokens after
 * its longest common prefix with an entry. Eviction serves the person typing: a new entry first
 * pushes out the least recently used entries of its own class of work; interactive work may then
 * take background entries' room; background work (scoring a document on every pause) may take
 * the room of interactive contexts no keystroke is extending, but never of the live ones (see
 * LIVE_INTERACTIVE_BUFFERS); what it cannot fit it does not keep.
 */
export class PrefixCache {
  private readonly entries: CachedContext[] = [];
  private readonly counters = { lookups: 0, hits: 0, reusedTokens: 0, computedTokens: 0 };

  constructor(
    private readonly maxBytes: number,
    private readonly maxEntries = 8,
  ) {}

  longestPrefix(ids: number[]): PrefixMatch | undefined {
    this.counters.lookups++;
    let best: PrefixMatch | undefined;
    for (const entry of this.entries) {
      const length = commonPrefixLength(entry.ids, ids);
      // Prefer the shortest entry among equal matches: it avoids copying a KV slice.
      if (length > 0 && (!best || length > best.length || (length === best.length && entry.ids.length < best.entry.ids.length))) {
        best = { entry, length };
      }
    }
    if (best) {
      this.touch(best.entry);
      this.counters.hits++;
    }
    return best;
  }

  recordWork(reusedTokens: number, computedTokens: number): void {
    this.counters.reusedTokens += reusedTokens;
    this.counters.computedTokens += computedTokens;
  }

  put(ids: number[], kv: KvState, lastLogits?: Float32Array, work: WorkClass = 'interactive'): void {
    if (ids.length === 0 || kv.batch !== 1 || kv.length !== ids.length) return;
    const existing = this.entries.findIndex((entry) => sameIds(entry.ids, ids));
    if (existing >= 0) this.entries.splice(existing, 1);
    const bytes = kvBytes(kv) + (lastLogits?.byteLength ?? 0) + ids.length * 8;
    if (bytes > this.maxBytes) return;
    const added: CachedContext = { ids: [...ids], kv, lastLogits, bytes, work };
    this.entries.push(added);
    let evicted = 0;
    while (this.entries.length > this.maxEntries || this.totalBytes() > this.maxBytes) {
      const victim = this.victim(added);
      this.entries.splice(this.entries.indexOf(victim), 1);
      if (victim === added) break;
      evicted++;
    }
    if (tracing) traceStep('put', { work, n: ids.length, mb: Math.round(bytes / 1e6), kept: this.entries.includes(added), evicted, entries: this.entries.length, totalMb: Math.round(this.totalBytes() / 1e6) });
  }

  /**
   * The entry to drop so that `added` fits, least recently used first: one of its own class; for
   * interactive work then any other; for background work then an interactive entry no keystroke
   * is extending (not the newest entry of a live buffer), else `added` itself.
   */
  private victim(added: CachedContext): CachedContext {
    const others = this.entries.filter((entry) => entry !== added);
    const own = others.find((entry) => entry.work === added.work);
    if (own) return own;
    if (added.work === 'interactive') return others[0] ?? added;
    const live = this.liveEntries();
    const liveBuffers = new Set([...live].map(bufferOf));
    // Contexts on a buffer nobody types in free bytes; older forks on a live buffer only free a slot.
    return others.find((entry) => !liveBuffers.has(bufferOf(entry))) ?? others.find((entry) => !live.has(entry)) ?? added;
  }

  /** The newest interactive entry of each of the LIVE_INTERACTIVE_BUFFERS most recently used interactive buffers. */
  private liveEntries(): Set<CachedContext> {
    const live = new Map<object, CachedContext>();
    for (let i = this.entries.length - 1; i >= 0 && live.size < LIVE_INTERACTIVE_BUFFERS; i--) {
      const entry = this.entries[i] as CachedContext;
      if (entry.work === 'interactive' && !live.has(bufferOf(entry))) live.set(bufferOf(entry), entry);
    }
    return new Set(live.values());
  }

  clear(): void {
    this.entries.length = 0;
  }

  stats(): PrefixCacheStats {
    return { ...this.counters, entries: this.entries.length, bytes: this.totalBytes() };
  }

  private touch(entry: CachedContext): void {
    const index = this.entries.indexOf(entry);
    if (index >= 0) this.entries.push(...this.entries.splice(index, 1));
  }

  /** Entries that are prefixes of one owned buffer share it: count each buffer once. */
  private totalBytes(): number {
    const buffers = new Set<KvBuffer>();
    let bytes = 0;
    for (const entry of this.entries) {
      const buffer = entry.kv.owned?.buffer;
      if (buffer && buffers.has(buffer)) bytes += entry.bytes - buffer.bytes;
      else bytes += entry.bytes;
      if (buffer) buffers.add(buffer);
    }
    return bytes;
  }
}

/** The KV buffer an entry's state lives in (an export-path state is its own). */
function bufferOf(entry: CachedContext): object {
  return entry.kv.owned?.buffer ?? entry.kv;
}

export function commonPrefixLength(a: readonly number[], b: readonly number[]): number {
  const limit = Math.min(a.length, b.length);
  let i = 0;
  while (i < limit && a[i] === b[i]) i++;
  return i;
}

function sameIds(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && commonPrefixLength(a, b) === a.length;
}

export function kvBytes(kv: KvState): number {
  if (kv.owned) return kv.owned.buffer.bytes;
  let bytes = 0;
  for (const tensor of Object.values(kv.tensors)) bytes += (tensor.data as Float32Array).byteLength;
  return bytes;
}

/** The first `length` positions of a batch-1 KV state (owned: the same buffer; export tensors: a copy, ORT needs contiguous inputs). */
export function sliceKv(kv: KvState, length: number): KvState {
  if (length === kv.length) return kv;
  if (kv.owned) return { ...kv, length, owned: { buffer: kv.owned.buffer, ranges: firstSlots(kv.owned.ranges, length) } };
  const tensors: Record<string, Tensor> = {};
  for (const [name, tensor] of Object.entries(kv.tensors)) {
    const [batch, heads, past, headDim] = tensor.dims as [number, number, number, number];
    const source = tensor.data as Float32Array;
    const target = new Float32Array(batch * heads * length * headDim);
    for (let row = 0; row < batch * heads; row++) {
      target.set(source.subarray(row * past * headDim, (row * past + length) * headDim), row * length * headDim);
    }
    tensors[name] = new Tensor('float32', target, [batch, heads, length, headDim]);
  }
  return { batch: kv.batch, length, tensors };
}

/** Repeats a batch-1 KV state `rows` times, so N continuations of one prompt run as one batch. */
/**
 * `rows` rows that all continue `kv` (N samples of one prompt). On the owned-KV path they attend
 * to its buffer as shared positions, read once per step for every row, when the window leaves
 * room after it for `newTokens`; otherwise (and on the export path) each row gets a copy.
 */
export function kvForRows(kv: KvState, rows: number, newTokens: number, contextSize: number): KvState {
  const owned = kv.owned;
  if (owned && !kv.shared && owned.buffer.batch === 1 && owned.buffer.capacity + capacityFor(newTokens, contextSize) <= contextSize) {
    return { batch: rows, length: kv.length, tensors: {}, shared: owned };
  }
  return tileKv(kv, rows);
}

export function tileKv(kv: KvState, rows: number): KvState {
  if (kv.owned) {
    const source = kv.owned.buffer;
    const buffer = new KvBuffer(source.layers, rows, source.heads, source.headDim, source.capacity);
    buffer.gather(source, kv.owned.ranges);
    return { batch: rows, length: kv.length, tensors: {}, owned: { buffer, ranges: [[0, kv.length]] } };
  }
  const tensors: Record<string, Tensor> = {};
  for (const [name, tensor] of Object.entries(kv.tensors)) {
    const [, heads, past, headDim] = tensor.dims as [number, number, number, number];
    const source = tensor.data as Float32Array;
    const target = new Float32Array(rows * source.length);
    for (let row = 0; row < rows; row++) target.set(source, row * source.length);
    tensors[name] = new Tensor('float32', target, [rows, heads, past, headDim]);
  }
  return { batch: rows, length: kv.length, tensors };
}
