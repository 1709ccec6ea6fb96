// What the protocol fixtures answer with: the local engine's own numbers on a test model,
// shaped the way a server computes them (raw softmax, a sampler chain, seeded draws).
import type { Engine } from '../../src/core/engine';
import { drawIndex, logSoftmax, samplingLogProbs, seededRandom, topKIndices } from '../../src/core/distribution';
import type { SamplingSettings } from '../../src/core/distribution';

export interface Alternative {
  id: number;
  logprob: number;
}

export interface FixtureStep {
  id: number;
  /** Raw log-probability of the drawn token. */
  logprob: number;
  /** The top raw alternatives at this step. */
  top: Alternative[];
  /** After the sampler chain (temperature, top-k, top-p, logit bias), largest first, removed tokens left out. */
  sampled: Alternative[];
}

export interface GenerationRequest extends SamplingSettings {
  maxTokens: number;
  /** How many alternatives to report per step. */
  alternatives: number;
  /** Added to a token's logit before the choice (llama.cpp's logit_bias); the raw numbers stay unbiased. */
  bias?: Map<number, number>;
  random: () => number;
}

export function rng(seed: number | undefined): () => number {
  return seededRandom(seed ?? Math.floor(Math.random() * 2 ** 31));
}

/** The raw next-token distribution after `ids`. */
export async function rawLogits(engine: Engine, ids: number[]): Promise<Float32Array> {
  return (await engine.run(ids)).lastLogits;
}

/** The k largest, largest first (ties: lower id first); a sort when k is large, since the bounded insertion is O(n·k). */
function topIndices(values: ArrayLike<number>, k: number): number[] {
  if (k <= 256) return topKIndices(values, k);
  const order = Array.from({ length: values.length }, (_, i) => i);
  order.sort((a, b) => (values[b] as number) - (values[a] as number) || a - b);
  return order.slice(0, k);
}

export function topOf(logProbs: Float64Array, k: number): Alternative[] {
  return topIndices(logProbs, k).map((id) => ({ id, logprob: logProbs[id] as number }));
}

/** One sequence: greedy at temperature <= 0, else drawn from the HF-ordered chain (temperature, top-k, top-p). */
export async function generateSteps(engine: Engine, prompt: number[], request: GenerationRequest): Promise<FixtureStep[]> {
  const eos = engine.model.info.eosTokenId;
  const steps: FixtureStep[] = [];
  const ids = [...prompt];
  for (let step = 0; step < request.maxTokens; step++) {
    const logits = await rawLogits(engine, ids);
    const raw = logSoftmax(logits);
    const biased = Float32Array.from(logits, (value, id) => value + (request.bias?.get(id) ?? 0));
    const greedy = (request.temperature ?? 1) <= 0;
    const chain = greedy ? greedyChain(biased) : samplingLogProbs(biased, request);
    const id = greedy ? (topKIndices(biased, 1)[0] as number) : drawIndex(chain, request.random);
    const kept = topIndices(chain, Math.min(request.alternatives, chain.length)).filter((index) => (chain[index] as number) > -Infinity);
    steps.push({ id, logprob: raw[id] as number, top: topOf(raw, request.alternatives), sampled: kept.map((index) => ({ id: index, logprob: chain[index] as number })) });
    ids.push(id);
    if (id === eos) break;
  }
  return steps;
}

function greedyChain(logits: Float32Array): Float64Array {
  const out = new Float64Array(logits.length).fill(-Infinity);
  out[topKIndices(logits, 1)[0] as number] = 0;
  return out;
}

let byteDecoder: Map<string, number> | undefined;

/** GPT-2's byte-level alphabet: each character of a vocabulary entry stands for one byte. */
function gpt2ByteDecoder(): Map<string, number> {
  if (byteDecoder) return byteDecoder;
  const bytes: number[] = [];
  for (let b = 33; b <= 126; b++) bytes.push(b);
  for (let b = 161; b <= 172; b++) bytes.push(b);
  for (let b = 174; b <= 255; b++) bytes.push(b);
  const chars = [...bytes];
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    if (!bytes.includes(b)) {
      bytes.push(b);
      chars.push(256 + extra++);
    }
  }
  byteDecoder = new Map(bytes.map((b, i) => [String.fromCodePoint(chars[i] as number), b]));
  return byteDecoder;
}

/** The UTF-8 bytes a token stands for (a special token: its own text). */
const bytesCache = new WeakMap<Engine, Map<number, Buffer>>();

export function tokenBytes(engine: Engine, id: number): Buffer {
  let cache = bytesCache.get(engine);
  if (!cache) bytesCache.set(engine, (cache = new Map()));
  let bytes = cache.get(id);
  if (!bytes) cache.set(id, (bytes = computeTokenBytes(engine, id)));
  return bytes;
}

function computeTokenBytes(engine: Engine, id: number): Buffer {
  const tokenizer = engine.model.tokenizer;
  const entry = tokenizer.tokenString(id);
  if (id === engine.model.info.eosTokenId) return Buffer.from(entry, 'utf8');
  const decoder = gpt2ByteDecoder();
  return Buffer.from([...entry].map((char) => decoder.get(char) ?? 0x3f));
}

/** Whether bytes end in the middle of a UTF-8 character. */
export function endsInsideCharacter(bytes: Uint8Array): boolean {
  let continuation = 0;
  for (let i = bytes.length - 1; i >= 0 && i >= bytes.length - 4; i--) {
    const byte = bytes[i] as number;
    if ((byte & 0xc0) === 0x80) {
      continuation++;
      continue;
    }
    const needed = byte >= 0xf0 ? 3 : byte >= 0xe0 ? 2 : byte >= 0xc0 ? 1 : 0;
    return continuation < needed;
  }
  return continuation > 0;
}

export function isValidUtf8(bytes: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}
