import type { DownloadProgress } from './hubModel';

const MB = 1_000_000;

/** Megabytes as people read a download (decimal, like browsers and the hub's file sizes). */
export function formatMegabytes(bytes: number): string {
  return `${(bytes / MB).toFixed(bytes < 10 * MB ? 1 : 0)} MB`;
}

export function formatDuration(seconds: number): string {
  const whole = Math.max(0, Math.round(seconds));
  if (whole < 60) return `${whole} s`;
  const minutes = Math.floor(whole / 60);
  return minutes < 60 ? `${minutes} min ${String(whole % 60).padStart(2, '0')} s` : `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

/** `onnx/model.onnx (4/5) · 225 / 498 MB · 12.3 MB/s · 22 s left` — the notification's and the CLI's line. */
export function describeDownload(progress: Partial<DownloadProgress>): string {
  if (progress.waiting) return 'waiting for another LM Lens window or CLI that is downloading this model';
  const parts = [`${progress.file ?? ''}${progress.fileCount && progress.fileCount > 1 ? ` (${progress.fileIndex}/${progress.fileCount})` : ''}`];
  const loaded = progress.loadedBytes ?? 0;
  parts.push(progress.totalBytes ? `${formatMegabytes(loaded)} / ${formatMegabytes(progress.totalBytes)}` : formatMegabytes(loaded));
  if (progress.bytesPerSecond) parts.push(`${formatMegabytes(progress.bytesPerSecond)}/s`);
  if (progress.secondsLeft !== undefined && progress.totalBytes && loaded < progress.totalBytes) parts.push(`${formatDuration(progress.secondsLeft)} left`);
  return parts.join(' · ');
}

/** Fraction of the current file done (0 when its size is unknown). */
export const fileFraction = (progress: Partial<DownloadProgress>): number => (progress.totalBytes ? Math.min(1, (progress.loadedBytes ?? 0) / progress.totalBytes) : 0);
