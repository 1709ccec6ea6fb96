// Rows of the results table, its Markdown form, and bench/results.json.
import * as os from 'node:os';
import { writeFileSync } from 'node:fs';
import { median } from './stats';

export type Unit = 'ms' | 'tok/s' | 'MB' | 'bytes';

export interface Row {
  id: string;
  workload: string;
  unit: Unit;
  /** Median of `samples` unless the row sets it (W6's single reading, W7's p99). */
  value: number;
  samples: number[];
  baseline?: { label: string; value: number; samples: number[] };
  /** Median of `pairs` when the row has them, else value ÷ baseline value. */
  ratio?: number;
  /** Per-run ratios of the workload to the baseline run next to it (see pairedRatios). */
  pairs?: number[];
  /** How the ratio reads, e.g. "0.04× (25× faster)"; defaults to "<ratio>×". */
  ratioText?: string;
  /** Median/value text override, e.g. W7's "p50 … / p99 …". */
  valueText?: string;
  target: string;
  pass?: boolean;
  /** Extra facts worth keeping next to the numbers (tokens computed, generated lengths …). */
  details?: Record<string, unknown>;
}

export function sampledRow(fields: Omit<Row, 'value'> & { value?: number }): Row {
  return { ...fields, value: fields.value ?? median(fields.samples) };
}

/** A row whose target is "ratio ≤ max" (or ≥ min, for throughputs); informational without limits. */
export function ratioRow(fields: Omit<Row, 'value' | 'ratio' | 'pass'> & { value?: number }, limit?: { max?: number; min?: number }): Row {
  const row = sampledRow(fields);
  if (!row.baseline) return row;
  const ratioOfMedians = row.value / row.baseline.value;
  const ratio = row.pairs && row.pairs.length > 0 ? median(row.pairs) : ratioOfMedians;
  const details = { ...row.details, ratioOfMedians };
  if (!limit) return { ...row, ratio, details };
  const pass = (limit.max === undefined || ratio <= limit.max) && (limit.min === undefined || ratio >= limit.min);
  return { ...row, ratio, pass, details };
}

function formatValue(value: number, unit: Unit): string {
  if (!Number.isFinite(value)) return 'n/a';
  if (unit === 'ms') return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value.toFixed(value < 10 ? 2 : 1)} ms`;
  if (unit === 'tok/s') return `${value.toFixed(0)} tok/s`;
  if (unit === 'bytes') return `${value.toFixed(0)} B`;
  return `${value.toFixed(0)} MB`;
}

function formatRatio(ratio: number): string {
  return `${ratio.toFixed(ratio < 0.1 ? 3 : 2)}×`;
}

export function markdownTable(rows: readonly Row[]): string {
  const lines = ['| id | workload | median | baseline | baseline median | ratio | target | result |', '|---|---|---|---|---|---|---|---|'];
  for (const row of rows) {
    const cells = [
      row.id,
      row.workload,
      row.valueText ?? formatValue(row.value, row.unit),
      row.baseline?.label ?? '—',
      row.baseline ? formatValue(row.baseline.value, row.unit) : '—',
      row.ratioText ?? (row.ratio === undefined ? '—' : formatRatio(row.ratio)),
      row.target,
      row.pass === undefined ? '—' : row.pass ? 'PASS' : 'MISS',
    ];
    lines.push(`| ${cells.map((cell) => cell.replace(/\|/g, '\\|')).join(' | ')} |`);
  }
  return lines.join('\n');
}

export interface MachineInfo {
  cpuModel: string;
  cpus: number;
  availableParallelism: number;
  totalMemoryBytes: number;
  platform: string;
  arch: string;
  node: string;
  /** Load average when the run started and ended: a busy machine explains noisy ratios. */
  loadAverageStart: number[];
  loadAverageEnd?: number[];
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cpus: cpus.length,
    availableParallelism: os.availableParallelism(),
    totalMemoryBytes: os.totalmem(),
    platform: os.platform(),
    arch: os.arch(),
    node: process.version,
    loadAverageStart: os.loadavg(),
  };
}

export function writeResults(file: string, results: Record<string, unknown>): void {
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
}
