// Deterministic GPT-2 weights from a seed. Each tensor draws from its own stream, seeded from
// (seed, tensor name), so tensors can be produced one at a time in any order and a writer never
// has to hold the whole model in memory.

export interface Gpt2Dims {
  layers: number;
  dim: number;
  heads: number;
  vocabSize: number;
  contextSize: number;
}

export interface WeightSpec {
  /** HF GPT2LMHeadModel parameter name, also used as the ONNX initializer name. */
  name: string;
  shape: number[];
  mean: number;
  std: number;
}

/** Returns one float32 tensor for a spec; called once per tensor by the ONNX writer. */
export type WeightSource = (spec: WeightSpec) => Float32Array;

/** mulberry32: tiny, fast and good enough for test weights. Yields floats in [0, 1). */
export function createRng(seed: number): () => number {
  // A typed-array slot keeps the uint32 state unboxed; a plain closure number made V8 allocate
  // on every call and doubled the time to fill the 124M-parameter shape.
  const state = Uint32Array.of(seed >>> 0);
  return (): number => {
    state[0] += 0x6d2b79f5;
    let t = state[0];
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a over the name, mixed with the seed, so different seeds give unrelated streams. */
export function tensorSeed(seed: number, name: string): number {
  let hash = (0x811c9dc5 ^ Math.imul(seed >>> 0, 0x9e3779b1)) >>> 0;
  for (let i = 0; i < name.length; i++) {
    hash ^= name.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** Fills a Float32Array with N(mean, std²) samples using Box-Muller (both outputs used). */
export function normalArray(count: number, mean: number, std: number, seed: number): Float32Array {
  const rng = createRng(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    // 1 - u keeps the log argument in (0, 1].
    const radius = std * Math.sqrt(-2 * Math.log(1 - rng()));
    const turn = rng();
    const cos = Math.cos(2 * Math.PI * turn);
    out[i] = mean + radius * cos;
    if (i + 1 < count) {
      // sin(2π·turn) from the cosine: trig calls dominate the build time of large models.
      const sin = (turn < 0.5 ? 1 : -1) * Math.sqrt(Math.max(0, 1 - cos * cos));
      out[i + 1] = mean + radius * sin;
    }
  }
  return out;
}

/**
 * Parameter list of GPT2LMHeadModel with scales chosen so that activations stay O(1) and the
 * tied output projection gives logits with a standard deviation of a few units: a next-token
 * distribution with real structure (top-1 often ≥ 0.02, entropy well under ln 50257), which makes
 * 1e-4 comparisons against the reference meaningful.
 */
export function gpt2WeightSpecs(dims: Gpt2Dims): WeightSpec[] {
  const { layers, dim, vocabSize, contextSize } = dims;
  const inverseRoot = 1 / Math.sqrt(dim);
  const specs: WeightSpec[] = [
    { name: 'transformer.wte.weight', shape: [vocabSize, dim], mean: 0, std: 3 * inverseRoot },
    { name: 'transformer.wpe.weight', shape: [contextSize, dim], mean: 0, std: inverseRoot },
  ];
  const layerNorm = (prefix: string): WeightSpec[] => [
    { name: `${prefix}.weight`, shape: [dim], mean: 1, std: 0.1 },
    { name: `${prefix}.bias`, shape: [dim], mean: 0, std: 0.05 },
  ];
  for (let layer = 0; layer < layers; layer++) {
    const p = `transformer.h.${layer}`;
    specs.push(
      ...layerNorm(`${p}.ln_1`),
      { name: `${p}.attn.c_attn.weight`, shape: [dim, 3 * dim], mean: 0, std: 1.5 * inverseRoot },
      { name: `${p}.attn.c_attn.bias`, shape: [3 * dim], mean: 0, std: 0.05 },
      { name: `${p}.attn.c_proj.weight`, shape: [dim, dim], mean: 0, std: inverseRoot },
      { name: `${p}.attn.c_proj.bias`, shape: [dim], mean: 0, std: 0.05 },
      ...layerNorm(`${p}.ln_2`),
      { name: `${p}.mlp.c_fc.weight`, shape: [dim, 4 * dim], mean: 0, std: inverseRoot },
      { name: `${p}.mlp.c_fc.bias`, shape: [4 * dim], mean: 0, std: 0.05 },
      { name: `${p}.mlp.c_proj.weight`, shape: [4 * dim, dim], mean: 0, std: 0.5 * inverseRoot },
      { name: `${p}.mlp.c_proj.bias`, shape: [dim], mean: 0, std: 0.05 },
    );
  }
  specs.push(...layerNorm('transformer.ln_f'));
  return specs;
}

/** A WeightSource that draws every tensor from its spec and the model seed. */
export function seededWeights(seed: number): WeightSource {
  return (spec: WeightSpec): Float32Array => {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    return normalArray(count, spec.mean, spec.std, tensorSeed(seed, spec.name));
  };
}
