// Paired A/B timing of one decode step (stepHarness.ts): two sessions in one process, stepped
// alternately (A, B, A, B, …) so load from other processes lands on both, in both creation
// orders (the first-created session has measured slower, whichever it is). Run under the lock:
//   flock /work/bench.lock npx tsx bench/stepAb.ts --a unfused --b product [--weights float] [--past 64,512] [--pairs 40] [--threads 2]
// Prints each side's median and the median of the pairwise ratios B ÷ A per order.
import { parseArgs } from 'node:util';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type { DecodeWeights } from '../src/core/local/decodeFile';
import { median } from './stats';
import { openStepSession, sessionOptions, stepFeeds, timeStep } from './stepHarness';
import { VARIANTS, variantModel } from './stepVariants';
import type { Variant } from './stepVariants';

type Feeds = Record<string, Tensor>;

async function pairs(weights: DecodeWeights, names: [string, string], first: 0 | 1, past: number, count: number, threads: number): Promise<{ a: number[]; b: number[]; maxDiff: number }> {
  const order = first === 0 ? [0, 1] : [1, 0];
  const sessions: InferenceSession[] = [];
  for (const i of order) {
    const variant = VARIANTS[names[i] as string] as Variant;
    sessions[i] = await openStepSession(await variantModel(weights, variant), variant.options?.(threads) ?? sessionOptions(threads));
  }
  try {
    const feeds = sessions.map((session) => stepFeeds(session, past));
    // Same inputs (the noise is seeded by input position, and both graphs list the same inputs): how far apart the logits are.
    const logits = await Promise.all(sessions.map(async (session, i) => (await session.run(feeds[i] as Feeds)).logits?.data as Float32Array));
    const maxDiff = (logits[0] as Float32Array).reduce((max, v, i) => Math.max(max, Math.abs(v - ((logits[1] as Float32Array)[i] as number))), 0);
    const samples: [number[], number[]] = [[], []];
    for (let i = 0; i < count + 3; i++) {
      for (const side of order) {
        const ms = await timeStep(sessions[side] as InferenceSession, feeds[side] as Feeds);
        if (i >= 3) samples[side as 0 | 1].push(ms);
      }
    }
    return { a: samples[0], b: samples[1], maxDiff };
  } finally {
    for (const session of sessions) await session.release();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { a: { type: 'string', default: 'unfused' }, b: { type: 'string', default: 'product' }, weights: { type: 'string', default: 'float' }, past: { type: 'string', default: '64,512' }, pairs: { type: 'string', default: '40' }, threads: { type: 'string', default: '2' } },
  });
  const names: [string, string] = [values.a as string, values.b as string];
  for (const name of names) if (!VARIANTS[name]) throw new Error(`unknown variant ${name}; known: ${Object.keys(VARIANTS).join(', ')}`);
  const threads = Number(values.threads);
  for (const weights of (values.weights as string).split(',') as DecodeWeights[]) {
    for (const past of (values.past as string).split(',').map(Number)) {
      for (const first of [0, 1] as const) {
        const { a, b, maxDiff } = await pairs(weights, names, first, past, Number(values.pairs), threads);
        const ratios = a.map((ms, i) => (b[i] as number) / ms);
        console.log(`${weights} past ${past}, ${names[first]} created first: ${names[0]} ${median(a).toFixed(2)} ms, ${names[1]} ${median(b).toFixed(2)} ms, ${names[1]} ÷ ${names[0]} ${median(ratios).toFixed(3)} (pairs ${a.length}; logits max |Δ| ${maxDiff.toExponential(1)})`);
      }
    }
  }
}

void main();
