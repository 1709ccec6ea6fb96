// KV cache buffers owned by the engine: one Float32Array per layer and part, laid out
// [batch, heads, capacity, headDim] so onnxruntime-node reads them zero-copy as
// `past_key_values.*`. Buffers are append-only: a step writes its new tokens' K/V into the next
// free slots, and a state is the list of slots that hold its positions, in order. GPT-2's keys
// carry their position from the input embedding and the attention mask says which slots a row
// sees, so slots need not be contiguous: an edit of the last token (a fork) appends to the same
// buffer instead of overwriting what another state still reads. A full buffer is compacted
// into a new one holding just the state's slots.

/** Slots a new buffer is rounded up to: decode steps and forks then append in place for a while. */
export const CAPACITY_STEP = 64;

export class KvBuffer {
  readonly data: Float32Array[];
  /** Slots written so far; slots ≥ filled are free. */
  filled = 0;

  constructor(
    readonly layers: number,
    readonly batch: number,
    readonly heads: number,
    readonly headDim: number,
    readonly capacity: number,
  ) {
    const size = batch * heads * capacity * headDim;
    this.data = Array.from({ length: 2 * layers }, () => new Float32Array(size));
  }

  get bytes(): number {
    return this.data.length * (this.data[0]?.byteLength ?? 0);
  }

  /** Writes `count` new positions from `rows` ([batch, heads, count, headDim]) at slot `at`. */
  write(index: number, rows: Float32Array, at: number, count: number): void {
    const target = this.data[index] as Float32Array;
    const { headDim, capacity } = this;
    for (let row = 0; row < this.batch * this.heads; row++) {
      target.set(rows.subarray(row * count * headDim, (row + 1) * count * headDim), (row * capacity + at) * headDim);
    }
  }

  /**
   * Copies the slot ranges of `source` to slots 0.. of this buffer, repeating a batch-1 source
   * to every row when this buffer has more rows (N samples of one prompt).
   */
  gather(source: KvBuffer, ranges: readonly SlotRange[]): void {
    const { headDim, heads } = this;
    const repeat = source.batch === 1 && this.batch > 1;
    if (!repeat && source.batch !== this.batch) throw new Error(`cannot copy a batch-${source.batch} KV buffer into batch ${this.batch}`);
    for (let index = 0; index < this.data.length; index++) {
      const from = source.data[index] as Float32Array;
      const to = this.data[index] as Float32Array;
      for (let b = 0; b < this.batch; b++) {
        for (let h = 0; h < heads; h++) {
          const sourceBase = ((repeat ? 0 : b) * heads + h) * source.capacity;
          let at = (b * heads + h) * this.capacity;
          for (const [start, end] of ranges) {
            to.set(from.subarray((sourceBase + start) * headDim, (sourceBase + end) * headDim), at * headDim);
            at += end - start;
          }
        }
      }
    }
    this.filled = slotCount(ranges);
  }
}

/** Slots [start, end) of a buffer. */
export type SlotRange = readonly [number, number];

/** A state's positions: the concatenation of `ranges` of `buffer`, in order. */
export interface OwnedKv {
  buffer: KvBuffer;
  ranges: readonly SlotRange[];
}

/** How many slots the ranges hold. */
export function slotCount(ranges: readonly SlotRange[]): number {
  return ranges.reduce((sum, [start, end]) => sum + end - start, 0);
}

/** The first `length` positions of a state's slots. */
export function firstSlots(ranges: readonly SlotRange[], length: number): SlotRange[] {
  const out: SlotRange[] = [];
  let left = length;
  for (const [start, end] of ranges) {
    if (left <= 0) break;
    const take = Math.min(left, end - start);
    out.push([start, start + take]);
    left -= take;
  }
  return out;
}

/** Ranges followed by `count` slots from `at`, merged when they touch. */
export function appendSlots(ranges: readonly SlotRange[], at: number, count: number): SlotRange[] {
  const last = ranges[ranges.length - 1];
  if (last && last[1] === at) return [...ranges.slice(0, -1), [last[0], at + count]];
  return [...ranges, [at, at + count]];
}

/** Smallest capacity step that holds `positions` plus one free slot, at most `limit`. */
export function capacityFor(positions: number, limit: number): number {
  return Math.min(limit, Math.ceil((positions + 1) / CAPACITY_STEP) * CAPACITY_STEP);
}
