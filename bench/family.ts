// npm run bench:family -- --family qwen2 [--smoke --reps N --warmup N --threads N --only f32,q8,host --out FILE]
//
// The Llama family's rows, on a seeded model of a real model's shape (test/support/llamaTestModel.ts)
// and llama.cpp on GGUF copies of the same weights: decode step at past 512 and 64 and prefill of
// 512 for fp32 against llama.cpp F32 and the bandwidth floor, then fast int8 against Q8_0 with its
// agreement with fp32 (the rows of `npm run bench`'s R/P/A groups, run by bench/peerRows.ts), and
// W6/W7 through the model process (bench/host.ts).
import { statSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AutoTokenizer } from '@huggingface/transformers';
import { loadEngine } from '../src/core/engine';
import { GptTokenizer } from '../src/core/tokenizer';
import { ensureLlamaTestGguf, ensureLlamaTestModel, llamaTestModelName } from '../test/support/llamaTestModel';
import type { LlamaTestShape } from '../test/support/llamaTestModel';
import type { LlamaFamily } from '../test/support/llamaModel';
import { SHAPES } from './familyShapes';
import { repoRoot } from '../test/support/testModel';
import { agreementRow } from './agreement';
import { measureOrtBandwidth } from './floor';
import { hostRows } from './host';
import { loadPeer } from './peer';
import type { Peer } from './peer';
import { peerRows } from './peerRows';
import { buildTexts } from './prose';
import { machineInfo, markdownTable, writeResults } from './report';
import type { Row } from './report';
import type { RepeatOptions } from './stats';

const { values: args } = parseArgs({
  options: {
    family: { type: 'string', default: 'qwen2' },
    smoke: { type: 'boolean', default: false },
    reps: { type: 'string' },
    warmup: { type: 'string' },
    threads: { type: 'string', default: '0' },
    only: { type: 'string' },
    out: { type: 'string' },
  },
});

const log = (line: string): void => {
  process.stderr.write(`[bench:family] ${line}\n`);
};

/** Row groups `--only` picks: the fp32 rows, the fast-int8 rows, the model process's W6/W7. A 0.5B model's full run outlasts one quiet window. */
const GROUPS = ['f32', 'q8', 'host'] as const;

function count(value: string | undefined, fallback: number, name: string): number {
  const parsed = value === undefined ? fallback : Number(value);
  if (!Number.isInteger(parsed) || parsed < 0) throw new Error(`--${name} must be a non-negative integer`);
  return parsed;
}

async function startPeer(shape: LlamaTestShape, type: 'f32' | 'q8_0', threads: number): Promise<{ peer?: Peer; skipped?: string }> {
  try {
    return { peer: await loadPeer(type, await ensureLlamaTestGguf(shape, type), shape.contextSize ?? 1024, threads) };
  } catch (error) {
    const skipped = `llama.cpp peer unavailable: ${error instanceof Error ? error.message : String(error)}`;
    log(skipped);
    return { skipped };
  }
}

/** The folder's tokenizer alone (the engines are released before the model process runs). */
async function tokenizerOf(folder: string): Promise<GptTokenizer> {
  return new GptTokenizer(await AutoTokenizer.from_pretrained(folder, { local_files_only: true }));
}

async function main(): Promise<void> {
  const family = args.family as LlamaFamily;
  const entry = SHAPES[family];
  if (!entry) throw new Error(`--family must be one of ${Object.keys(SHAPES).join(', ')}`);
  const smoke = args.smoke ?? false;
  // The smoke run checks the harness on the family's small default test model; its timings mean nothing.
  // llama.cpp's qwen2 takes head_dim = hidden / heads, as every real Qwen2 has.
  const shape: LlamaTestShape = smoke ? { family, contextSize: 1024, ...(family === 'qwen2' ? { headDim: 16 } : {}) } : entry.shape;
  const runs: RepeatOptions = { warmup: count(args.warmup, 1, 'warmup'), reps: Math.max(1, count(args.reps, smoke ? 2 : 5, 'reps')) };
  const machine = machineInfo();
  log(`${llamaTestModelName(shape)}: building or reusing…`);
  const folder = await ensureLlamaTestModel(shape);
  const weightBytes = statSync(join(folder, 'onnx', 'model.onnx')).size;
  const threads = count(args.threads, 0, 'threads');
  const only = new Set((args.only ?? GROUPS.join(',')).split(',').map((group) => group.trim()));
  for (const group of only) if (!(GROUPS as readonly string[]).includes(group)) throw new Error(`--only takes ${GROUPS.join(', ')}`);
  const rows: Row[] = [];
  let peerSkipped: string | undefined;
  if (only.has('f32') || only.has('q8')) {
    const engine = await loadEngine({ model: folder, allowDownloads: false, threads });
    const int8 = only.has('q8') ? await loadEngine({ model: folder, dtype: 'q8-fast', allowDownloads: false, threads }) : undefined;
    try {
      const used = engine.model.info.threads;
      const ids = buildTexts(engine.model.tokenizer, 1600).longIds;
      const bandwidth = await measureOrtBandwidth(weightBytes, used);
      log(`${engine.model.info.decodePath} graph, ${used} threads, read bandwidth ${(bandwidth.bytesPerSecond / 1e9).toFixed(1)} GB/s`);
      if (only.has('f32')) {
        const f32 = await startPeer(shape, 'f32', used);
        peerSkipped = f32.skipped;
        try {
          rows.push(...(await peerRows({ engine, peer: f32.peer, peerSkipped: f32.skipped, label: 'f32', weightBytes, bandwidth, ids, runs, prefill: true })));
        } finally {
          await f32.peer?.dispose();
        }
      }
      if (int8) {
        const q8 = await startPeer(shape, 'q8_0', used);
        peerSkipped ??= q8.skipped;
        try {
          rows.push(await agreementRow('A-int8', 'LM Lens fast int8 (MatMulNBits bits 8, accuracy_level 4)', engine, int8, ids));
          const int8Bytes = int8.model.info.fastInt8?.quantizedBytes ?? Number.NaN;
          rows.push(...(await peerRows({ engine: int8, peer: q8.peer, peerSkipped: q8.skipped, label: 'q8', weightBytes: int8Bytes, bandwidth, ids, runs, prefill: false })));
        } finally {
          await q8.peer?.dispose();
        }
      }
    } finally {
      await int8?.dispose();
      await engine.dispose();
    }
  }
  if (only.has('host')) {
    // W6 (RSS of the model process ÷ weights, after the editor's kinds of requests) and W7, as for GPT-2.
    log('W6/W7 through the model process…');
    rows.push(...(await hostRows({ root: repoRoot(), folder, threads, weightBytes, texts: buildTexts(await tokenizerOf(folder), smoke ? 1600 : 4000), runs, log })));
  }
  const rssMb = process.memoryUsage().rss / 1e6;
  const out = args.out ?? join(repoRoot(), 'bench', `results-${family}.json`);
  machine.loadAverageEnd = os.loadavg();
  writeResults(out, { date: new Date().toISOString(), machine, family, model: { name: entry.name, folder, shape, fp32Bytes: weightBytes }, options: { smoke, ...runs, threads, only: [...only] }, peerSkipped: peerSkipped ?? null, rssMb, rows });
  const title = `${smoke ? 'SMOKE (timings meaningless): ' : ''}${family} (${smoke ? 'small test model' : entry.name}, seeded weights, ${(weightBytes / 1e6).toFixed(0)} MB fp32)`;
  process.stdout.write(
    `\n## LM Lens benchmark, ${title}\n\n${machine.cpuModel}, ${machine.cpus} CPUs, load average ${machine.loadAverageStart[0]?.toFixed(2)} → ${machine.loadAverageEnd[0]?.toFixed(2)}; ` +
      `process RSS at the end ${rssMb.toFixed(0)} MB (both engines and the peer were loaded)\n\n${markdownTable(rows)}\n\nSamples: ${out}\n`,
  );
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`[bench:family] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
