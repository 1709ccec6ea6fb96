// One decode-step session alone in its process, with onnxruntime's intra-op threads spinning or
// not (the product turns spinning off): a paired A/B of spinning needs one process a side, since
// a spinning session's threads also spin while the other session runs. Run it alternately under
// the lock, e.g.
//   for r in 1 2 3 4 5; do for s in "" --spin; do flock /work/bench.lock npx tsx bench/spinOnce.ts $s [--family llama] [--past 512] [--weights int8]; done; done
import { parseArgs } from 'node:util';
import type { DecodeWeights } from '../src/core/local/decodeFile';
import { median } from './stats';
import { familyStepModel, openStepSession, sessionOptions, stepFeeds, stepModel, timeStep } from './stepHarness';
import type { CacheShape, StepModel } from './stepHarness';

const { values } = parseArgs({
  options: { spin: { type: 'boolean', default: false }, family: { type: 'string' }, past: { type: 'string', default: '512' }, steps: { type: 'string', default: '40' }, weights: { type: 'string', default: 'float' }, threads: { type: 'string', default: '2' } },
});

/** GPT-2's bench model, or the product's graph of a family's real shape. */
async function model(weights: DecodeWeights): Promise<{ step: StepModel; cache?: CacheShape }> {
  if (!values.family) return { step: await stepModel(weights) };
  const { model: step, cache } = await familyStepModel(values.family, weights);
  return { step, cache };
}

async function main(): Promise<void> {
  const weights = values.weights as DecodeWeights;
  const { step, cache } = await model(weights);
  const threads = Number(values.threads);
  const session = await openStepSession(step, values.spin ? sessionOptions(threads, { intra_op: { allow_spinning: '1' } }) : sessionOptions(threads));
  const feeds = stepFeeds(session, Number(values.past), 262, cache);
  const samples: number[] = [];
  for (let i = 0; i < 5 + Number(values.steps); i++) {
    const ms = await timeStep(session, feeds);
    if (i >= 5) samples.push(ms);
  }
  console.log(`${values.family ?? 'gpt2'} ${weights} past ${values.past} ${values.spin ? 'spin' : 'nospin'} ${median(samples).toFixed(2)}`);
  await session.release();
}

void main();
