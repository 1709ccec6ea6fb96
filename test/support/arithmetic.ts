// The arithmetic of the float64 references (reference.ts, referenceLlama.ts), in float64 or
// rounded to float32 the way an engine working in float32 rounds, so the same forward pass gives
// both the oracle and a float32 run that bounds the engine's drift on long texts.
import type { Matrix } from './reference';
import { logSoftmax, softmax } from './reference';

/**
 * How every intermediate result is stored: exactly (float64, the oracle), or rounded to float32
 * after each multiply-add, as an engine that works in float32 does (one rounding per fused
 * multiply-add, sums accumulated in order). The float32 run measures how far float32 arithmetic
 * alone moves a result, which bounds the engine's own drift on long texts.
 */
export type Precision = 'float64' | 'float32';
export type Round = (x: number) => number;

export class Arithmetic {
  constructor(readonly round: Round) {}

  /** x / sqrt(mean(x²) + ε) · w over `length` values from `offset`. */
  rmsNorm(x: Float64Array, offset: number, length: number, weight: Matrix, epsilon: number): Float64Array {
    const r = this.round;
    let sum = 0;
    for (let i = 0; i < length; i++) sum = r(sum + x[offset + i] * x[offset + i]);
    const root = r(Math.sqrt(r(r(sum / length) + epsilon)));
    return Float64Array.from({ length }, (_, i) => r(r(x[offset + i] / root) * weight.data[i]));
  }

  /** x · W (+ b) with W stored [in, out]. */
  project(x: Float64Array, weight: Matrix, bias?: Matrix): Float64Array {
    const r = this.round;
    const out = new Float64Array(weight.cols);
    for (let i = 0; i < weight.rows; i++) {
      const xi = x[i];
      for (let j = 0; j < weight.cols; j++) out[j] = r(out[j] + xi * weight.data[i * weight.cols + j]);
    }
    if (bias) for (let j = 0; j < out.length; j++) out[j] = r(out[j] + bias.data[j]);
    return out;
  }

  dot(a: Float64Array, aOffset: number, b: Float64Array, bOffset: number, length: number): number {
    let sum = 0;
    if (this.round === exact) {
      for (let i = 0; i < length; i++) sum += a[aOffset + i] * b[bOffset + i];
    } else {
      // Math.fround by name (the only other rounding): V8 inlines it, where a call through `round` made the float32 reference 2× slower.
      for (let i = 0; i < length; i++) sum = Math.fround(sum + a[aOffset + i] * b[bOffset + i]);
    }
    return sum;
  }

  /** rotate_half RoPE on each head of `x` (heads × headDim) at `position`. */
  rotate(x: Float64Array, heads: number, headDim: number, position: number, inverse: Float64Array): Float64Array {
    const r = this.round;
    const out = new Float64Array(x.length);
    const half = headDim / 2;
    for (let i = 0; i < half; i++) {
      const angle = r(position * inverse[i]);
      const [c, s] = [r(Math.cos(angle)), r(Math.sin(angle))];
      for (let h = 0; h < heads; h++) {
        const o = h * headDim;
        out[o + i] = r(r(x[o + i] * c) - r(x[o + half + i] * s));
        out[o + half + i] = r(r(x[o + half + i] * c) + r(x[o + i] * s));
      }
    }
    return out;
  }

  softmax(scores: number[]): number[] {
    if (this.round === exact) return Array.from(softmax(scores));
    const r = this.round;
    const max = Math.max(...scores);
    const exps = scores.map((v) => r(Math.exp(r(v - max))));
    const sum = exps.reduce((a, b) => r(a + b), 0);
    return exps.map((v) => r(v / sum));
  }

  /**
   * log-softmax of one row of logits. In float32 the exps are summed as a vectorised float32
   * ReduceSum does (Eigen's packet reduction, which onnxruntime's CPU ReduceSum uses: 16 running
   * lane sums, two AVX packets of 8, then the lanes added): over 151,936 logits that sum's
   * rounding (≈1e-5 in log-probs) outweighs the network's, where an exact or pairwise sum would not.
   */
  logSoftmax(row: Float64Array): Float64Array {
    if (this.round === exact) return logSoftmax(row);
    const r = this.round;
    let max = -Infinity;
    for (const v of row) max = Math.max(max, v);
    const lanes = new Float64Array(SUM_LANES);
    for (let i = 0; i < row.length; i++) lanes[i % SUM_LANES] = r(lanes[i % SUM_LANES] + r(Math.exp(r(row[i] - max))));
    let sum = 0;
    for (const lane of lanes) sum = r(sum + lane);
    const logZ = r(max + r(Math.log(sum)));
    const out = new Float64Array(row.length);
    for (let i = 0; i < row.length; i++) out[i] = r(row[i] - logZ);
    return out;
  }

  /** (x − mean) / sqrt(var + ε) · gain + bias (GPT-2's LayerNorm). */
  layerNorm(x: Float64Array, gain: Matrix, bias: Matrix, epsilon: number): Float64Array {
    const r = this.round;
    let mean = 0;
    for (const v of x) mean = r(mean + v);
    mean = r(mean / x.length);
    const centred = x.map((v) => r(v - mean));
    let variance = 0;
    for (const v of centred) variance = r(variance + v * v);
    const root = r(Math.sqrt(r(r(variance / x.length) + epsilon)));
    return centred.map((v, i) => r(r(r(v / root) * gain.data[i]) + bias.data[i]));
  }

  /** GPT-2's gelu_new (tanh approximation). */
  gelu(x: number): number {
    const r = this.round;
    return r(r(0.5 * x) * r(1 + r(Math.tanh(r(Math.sqrt(2 / Math.PI) * r(x + r(0.044715 * r(x * r(x * x)))))))));
  }

  silu(g: number): number {
    return this.round(g * this.round(1 / this.round(1 + this.round(Math.exp(-g)))));
  }
}

export const exact: Round = (x) => x;
const SUM_LANES = 16;
