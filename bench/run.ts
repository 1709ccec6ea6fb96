// npm run bench [-- --reps N --warmup N --threads N --only W1,W2,D --keep --out FILE]
// npm run bench:smoke   (tiny model, 1 warm-up + 2 reps: checks the harness, never the timings)
//
// Prints a Markdown table (stdout) and writes every sample to bench/results.json. A MISS is
// reported, not an exit failure: timings on shared machines are too noisy to gate on.
import { statSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadEngine } from '../src/core/engine';
import { ensureTestGguf, ensureTestModel, repoRoot } from '../test/support/testModel';
import type { TestModelShape } from '../test/support/testModel';
import { createRawModel, releaseRawModel } from './baselines';
import type { RawModel } from './baselines';
import { documentRows } from './documents';
import { documentReportRows } from './documentReport';
import { hostRows } from './host';
import { lensRows } from './lens';
import { sharedServerRows } from './sharedServer';
import { competingRows } from './competing';
import { typingRows } from './typing';
import { buildTexts } from './prose';
import { machineInfo, markdownTable, writeResults } from './report';
import type { Row } from './report';
import { agreementRow } from './agreement';
import { measureOrtBandwidth } from './floor';
import { loadPeer } from './peer';
import type { Peer } from './peer';
import { peerRowIds, peerRows } from './peerRows';
import { measureReadBandwidth, timed } from './stats';
import type { Bandwidth, RepeatOptions } from './stats';
import { decodeFloorRows, generationRows, keystrokeRows, rescoreRows, scoringRows } from './workloads';
import type { EngineBench } from './workloads';

const { values: args } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    reps: { type: 'string' },
    warmup: { type: 'string' },
    threads: { type: 'string', default: '0' },
    only: { type: 'string' },
    keep: { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});

function nonNegativeInt(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0) throw new Error(`--${name} must be a non-negative integer`);
  return parsed;
}

/** The test models' window (n_positions); the peer's context holds all of it. */
const DEFAULT_CONTEXT = 1024;

const log = (line: string): void => {
  process.stderr.write(`[bench] ${line}\n`);
};

async function main(): Promise<void> {
  const root = repoRoot();
  const smoke = args.smoke ?? false;
  const runs: RepeatOptions = { warmup: nonNegativeInt(args.warmup, 1, 'warmup'), reps: Math.max(1, nonNegativeInt(args.reps, smoke ? 2 : 5, 'reps')) };
  const only = args.only ? new Set(args.only.split(',').map((id) => id.trim().toUpperCase())) : undefined;
  // `--only W1,D` keeps W1a/W1b and every D-… row: an id is wanted when a listed id starts it,
  // not followed by another digit (W1 is not W10 or W11).
  const wanted = (...ids: string[]): boolean => !only || ids.some((id) => [...only].some((prefix) => id.toUpperCase().startsWith(prefix) && !/\d/.test(id.charAt(prefix.length))));
  // The hub's Xenova/gpt2 export has no num_logits_to_keep input, so the test model has none either (the decode rewrite adds it).
  const shape: TestModelShape = smoke
    ? { layers: 2, dim: 64, heads: 4, numLogitsToKeep: args.keep }
    : { layers: 12, dim: 768, heads: 12, quantized: true, numLogitsToKeep: args.keep };
  const machine = machineInfo();

  log(`model ${JSON.stringify(shape)}: building or reusing…`);
  let folder = '';
  const buildMs = await timed(async () => {
    folder = await ensureTestModel(shape);
  });
  const fp32File = join(folder, 'onnx', 'model.onnx');
  const q8File = join(folder, 'onnx', 'model_quantized.onnx');
  const weightBytes = statSync(fp32File).size;
  log(`model ready in ${(buildMs / 1000).toFixed(1)} s: ${folder} (${(weightBytes / 1e6).toFixed(0)} MB fp32)`);

  // Measured right before the decode rows it is the floor of, under the same load: ORT reading a
  // weight-sized buffer with all its threads (the JS single-thread figure is kept for comparison).
  let bandwidth: Bandwidth | undefined;
  let jsBandwidth: Bandwidth | undefined;
  const measureBandwidth = async (threads: number): Promise<Bandwidth> => {
    jsBandwidth = measureReadBandwidth();
    bandwidth = await measureOrtBandwidth(weightBytes, threads);
    const gbps = (b: Bandwidth): string => `${(b.bytesPerSecond / 1e9).toFixed(1)} GB/s (passes ${b.passesGBps.map((v) => v.toFixed(1)).join(', ')})`;
    log(`read bandwidth: ORT ${threads} threads ${gbps(bandwidth)}; one JS thread ${gbps(jsBandwidth)}`);
    return bandwidth;
  };
  // The peer: llama.cpp on GGUF copies of the same weights. Any failure to start it skips its rows with the reason.
  let peerSkipped: string | undefined;
  const startPeer = async (type: 'f32' | 'q8_0', threads: number): Promise<Peer | undefined> => {
    try {
      const file = await ensureTestGguf(shape, type);
      const peer = await loadPeer(type, file, DEFAULT_CONTEXT, threads);
      log(`llama.cpp ${type} peer loaded (${peer.threads} threads): ${file}`);
      return peer;
    } catch (error) {
      peerSkipped = `llama.cpp peer unavailable: ${error instanceof Error ? error.message : String(error)}`;
      log(peerSkipped);
      return undefined;
    }
  };

  const rows: Row[] = [];
  const engine = await loadEngine({ model: folder, allowDownloads: false, threads: nonNegativeInt(args.threads, 0, 'threads') });
  const info = engine.model.info;
  const threads = info.threads;
  // The smoke run checks the harness end to end within a minute; 1,600 tokens still span three windows.
  const texts = buildTexts(engine.model.tokenizer, smoke ? 1600 : 4000);
  const shapeOf = { layers: info.layers, heads: info.heads, headDim: info.headDim };
  const mediumTokens = engine.model.tokenizer.encode(texts.medium).length;
  log(`engine loaded in ${info.loadMs} ms, ${threads} threads, logits-to-keep ${info.supportsLogitsToKeep}; documents ${texts.longIds.length} and ${mediumTokens} tokens`);

  const raw = await createRawModel(fp32File, shapeOf, info.contextSize, threads);
  try {
    const bench: EngineBench = { engine, raw, texts, runs, log };
    const steps: Array<[string[], string, () => Promise<Row[]>]> = [
      [['W1'], 'W1 keystrokes', () => keystrokeRows(bench)],
      [['L1'], 'L1 logit lens at the cursor', () => lensRows(bench)],
      [['W2'], 'W2 scoring', () => scoringRows(bench)],
      [['W3'], 'W3 re-score after an edit', () => rescoreRows(bench)],
      [['W4', 'W5'], 'W4/W5 generation', () => generationRows(bench)],
      [['D'], 'fp32 decode vs bandwidth floor', async () => decodeFloorRows(raw, 'fp32', weightBytes, await measureBandwidth(threads), texts.longIds, runs)],
      [
        peerRowIds('f32'),
        'LM Lens fp32 vs llama.cpp F32 and the floor',
        async () => {
          const peer = await startPeer('f32', threads);
          try {
            return await peerRows({ engine, peer, peerSkipped, label: 'f32', weightBytes, bandwidth: bandwidth ?? (await measureBandwidth(threads)), ids: texts.longIds, runs, prefill: true });
          } finally {
            await peer?.dispose();
          }
        },
      ],
      [
        [...peerRowIds('q8'), 'A-int8'],
        'LM Lens fast int8 vs llama.cpp Q8_0, its floor, and its agreement with fp32',
        async () => {
          const int8 = await loadEngine({ model: folder, fastInt8: true, allowDownloads: false, threads });
          const peer = await startPeer('q8_0', threads);
          try {
            const int8Bytes = int8.model.info.fastInt8?.quantizedBytes ?? Number.NaN;
            log(`fast int8: ${JSON.stringify(int8.model.info.fastInt8)}`);
            const floor = bandwidth ?? (await measureBandwidth(threads));
            return [
              await agreementRow('A-int8', 'LM Lens fast int8 (MatMulNBits bits 8, accuracy_level 4)', engine, int8, texts.longIds),
              ...(await peerRows({ engine: int8, peer, peerSkipped, label: 'q8', weightBytes: int8Bytes, bandwidth: floor, ids: texts.longIds, runs, prefill: false })),
            ];
          } finally {
            await peer?.dispose();
            await int8.dispose();
          }
        },
      ],
    ];
    for (const [ids, label, step] of steps) {
      if (!wanted(...ids)) continue;
      log(`${label}…`);
      rows.push(...(await step()));
    }
  } finally {
    await releaseRawModel(raw);
    await engine.dispose();
  }

  let q8Bytes: number | undefined;
  if (shape.quantized && wanted('D')) {
    q8Bytes = statSync(q8File).size;
    log('q8 decode vs bandwidth floor…');
    let q8: RawModel | undefined;
    try {
      q8 = await createRawModel(q8File, shapeOf, info.contextSize, threads);
      rows.push(...(await decodeFloorRows(q8, 'q8', q8Bytes, bandwidth ?? (await measureBandwidth(threads)), texts.longIds, runs)));
    } finally {
      if (q8) await releaseRawModel(q8);
    }
  }

  if (wanted('W6', 'W7')) {
    log('W6/W7 through the model process…');
    rows.push(...(await hostRows({ root, folder, threads, weightBytes, texts, runs, log })));
  }
  if (wanted('W8', 'W9')) {
    log('W8/W9 typing into a 1 MB document with sentence loss on…');
    rows.push(...(await documentRows({ root, folder, threads, smoke, log })));
  }
  if (wanted('W10')) {
    log('W10: three windows on one model server…');
    rows.push(...(await sharedServerRows({ root, folder, threads, texts, runs, log })));
  }
  if (wanted('W12', 'W13')) {
    log('W12/W13: a keystroke in window A while window B scores 4,000 tokens on the same server…');
    // Each pair scores 4,000 tokens twice; the smoke run only checks the harness.
    rows.push(...(await competingRows({ root, folder, threads, texts, pairs: smoke ? 1 : Math.min(2, runs.reps), log })));
  }
  if (wanted('W14a', 'W15a', 'W14b', 'W15b')) {
    log('W14/W15: typing in bursts with sentence loss on vs off…');
    // `--only W14a` types into the ≈1,000-token document alone (so does the smoke run: it checks the harness).
    const documents = [
      { suffix: 'a', text: texts.medium, tokens: mediumTokens },
      { suffix: 'b', text: texts.long, tokens: texts.longIds.length },
    ].filter(({ suffix }) => wanted(`W14${suffix}`, `W15${suffix}`) && !(smoke && suffix === 'b'));
    rows.push(...(await typingRows({ root, folder, threads, documents, smoke, log })));
  }
  if (wanted('W11')) {
    log('W11: the document report of a 1 MB document while it is edited…');
    rows.push(...(await documentReportRows({ root, threads, smoke, log })));
  }
  // Steps measure several rows together (W4 with W5, W6 with W7): drop the ones not asked for.
  const shown = rows.filter((row) => wanted(row.id));
  // Workload rows in id order (W6/W7 run last but read best next to W5), decode rows after them.
  const rank = (row: Row): number => (row.id.startsWith('W') ? 0 : row.id.startsWith('D') ? 2 : 1);
  shown.sort((a, b) => rank(a) - rank(b) || (rank(a) === 0 ? a.id.localeCompare(b.id) : 0));

  const out = args.out ?? join(root, 'bench', 'results.json');
  machine.loadAverageEnd = os.loadavg();
  writeResults(out, {
    date: new Date().toISOString(),
    machine,
    options: { smoke, ...runs, threads, only: args.only ?? null, logitsToKeep: info.supportsLogitsToKeep },
    model: { folder, shape, fp32Bytes: weightBytes, q8Bytes, buildMs, loadMs: info.loadMs },
    bandwidth: bandwidth ?? null,
    jsBandwidth: jsBandwidth ?? null,
    peerSkipped: peerSkipped ?? null,
    rows: shown,
  });

  const title = smoke ? 'LM Lens benchmark (SMOKE: tiny model, timings meaningless)' : 'LM Lens benchmark';
  const ratioNote = 'ratio = median over runs of (workload ÷ the baseline run beside it); W2 in tokens/s; W6 = RSS ÷ weights';
  process.stdout.write(
    `\n## ${title}\n\n${machine.cpuModel}, ${machine.cpus} CPUs, Node ${machine.node}, ${threads} ORT threads, ` +
      `${runs.warmup} warm-up + ${runs.reps} reps, load average ${machine.loadAverageStart[0]?.toFixed(2)} → ${machine.loadAverageEnd[0]?.toFixed(2)}; ` +
      `read bandwidth ${bandwidth ? `${(bandwidth.bytesPerSecond / 1e9).toFixed(1)} GB/s (ORT, ${threads} threads)` : 'not measured'}${peerSkipped ? `; ${peerSkipped}` : ''}\n${ratioNote}\n\n${markdownTable(shown)}\n\nSamples: ${out}\n`,
  );
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`[bench] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
