// Paired A/B of the Optimum Llama form's owned-KV decode step: attention split per KV head under
// repeat_kv (splitAttention.ts, the product) against the whole cache concatenated in the graph and
// widened by repeat_kv (what the rewrite did before it knew repeat_kv: the rewrite given no head
// counts). Seeded model of the family's real shape (familyShapes.ts), stepped alternately in one
// process so load from other processes lands on both. Run under the lock:
//   flock /work/bench.lock npx tsx bench/splitAb.ts [--family llama] [--past 64,512,1000] [--pairs 30] [--threads 2] [--spin]
// `--spin`: both sides run the product's graph, B with onnxruntime's intra-op threads spinning
// between kernels (the product turns spinning off).
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as os from 'node:os';
import { onnx } from 'onnx-proto';
import type { InferenceSession } from 'onnxruntime-node';
import { prepareDecodeGraph } from '../src/core/local/decodeFile';
import { ensureLlamaTestModel, llamaDims } from '../test/support/llamaTestModel';
import type { LlamaFamily } from '../test/support/llamaModel';
import { repoRoot } from '../test/support/testModel';
import { SHAPES } from './familyShapes';
import { median } from './stats';
import { openStepSession, sessionOptions, stepFeeds, timeStep } from './stepHarness';

const { values } = parseArgs({
  options: { family: { type: 'string', default: 'llama' }, past: { type: 'string', default: '64,512,1000' }, pairs: { type: 'string', default: '30' }, threads: { type: 'string', default: '2' }, spin: { type: 'boolean', default: false } },
});

async function main(): Promise<void> {
  const entry = SHAPES[values.family as LlamaFamily];
  if (!entry) throw new Error(`--family must be one of ${Object.keys(SHAPES).join(', ')}`);
  const dims = llamaDims(entry.shape);
  const folder = await ensureLlamaTestModel(entry.shape);
  const onnxFile = join(folder, 'onnx', 'model.onnx');
  const common = { contextSize: dims.contextSize, hiddenSize: dims.hidden, vocabSize: dims.vocabSize, headDim: dims.headDim };
  const split = { ...common, heads: dims.heads, kvHeads: dims.kvHeads };
  const threads = Number(values.threads);
  const variants = values.spin
    ? [
        { name: 'no spinning', dims: split, options: sessionOptions(threads) },
        { name: 'spinning', dims: split, options: sessionOptions(threads, { intra_op: { allow_spinning: '1' } }) },
      ]
    : [
        { name: 'whole cache', dims: common, options: sessionOptions(threads) },
        { name: 'split per KV head', dims: split, options: sessionOptions(threads) },
      ];
  const sessions: InferenceSession[] = [];
  for (const [i, variant] of variants.entries()) {
    const prepared = prepareDecodeGraph(onnxFile, variant.dims, join(repoRoot(), '.cache', 'split-ab', String(values.spin ? 1 : i)));
    const graph = onnx.ModelProto.decode(prepared.bytes);
    sessions.push(await openStepSession({ graph, dataFolder: prepared.dataFolder, weights: 'float' }, variant.options));
  }
  const load = os.loadavg()[0] as number;
  try {
    for (const past of (values.past as string).split(',').map(Number)) {
      const feeds = sessions.map((session) => stepFeeds(session, past, 262, { heads: dims.kvHeads, headDim: dims.headDim }));
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
        `${entry.name}, past ${past}: ${variants[0]?.name} ${median(samples[0]).toFixed(2)} ms, ${variants[1]?.name} ${median(samples[1]).toFixed(2)} ms, ` +
          `${variants[1]?.name} ÷ ${variants[0]?.name} ${median(ratios).toFixed(3)} (${samples[0].length} pairs; logits max |Δ| ${maxDiff.toExponential(1)})`,
      );
    }
    console.log(`load average ${load.toFixed(2)} → ${os.loadavg()[0]?.toFixed(2)}, ${values.threads} threads`);
  } finally {
    for (const session of sessions) await session.release();
  }
}

void main();
