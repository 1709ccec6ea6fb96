// Where one decode step's time goes, per op group, from onnxruntime's own profiler (the
// `enableProfiling` session option's JSON trace), against the bandwidth floor of the bytes each
// group reads. Run under the bench lock:
//   flock /work/bench.lock npx tsx bench/stepProfile.ts [--past 64,512] [--weights float,int8] [--steps 20] [--threads 2] [--variant product]
// The profiler times every kernel, which itself adds a few µs per node; "between kernels" is a
// run's wall time (model_run) minus the sum of its kernels: dispatch, allocation, and the profiler.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { measureOrtBandwidth } from './floor';
import { median } from './stats';
import { openStepSession, sessionOptions, stepFeeds, timeStep } from './stepHarness';
import { VARIANTS, variantModel } from './stepVariants';
import type { DecodeWeights } from '../src/core/local/decodeFile';

interface TraceEvent {
  cat: string;
  name: string;
  ts: number;
  dur: number;
  args: { op_name?: string; output_size?: string; input_type_shape?: Shapes; output_type_shape?: Shapes };
}

type Shapes = Array<Record<string, number[]>>;
const ELEMENT_BYTES: Record<string, number> = { float: 4, float16: 2, int64: 8, int32: 4, uint8: 1, int8: 1, bool: 1 };

/** Bytes of the tensors in `shapes`. */
function tensorBytes(shapes: Shapes | undefined): number {
  return (shapes ?? []).reduce((sum, shape) => sum + Object.entries(shape).reduce((s, [type, dims]) => s + dims.reduce((n, d) => n * d, 1) * (ELEMENT_BYTES[type] ?? 4), 0), 0);
}

const VOCAB = 50257;
const WEIGHT_PRODUCTS = new Set(['MatMul', 'Gemm', 'FusedMatMul', 'MatMulNBits', 'MatMulInteger', 'DynamicQuantizeMatMul']);
const ELEMENTWISE = new Set(['Add', 'Mul', 'Div', 'Sub', 'Tanh', 'Pow', 'Erf', 'Gelu', 'FastGelu', 'BiasGelu', 'Where', 'Neg']);
const LAYOUT = new Set(['Reshape', 'Transpose', 'Slice', 'Concat', 'Split', 'Shape', 'Gather', 'Identity', 'Unsqueeze', 'Squeeze', 'Cast', 'Range', 'Expand', 'LessOrEqual', 'And']);

/** Bytes per weight of a weight product: float32, or MatMulNBits' 8-bit blocks with a float scale per 32. */
const weightBytes = (op: string): number => (op === 'MatMulNBits' ? 1 + 4 / 32 : 4);

/**
 * A product with a weight matrix: onnxruntime lists only the activation among its inputs once
 * the weight is prepacked; otherwise the weight is 2-D (MatMulNBits: 3-D blocks), where
 * attention's operands are 4-D [batch, heads, …].
 */
function isWeightProduct(event: TraceEvent): boolean {
  const shapes = event.args.input_type_shape ?? [];
  const second = Object.values(shapes[1] ?? {})[0];
  return WEIGHT_PRODUCTS.has(event.args.op_name ?? '') && (second === undefined || second.length < 4);
}

const lastDim = (shapes: Shapes | undefined): number => Object.values(shapes?.[0] ?? {})[0]?.at(-1) ?? 0;

/** What a kernel reads and writes: its activations, output and weights (K × N of a weight product); a Gather reads only the rows it looks up. */
function kernelBytes(event: TraceEvent): number {
  const written = Number(event.args.output_size ?? tensorBytes(event.args.output_type_shape));
  const activations = tensorBytes(event.args.input_type_shape?.slice(0, 1));
  if (isWeightProduct(event)) return activations + written + lastDim(event.args.input_type_shape) * lastDim(event.args.output_type_shape) * weightBytes(event.args.op_name ?? '');
  return (event.args.op_name === 'Gather' ? written : tensorBytes(event.args.input_type_shape)) + written;
}

/** The group a kernel belongs to in the breakdown. */
function groupOf(event: TraceEvent): string {
  const op = event.args.op_name ?? '?';
  if (isWeightProduct(event)) return lastDim(event.args.output_type_shape) === VOCAB ? 'output projection' : 'layer weight MatMuls';
  if (WEIGHT_PRODUCTS.has(op) || op === 'Softmax') return 'attention MatMuls + Softmax';
  if (op.includes('LayerNorm')) return 'LayerNorm';
  if (ELEMENTWISE.has(op)) return 'elementwise (bias, GELU, residual, mask)';
  if (LAYOUT.has(op)) return 'reshape / transpose / slice / concat';
  return `other (${op})`;
}

interface Group {
  us: number;
  bytes: number;
  kernels: number;
}

/** Per measured run: wall µs, kernel µs per group, bytes per group. */
function breakdown(events: TraceEvent[], skipRuns: number): { runs: number; wallUs: number[]; groups: Map<string, Group[]>; ops: Map<string, number[]> } {
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').slice(skipRuns);
  const nodes = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
  const groups = new Map<string, Group[]>();
  const ops = new Map<string, number[]>();
  runs.forEach((run, r) => {
    for (const node of nodes) {
      if (node.ts < run.ts || node.ts > run.ts + run.dur) continue;
      const group = groupOf(node);
      const perRun = groups.get(group) ?? runs.map(() => ({ us: 0, bytes: 0, kernels: 0 }));
      groups.set(group, perRun);
      const slot = perRun[r] as Group;
      slot.us += node.dur;
      slot.kernels++;
      slot.bytes += kernelBytes(node);
      const op = node.args.op_name ?? '?';
      const opRuns = ops.get(op) ?? runs.map(() => 0);
      opRuns[r] = (opRuns[r] as number) + node.dur;
      ops.set(op, opRuns);
    }
  });
  return { runs: runs.length, wallUs: runs.map((run) => run.dur), groups, ops };
}

async function profile(weights: DecodeWeights, variant: string, past: number, steps: number, threads: number, bytesPerSecond: number): Promise<void> {
  const folder = mkdtempSync(join(tmpdir(), 'lmlens-profile-'));
  try {
    const chosen = VARIANTS[variant] ?? {};
    const options = { ...(chosen.options?.(threads) ?? sessionOptions(threads)), enableProfiling: true, profileFilePrefix: join(folder, 'step') };
    const session = await openStepSession(await variantModel(weights, chosen), options);
    const feeds = stepFeeds(session, past);
    const warmup = 3;
    for (let i = 0; i < warmup + steps; i++) await timeStep(session, feeds);
    session.endProfiling();
    await session.release();
    const file = readdirSync(folder).find((name) => name.endsWith('.json'));
    if (!file) throw new Error('no profile written');
    const { wallUs, groups, ops } = breakdown(JSON.parse(readFileSync(join(folder, file), 'utf8')) as TraceEvent[], warmup);
    const wall = median(wallUs) / 1000;
    const lines = [`\n### ${weights} step at past ${past}, ${variant} (median of ${wallUs.length} profiled steps: ${wall.toFixed(2)} ms wall)`, '', '| group | kernels | ms | share | MB read+written | floor ms |', '|---|---|---|---|---|---|'];
    let kernelMs = 0;
    const sorted = [...groups.entries()].map(([name, perRun]) => ({ name, ms: median(perRun.map((g) => g.us)) / 1000, bytes: median(perRun.map((g) => g.bytes)), kernels: perRun[0]?.kernels ?? 0 })).sort((a, b) => b.ms - a.ms);
    for (const g of sorted) {
      kernelMs += g.ms;
      lines.push(`| ${g.name} | ${g.kernels} | ${g.ms.toFixed(2)} | ${((g.ms / wall) * 100).toFixed(0)}% | ${(g.bytes / 1e6).toFixed(1)} | ${((g.bytes / bytesPerSecond) * 1000).toFixed(2)} |`);
    }
    lines.push(`| between kernels (wall − Σ kernels) | — | ${(wall - kernelMs).toFixed(2)} | ${(((wall - kernelMs) / wall) * 100).toFixed(0)}% | — | — |`);
    const opLine = [...ops.entries()].map(([op, perRun]) => ({ op, ms: median(perRun) / 1000 })).sort((a, b) => b.ms - a.ms).map(({ op, ms }) => `${op} ${ms.toFixed(2)}`);
    lines.push('', `per op type (ms): ${opLine.join(', ')}`);
    console.log(lines.join('\n'));
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { past: { type: 'string', default: '64,512' }, weights: { type: 'string', default: 'float,int8' }, steps: { type: 'string', default: '20' }, threads: { type: 'string', default: '2' }, variant: { type: 'string', default: 'product' } } });
  if (!VARIANTS[values.variant as string]) throw new Error(`unknown variant ${values.variant}`);
  const threads = Number(values.threads);
  const steps = Number(values.steps);
  const bandwidth = await measureOrtBandwidth(498e6, threads);
  console.log(`read bandwidth (ORT, ${threads} threads): ${(bandwidth.bytesPerSecond / 1e9).toFixed(1)} GB/s`);
  for (const weights of (values.weights as string).split(',') as DecodeWeights[]) {
    for (const past of (values.past as string).split(',').map(Number)) await profile(weights, values.variant as string, past, steps, threads, bandwidth.bytesPerSecond);
  }
}

void main();
