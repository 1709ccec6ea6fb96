// LM Lens's own decode step and prefill against llama.cpp (same seeded weights as GGUF) and
// against the all-thread bandwidth floor, interleaved run by run like every other row. The peer
// is llama.cpp's own time (its performance counters, see peer.ts); node-llama-cpp's end-to-end
// figure, which adds its JavaScript per step, is kept beside it.
import type { Engine } from '../src/core/engine';
import type { Bandwidth, RepeatOptions } from './stats';
import { median, pairedRatios, repeatEach, timed } from './stats';
import type { Peer, PeerTiming } from './peer';
import { ratioRow } from './report';
import type { Row } from './report';

export interface PeerBench {
  /** fp32 or int8, as `label` says; the engine the product would decode with. */
  engine: Engine;
  peer: Peer | undefined;
  /** Why the peer is absent (smoke runs, a missing binary); printed with the rows. */
  peerSkipped?: string;
  /** `f32` or `q8`: names the rows (P-f32-512, R-q8-512, …). */
  label: 'f32' | 'q8';
  /** Bytes a decode step of `engine` must read (its weights). */
  weightBytes: number;
  bandwidth: Bandwidth;
  ids: number[];
  runs: RepeatOptions;
  /** Also measure prefill of 512 tokens (done for f32 only). */
  prefill: boolean;
}

/** Context lengths of the decode rows, in the order a run measures them (the peer's sequence only grows within a run). 1,000, not 1,023: at the window's last position both engines stop stepping in place (llama.cpp shifts its context, LM Lens compacts its KV buffer each step), so a step there measures that instead. */
const PASTS = [64, 512, 1000] as const;
/** The past the floor and the headline ratio are taken at. */
const PAST = 512;
const PREFILL_TOKENS = 512;
/** Decode samples per run per side: one sample per run lets a single load spike decide a run's ratio. */
const STEPS_PER_RUN = 3;

/** Every row id peerRows can return for `label`, so run.ts can tell whether the step is wanted. */
export function peerRowIds(label: 'f32' | 'q8'): string[] {
  const ids = [label === 'f32' ? 'R-floor-512' : 'R-floor-q8-512', ...PASTS.flatMap((past) => [`R-${label}-${past}`, `P-${label}-${past}`, `N-${label}-${past}`])];
  return label === 'f32' ? [...ids, 'R-prefill-512', 'P-prefill-512', 'N-prefill-512'] : ids;
}

/** Milliseconds of product decode steps after `past` tokens whose state the engine already holds. */
async function productDecodeSamples(engine: Engine, ids: number[], past: number): Promise<() => Promise<number[]>> {
  const state = await engine.run(ids.slice(0, past), { noCache: true });
  const token = ids[past] as number;
  return async () => {
    const samples: number[] = [];
    for (let i = 0; i < STEPS_PER_RUN; i++) samples.push(await timed(() => engine.forward([[token]], state.kv, { logitsToKeep: 1 })));
    return samples;
  };
}

/** Per-run samples of one side, split into llama.cpp's own and node-llama-cpp's end-to-end milliseconds. */
interface PeerSamples {
  native: number[][];
  endToEnd: number[][];
}

export async function peerRows(bench: PeerBench): Promise<Row[]> {
  const { engine, peer, label, ids, runs } = bench;
  const floorMs = (bench.weightBytes / bench.bandwidth.bytesPerSecond) * 1000;
  const floorLabel = `floor: ${(bench.weightBytes / 1e6).toFixed(0)} MB ÷ ${(bench.bandwidth.bytesPerSecond / 1e9).toFixed(1)} GB/s (ORT, all threads)`;
  const products = new Map<number, () => Promise<number[]>>();
  for (const past of PASTS) if (peer || past === PAST) products.set(past, await productDecodeSamples(engine, ids, past));
  // The peer's PeerTimings per measured run, kept beside repeatEach's numbers (which can hold only one figure per sample).
  const timingsOf = new Map<string, PeerTiming[][]>();
  const collect = (key: string, measure: () => Promise<PeerTiming[]>) => async (run: number): Promise<number[]> => {
    const timings = await measure();
    if (run >= runs.warmup) timingsOf.set(key, [...(timingsOf.get(key) ?? []), timings]);
    return timings.map((t) => t.endToEndMs);
  };
  const peerSteps = (past: number) => async (): Promise<PeerTiming[]> => {
    const samples: PeerTiming[] = [];
    for (let i = 0; i < STEPS_PER_RUN; i++) samples.push(await (peer as Peer).decodeStep(ids, past));
    return samples;
  };
  const prefillIds = ids.slice(0, PREFILL_TOKENS);
  const keys: string[] = [];
  const bodies: Array<(run: number) => Promise<number | number[]>> = [];
  for (const past of PASTS) {
    const product = products.get(past);
    if (!product) continue;
    keys.push(`lens-${past}`);
    bodies.push(product);
    if (!peer) continue;
    keys.push(`peer-${past}`);
    bodies.push(collect(`peer-${past}`, peerSteps(past)));
  }
  if (peer && bench.prefill) {
    keys.push('lens-prefill', 'peer-prefill');
    bodies.push(
      () => timed(() => engine.run(prefillIds, { noCache: true })),
      collect('peer-prefill', async () => [await peer.prefill(prefillIds)]),
    );
  }
  const measured = await repeatEach(runs, bodies);
  const lens = (key: string): number[][] => measured[keys.indexOf(key)] ?? [];
  const peerOf = (key: string): PeerSamples => {
    const timings = timingsOf.get(key) ?? [];
    return { native: timings.map((run) => run.map((t) => t.nativeMs)), endToEnd: timings.map((run) => run.map((t) => t.endToEndMs)) };
  };
  const flat = (runsOf: number[][]): number[] => runsOf.flat();
  const productName = label === 'f32' ? 'LM Lens fp32' : engine.model.info.fastInt8 ? 'LM Lens fast int8' : `LM Lens ${engine.model.info.dtype}`;
  const mine512 = lens(`lens-${PAST}`);
  const rows: Row[] = [
    ratioRow(
      {
        id: label === 'f32' ? 'R-floor-512' : 'R-floor-q8-512',
        workload: `${productName} decode step at past ${PAST} (engine.forward, 1 token) ÷ its bandwidth floor`,
        unit: 'ms',
        samples: flat(mine512),
        baseline: { label: floorLabel, value: floorMs, samples: [] },
        target: label === 'f32' ? '≤ 1.3×' : '≤ 2.0×',
        details: { weightBytes: bench.weightBytes, bandwidthGBps: bench.bandwidth.bytesPerSecond / 1e9 },
      },
      { max: label === 'f32' ? 1.3 : 2.0 },
    ),
  ];
  if (!peer) {
    return rows.map((row) => ({ ...row, details: { ...row.details, peerSkipped: bench.peerSkipped } }));
  }
  const weights = label === 'f32' ? 'F32' : 'Q8_0';
  const nativeName = `llama.cpp ${weights} native (llama_perf_context, ${peer.threads} threads)`;
  const wrappedName = `llama.cpp ${weights} via node-llama-cpp (${peer.threads} threads)`;
  const informational = (id: string, workload: string, samples: number[][], unit: 'ms' | 'tok/s' = 'ms'): Row =>
    ratioRow({ id, workload, unit, samples: flat(samples), target: 'informational', details: { threads: peer.threads } });
  for (const past of PASTS) {
    const mine = lens(`lens-${past}`);
    const theirs = peerOf(`peer-${past}`);
    rows.push(
      informational(`P-${label}-${past}`, `${nativeName} decode step at past ${past}: llama_decode of 1 token with its logits`, theirs.native),
      informational(`N-${label}-${past}`, `${wrappedName} decode step at past ${past} (controlledEvaluate, greedy token), end to end`, theirs.endToEnd),
      ratioRow(
        {
          id: `R-${label}-${past}`,
          workload: `${productName} decode step at past ${past} ÷ ${nativeName}`,
          unit: 'ms',
          samples: flat(mine),
          baseline: { label: `${nativeName}, past ${past}`, value: median(flat(theirs.native)), samples: flat(theirs.native) },
          pairs: pairedRatios(mine, theirs.native),
          target: '≤ 1.0×',
          details: { viaNodeLlamaCpp: pairedRatios(mine, theirs.endToEnd) },
        },
        { max: 1.0 },
      ),
    );
  }
  if (bench.prefill) {
    const rate = (ms: number[][]): number[][] => ms.map((run) => run.map((value) => PREFILL_TOKENS / (value / 1000)));
    const mine = rate(lens('lens-prefill'));
    const theirs = peerOf('peer-prefill');
    rows.push(
      informational('P-prefill-512', `${nativeName} prefill of ${PREFILL_TOKENS} tokens (prompt eval)`, rate(theirs.native), 'tok/s'),
      informational('N-prefill-512', `${wrappedName} prefill of ${PREFILL_TOKENS} tokens, end to end`, rate(theirs.endToEnd), 'tok/s'),
      ratioRow(
        {
          id: 'R-prefill-512',
          workload: `LM Lens prefill of ${PREFILL_TOKENS} tokens (engine.run, cold) ÷ native llama.cpp's, tokens/s`,
          unit: 'tok/s',
          samples: flat(mine),
          baseline: { label: `${nativeName} prefill`, value: median(flat(rate(theirs.native))), samples: flat(rate(theirs.native)) },
          pairs: pairedRatios(mine, rate(theirs.native)),
          target: '≥ 1.0×',
          details: { viaNodeLlamaCpp: pairedRatios(mine, rate(theirs.endToEnd)) },
        },
        { min: 1.0 },
      ),
    );
  }
  return rows;
}
