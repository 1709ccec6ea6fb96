/**
 * Where the shared model server listens and how a client proves it may talk to it: a Unix
 * domain socket (Windows: a named pipe) named after the server build, and an access token in a
 * file only the user can read. No `vscode` import: the client, the server and tests share it.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, link, lstat, mkdir, open, readFile, unlink, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { PROTOCOL_VERSION } from './handshake';

export interface Endpoint {
  /** Socket path or pipe name the server listens on. */
  address: string;
  /** The server build this endpoint is for (a hash of the model-process bundle). */
  build: string;
  /** Folder of the token, lock and log files (the extension's global storage). */
  dir: string;
  tokenFile: string;
  lockFile: string;
  logFile: string;
}

/** sun_path holds 104 bytes on macOS, 108 on Linux; deep storage folders go past that. */
const MAX_SOCKET_PATH = 100;

const shortHash = (text: string | Buffer): string => createHash('sha256').update(text).digest('hex').slice(0, 16);

/** Identifies a server build by the content of its bundle, so a rebuilt or updated extension never meets an old server. */
export async function buildIdOf(script: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(script)) hash.update(chunk as Buffer);
  return `${PROTOCOL_VERSION}-${hash.digest('hex').slice(0, 16)}`;
}

/** Creates `dir` readable only by the user and refuses one that someone else owns or that is a link. */
async function privateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (process.platform === 'win32') return;
  const stat = await lstat(dir);
  if (!stat.isDirectory() || stat.uid !== process.getuid?.()) throw new Error(`${dir} is not a folder of this user; LM Lens will not put its model server there.`);
  if ((stat.mode & 0o077) !== 0) await chmod(dir, 0o700);
}

/** The endpoint of `build` under `dir`; `suffix` gives a window a private server when the shared one is unusable. */
export async function endpointFor(dir: string, build: string, suffix = ''): Promise<Endpoint> {
  await privateDir(dir);
  const name = `${build}${suffix}`;
  const files = { dir, build, tokenFile: path.join(dir, 'token'), lockFile: path.join(dir, `${name}.lock`), logFile: path.join(dir, `${name}.log`) };
  if (process.platform === 'win32') return { ...files, address: `\\\\.\\pipe\\lm-lens-${shortHash(dir)}-${name}` };
  let address = path.join(dir, `${name}.sock`);
  if (Buffer.byteLength(address) > MAX_SOCKET_PATH) {
    // A private folder of this user under the temp dir, keyed by the storage folder: still one socket per machine and profile.
    const short = path.join(os.tmpdir(), `lm-lens-${process.getuid?.() ?? 'user'}`);
    await privateDir(short);
    address = path.join(short, `${shortHash(dir)}-${name}.sock`);
  }
  return { ...files, address };
}

/**
 * The token clients send first. Created once per storage folder with mode 0600 and kept, so
 * servers and clients never disagree about it; a file that others could read is replaced.
 */
export async function readToken(tokenFile: string): Promise<string> {
  try {
    const stat = await lstat(tokenFile);
    if (stat.isFile() && (process.platform === 'win32' || (stat.uid === process.getuid?.() && (stat.mode & 0o077) === 0))) {
      const token = (await readFile(tokenFile, 'utf8')).trim();
      if (token.length >= 32) return token;
    }
    // Readable by others (or not ours, or empty): a token others may have read proves nothing.
    await unlink(tokenFile);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  return writeNewToken(tokenFile);
}

async function writeNewToken(tokenFile: string): Promise<string> {
  const token = randomBytes(32).toString('hex');
  const temporary = `${tokenFile}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(temporary, token, { mode: 0o600, flag: 'wx' });
  try {
    // A hard link is an exclusive creation of a complete file: when two processes create the
    // token at once, the first one's stays and the other reads it.
    await link(temporary, tokenFile).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  } finally {
    await unlink(temporary).catch(() => undefined);
  }
  return (await readFile(tokenFile, 'utf8')).trim();
}

export function sameToken(expected: string, offered: unknown): boolean {
  if (typeof offered !== 'string') return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(offered);
  return a.length === b.length && timingSafeEqual(a, b);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether a process with this pid exists (one of another user's counts too). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Serialises "is a server there? if not, take the address" between servers starting at once.
 * The lock file holds its owner's pid; a lock whose owner died (or that is older than
 * `staleMs`) is taken over. Returns the release function.
 */
export async function acquireLock(lockFile: string, timeoutMs = 10_000, staleMs = 10_000): Promise<() => Promise<void>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const handle = await open(lockFile, 'wx', 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      return () => unlink(lockFile).catch(() => undefined);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = await readFile(lockFile, 'utf8').catch(() => '');
    const stat = await lstat(lockFile).catch(() => undefined);
    const pid = Number(owner);
    const stale = stat !== undefined && (Date.now() - stat.mtimeMs > staleMs || (pid > 0 && !processAlive(pid)));
    if (stale) await unlink(lockFile).catch(() => undefined);
    else if (Date.now() > deadline) throw new Error(`Another LM Lens model server holds ${lockFile}.`);
    else await sleep(25 + Math.random() * 50);
  }
}
