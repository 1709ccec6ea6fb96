/**
 * Maths over one next-token distribution (a row of logits), in float64 so that the float32
 * logits are the only source of error. The sampling transforms reproduce HF transformers'
 * warpers in HF's order: temperature, then top-k, then top-p.
 */

export interface SamplingSettings {
  /** 1 = unchanged. HF divides logits by it. */
  temperature?: number;
  /** Keep only the k most likely tokens (ties with the k-th kept); 0 = off. */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose mass reaches p; 1 = off. */
  topP?: number;
}

/** log softmax of a row, with its log-sum-exp kept for reuse. */
export function logSoftmax(logits: ArrayLike<number>, offset = 0, length = logits.length - offset): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < length; i++) {
    const value = logits[offset + i] as number;
    if (value > max) max = value;
  }
  let sum = 0;
  for (let i = 0; i < length; i++) sum += Math.exp((logits[offset + i] as number) - max);
  const logZ = max + Math.log(sum);
  const out = new Float64Array(length);
  for (let i = 0; i < length; i++) out[i] = (logits[offset + i] as number) - logZ;
  return out;
}

/** Entropy in nats of the distribution given by log-probabilities. */
export function entropy(logProbs: Float64Array): number {
  let h = 0;
  for (let i = 0; i < logProbs.length; i++) {
    const lp = logProbs[i] as number;
    if (lp > -Infinity) h -= Math.exp(lp) * lp;
  }
  return h;
}

/** 1-based rank of `id`: one plus how many tokens are strictly more likely. */
export function rankOf(values: ArrayLike<number>, id: number, offset = 0, length = values.length - offset): number {
  const target = values[offset + id] as number;
  let rank = 1;
  for (let i = 0; i < length; i++) if ((values[offset + i] as number) > target) rank++;
  return rank;
}

/**
 * Indices of the k largest values, largest first; ties broken by lower index (as torch.topk
 * does on CPU in practice). A bounded insertion list keeps this O(n·k) with tiny k.
 */
export function topKIndices(values: ArrayLike<number>, k: number, offset = 0, length = values.length - offset): number[] {
  const count = Math.max(0, Math.min(k, length));
  const best: number[] = [];
  for (let i = 0; i < length; i++) {
    const value = values[offset + i] as number;
    if (best.length === count && value <= (values[offset + (best[count - 1] as number)] as number)) continue;
    let position = best.length;
    while (position > 0 && value > (values[offset + (best[position - 1] as number)] as number)) position--;
    best.splice(position, 0, i);
    if (best.length > count) best.pop();
  }
  return best;
}

/**
 * The distribution sampling actually draws from, as log-probabilities (-Infinity for removed
 * tokens). Mirrors HF TemperatureLogitsWarper → TopKLogitsWarper → TopPLogitsWarper with
 * min_tokens_to_keep = 1.
 */
export function samplingLogProbs(logits: ArrayLike<number>, settings: SamplingSettings, offset = 0, length = logits.length - offset): Float64Array {
  const temperature = settings.temperature ?? 1;
  const scaled = new Float64Array(length);
  for (let i = 0; i < length; i++) scaled[i] = (logits[offset + i] as number) / (temperature > 0 ? temperature : 1);

  const topK = settings.topK ?? 0;
  if (topK > 0 && topK < length) {
    const kth = kthLargest(scaled, topK);
    for (let i = 0; i < length; i++) if ((scaled[i] as number) < kth) scaled[i] = -Infinity;
  }

  const topP = settings.topP ?? 1;
  if (topP < 1) {
    const logProbs = logSoftmax(scaled);
    const order = Array.from({ length }, (_, i) => i).filter((i) => (logProbs[i] as number) > -Infinity);
    order.sort((a, b) => (logProbs[b] as number) - (logProbs[a] as number) || a - b);
    // HF removes a token when the ascending cumulative mass up to it is <= 1 - p, i.e. when
    // the mass strictly above it is already >= p. The most likely token always stays.
    let massAbove = 0;
    for (let position = 0; position < order.length; position++) {
      const index = order[position] as number;
      if (position > 0 && massAbove >= topP) scaled[index] = -Infinity;
      massAbove += Math.exp(logProbs[index] as number);
    }
  }
  return logSoftmax(scaled);
}

function kthLargest(values: Float64Array, k: number): number {
  // Sampling runs this for every row at every step: a bounded selection beats sorting 50,257 values.
  if (k <= 256) return values[topKIndices(values, k).at(-1) as number] as number;
  const sorted = Float64Array.from(values).sort();
  return sorted[sorted.length - k] as number;
}

/** Deterministic PRNG (mulberry32): same seed, same samples, on every platform. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Draws an index from log-probabilities by inverting the cumulative distribution. */
export function drawIndex(logProbs: Float64Array, random: () => number): number {
  const target = random();
  let cumulative = 0;
  let last = 0;
  for (let i = 0; i < logProbs.length; i++) {
    const lp = logProbs[i] as number;
    if (lp === -Infinity) continue;
    cumulative += Math.exp(lp);
    last = i;
    if (cumulative > target) return i;
  }
  return last;
}
