// How closely an approximate engine (fast int8) follows fp32: next-token distributions at every
// position of the same text, from one prefill each.
import type { Engine } from '../src/core/engine';
import { logSoftmax } from '../src/core/distribution';
import type { Row } from './report';

const POSITIONS = 256;
const TOP = 10;

async function allLogits(engine: Engine, ids: number[]): Promise<Float32Array[]> {
  const rows: Float32Array[] = [];
  const vocab = engine.vocabSize;
  await engine.run(ids, {
    noCache: true,
    logitsFrom: 0,
    onLogits: (_first, block, count) => {
      for (let i = 0; i < count; i++) rows.push(block.slice(i * vocab, (i + 1) * vocab));
    },
  });
  return rows;
}

function topIds(logProbs: Float64Array, k: number): number[] {
  return Array.from(logProbs.keys())
    .sort((a, b) => (logProbs[b] as number) - (logProbs[a] as number))
    .slice(0, k);
}

export async function agreementRow(id: string, label: string, reference: Engine, candidate: Engine, text: number[]): Promise<Row> {
  const ids = text.slice(0, POSITIONS + 1);
  const [expected, actual] = [await allLogits(reference, ids.slice(0, POSITIONS)), await allLogits(candidate, ids.slice(0, POSITIONS))];
  let top1 = 0;
  let overlap = 0;
  let deltaNext = 0;
  let deltaTop = 0;
  expected.forEach((row, i) => {
    const a = logSoftmax(row);
    const b = logSoftmax(actual[i] as Float32Array);
    const [topA, topB] = [topIds(a, TOP), topIds(b, TOP)];
    if (topA[0] === topB[0]) top1++;
    overlap += topA.filter((token) => topB.includes(token)).length / TOP;
    const next = ids[i + 1] as number;
    deltaNext += Math.abs((a[next] as number) - (b[next] as number));
    deltaTop += topA.reduce((sum, token) => sum + Math.abs((a[token] as number) - (b[token] as number)), 0) / TOP;
  });
  const n = expected.length;
  const details = { positions: n, top1Agreement: top1 / n, top10Overlap: overlap / n, meanAbsDeltaLogprobNextToken: deltaNext / n, meanAbsDeltaLogprobTop10: deltaTop / n };
  return {
    id,
    workload: `${label} vs fp32 at ${n} positions of the prose: top-1 agreement, top-10 overlap, mean |Δ logprob| (next token / fp32's top 10)`,
    unit: 'ms',
    value: details.top1Agreement,
    valueText: `top-1 ${(100 * details.top1Agreement).toFixed(1)}%, top-10 ${(100 * details.top10Overlap).toFixed(1)}%, |Δ logprob| ${details.meanAbsDeltaLogprobNextToken.toFixed(4)} / ${details.meanAbsDeltaLogprobTop10.toFixed(4)}`,
    samples: [],
    target: 'informational (fp32 stays the exact default)',
    details,
  };
}
