import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { withLock } from './cacheLock';

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
