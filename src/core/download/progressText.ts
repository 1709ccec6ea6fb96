import { formatMegabytes } from '../../shared/format';
import type { DownloadProgress } from './hubModel';

const MB = 1_000_000;

/** Sizes of a download: small JSON files in B / kB, the rest in the shared decimal MB. */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${Math.round(bytes)} B`;
  if (bytes < MB) return `${Math.round(bytes / 1000)} kB`;
  return formatMegabytes(bytes);
}

export function formatDuration(seconds: number): string {
  const whole = Math.max(1, Math.ceil(seconds));
  if (whole < 60) return `${whole} s`;
  const minutes = Math.floor(whole / 60);
  return minutes < 60 ? `${minutes} min ${String(whole % 60).padStart(2, '0')} s` : `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

/** `onnx/model.onnx (4/5) · 225 / 498 MB · 12.3 MB/s · 22 s left` — the notification's and the CLI's line. */
export function describeDownload(progress: Partial<DownloadProgress>): string {
  if (progress.waiting) return 'waiting for another LM Lens window or CLI that is downloading this model';
  const parts = [`${progress.file ?? ''}${progress.fileCount && progress.fileCount > 1 ? ` (${progress.fileIndex}/${progress.fileCount})` : ''}`];
  const loaded = progress.loadedBytes ?? 0;
  parts.push(progress.totalBytes ? `${formatBytes(loaded)} / ${formatBytes(progress.totalBytes)}` : formatBytes(loaded));
  if (progress.bytesPerSecond) parts.push(`${formatBytes(progress.bytesPerSecond)}/s`);
  if (progress.secondsLeft !== undefined && progress.totalBytes && loaded < progress.totalBytes) parts.push(`${formatDuration(progress.secondsLeft)} left`);
  return parts.join(' · ');
}

/** Fraction of the current file done (0 when its size is unknown). */
export const fileFraction = (progress: Partial<DownloadProgress>): number => (progress.totalBytes ? Math.min(1, (progress.loadedBytes ?? 0) / progress.totalBytes) : 0);
