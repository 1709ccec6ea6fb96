// Where a Llama-family decode step's time goes, per op type, from onnxruntime's profiler, on the
// product's owned-KV graph of a seeded model of the family's real shape (familyShapes.ts). Run
// under the lock:
//   flock /work/bench.lock npx tsx bench/familyProfile.ts [--family llama] [--past 512] [--steps 20] [--threads 2] [--weights float|int8]
// The profiler adds a few µs per kernel; "between kernels" is a run's wall time minus its kernels.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { DecodeWeights } from '../src/core/local/decodeFile';
import { familyStepModel, openStepSession, sessionOptions, stepFeeds } from './stepHarness';

const { values } = parseArgs({
  options: { family: { type: 'string', default: 'llama' }, past: { type: 'string', default: '512' }, steps: { type: 'string', default: '20' }, threads: { type: 'string', default: '2' }, weights: { type: 'string', default: 'float' } },
});

interface TraceEvent {
  cat: string;
  name: string;
  dur: number;
  args: { op_name?: string };
}

async function main(): Promise<void> {
  const weights = values.weights as DecodeWeights;
  const { name, model, cache } = await familyStepModel(values.family as string, weights);
  const traceFolder = mkdtempSync(join(tmpdir(), 'lmlens-profile-'));
  const prefix = join(traceFolder, 'step');
  const session = await openStepSession(model, sessionOptions(Number(values.threads), {}, { enableProfiling: true, profileFilePrefix: prefix }));
  const past = Number(values.past);
  const steps = Number(values.steps);
  const feeds = stepFeeds(session, past, 262, cache);
  for (let i = 0; i < 3 + steps; i++) await session.run(feeds);
  session.endProfiling();
  await session.release();
  const file = readdirSync(traceFolder).find((entry) => entry.endsWith('.json'));
  if (!file) throw new Error(`no profile written in ${traceFolder}`);
  const events = JSON.parse(readFileSync(join(traceFolder, file), 'utf8')) as TraceEvent[];
  rmSync(traceFolder, { recursive: true, force: true });
  // The last `steps` runs only (the first three warm up).
  const runs = events.filter((e) => e.name === 'model_run');
  const wall = runs.slice(-steps).reduce((sum, e) => sum + e.dur, 0) / steps / 1000;
  const perOp = new Map<string, { us: number; kernels: number }>();
  const kernels = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
  const perRun = kernels.length / runs.length;
  for (const event of kernels.slice(-perRun * steps)) {
    const op = event.args.op_name ?? '?';
    const entry = perOp.get(op) ?? { us: 0, kernels: 0 };
    entry.us += event.dur;
    entry.kernels += 1;
    perOp.set(op, entry);
  }
  const kernelMs = [...perOp.values()].reduce((sum, e) => sum + e.us, 0) / steps / 1000;
  console.log(`${name}, ${weights}, past ${past}, ${values.threads} threads, ${steps} profiled steps: ${wall.toFixed(1)} ms a step, ${perRun} kernels a step`);
  for (const [op, { us, kernels: count }] of [...perOp.entries()].sort((a, b) => b[1].us - a[1].us)) {
    console.log(`  ${op.padEnd(32)} ${(us / steps / 1000).toFixed(2).padStart(7)} ms  ${String(count / steps).padStart(5)} kernels`);
  }
  console.log(`  ${'between kernels'.padEnd(32)} ${(wall - kernelMs).toFixed(2).padStart(7)} ms`);
}

void main();
