import { promises as fs } from 'node:fs';

/**
 * Codes Windows gives a rename whose destination (or source) another process has open: an
 * antivirus scanning the file just written, the indexer, a second window reading the manifest.
 * They clear within moments, so the rename is tried again instead of failing the download.
 */
const TRANSIENT = new Set(['EPERM', 'EBUSY', 'EACCES']);

/** Waits between tries (ms): about 6 s in all, longer than a scan of a 500 MB model file takes. */
export const RENAME_RETRY_DELAYS_MS = [50, 100, 200, 400, 800, 1600, 3000];

export interface RenameOptions {
  /** Only Windows holds files this way; elsewhere these codes are lasting permission errors. Default: this process's. */
  platform?: NodeJS.Platform;
  /** Test seam: the rename to try (default fs.rename). */
  rename?: (from: string, to: string) => Promise<void>;
  delaysMs?: readonly number[];
}

/** Moves a complete file into place in one step, retrying while another process holds it. */
export async function renameIntoPlace(from: string, to: string, options: RenameOptions = {}): Promise<void> {
  const rename = options.rename ?? fs.rename;
  const delays = (options.platform ?? process.platform) === 'win32' ? (options.delaysMs ?? RENAME_RETRY_DELAYS_MS) : [];
  for (let attempt = 0; ; attempt++) {
    try {
      await rename(from, to);
      return;
    } catch (error) {
      const delay = delays[attempt];
      if (delay === undefined || !TRANSIENT.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
