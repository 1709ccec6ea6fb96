import { describeDownload, fileFraction } from '../core/download/progressText';
import type { LoadProgress } from '../core/model';

const WIDTH = 24;

/** One line: a bar of the current file, then file, sizes, speed and time left. */
export function progressLine(progress: LoadProgress, columns: number): string {
  const filled = Math.round(fileFraction(progress) * WIDTH);
  const line = `[${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${describeDownload(progress)}`;
  return line.length > columns - 1 ? `${line.slice(0, Math.max(0, columns - 2))}…` : line;
}

/**
 * Draws download progress on stderr when it is a terminal, and nothing otherwise, so that
 * scripts reading stderr see only the one-line error contract.
 */
export function terminalProgress(stream: NodeJS.WriteStream = process.stderr): { onProgress?: (progress: LoadProgress) => void; finish: () => void } {
  if (!stream.isTTY) return { finish: () => undefined };
  let drawn = false;
  return {
    onProgress: (progress) => {
      if (progress.phase !== 'download') return;
      stream.write(`\r\x1b[2K${progressLine(progress, stream.columns || 80)}`);
      drawn = true;
    },
    finish: () => {
      if (drawn) stream.write('\r\x1b[2K');
      drawn = false;
    },
  };
}
