// npm run bench:gqa -- [--family llama --past 512 --reps N --warmup N --threads N --optimum]
//
// The decode step of a GroupQueryAttention (onnxruntime-genai form) export at a given past, on
// the export's own graph and on the owned-KV rewrite (gqaAttention.ts), paired: in every run each
// engine takes its steps in turn, so load from other processes hits both alike. The model is the
// family's real shape (familyShapes.ts) with seeded weights, written in the genai form. `--optimum`
// adds the same weights in the Optimum form on its owned-KV graph as a third side of every run.
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import { loadEngine } from '../src/core/engine';
import type { Engine } from '../src/core/engine';
import { ensureLlamaTestModel, llamaTestModelName } from '../test/support/llamaTestModel';
import type { LlamaFamily } from '../test/support/llamaModel';
import { SHAPES } from './familyShapes';
import { buildTexts } from './prose';
import { median, pairedRatios, repeatEach, timed } from './stats';

const { values: args } = parseArgs({
  options: {
    family: { type: 'string', default: 'llama' },
    past: { type: 'string', default: '512' },
    reps: { type: 'string', default: '7' },
    warmup: { type: 'string', default: '1' },
    steps: { type: 'string', default: '8' },
    threads: { type: 'string', default: '0' },
    optimum: { type: 'boolean', default: false },
  },
});

const log = (line: string): void => {
  process.stderr.write(`[bench:gqa] ${line}\n`);
};

/** A function that times `steps` one-token decode steps after `past` tokens the engine holds. */
async function decodeSteps(engine: Engine, ids: number[], past: number, steps: number): Promise<() => Promise<number[]>> {
  const state = await engine.run(ids.slice(0, past), { noCache: true });
  const token = ids[past] as number;
  return async () => {
    const samples: number[] = [];
    for (let i = 0; i < steps; i++) samples.push(await timed(() => engine.forward([[token]], state.kv, { logitsToKeep: 1 })));
    return samples;
  };
}

async function main(): Promise<void> {
  const entry = SHAPES[args.family as LlamaFamily];
  if (!entry) throw new Error(`--family must be one of ${Object.keys(SHAPES).join(', ')}`);
  const shape = { ...entry.shape, form: 'genai' as const };
  const [past, reps, warmup, steps, threads] = [args.past, args.reps, args.warmup, args.steps, args.threads].map(Number) as [number, number, number, number, number];
  log(`${llamaTestModelName(shape)}: building or reusing…`);
  const folder = await ensureLlamaTestModel(shape);
  const optimumFolder = args.optimum ? await ensureLlamaTestModel(entry.shape) : undefined;
  const sides = [
    { folder, decodePath: 'export' as const, name: 'export graph' },
    { folder, decodePath: 'owned-kv' as const, name: 'owned-KV' },
    ...(optimumFolder ? [{ folder: optimumFolder, decodePath: 'owned-kv' as const, name: 'Optimum form, owned-KV' }] : []),
  ];
  const engines = await Promise.all(sides.map((side) => loadEngine({ model: side.folder, allowDownloads: false, threads, decodePath: side.decodePath, onLog: log })));
  try {
    engines.forEach((engine, i) => {
      if (engine.model.info.decodePath !== sides[i]?.decodePath) throw new Error(`${sides[i]?.name}: the engine runs on the ${engine.model.info.decodePath} graph`);
    });
    const ids = buildTexts((engines[0] as Engine).model.tokenizer, past + 64).longIds;
    const load = os.loadavg();
    const bodies = await Promise.all(engines.map((engine) => decodeSteps(engine, ids, past, steps)));
    const samples = await repeatEach({ warmup, reps }, bodies);
    const onExport = samples[0] as number[][];
    const ms = (runs: number[][]): string => `${median(runs.flat()).toFixed(1)} ms`;
    const versus = (i: number): string => {
      const ratios = pairedRatios(samples[i] as number[][], onExport);
      return `${sides[i]?.name} ${ms(samples[i] as number[][])}, ÷ export median of paired runs ${median(ratios).toFixed(3)} (runs ${ratios.map((r) => r.toFixed(2)).join(' ')})`;
    };
    process.stdout.write(
      `${entry.name}, genai form (GroupQueryAttention${shape.family === 'qwen3' ? '' : ', fused rotary'}), ${(engines[0] as Engine).model.info.threads} threads, ` +
        `decode step at past ${past}, ${reps} paired runs × ${steps} steps, load average ${load[0]?.toFixed(2)} → ${os.loadavg()[0]?.toFixed(2)}\n` +
        `  export graph ${ms(onExport)}\n${sides.slice(1).map((_, i) => `  ${versus(i + 1)}\n`).join('')}`,
    );
  } finally {
    await Promise.all(engines.map((engine) => engine.dispose()));
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`[bench:gqa] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
