import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { withLock } from './cacheLock';

/**
 * LM Lens's cache folder when none is given (the CLI without --cache-dir, tests): hub downloads
 * and rewritten decode graphs. `LM_LENS_CACHE_DIR` overrides it; the extension passes its own
 * (global storage, or `lmLens.cacheDir`) to the model process.
 */
export function defaultCacheDir(): string {
  return process.env.LM_LENS_CACHE_DIR || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'lm-lens');
}

/** transformers.js's cache layout (`<cacheDir>/<org>/<name>/<file>`), so earlier caches keep working. */
export function modelCacheFolder(cacheDir: string, model: string): string {
  return path.join(cacheDir, ...model.split('/'));
}

/** Deletes a hub model's cached files (under its lock, so no other process is writing them). */
export async function removeCachedModel(cacheDir: string, model: string): Promise<void> {
  const folder = modelCacheFolder(cacheDir, model);
  await fs.mkdir(folder, { recursive: true });
  await withLock(path.join(folder, '.lmlens.lock'), async () => {
    for (const entry of await fs.readdir(folder)) if (entry !== '.lmlens.lock') await fs.rm(path.join(folder, entry), { recursive: true, force: true });
  });
}
