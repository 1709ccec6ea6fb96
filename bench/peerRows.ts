// LM Lens's own decode step and prefill against llama.cpp (node-llama-cpp, same seeded weights as
// GGUF) and against the all-thread bandwidth floor, interleaved run by run like every other row.
import type { Engine } from '../src/core/engine';
import type { Bandwidth, RepeatOptions } from './stats';
import { median, pairedRatios, repeatEach, timed } from './stats';
import type { Peer } from './peer';
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

const PAST = 512;
const SHORT_PAST = 64;
const PREFILL_TOKENS = 512;
/** Decode samples per run per side: one sample per run lets a single load spike decide a run's ratio. */
const STEPS_PER_RUN = 3;

/** Milliseconds of one product decode step after `past` tokens whose state the engine already holds. */
async function productDecodeSamples(engine: Engine, ids: number[], past: number): Promise<() => Promise<number[]>> {
  const state = await engine.run(ids.slice(0, past), { noCache: true });
  const token = ids[past] as number;
  return async () => {
    const samples: number[] = [];
    for (let i = 0; i < STEPS_PER_RUN; i++) samples.push(await timed(() => engine.forward([[token]], state.kv, { logitsToKeep: 1 })));
    return samples;
  };
}

export async function peerRows(bench: PeerBench): Promise<Row[]> {
  const { engine, peer, label, ids, runs } = bench;
  const floorMs = (bench.weightBytes / bench.bandwidth.bytesPerSecond) * 1000;
  const floorLabel = `floor: ${(bench.weightBytes / 1e6).toFixed(0)} MB ÷ ${(bench.bandwidth.bytesPerSecond / 1e9).toFixed(1)} GB/s (ORT, all threads)`;
  const product = await productDecodeSamples(engine, ids, PAST);
  const steps = (past: number) => async (): Promise<number[]> => {
    const samples: number[] = [];
    for (let i = 0; i < STEPS_PER_RUN; i++) samples.push(await (peer as Peer).decodeStep(ids, past));
    return samples;
  };
  const prefillIds = ids.slice(0, PREFILL_TOKENS);
  const bodies: Array<() => Promise<number | number[]>> = [product];
  if (peer) bodies.push(steps(PAST), steps(SHORT_PAST));
  if (peer && bench.prefill) {
    bodies.push(
      () => timed(() => engine.run(prefillIds, { noCache: true })),
      () => peer.prefill(prefillIds),
    );
  }
  const [mine = [], peer512 = [], peer64 = [], myPrefill = [], peerPrefill = []] = await repeatEach(runs, bodies);
  const flat = (runsOf: number[][]): number[] => runsOf.flat();
  const productName = label === 'f32' ? 'LM Lens fp32' : engine.model.info.fastInt8 ? 'LM Lens fast int8' : `LM Lens ${engine.model.info.dtype}`;
  const rows: Row[] = [
    ratioRow(
      {
        id: label === 'f32' ? 'R-floor-512' : 'R-floor-q8-512',
        workload: `${productName} decode step at past ${PAST} (engine.forward, 1 token) ÷ its bandwidth floor`,
        unit: 'ms',
        samples: flat(mine),
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
  const peerName = `llama.cpp ${label === 'f32' ? 'F32' : 'Q8_0'} (node-llama-cpp, ${peer.threads} threads)`;
  const peerRow = (id: string, past: number, samples: number[][]): Row =>
    ratioRow({ id, workload: `${peerName} decode step at past ${past} (controlledEvaluate, greedy token)`, unit: 'ms', samples: flat(samples), target: 'informational', details: { threads: peer.threads } });
  rows.push(
    peerRow(`P-${label}-${SHORT_PAST}`, SHORT_PAST, peer64),
    peerRow(`P-${label}-${PAST}`, PAST, peer512),
    ratioRow(
      {
        id: `R-${label}-${PAST}`,
        workload: `${productName} decode step at past ${PAST} ÷ ${peerName}`,
        unit: 'ms',
        samples: flat(mine),
        baseline: { label: `${peerName}, past ${PAST}`, value: median(flat(peer512)), samples: flat(peer512) },
        pairs: pairedRatios(mine, peer512),
        target: '≤ 1.0×',
      },
      { max: 1.0 },
    ),
  );
  if (bench.prefill) {
    const rate = (ms: number[][]): number[][] => ms.map((run) => run.map((value) => PREFILL_TOKENS / (value / 1000)));
    rows.push(
      ratioRow({ id: 'P-prefill-512', workload: `${peerName} prefill of ${PREFILL_TOKENS} tokens`, unit: 'tok/s', samples: flat(rate(peerPrefill)), target: 'informational' }),
      ratioRow(
        {
          id: 'R-prefill-512',
          workload: `LM Lens prefill of ${PREFILL_TOKENS} tokens (engine.run, cold) ÷ llama.cpp's, tokens/s`,
          unit: 'tok/s',
          samples: flat(rate(myPrefill)),
          baseline: { label: `${peerName} prefill`, value: median(flat(rate(peerPrefill))), samples: flat(rate(peerPrefill)) },
          pairs: pairedRatios(rate(myPrefill), rate(peerPrefill)),
          target: '≥ 1.0×',
        },
        { min: 1.0 },
      ),
    );
  }
  return rows;
}
