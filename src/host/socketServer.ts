/**
 * The transport and lifecycle of the shared model server: one listening socket per machine
 * (per profile and build), an authenticated JSON-RPC connection per window, and shutdown a
 * while after the last window left. What the connections say is registered by `serve`.
 */
import { createConnection, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { unlink } from 'node:fs/promises';
import { ResponseError, SocketMessageReader, SocketMessageWriter, createMessageConnection } from 'vscode-jsonrpc/node';
import type { MessageConnection, NotificationType } from 'vscode-jsonrpc/node';
import { acquireLock, readToken, sameToken } from '../shared/endpoint';
import type { Endpoint } from '../shared/endpoint';
import { exitingNotification, helloRequest, HELLO_REFUSED, PROTOCOL_VERSION, shutdownNotification } from '../shared/handshake';

/** A connected, authenticated window. */
export interface Session {
  readonly id: number;
  readonly name: string;
  readonly connection: MessageConnection;
  /** Runs when the window disconnects: per-window state (requests, documents) is freed there. */
  onClose(dispose: () => void): void;
}

export interface SocketServerOptions {
  endpoint: Endpoint;
  /** Exit this long after the last window disconnected (and after start, until the first one connects). */
  idleMs: number;
  serve(session: Session): void;
  log(level: 'info' | 'warn' | 'error', message: string): void;
  /** Called once the server stopped accepting and said goodbye; the process exits there. */
  onShutdown(reason: string): void;
}

/** A client that has not said hello within this time is dropped. */
const HELLO_TIMEOUT_MS = 10_000;

function listen(server: Server, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen(address, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** Whether something accepts connections at `address` (a live server), as opposed to a socket file left by a dead one. */
function answers(address: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(address);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export class ModelSocketServer {
  private readonly sessions = new Set<Session>();
  private readonly sockets = new Set<Socket>();
  private nextId = 1;
  private idleTimer: NodeJS.Timeout | undefined;
  private stopping = false;

  private constructor(
    private readonly server: Server,
    private readonly options: SocketServerOptions,
  ) {
    server.on('connection', (socket) => this.accept(socket));
    this.armIdle();
  }

  /**
   * Listens on the endpoint, or answers undefined when a live server already does. Two servers
   * starting at once take turns under a lock; a socket file that nothing answers is removed.
   */
  static async start(options: SocketServerOptions): Promise<ModelSocketServer | undefined> {
    const { address, lockFile, tokenFile } = options.endpoint;
    // The token exists before anyone can connect, so the first client never reads a missing file.
    await readToken(tokenFile);
    const release = await acquireLock(lockFile);
    try {
      for (let attempt = 0; ; attempt++) {
        // Windows refuses a second server on a pipe name (FILE_FLAG_FIRST_PIPE_INSTANCE), but not
        // every implementation does (Wine 8 lets both listen and shares the clients between them):
        // under the lock, a server that answers already means this one is not needed.
        if (process.platform === 'win32' && (await answers(address))) return undefined;
        const server = createServer();
        try {
          await listen(server, address);
          return new ModelSocketServer(server, options);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt > 0) throw error;
          if (process.platform === 'win32' || (await answers(address))) return undefined;
          options.log('warn', `Removing ${address}: left behind by a model server that is gone`);
          await unlink(address).catch(() => undefined);
        }
      }
    } finally {
      await release();
    }
  }

  get clientCount(): number {
    return this.sessions.size;
  }

  /** Resolves once the notification is written to every window. */
  broadcast<P>(type: NotificationType<P>, params: P): Promise<void> {
    return Promise.all([...this.sessions].map((session) => session.connection.sendNotification(type, params).catch(() => undefined))).then(() => undefined);
  }

  /** Says goodbye to every window, stops listening and hands over to `onShutdown`. */
  shutdown(reason: string): void {
    if (this.stopping) return;
    this.stopping = true;
    clearTimeout(this.idleTimer);
    this.options.log('info', `Model server stopping: ${reason}`);
    this.server.close();
    void this.broadcast(exitingNotification, { reason }).then(() => this.closeAll(reason));
  }

  private closeAll(reason: string): void {
    // Ending lets the goodbye reach the clients; a client that does not close is not waited for long.
    for (const socket of this.sockets) socket.end();
    const done = setTimeout(() => this.options.onShutdown(reason), this.sockets.size === 0 ? 0 : 500);
    const check = (): void => {
      if (this.sockets.size === 0) {
        clearTimeout(done);
        this.options.onShutdown(reason);
      }
    };
    for (const socket of this.sockets) socket.once('close', check);
  }

  private armIdle(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.sessions.size === 0) this.shutdown(`no window used it for ${Math.round(this.options.idleMs / 1000)} s`);
    }, this.options.idleMs);
  }

  private accept(socket: Socket): void {
    if (this.stopping) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    const connection = createMessageConnection(new SocketMessageReader(socket), new SocketMessageWriter(socket));
    const closers: Array<() => void> = [];
    let session: Session | undefined;
    const helloTimer = setTimeout(() => socket.destroy(), HELLO_TIMEOUT_MS);
    connection.onRequest(helloRequest, async (params) => {
      if (session) return new ResponseError(HELLO_REFUSED, 'This connection already said hello.');
      const token = await readToken(this.options.endpoint.tokenFile);
      if (!sameToken(token, params?.token)) {
        this.options.log('warn', 'Refused a connection with a wrong access token');
        // Time for the refusal to be written, then the connection goes.
        setTimeout(() => socket.destroy(), 50);
        return new ResponseError(HELLO_REFUSED, 'The model server refused the connection: wrong access token.');
      }
      clearTimeout(helloTimer);
      const result = { pid: process.pid, protocol: PROTOCOL_VERSION, build: this.options.endpoint.build, session: this.nextId++ };
      // A client of another protocol learns the versions and leaves; it gets no handlers.
      if (params.protocol !== PROTOCOL_VERSION || params.build !== this.options.endpoint.build) return result;
      session = { id: result.session, name: params.clientName ?? `client ${result.session}`, connection, onClose: (dispose) => closers.push(dispose) };
      this.sessions.add(session);
      clearTimeout(this.idleTimer);
      connection.onNotification(shutdownNotification, ({ reason }) => this.shutdown(`${session?.name ?? 'a window'} asked: ${reason}`));
      this.options.serve(session);
      this.options.log('info', `${session.name} connected (${this.sessions.size} connected)`);
      return result;
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(helloTimer);
      this.sockets.delete(socket);
      connection.dispose();
      if (!session) return;
      this.sessions.delete(session);
      for (const close of closers.splice(0)) close();
      this.options.log('info', `${session.name} disconnected (${this.sessions.size} connected)`);
      if (this.sessions.size === 0 && !this.stopping) this.armIdle();
    });
    connection.listen();
  }
}
