// Timing and statistics helpers. Only medians are reported: on small shared machines single
// samples vary up to 2×, and a mean would be dominated by the slowest one.

/** Middle sample, or the mean of the two middle ones for an even count (NaN for none). */
export function median(samples: readonly number[]): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** Nearest-rank percentile (`p` in 0..100), ignoring NaN samples (NaN for none). */
export function percentile(samples: readonly number[], p: number): number {
  const sorted = samples.filter((sample) => !Number.isNaN(sample)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

export interface RepeatOptions {
  warmup: number;
  reps: number;
}

/** What one run of a body measured: one sample, or several (e.g. one per keystroke). */
export type RunSamples = number | number[];

/**
 * Runs `body` warm-up + reps times and returns the samples of the measured reps only. `body`
 * gets the overall run index, so a workload can vary its input per run (e.g. type a different
 * word) and never hit a cache entry left by the previous run.
 */
export async function repeat(options: RepeatOptions, body: (run: number) => Promise<RunSamples>): Promise<number[]> {
  const [runs] = await repeatEach(options, [body]);
  return (runs as number[][]).flat();
}

/**
 * A workload and its baseline(s) together: in every run each body goes once, in turn, so a
 * load spike from other processes hits both sides of a ratio alike. Returns, per body, the
 * samples of each measured run (`[body][run][sample]`), so ratios can be paired by run.
 */
export async function repeatEach(options: RepeatOptions, bodies: ReadonlyArray<(run: number) => Promise<RunSamples>>): Promise<number[][][]> {
  const samples = bodies.map((): number[][] => []);
  for (let run = 0; run < options.warmup + options.reps; run++) {
    for (const [i, body] of bodies.entries()) {
      const result = await body(run);
      if (run >= options.warmup) samples[i]?.push(Array.isArray(result) ? result : [result]);
    }
  }
  return samples;
}

/**
 * Per-run ratios median(a) ÷ median(b) of two bodies run side by side. Their median is the
 * ratio the table reports: on a machine whose load drifts during the benchmark, the ratio of
 * the two overall medians can compare a quiet minute with a busy one; paired runs cannot.
 */
export function pairedRatios(a: readonly number[][], b: readonly number[][]): number[] {
  return a.map((run, i) => median(run) / median(b[i] ?? []));
}

/** Milliseconds `fn` takes, measured with performance.now(). */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

export interface Bandwidth {
  /** Bytes per second, median of the passes. */
  bytesPerSecond: number;
  passesGBps: number[];
  bufferBytes: number;
}

/**
 * Single-thread read bandwidth: sums a 256 MB Float64Array (4 independent accumulators so the
 * add latency does not bound the loop), one untimed pass to fault the pages in, then the median
 * of `passes` timed passes. ORT reads weights with all its intra-op threads, so this is a lower
 * bound of the bandwidth a decode step can use, and the floor derived from it an upper bound.
 */
export function measureReadBandwidth(passes = 7, bytes = 256 * 1024 * 1024): Bandwidth {
  const values = new Float64Array(bytes / 8);
  for (let i = 0; i < values.length; i++) values[i] = i & 0xff;
  let sink = 0;
  const sum = (): number => {
    let a = 0;
    let b = 0;
    let c = 0;
    let d = 0;
    const n = values.length;
    for (let i = 0; i < n; i += 4) {
      a += values[i] as number;
      b += values[i + 1] as number;
      c += values[i + 2] as number;
      d += values[i + 3] as number;
    }
    return a + b + c + d;
  };
  sink += sum();
  const rates: number[] = [];
  for (let pass = 0; pass < passes; pass++) {
    const started = performance.now();
    sink += sum();
    rates.push(bytes / ((performance.now() - started) / 1000));
  }
  // Keeps the sums observable so the loop cannot be optimised away.
  if (Number.isNaN(sink)) throw new Error('bandwidth sum is NaN');
  return { bytesPerSecond: median(rates), passesGBps: rates.map((rate) => rate / 1e9), bufferBytes: bytes };
}
