import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Dispatcher } from 'undici';
import { CancelledError, LmLensError } from '../errors';
import { renameIntoPlace } from './atomicRename';

/** What the server said about a file: the hub puts size and sha256 of LFS files on the redirect. */
export interface RemoteFile {
  size?: number;
  sha256?: string;
  etag?: string;
}

export interface FileRequest {
  url: string;
  /** Repository path, for messages (`onnx/model.onnx`). */
  file: string;
  /** Final path in the cache; written only when complete and checked. */
  dest: string;
  dispatcher?: Dispatcher;
  /** Sent to the endpoint's own host only, never to the CDN it redirects to. */
  authorization?: string;
  signal?: AbortSignal;
  /** No byte for this long (headers or body) fails with `download-stalled`. */
  stallMs: number;
  onBytes?: (loaded: number, total: number | undefined) => void;
}

export type FileOutcome = { status: 'downloaded'; size: number; remote: RemoteFile } | { status: 'missing'; httpStatus: number; errorCode?: string };

/** Partial bytes live beside the file under a fixed name, so a later run (any process) can resume them. */
export const partialPath = (dest: string): string => `${dest}.lmlens-partial`;
const partialMetaPath = (dest: string): string => `${dest}.lmlens-partial.json`;

const unquote = (etag: string | null): string | undefined => etag?.replace(/^W\//, '').replace(/^"|"$/g, '') || undefined;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** The server answered a page for people, not a file: a proxy login, a captive portal, an error page. */
function looksLikeHtml(contentType: string | null, head: Uint8Array): boolean {
  if (contentType && /text\/html|application\/xhtml/i.test(contentType)) return true;
  const text = Buffer.from(head.subarray(0, 512)).toString('utf8').trimStart().toLowerCase();
  return text.startsWith('<!doctype html') || text.startsWith('<html') || text.startsWith('<head');
}

export function htmlError(file: string, host: string): LmLensError {
  return new LmLensError('hub-html', `The server answered a web page instead of ${file} (${host}) — a proxy login or captive portal? Log in in a browser, or set http.proxy / lmLens.hubEndpoint, then retry.`);
}

async function hashPrefix(file: string, bytes: number): Promise<Hash> {
  const hash = createHash('sha256');
  if (bytes === 0) return hash;
  for await (const chunk of createReadStream(file, { start: 0, end: bytes - 1 })) hash.update(chunk as Buffer);
  return hash;
}

/**
 * One deadline that restarts on every sign of life; when it fires, the request is aborted with a
 * `download-stalled` error rather than hanging forever on a silent connection.
 */
class StallWatch {
  readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  stalled = false;

  constructor(
    private readonly ms: number,
    outer: AbortSignal | undefined,
  ) {
    if (outer?.aborted) this.controller.abort();
    outer?.addEventListener('abort', () => this.controller.abort(), { once: true });
    this.poke();
  }

  poke(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.stalled = true;
      this.controller.abort();
    }, this.ms);
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}

/**
 * Follows redirects by hand: the hub's first answer (the 302 to its CDN) carries the LFS file's
 * size and sha256, which an automatic redirect would hide.
 */
async function openResponse(request: FileRequest, range: number, watch: StallWatch): Promise<{ response: Response; remote: RemoteFile }> {
  let url = new URL(request.url);
  const origin = url.origin;
  const remote: RemoteFile = {};
  for (let hop = 0; hop <= 10; hop++) {
    const headers: Record<string, string> = { 'user-agent': 'lm-lens' };
    if (range > 0) headers.range = `bytes=${range}-`;
    if (request.authorization && url.origin === origin) headers.authorization = request.authorization;
    const init = { headers, redirect: 'manual', signal: watch.controller.signal, dispatcher: request.dispatcher } as RequestInit;
    const response = await fetch(url, init);
    watch.poke();
    const linkedSize = Number(response.headers.get('x-linked-size'));
    if (linkedSize > 0 && remote.size === undefined) remote.size = linkedSize;
    const linked = unquote(response.headers.get('x-linked-etag'));
    if (linked && /^[0-9a-f]{64}$/.test(linked)) remote.sha256 ??= linked;
    remote.etag ??= linked ?? unquote(response.headers.get('etag'));
    const location = response.headers.get('location');
    if (!REDIRECTS.has(response.status) || !location) return { response, remote };
    await response.body?.cancel();
    url = new URL(location, url);
  }
  throw new LmLensError('download-interrupted', `Too many redirects while downloading ${request.file} from ${new URL(request.url).host}. Check lmLens.hubEndpoint.`);
}

/** Writes `data` fully; a full disk surfaces here as ENOSPC. */
async function writeAll(handle: fs.FileHandle, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) offset += (await handle.write(data, offset)).bytesWritten;
}

/**
 * Downloads one file into `dest` through a partial file: resumes earlier partial bytes with
 * Range when the server still has the same version, checks size and sha256, and renames into
 * place only when everything checks out. Keeps the partial file on a broken connection (to
 * resume), deletes it on cancellation, a full disk, or a wrong answer.
 */
export async function downloadFile(request: FileRequest): Promise<FileOutcome> {
  const partial = partialPath(request.dest);
  const metaPath = partialMetaPath(request.dest);
  await fs.mkdir(path.dirname(request.dest), { recursive: true });
  const previous = await fs.readFile(metaPath, 'utf8').then((text) => JSON.parse(text) as { url: string; etag?: string }, () => undefined);
  const existing = previous?.url === request.url ? await fs.stat(partial).then((stat) => (stat.isFile() ? stat.size : 0), () => 0) : 0;
  const discard = async (): Promise<void> => {
    await fs.rm(partial, { force: true });
    await fs.rm(metaPath, { force: true });
  };

  const watch = new StallWatch(request.stallMs, request.signal);
  let handle: fs.FileHandle | undefined;
  // Bytes already on disk stay for the next try unless the answer proves them useless.
  let keepPartial = true;
  try {
    const { response, remote } = await openResponse(request, existing, watch);
    if (response.status === 404 || response.status === 401 || response.status === 403) {
      await response.body?.cancel();
      return { status: 'missing', httpStatus: response.status, errorCode: response.headers.get('x-error-code') ?? undefined };
    }
    if (response.status === 416) {
      await response.body?.cancel();
      await discard();
      throw new LmLensError('download-interrupted', `The server refused to resume ${request.file}. Retry: it starts the file again.`);
    }
    if (response.status !== 200 && response.status !== 206) {
      await response.body?.cancel();
      throw new LmLensError(response.status >= 500 ? 'download-interrupted' : 'hub-unreachable', `${new URL(request.url).host} answered ${response.status} for ${request.file}. Retry later, or check lmLens.hubEndpoint.`);
    }
    const contentRange = /^bytes (\d+)-\d+\/(\d+)$/.exec(response.headers.get('content-range') ?? '');
    // Resume only onto bytes of the same version of the file; anything else starts again from 0.
    const resumes = response.status === 206 && existing > 0 && Number(contentRange?.[1]) === existing && previous?.etag !== undefined && previous.etag === remote.etag;
    if (response.status === 206 && !resumes) {
      await response.body?.cancel();
      await discard();
      return await downloadFile(request);
    }
    const start = resumes ? existing : 0;
    const total = remote.size ?? (contentRange ? Number(contentRange[2]) : Number(response.headers.get('content-length')) + start || undefined);
    const hash = resumes ? await hashPrefix(partial, start) : createHash('sha256');
    handle = await fs.open(partial, resumes ? 'a' : 'w');
    await fs.writeFile(metaPath, JSON.stringify({ url: request.url, etag: remote.etag }));
    watch.poke();

    let loaded = start;
    let first = !resumes;
    request.onBytes?.(loaded, total);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      watch.poke();
      if (first && looksLikeHtml(response.headers.get('content-type'), value)) {
        await reader.cancel();
        keepPartial = false;
        throw htmlError(request.file, new URL(response.url || request.url).host);
      }
      first = false;
      await writeAll(handle, value);
      hash.update(value);
      loaded += value.length;
      request.onBytes?.(loaded, total);
    }
    await handle.sync();
    await handle.close();
    handle = undefined;
    if (total !== undefined && loaded !== total) {
      keepPartial = loaded < total;
      throw new LmLensError('download-interrupted', `The download of ${request.file} ended at ${loaded} of ${total} bytes. Retry: it resumes where it stopped.`);
    }
    const sha256 = hash.digest('hex');
    if (remote.sha256 && sha256 !== remote.sha256) {
      keepPartial = false;
      throw new LmLensError('download-corrupt', `${request.file} arrived damaged (sha256 ${sha256.slice(0, 12)}… instead of ${remote.sha256.slice(0, 12)}…). Retry; if it repeats, a proxy or mirror is altering the file.`);
    }
    await renameIntoPlace(partial, request.dest);
    await fs.rm(metaPath, { force: true });
    return { status: 'downloaded', size: loaded, remote: { ...remote, sha256 } };
  } catch (error) {
    if (request.signal?.aborted) {
      keepPartial = false;
      throw new CancelledError();
    }
    if ((error as NodeJS.ErrnoException).code === 'ENOSPC' || (error as NodeJS.ErrnoException).code === 'EDQUOT') {
      keepPartial = false;
      throw new LmLensError('disk-full', `The disk is full: ${request.file} does not fit in ${path.dirname(request.dest)}. Free space, or set lmLens.cacheDir (--cache-dir) to another disk.`);
    }
    if (watch.stalled) {
      throw new LmLensError('download-stalled', `The download of ${request.file} stalled (no data for ${(request.stallMs / 1000).toFixed(request.stallMs < 10_000 ? 1 : 0)} s). Check the connection or proxy and retry: it resumes where it stopped.`);
    }
    throw error;
  } finally {
    watch.stop();
    // An unread body would hold its connection (and the agent's close) forever.
    watch.controller.abort();
    await handle?.close().catch(() => undefined);
    if (!keepPartial) await discard();
  }
}
