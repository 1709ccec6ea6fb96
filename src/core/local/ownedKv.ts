// KV cache buffers owned by the engine: one Float32Array per layer and part, laid out
// [batch, heads, capacity, headDim] so onnxruntime-node reads them zero-copy as
// `past_key_values.*`. Positions at or beyond a state's length are masked out by the attention
// mask, so one buffer serves every state that is a prefix of what it holds. A decode step
// writes its new tokens' K/V in place after the state it extends; when that overwrites positions
// a longer state still claims (the user edited the last token), the longer state is marked
// invalid, never silently changed.

/** Positions a new buffer is rounded up to: decode steps then extend it in place for a while. */
export const CAPACITY_STEP = 64;
/** Forks remembered per buffer; states older than the oldest remembered fork count as invalid. */
const MAX_FORKS = 256;

export class KvBuffer {
  readonly data: Float32Array[];
  /** Positions written so far (the longest state it holds). */
  filled = 0;
  private epoch = 0;
  private floorEpoch = 0;
  private readonly forks: Array<{ epoch: number; at: number }> = [];

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

  /** Whether positions [0, length) still hold what they held when a state of `epoch` was made. */
  holds(length: number, epoch: number): boolean {
    if (epoch < this.floorEpoch) return false;
    return this.forks.every((fork) => fork.epoch <= epoch || fork.at >= length);
  }

  /** Takes positions from `at` on for a new state; returns that state's epoch. */
  claim(at: number): number {
    if (at < this.filled) {
      this.epoch++;
      this.forks.push({ epoch: this.epoch, at });
      if (this.forks.length > MAX_FORKS) this.floorEpoch = (this.forks.shift() as { epoch: number }).epoch;
    }
    return this.epoch;
  }

  /** Writes `count` new positions from `rows` ([batch, heads, count, headDim]) at `at`. */
  write(index: number, rows: Float32Array, at: number, count: number): void {
    const target = this.data[index] as Float32Array;
    const { headDim, capacity } = this;
    for (let row = 0; row < this.batch * this.heads; row++) {
      target.set(rows.subarray(row * count * headDim, (row + 1) * count * headDim), (row * capacity + at) * headDim);
    }
  }

  /**
   * Copies positions [0, length) of `source` into this buffer, repeating a batch-1 source to
   * every row when this buffer has more rows (N samples of one prompt).
   */
  copyFrom(source: KvBuffer, length: number): void {
    const { headDim, heads } = this;
    const repeat = source.batch === 1 && this.batch > 1;
    if (!repeat && source.batch !== this.batch) throw new Error(`cannot copy a batch-${source.batch} KV buffer into batch ${this.batch}`);
    for (let index = 0; index < this.data.length; index++) {
      const from = source.data[index] as Float32Array;
      const to = this.data[index] as Float32Array;
      for (let b = 0; b < this.batch; b++) {
        for (let h = 0; h < heads; h++) {
          const sourceRow = (repeat ? 0 : b) * heads + h;
          const targetRow = b * heads + h;
          to.set(from.subarray(sourceRow * source.capacity * headDim, (sourceRow * source.capacity + length) * headDim), targetRow * this.capacity * headDim);
        }
      }
    }
    this.filled = length;
  }
}

/** A state's claim on a buffer: its first `length` positions, as of `epoch`. */
export interface OwnedKv {
  buffer: KvBuffer;
  epoch: number;
}

/** Smallest capacity step that holds `positions`, at most `limit`. */
export function capacityFor(positions: number, limit: number): number {
  return Math.min(limit, Math.ceil((positions + 1) / CAPACITY_STEP) * CAPACITY_STEP);
}
