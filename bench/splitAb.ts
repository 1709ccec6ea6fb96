// Paired A/B of the Optimum Llama form's owned-KV decode step: attention split per KV head under
// repeat_kv (splitAttention.ts, the product) against the whole cache concatenated in the graph and
// widened by repeat_kv (what the rewrite did before it knew repeat_kv: the rewrite given no head
// counts). Seeded model of the family's real shape (familyShapes.ts), stepped alternately in one
// process so load from other processes lands on both. Run under the lock:
//   flock /work/bench.lock npx tsx bench/splitAb.ts [--family llama] [--past 64,512,1000] [--pairs 30] [--threads 2]
// (Spinning threads cannot be compared this way: a spinning session's threads also spin while the
// other session runs. spinOnce.ts runs one process a side.)
import { parseArgs } from 'node:util';
import * as os from 'node:os';
import type { InferenceSession } from 'onnxruntime-node';
import { median } from './stats';
import { familyStepModel, openStepSession, sessionOptions, stepFeeds, timeStep } from './stepHarness';

const { values } = parseArgs({
  options: { family: { type: 'string', default: 'llama' }, past: { type: 'string', default: '64,512,1000' }, pairs: { type: 'string', default: '30' }, threads: { type: 'string', default: '2' } },
});

async function main(): Promise<void> {
  const options = sessionOptions(Number(values.threads));
  const variants = [
    { label: 'whole cache', ...(await familyStepModel(values.family as string, 'float', false)) },
    { label: 'split per KV head', ...(await familyStepModel(values.family as string, 'float', true)) },
  ];
  const sessions: InferenceSession[] = [];
  for (const variant of variants) sessions.push(await openStepSession(variant.model, options));
  const { name: shapeName, cache } = variants[1] as (typeof variants)[1];
  const load = os.loadavg()[0] as number;
  try {
    for (const past of (values.past as string).split(',').map(Number)) {
      const feeds = sessions.map((session) => stepFeeds(session, past, 262, cache));
      const logits = await Promise.all(sessions.map(async (session, i) => (await session.run(feeds[i] as (typeof feeds)[0])).logits?.data as Float32Array));
      const maxDiff = (logits[0] as Float32Array).reduce((max, v, i) => Math.max(max, Math.abs(v - ((logits[1] as Float32Array)[i] as number))), 0);
      const samples: [number[], number[]] = [[], []];
      for (let i = 0; i < Number(values.pairs) + 3; i++) {
        // Alternate which side goes first in a pair, so neither always follows the other.
        const order = i % 2 ? [1, 0] : [0, 1];
        for (const side of order) {
          const ms = await timeStep(sessions[side] as InferenceSession, feeds[side] as (typeof feeds)[0]);
          if (i >= 3) samples[side as 0 | 1].push(ms);
        }
      }
      const ratios = samples[0].map((ms, i) => (samples[1][i] as number) / ms);
      console.log(
        `${shapeName}, past ${past}: ${variants[0]?.label} ${median(samples[0]).toFixed(2)} ms, ${variants[1]?.label} ${median(samples[1]).toFixed(2)} ms, ` +
          `${variants[1]?.label} ÷ ${variants[0]?.label} ${median(ratios).toFixed(3)} (${samples[0].length} pairs; logits max |Δ| ${maxDiff.toExponential(1)})`,
      );
    }
    console.log(`load average ${load.toFixed(2)} → ${os.loadavg()[0]?.toFixed(2)}, ${values.threads} threads`);
  } finally {
    for (const session of sessions) await session.release();
  }
}

void main();
