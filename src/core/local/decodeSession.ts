// Forward passes on the rewritten decode graph (decodeGraph.ts) with engine-owned KV buffers
// (ownedKv.ts): inputs are wrapped zero-copy, and the outputs are the logits plus a few KB of
// new K/V per layer, written into the buffer in place. Semantics are those of the export's
// forward: same logits for the same ids, mask and past.
import * as ort from 'onnxruntime-node';
import type { ForwardOptions, ForwardResult, KvState } from '../model';
import { NEW_KV_PREFIX } from './decodeGraph';
import type { DecodeGraphInfo } from './decodeGraph';
import { KvBuffer, capacityFor } from './ownedKv';

export interface DecodeShape {
  layers: number;
  heads: number;
  headDim: number;
  contextSize: number;
}

const PARTS = ['key', 'value'] as const;

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

export function kvValid(kv: KvState): boolean {
  return !kv.owned || kv.owned.buffer.holds(kv.length, kv.owned.epoch);
}

export class DecodeSession {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly shape: DecodeShape,
    readonly info: DecodeGraphInfo,
  ) {}

  static async create(file: string, shape: DecodeShape, info: DecodeGraphInfo, options: ort.InferenceSession.SessionOptions): Promise<DecodeSession> {
    return new DecodeSession(await ort.InferenceSession.create(file, options), shape, info);
  }

  private newBuffer(batch: number, capacity: number): KvBuffer {
    return new KvBuffer(this.shape.layers, batch, this.shape.heads, this.shape.headDim, capacity);
  }

  /**
   * A buffer holding `past` that the step can both read (capacity + new ≤ window: exports that
   * slice a fixed causal-mask table need it) and write its new positions into.
   */
  private bufferFor(past: KvState | undefined, batch: number, count: number): KvBuffer {
    const pastLength = past?.length ?? 0;
    const window = this.shape.contextSize;
    const source = past?.owned?.buffer;
    if (source && source.batch === batch && kvValid(past) && pastLength + count <= source.capacity && source.capacity + count <= window) return source;
    const capacity = Math.max(pastLength + count, capacityFor(pastLength + count, window - count));
    const buffer = this.newBuffer(batch, capacity);
    if (source && pastLength > 0) {
      if (!kvValid(past)) throw new Error('internal: a KV state was overwritten while still in use');
      buffer.copyFrom(source, pastLength);
    } else if (past && pastLength > 0) {
      throw new Error('internal: the decode path got a KV state it does not own');
    }
    return buffer;
  }

  async forward(inputIds: number[][], past: KvState | undefined, options: ForwardOptions = {}): Promise<ForwardResult> {
    const batch = inputIds.length;
    const count = inputIds[0]?.length ?? 0;
    const pastLength = past?.length ?? 0;
    const total = pastLength + count;
    const mask = options.attentionMask ?? inputIds.map(() => new Array<number>(total).fill(1));
    let buffer = this.bufferFor(past, batch, count);
    let fed = buffer;
    if (buffer.capacity + count > this.shape.contextSize) {
      // Near the end of the window: read a buffer exactly as long as the past, then move to one that fits the new tokens.
      fed = this.newBuffer(batch, pastLength);
      if (pastLength > 0) fed.copyFrom(buffer, pastLength);
      buffer = this.newBuffer(batch, total);
      if (pastLength > 0) buffer.copyFrom(fed, pastLength);
    }
    const epoch = buffer.claim(pastLength);
    const capacity = fed.capacity;
    // Mask over [fed capacity | new]: past positions as given, unused slots 0, new tokens as given.
    const fedMask = new BigInt64Array(batch * (capacity + count));
    mask.forEach((row, b) => {
      const base = b * (capacity + count);
      for (let j = 0; j < pastLength; j++) fedMask[base + j] = BigInt(row[j] as number);
      for (let j = 0; j < count; j++) fedMask[base + capacity + j] = BigInt(row[pastLength + j] as number);
    });
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(inputIds.flat(), BigInt), [batch, count]),
      attention_mask: new ort.Tensor('int64', fedMask, [batch, capacity + count]),
      position_ids: new ort.Tensor('int64', positionIds(mask, count), [batch, count]),
    };
    const dims = [batch, this.shape.heads, capacity, this.shape.headDim];
    for (let layer = 0; layer < this.shape.layers; layer++) {
      PARTS.forEach((part, p) => (feeds[`past_key_values.${layer}.${part}`] = new ort.Tensor('float32', fed.data[2 * layer + p] as Float32Array, dims)));
    }
    const keep = options.logitsToKeep && this.info.hasLogitsToKeep ? Math.min(options.logitsToKeep, count) : 0;
    if (this.info.hasLogitsToKeep) feeds.num_logits_to_keep = new ort.Tensor('int64', BigInt64Array.of(BigInt(keep)), []);
    const outputs = await this.session.run(feeds);
    for (let layer = 0; layer < this.shape.layers; layer++) {
      PARTS.forEach((part, p) => buffer.write(2 * layer + p, outputs[`${NEW_KV_PREFIX}.${layer}.${part}`]?.data as Float32Array, pastLength, count));
    }
    buffer.filled = total;
    const logits = outputs.logits as ort.Tensor;
    return { logits: logits.data as Float32Array, keptPositions: logits.dims[1] as number, present: { batch, length: total, tensors: {}, owned: { buffer, epoch } } };
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
