// A stand-in for the Hugging Face hub: the same URL layout (`/{org}/{name}/resolve/{revision}/{file}`),
// the same headers (ETag as the git blob id, Content-Length, Accept-Ranges, x-linked-size /
// x-linked-etag and a 302 to a CDN path for LFS files, x-error-code on 404/401), Range → 206,
// plus fault modes that real networks produce. Tests point LM Lens's endpoint setting at it.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import * as path from 'node:path';

export type HubFaultKind = 'stall' | 'reset' | 'html' | 'slow' | 'status' | 'hold';

export interface HubFault {
  kind: HubFaultKind;
  /** Repository file path the fault applies to (e.g. `onnx/model.onnx`); all files when absent. */
  file?: string;
  /** `stall` / `reset` / `hold`: bytes of the body sent before the fault. */
  afterBytes?: number;
  /** How many matching answers the fault affects (default: every one). */
  times?: number;
  /** `slow`: body bytes per second. */
  bytesPerSecond?: number;
  /** `status`: the status to answer with. */
  status?: number;
}

export interface HubRequest {
  method: string;
  path: string;
  range?: string;
  status: number;
  /** Body bytes written. */
  bytes: number;
  /** The client's port: a proxy's upstream socket, or the downloader's own. */
  remotePort?: number;
}

interface RepoFile {
  data: Buffer;
  lfs: boolean;
  sha256: string;
  gitBlob: string;
}

/** Files that the real hub stores with git LFS (large or binary). */
const isLfsPath = (file: string, size: number): boolean => file.endsWith('.onnx') || file.includes('.onnx_data') || size > 10 * 1024 * 1024;

const CAPTIVE_PORTAL = '<!DOCTYPE html>\n<html><head><title>Sign in to the network</title></head><body><form action="/login">Please log in to continue.</form></body></html>\n';

function listFiles(folder: string, prefix = ''): string[] {
  const names: string[] = [];
  for (const entry of readdirSync(path.join(folder, prefix), { withFileTypes: true })) {
    const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) names.push(...listFiles(folder, relative));
    else if (entry.isFile()) names.push(relative);
  }
  return names;
}

function repoFile(data: Buffer, file: string): RepoFile {
  return {
    data,
    lfs: isLfsPath(file, data.length),
    sha256: createHash('sha256').update(data).digest('hex'),
    gitBlob: createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex'),
  };
}

function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'invalid' | undefined {
  if (!header) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return undefined;
  const [, from = '', to = ''] = match;
  let start: number;
  let end: number;
  if (from === '') {
    start = Math.max(0, size - Number(to));
    end = size - 1;
  } else {
    start = Number(from);
    end = to === '' ? size - 1 : Math.min(size - 1, Number(to));
  }
  return start > end || start >= size ? 'invalid' : { start, end };
}

export class HubSimulator {
  readonly requests: HubRequest[] = [];
  faults: HubFault[] = [];
  private readonly repos = new Map<string, Map<string, RepoFile>>();
  private readonly byHash = new Map<string, RepoFile>();
  private readonly sockets = new Set<Socket>();
  private held: Array<() => void> = [];
  private readonly server: http.Server | https.Server;

  private constructor(private readonly tls?: { key: string; cert: string }) {
    const handler = (request: http.IncomingMessage, response: http.ServerResponse): void => this.handle(request, response);
    this.server = tls ? https.createServer(tls, handler) : http.createServer(handler);
    this.server.on(tls ? 'secureConnection' : 'connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  /** Serves each `repos` entry (`ORG/NAME` → a model folder on disk) under its hub id. */
  static async start(repos: Record<string, string>, options: { tls?: { key: string; cert: string } } = {}): Promise<HubSimulator> {
    const hub = new HubSimulator(options.tls);
    for (const [id, folder] of Object.entries(repos)) hub.addRepo(id, folder);
    await new Promise<void>((resolve) => hub.server.listen(0, '127.0.0.1', resolve));
    return hub;
  }

  /** `http://127.0.0.1:PORT` (no trailing slash). */
  get url(): string {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  addRepo(id: string, folder: string, options: { exclude?: string[] } = {}): void {
    const files = new Map<string, RepoFile>();
    for (const file of listFiles(folder)) {
      if (options.exclude?.includes(file) || !statSync(path.join(folder, file)).isFile()) continue;
      const entry = repoFile(readFileSync(path.join(folder, file)), file);
      files.set(file, entry);
      this.byHash.set(entry.sha256, entry);
    }
    this.repos.set(id, files);
  }

  /** Replaces one file's content (a new upload to the repository). */
  setFile(id: string, file: string, data: Buffer): void {
    const entry = repoFile(data, file);
    this.repos.get(id)?.set(file, entry);
    this.byHash.set(entry.sha256, entry);
  }

  file(id: string, file: string): RepoFile | undefined {
    return this.repos.get(id)?.get(file);
  }

  /** Requests whose path names `file` (the resolve URL and, for LFS files, the CDN URL). */
  requestsFor(file: string): HubRequest[] {
    const entry = [...this.repos.values()].map((files) => files.get(file)).find(Boolean);
    return this.requests.filter((request) => request.path.includes(`/resolve/`) ? request.path.endsWith(`/${file}`) : entry !== undefined && request.path.includes(entry.sha256));
  }

  /** Lets answers paused by a `hold` fault send the rest of their body. */
  releaseHeld(): void {
    for (const release of this.held.splice(0)) release();
  }

  async close(): Promise<void> {
    this.releaseHeld();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private takeFault(file: string, kinds: HubFaultKind[]): HubFault | undefined {
    const fault = this.faults.find(
      (candidate) => kinds.includes(candidate.kind) && (candidate.file === undefined || candidate.file === file) && (candidate.times === undefined || candidate.times > 0),
    );
    if (fault?.times !== undefined) fault.times--;
    return fault;
  }

  private handle(request: http.IncomingMessage, response: http.ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://hub');
    const log: HubRequest = { method: request.method ?? 'GET', path: url.pathname, range: request.headers.range, status: 0, bytes: 0, remotePort: request.socket.remotePort };
    this.requests.push(log);
    const answer = (status: number, headers: Record<string, string>, body = ''): void => {
      log.status = status;
      log.bytes = Buffer.byteLength(body);
      response.writeHead(status, headers).end(request.method === 'HEAD' ? undefined : body);
    };
    const cdn = /^\/lfs-cdn\/([0-9a-f]{64})$/.exec(url.pathname);
    if (cdn) {
      const entry = this.byHash.get(cdn[1] as string);
      if (!entry) return answer(403, { 'content-type': 'application/xml' }, '<Error><Code>AccessDenied</Code></Error>');
      return this.serveBody(request, response, log, entry, url.searchParams.get('file') ?? '', { etag: `"${entry.sha256}"`, 'content-type': 'binary/octet-stream' });
    }
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (!resolve) return answer(404, { 'content-type': 'text/plain' }, 'Not Found');
    const [, id = '', , file = ''] = resolve;
    const files = this.repos.get(id);
    if (!files) {
      return answer(401, { 'x-error-code': 'RepoNotFound', 'x-error-message': 'Repository not found', 'content-type': 'application/json' }, '{"error":"Repository not found"}');
    }
    const entry = files.get(decodeURIComponent(file));
    const fault = this.takeFault(decodeURIComponent(file), ['html', 'status']);
    if (fault?.kind === 'html') return answer(200, { 'content-type': 'text/html; charset=utf-8' }, CAPTIVE_PORTAL);
    if (fault?.kind === 'status') return answer(fault.status ?? 500, { 'content-type': 'text/plain' }, 'Internal Error');
    if (!entry) {
      return answer(404, { 'x-error-code': 'EntryNotFound', 'x-error-message': 'Entry not found', 'content-type': 'application/json' }, '{"error":"Entry not found"}');
    }
    const common = { 'x-repo-commit': '0123456789abcdef0123456789abcdef01234567', 'accept-ranges': 'bytes' };
    if (entry.lfs) {
      // The hub answers an LFS file with a redirect to its CDN; the file's size and sha256 ride on the redirect.
      return answer(302, {
        ...common,
        location: `/lfs-cdn/${entry.sha256}?file=${encodeURIComponent(file)}&X-Amz-Signature=simulated`,
        etag: `"${entry.sha256}"`,
        'x-linked-etag': `"${entry.sha256}"`,
        'x-linked-size': String(entry.data.length),
        'content-type': 'text/plain; charset=utf-8',
      });
    }
    this.serveBody(request, response, log, entry, decodeURIComponent(file), { ...common, etag: `"${entry.gitBlob}"`, 'content-type': 'text/plain; charset=utf-8' });
  }

  private serveBody(request: http.IncomingMessage, response: http.ServerResponse, log: HubRequest, entry: RepoFile, file: string, headers: Record<string, string>): void {
    const size = entry.data.length;
    const range = parseRange(request.headers.range, size);
    if (range === 'invalid') {
      log.status = 416;
      response.writeHead(416, { 'content-range': `bytes */${size}` }).end();
      return;
    }
    const start = range?.start ?? 0;
    const end = range?.end ?? size - 1;
    const status = range ? 206 : 200;
    log.status = status;
    response.writeHead(status, {
      ...headers,
      'accept-ranges': 'bytes',
      'content-length': String(end - start + 1),
      ...(range ? { 'content-range': `bytes ${start}-${end}/${size}` } : {}),
    });
    if (request.method === 'HEAD') {
      response.end();
      return;
    }
    const body = entry.data.subarray(start, end + 1);
    const fault = this.takeFault(file, ['stall', 'reset', 'slow', 'hold']);
    if (fault?.kind === 'hold') {
      // Part of the body, then nothing until the test says so: a download caught in the middle.
      const cut = Math.min(body.length, fault.afterBytes ?? 0);
      log.bytes = cut;
      response.write(body.subarray(0, cut));
      this.held.push(() => {
        log.bytes = body.length;
        response.end(body.subarray(cut));
      });
      return;
    }
    if (fault?.kind === 'stall' || fault?.kind === 'reset') {
      const cut = Math.min(body.length, fault.afterBytes ?? Math.floor(body.length / 2));
      log.bytes = cut;
      response.write(body.subarray(0, cut), () => {
        // A reset tears the connection down mid-body; a stall keeps it open and silent.
        if (fault.kind === 'reset') setTimeout(() => request.socket.resetAndDestroy(), 20);
      });
      return;
    }
    if (fault?.kind === 'slow') {
      const perTick = Math.max(1, Math.floor((fault.bytesPerSecond ?? 65536) / 20));
      let offset = 0;
      const tick = (): void => {
        if (response.destroyed) return;
        const chunk = body.subarray(offset, offset + perTick);
        offset += chunk.length;
        log.bytes = offset;
        if (offset >= body.length) response.end(chunk);
        else response.write(chunk, () => setTimeout(tick, 50));
      };
      tick();
      return;
    }
    log.bytes = body.length;
    response.end(body);
  }
}
