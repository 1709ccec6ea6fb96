import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import { CancelledError } from '../errors';

/** A lock whose owner stopped refreshing it this long ago is taken over (its process died or hangs). */
const STALE_MS = 30_000;
const REFRESH_MS = 5_000;

interface Owner {
  pid: number;
  host: string;
}

function alive(owner: Owner): boolean {
  if (owner.host !== os.hostname()) return true;
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function isStale(lockPath: string): Promise<boolean> {
  try {
    const [text, stat] = await Promise.all([fs.readFile(lockPath, 'utf8'), fs.stat(lockPath)]);
    const owner = JSON.parse(text) as Owner;
    return !alive(owner) || Date.now() - stat.mtimeMs > STALE_MS;
  } catch (error) {
    // Half-written by an owner that is creating it right now: not stale; gone: try again.
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? false : Date.now() - (await fs.stat(lockPath).catch(() => ({ mtimeMs: 0 }))).mtimeMs > STALE_MS;
  }
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(timer), reject(new CancelledError())), { once: true });
  });

/**
 * Cross-process mutual exclusion through a file created with O_EXCL, so two VS Code windows (or a
 * window and the CLI) never write the same model at once. The owner refreshes the file's mtime;
 * a lock left by a dead process, or not refreshed for 30 s, is taken over.
 * `onWait` is called once if another process holds the lock.
 */
export async function withLock<T>(lockPath: string, run: () => Promise<T>, options: { signal?: AbortSignal; onWait?: () => void } = {}): Promise<T> {
  let waited = false;
  for (;;) {
    if (options.signal?.aborted) throw new CancelledError();
    try {
      const handle = await fs.open(lockPath, 'wx');
      await handle.writeFile(JSON.stringify({ pid: process.pid, host: os.hostname() } satisfies Owner));
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (await isStale(lockPath)) {
      // Renaming first makes the takeover atomic: of two processes that both saw it stale, one wins.
      const moved = `${lockPath}.stale.${process.pid}`;
      if (await fs.rename(lockPath, moved).then(() => true, () => false)) await fs.rm(moved, { force: true });
      continue;
    }
    if (!waited) options.onWait?.();
    waited = true;
    await sleep(250, options.signal);
  }
  const refresh = setInterval(() => {
    const now = new Date();
    void fs.utimes(lockPath, now, now).catch(() => undefined);
  }, REFRESH_MS);
  refresh.unref();
  try {
    return await run();
  } finally {
    clearInterval(refresh);
    await fs.rm(lockPath, { force: true });
  }
}
