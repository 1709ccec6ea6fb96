// Forward passes on the rewritten decode graph (decodeGraph.ts) with engine-owned KV buffers
// (ownedKv.ts): inputs are wrapped zero-copy, and the outputs are the logits plus a few KB of
// new K/V per layer, written into the buffer in place. Semantics are those of the export's
// forward: same logits for the same ids, mask and past.
import * as ort from 'onnxruntime-node';
import type { ForwardOptions, ForwardResult, KvState } from '../model';
import { NEW_KV_PREFIX, SHARED_KV_PREFIX } from './decodeGraph';
import type { DecodeGraphInfo } from './decodeGraph';
import { KvBuffer, appendSlots, capacityFor, slotCount } from './ownedKv';
import type { SlotRange } from './ownedKv';
import { lensGraphBytes } from './lensFile';

export interface DecodeShape {
  layers: number;
  /** KV heads: the cache's rows per layer (fewer than the query heads under grouped-query attention). */
  heads: number;
  headDim: number;
  contextSize: number;
  /** The residual stream's width, which the lens reads (not heads · headDim for Qwen3 or under GQA). */
  hiddenSize: number;
}

const PARTS = ['key', 'value'] as const;
const NO_SLOTS = new Float32Array(0);

/** HF GPT-2's position ids for a (left-padded) mask: cumsum(mask) - 1, padded slots 1; the last `count` of each row. */
export function positionIds(mask: number[][], count: number): BigInt64Array {
  const out = new BigInt64Array(mask.length * count);
  mask.forEach((row, b) => {
    let sum = 0;
    row.forEach((m, j) => {
      sum += m;
      const at = j - (row.length - count);
      if (at >= 0) out[b * count + at] = BigInt(m === 0 ? 1 : sum - 1);
    });
  });
  return out;
}

/** Where each position's attention weight sits among a step's attention columns ([shared | fed slots | new]). */
export interface StepLayout {
  /** Column of each position (shared, then past, then new), in order. */
  columns: number[];
  /** Columns in all. */
  width: number;
}

/** One step's raw outputs (by name) and the state after it. */
export interface DecodeStep {
  outputs: ort.InferenceSession.ReturnType;
  present: KvState;
  layout: () => StepLayout;
}

/**
 * A lens session idle this long is released: it holds a second copy of the weights (+527 MB RSS
 * for the 124M shape), worth keeping while the panel's Layers view asks at every keystroke only.
 */
export const LENS_IDLE_MS = 60_000;

export class DecodeSession {
  private lens: Promise<DecodeSession> | undefined;
  private lensUsers = 0;
  private lensTimer: ReturnType<typeof setTimeout> | undefined;

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly shape: DecodeShape,
    readonly info: DecodeGraphInfo,
    /** The graph's bytes again, for the lens graph: re-read from the cache file rather than held (int8 graphs carry their weights inline). */
    private readonly graph: () => Uint8Array,
    private readonly options: ort.InferenceSession.SessionOptions,
  ) {}

  /**
   * `graph` is the rewritten graph's bytes; its external data (the export's weights) is read from
   * `dataFolder`, the model file's folder, wherever the graph itself was cached. `reload` gives
   * the bytes again when a lens session is opened (default: these bytes, kept alive).
   */
  static async create(
    graph: Uint8Array,
    dataFolder: string,
    shape: DecodeShape,
    info: DecodeGraphInfo,
    options: ort.InferenceSession.SessionOptions,
    reload: () => Uint8Array = () => graph,
  ): Promise<DecodeSession> {
    const extra = (options.extra ?? {}) as { session?: Record<string, unknown> };
    const withData = { ...options, extra: { ...extra, session: { ...extra.session, model_external_initializers_file_folder_path: dataFolder } } };
    return new DecodeSession(await ort.InferenceSession.create(graph, withData), shape, info, reload, withData);
  }

  /** Runs `use` with the lens session (opened on demand) and releases that session once idle for LENS_IDLE_MS. */
  async withLens<T>(use: (lens: DecodeSession) => Promise<T>): Promise<T> {
    clearTimeout(this.lensTimer);
    this.lensUsers++;
    try {
      return await use(await this.lensSession());
    } finally {
      if (--this.lensUsers === 0) this.lensTimer = setTimeout(() => void this.releaseLens(), LENS_IDLE_MS).unref();
    }
  }

  /** Frees the lens session now (a later lens request opens it again); not while a lens step runs. */
  async releaseLens(): Promise<void> {
    if (this.lensUsers > 0) return;
    clearTimeout(this.lensTimer);
    const lens = this.lens;
    this.lens = undefined;
    await (await lens?.catch(() => undefined))?.dispose();
  }

  get hasLensSession(): boolean {
    return this.lens !== undefined;
  }

  /**
   * The same graph with the lens outputs (lensGraph.ts), as a second session opened on the first
   * request: sessions that never ask for a lens neither build nor hold it.
   */
  private lensSession(): Promise<DecodeSession> {
    this.lens ??= (async () => {
      const graph = lensGraphBytes(this.graph(), this.shape.layers, this.shape.hiddenSize);
      return new DecodeSession(await ort.InferenceSession.create(graph, this.options), this.shape, this.info, () => graph, this.options);
    })();
    // A failed build is reported to this request, and the next one tries again.
    this.lens.catch(() => (this.lens = undefined));
    return this.lens;
  }

  private newBuffer(batch: number, capacity: number): KvBuffer {
    return new KvBuffer(this.shape.layers, batch, this.shape.heads, this.shape.headDim, capacity);
  }

  /**
   * The buffer this step reads and appends to, and the slots of `past` in it: the past's own
   * buffer while it has free slots and fits the window (capacity + new ≤ window: exports that
   * slice a fixed causal-mask table need it), else a new one with the past compacted into it.
   */
  private bufferFor(past: KvState | undefined, pastLength: number, batch: number, count: number, sharedCapacity: number): { buffer: KvBuffer; ranges: readonly SlotRange[] } {
    const window = this.shape.contextSize - sharedCapacity;
    const owned = past?.owned;
    if (pastLength > 0 && !owned) throw new Error('internal: the decode path got a KV state it does not own');
    if (owned && owned.buffer.batch === batch && owned.buffer.filled + count <= owned.buffer.capacity && owned.buffer.capacity + count <= window) return owned;
    const buffer = this.newBuffer(batch, Math.max(pastLength + count, capacityFor(pastLength + count, window - count)));
    if (owned && pastLength > 0) buffer.gather(owned.buffer, owned.ranges);
    return { buffer, ranges: pastLength > 0 ? [[0, pastLength]] : [] };
  }

  async forward(inputIds: number[][], past: KvState | undefined, options: ForwardOptions = {}): Promise<ForwardResult> {
    const { outputs, present } = await this.step(inputIds, past, options);
    const logits = outputs.logits as ort.Tensor;
    return { logits: logits.data as Float32Array, keptPositions: logits.dims[1] as number, present };
  }

  /** One forward pass: feeds built from the owned buffers, the new K/V written back, every output returned. */
  async step(inputIds: number[][], past: KvState | undefined, options: ForwardOptions = {}, extraFeeds: Record<string, ort.Tensor> = {}): Promise<DecodeStep> {
    const batch = inputIds.length;
    const count = inputIds[0]?.length ?? 0;
    const shared = past?.shared;
    const sharedLength = shared ? slotCount(shared.ranges) : 0;
    // No shared positions: zero slots, which the graph's MatMuls read as nothing.
    const sharedCapacity = shared ? shared.buffer.capacity : 0;
    const pastLength = (past?.length ?? 0) - sharedLength;
    const total = sharedLength + pastLength + count;
    const mask = options.attentionMask ?? inputIds.map(() => new Array<number>(total).fill(1));
    let { buffer, ranges } = this.bufferFor(past, pastLength, batch, count, sharedCapacity);
    let fed = buffer;
    if (sharedCapacity + buffer.capacity + count > this.shape.contextSize) {
      // Near the end of the window: read a buffer exactly as long as the past, append to one that fits the new tokens
      // and leaves free slots for one-token steps (capacity + 1 ≤ window), else each of them would compact it again
      // (a 74 MB copy per step at past 1,000 for GPT-2's 124M shape).
      fed = this.newBuffer(batch, pastLength);
      fed.gather(buffer, ranges);
      ranges = pastLength > 0 ? [[0, pastLength]] : [];
      buffer = this.newBuffer(batch, Math.max(pastLength + count, capacityFor(pastLength + count, this.shape.contextSize - sharedCapacity - 1)));
      buffer.gather(fed, ranges);
    }
    const at = buffer.filled;
    const capacity = fed.capacity;
    // Mask over [shared slots | fed slots | new tokens]: the positions' slots as the caller's mask says, every other slot 0.
    const width = sharedCapacity + capacity + count;
    const fedMask = new BigInt64Array(batch * width);
    mask.forEach((row, b) => {
      const base = b * width;
      let j = 0;
      for (const [start, end] of shared?.ranges ?? []) for (let slot = start; slot < end; slot++) fedMask[base + slot] = BigInt(row[j++] as number);
      for (const [start, end] of ranges) for (let slot = start; slot < end; slot++) fedMask[base + sharedCapacity + slot] = BigInt(row[j++] as number);
      for (let i = 0; i < count; i++) fedMask[base + sharedCapacity + capacity + i] = BigInt(row[sharedLength + pastLength + i] as number);
    });
    const feeds: Record<string, ort.Tensor> = {
      ...extraFeeds,
      input_ids: new ort.Tensor('int64', BigInt64Array.from(inputIds.flat(), BigInt), [batch, count]),
      attention_mask: new ort.Tensor('int64', fedMask, [batch, width]),
      position_ids: new ort.Tensor('int64', positionIds(mask, count), [batch, count]),
    };
    const dims = [batch, this.shape.heads, capacity, this.shape.headDim];
    const sharedDims = [1, this.shape.heads, sharedCapacity, this.shape.headDim];
    for (let layer = 0; layer < this.shape.layers; layer++) {
      PARTS.forEach((part, p) => {
        feeds[`past_key_values.${layer}.${part}`] = new ort.Tensor('float32', fed.data[2 * layer + p] as Float32Array, dims);
        feeds[`${SHARED_KV_PREFIX}.${layer}.${part}`] = new ort.Tensor('float32', shared ? (shared.buffer.data[2 * layer + p] as Float32Array) : NO_SLOTS, sharedDims);
      });
    }
    const keep = options.logitsToKeep && this.info.hasLogitsToKeep ? Math.min(options.logitsToKeep, count) : 0;
    if (this.info.hasLogitsToKeep) feeds.num_logits_to_keep = new ort.Tensor('int64', BigInt64Array.of(BigInt(keep)), []);
    const outputs = await this.session.run(feeds);
    for (let layer = 0; layer < this.shape.layers; layer++) {
      PARTS.forEach((part, p) => buffer.write(2 * layer + p, outputs[`${NEW_KV_PREFIX}.${layer}.${part}`]?.data as Float32Array, at, count));
    }
    buffer.filled = at + count;
    const fedRanges = ranges;
    const layout = (): StepLayout => {
      const columns: number[] = [];
      for (const [start, end] of shared?.ranges ?? []) for (let slot = start; slot < end; slot++) columns.push(slot);
      for (const [start, end] of fedRanges) for (let slot = start; slot < end; slot++) columns.push(sharedCapacity + slot);
      for (let i = 0; i < count; i++) columns.push(sharedCapacity + capacity + i);
      return { columns, width };
    };
    return {
      outputs,
      present: { batch, length: total, tensors: {}, owned: { buffer, ranges: appendSlots(ranges, at, count) }, ...(shared ? { shared } : {}) },
      layout,
    };
  }

  async dispose(): Promise<void> {
    this.lensUsers = 0;
    await this.releaseLens();
    await this.session.release();
  }
}
