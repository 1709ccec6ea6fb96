/**
 * A window's way to the shared model server: connect to the one that runs, or start it
 * (detached, so it outlives the window that started it) and connect then. Handles the first
 * window racing another, a socket file left by a dead server, and a server of another build.
 */
import { spawn } from 'node:child_process';
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import type { Socket } from 'node:net';
import { ResponseError, SocketMessageReader, SocketMessageWriter, createMessageConnection } from 'vscode-jsonrpc/node';
import type { MessageConnection } from 'vscode-jsonrpc/node';
import { LmLensError } from '../core/errors';
import { buildIdOf, endpointFor, readToken } from '../shared/endpoint';
import type { Endpoint } from '../shared/endpoint';
import { EXIT_ALREADY_RUNNING, helloRequest, HELLO_REFUSED, PROTOCOL_VERSION, READY_LINE } from '../shared/handshake';
import type { HelloResult } from '../shared/handshake';

export interface LaunchOptions {
  /** Path of the bundled model process (dist/modelHost.js). */
  hostScript: string;
  /** Folder of the socket, token, lock and log files. */
  serverDir: string;
  idleShutdownMs?: number;
  clientName?: string;
  /** Binary that runs the server; in desktop VS Code this is Electron, made to behave as Node. */
  execPath?: string;
  execArgv?: string[];
  env?: NodeJS.ProcessEnv;
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
}

export interface ServerConnection {
  socket: Socket;
  connection: MessageConnection;
  hello: HelloResult;
  endpoint: Endpoint;
  /** Whether this call started the server (false: it was running, or another window's start won). */
  started: boolean;
}

const HELLO_TIMEOUT_MS = 10_000;
const START_TIMEOUT_MS = 30_000;
const ATTEMPTS = 4;

/** A socket to `address`, or undefined when nothing listens there (no file, or one left by a dead server). */
function tryConnect(address: string): Promise<Socket | undefined> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(address);
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') resolve(undefined);
      else reject(new LmLensError('model-process', `Cannot reach the model server at ${address}: ${error.message}`));
    });
  });
}

/**
 * Starts a server for `endpoint` and waits until it listens. Resolves false when it found
 * another server already listening (a window that started at the same moment won the race).
 */
function startServer(options: LaunchOptions, endpoint: Endpoint, suffix: string): Promise<boolean> {
  const args = [...(options.execArgv ?? ['--expose-gc']), options.hostScript, '--dir', endpoint.dir, `--suffix=${suffix}`];
  if (options.idleShutdownMs !== undefined) args.push('--idle-ms', String(options.idleShutdownMs));
  const logFd = openSync(endpoint.logFile, 'a', 0o600);
  const logStart = fstatSync(logFd).size;
  const child = spawn(options.execPath ?? process.execPath, args, {
    // Detached: the server belongs to no window, and closing the one that started it must not end it.
    detached: true,
    windowsHide: true,
    stdio: ['ignore', 'pipe', logFd],
    // Electron's binary behaves as plain Node only with ELECTRON_RUN_AS_NODE (as vscode-languageclient does).
    // MALLOC_ARENA_MAX: onnxruntime's worker threads otherwise each grow a glibc arena, and the
    // process keeps hundreds of MB it no longer uses.
    // MALLOC_MMAP_THRESHOLD_ pins large buffers (logits, KV copies) to mmap so that freeing them
    // returns the memory, instead of glibc raising the threshold and keeping them in its heap.
    env: { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '1048576', ...process.env, ...options.env, ELECTRON_RUN_AS_NODE: '1' },
  });
  closeSync(logFd);
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(() => reject(new LmLensError('model-process', `The model server did not start within ${START_TIMEOUT_MS / 1000} s; see ${endpoint.logFile}.`)));
    }, START_TIMEOUT_MS);
    let finished = false;
    const finish = (action: () => void): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      child.stdout?.destroy();
      child.unref();
      action();
    };
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      output += chunk;
      if (output.includes(READY_LINE)) finish(() => resolve(true));
    });
    child.once('error', (error) => finish(() => reject(new LmLensError('model-process', `The model server could not start: ${error.message}`))));
    child.once('exit', (code, signal) => {
      if (code === EXIT_ALREADY_RUNNING) finish(() => resolve(false));
      else {
        // The server's own last words (a runtime that cannot load names its fix there) say more than an exit code.
        const said = lastLogLine(endpoint.logFile, logStart);
        finish(() => reject(new LmLensError('model-process', said ?? `The model server exited at start (${signal ? `signal ${signal}` : `exit code ${code}`}); see ${endpoint.logFile}.`)));
      }
    });
  });
}

/** The last line this start wrote to the log (from byte `from` on) when it is the server's "could not start" line. */
function lastLogLine(logFile: string, from: number): string | undefined {
  try {
    const text = readFileSync(logFile).subarray(from).toString('utf8').slice(-4096);
    const line = text.trimEnd().split(/\r?\n/).pop() ?? '';
    return /^The model server could not start: /.test(line) ? line : undefined;
  } catch {
    return undefined;
  }
}

/** Says hello; undefined when the server went away meanwhile (it was shutting down after idling). */
async function sayHello(connection: MessageConnection, socket: Socket, endpoint: Endpoint, clientName: string | undefined): Promise<HelloResult | undefined> {
  const token = await readToken(endpoint.tokenFile);
  const closed = new Promise<undefined>((resolve) => socket.once('close', () => resolve(undefined)));
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new LmLensError('model-process', `The model server at ${endpoint.address} accepted the connection but did not answer.`)), HELLO_TIMEOUT_MS);
  });
  try {
    return await Promise.race([connection.sendRequest(helloRequest, { token, protocol: PROTOCOL_VERSION, build: endpoint.build, clientName }), closed, timeout]);
  } catch (error) {
    if (error instanceof ResponseError && error.code === HELLO_REFUSED) throw new LmLensError('model-process', error.message);
    if (error instanceof LmLensError) throw error;
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Connects to the server of this build, starting it when none runs. `prepare` registers the
 * notification handlers before the hello (the server reports its state right after it).
 */
export async function connectOrStart(options: LaunchOptions, prepare: (connection: MessageConnection) => void): Promise<ServerConnection> {
  let suffix = '';
  let started = false;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    // Hashed on every connect: after an update or rebuild, the window meets the new build's server.
    const endpoint = await endpointFor(options.serverDir, await buildIdOf(options.hostScript), suffix);
    const socket = await tryConnect(endpoint.address);
    if (!socket) {
      started = (await startServer(options, endpoint, suffix)) || started;
      continue;
    }
    socket.on('error', () => undefined);
    const connection = createMessageConnection(new SocketMessageReader(socket), new SocketMessageWriter(socket));
    prepare(connection);
    connection.listen();
    const hello = await sayHello(connection, socket, endpoint, options.clientName).catch((error: unknown) => {
      connection.dispose();
      socket.destroy();
      throw error;
    });
    if (hello && hello.protocol === PROTOCOL_VERSION && hello.build === endpoint.build) return { socket, connection, hello, endpoint, started };
    connection.dispose();
    socket.destroy();
    if (!hello) continue;
    options.log?.('warn', `The model server at ${endpoint.address} is build ${hello.build} (protocol ${hello.protocol}); this window needs ${endpoint.build}`);
    // Something else answers at our address: this window starts a server of its own beside it.
    if (suffix) throw new LmLensError('model-process', 'LM Lens was updated while this window was open: reload the window.');
    suffix = `-own-${process.pid}`;
  }
  throw new LmLensError('model-process', `Could not connect to the model server in ${options.serverDir}; see the log files there.`);
}
