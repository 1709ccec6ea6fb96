import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CancellationTokenSource, Emitter, ResponseError } from 'vscode-jsonrpc/node';
import type { Event, MessageConnection, NotificationHandler, NotificationType, RequestType } from 'vscode-jsonrpc/node';
import type { Socket } from 'node:net';
import { CancelledError, LmLensError } from '../core/errors';
import type { LmLensErrorCode } from '../core/errors';
import { exitingNotification, shutdownNotification } from '../shared/handshake';
import { connectOrStart } from './launcher';
import type { LaunchOptions } from './launcher';
import { configureRequest, logNotification, progressNotification, stateNotification } from '../shared/hostProtocol';
import type { ErrorData, ModelSettings, ModelState } from '../shared/hostProtocol';

export type LogLevel = 'info' | 'warn' | 'error';

export interface ModelClientOptions extends Omit<LaunchOptions, 'serverDir' | 'log'> {
  /**
   * Folder of the shared server's socket, token and logs (the extension's global storage):
   * every client given the same folder shares one model process. Default: a new private folder.
   */
  serverDir?: string;
  /** A request running longer than this is treated as a hung process: cancelled, process restarted. */
  requestTimeoutMs?: number;
  maxCrashes?: number;
  crashWindowMs?: number;
  log?: (level: LogLevel, message: string) => void;
}

interface Running {
  socket: Socket;
  connection: MessageConnection;
  pid: number;
  pending: Set<(error: Error) => void>;
  /** Re-arms a pending request's hang timer: the server made progress (for this window or another). */
  rearm: Set<() => void>;
  configured?: Promise<void>;
  /** Set when the server leaves on purpose (a restart): its disconnect is no crash. */
  leaving: Leaving;
}

interface Leaving {
  value: boolean;
  /** Resolves when the server said goodbye. */
  heard: Promise<void>;
  hear(): void;
}

function leavingFlag(): Leaving {
  let hear!: () => void;
  const heard = new Promise<void>((resolve) => (hear = resolve));
  const flag: Leaving = { value: false, heard, hear: () => ((flag.value = true), hear()) };
  return flag;
}

/** A wait that keeps no process alive on its own. */
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());

/**
 * How long "Restart model" waits for the server to say goodbye, and then to be gone, before it
 * kills it. Generous: a forward pass runs synchronously, so a busy server reads the request late.
 */
const RESTART_GRACE_MS = 5000;

/**
 * A window's side of the shared model server: connects to it (starting it when none runs),
 * reconnects when it dies (up to `maxCrashes` in `crashWindowMs`, then stays down until
 * `restart()`), and turns AbortSignals into JSON-RPC cancellations. No `vscode` import, so it
 * is unit-tested in plain Node.
 */
export class ModelClient {
  private readonly stateEmitter = new Emitter<ModelState>();
  private readonly downEmitter = new Emitter<string>();
  private readonly connectedEmitter = new Emitter<number>();
  readonly onState: Event<ModelState> = this.stateEmitter.event;
  /** Fired when the crash limit is reached and the process stays down. */
  readonly onDown: Event<string> = this.downEmitter.event;
  /** Fired on every new connection (first start, reconnect after a crash or restart): the server knows no documents yet. */
  readonly onConnected: Event<number> = this.connectedEmitter.event;
  private readonly notificationHandlers: Array<(connection: MessageConnection) => void> = [];
  private running: Running | undefined;
  private connecting: Promise<Running> | undefined;
  private settings: ModelSettings | undefined;
  private crashes: number[] = [];
  private down: string | undefined;
  private disposed = false;
  private starts = 0;
  private connects = 0;
  private lastState: ModelState['state'] = 'idle';
  private readonly serverDir: string;
  /** No folder given: a server of this client alone, stopped with it. */
  private readonly privateDir: boolean;

  constructor(private readonly options: ModelClientOptions) {
    this.privateDir = options.serverDir === undefined;
    this.serverDir = options.serverDir ?? mkdtempSync(path.join(os.tmpdir(), 'lm-lens-server-'));
  }

  get isDown(): boolean {
    return this.down !== undefined;
  }

  /** How many servers this client started (a start that lost a race to another window's does not count). */
  get startCount(): number {
    return this.starts;
  }

  /** How many times this client connected to a server (its own or another window's). */
  get connectCount(): number {
    return this.connects;
  }

  /** The model server's pid while connected. */
  get pid(): number | undefined {
    return this.running?.pid;
  }

  async configure(settings: ModelSettings): Promise<void> {
    this.settings = settings;
    if (this.running) {
      const running = this.running;
      running.configured = this.send(running, configureRequest, settings);
      await running.configured;
    }
  }

  /** Number of the current connection (0 before the first): a document opened on an older one must be opened again. */
  get connection(): number | undefined {
    return this.running ? this.connects : undefined;
  }

  /** Connects (starting the server if none runs) without sending a request. */
  async connect(): Promise<void> {
    if (this.disposed || this.down) return;
    await this.ensureConnected();
  }

  /** Sends a notification on the current connection; without one it is dropped (onConnected re-sends what matters). */
  notify<P>(type: NotificationType<P>, params: P): void {
    const running = this.running;
    if (!running) return;
    running.connection.sendNotification(type, params).catch(() => undefined);
  }

  /** Handles a server notification on every connection, present and future, until the returned disposable is disposed. */
  onNotification<P>(type: NotificationType<P>, handler: NotificationHandler<P>): { dispose(): void } {
    let current: { dispose(): void } | undefined;
    const register = (connection: MessageConnection): void => {
      current = connection.onNotification(type, handler);
    };
    this.notificationHandlers.push(register);
    if (this.running) register(this.running.connection);
    return {
      dispose: (): void => {
        const at = this.notificationHandlers.indexOf(register);
        if (at >= 0) this.notificationHandlers.splice(at, 1);
        current?.dispose();
        current = undefined;
      },
    };
  }

  /** Sends a request; rejects with `LmLensError` (code `cancelled` when the signal fired). */
  async request<P, R>(type: RequestType<P, R, ErrorData>, params: P, signal?: AbortSignal, timeoutMs?: number): Promise<R> {
    if (signal?.aborted) throw new CancelledError();
    if (this.disposed) throw new LmLensError('model-process', 'LM Lens is shutting down.');
    if (this.down) throw new LmLensError('model-process', this.down);
    const running = await this.ensureConnected();
    if (signal?.aborted) throw new CancelledError();
    await running.configured;
    return this.send(running, type, params, signal, timeoutMs);
  }

  /**
   * Stops the server for every window (they reconnect to a fresh one without counting a
   * crash) and forgets past crashes; the next request starts a fresh server.
   */
  async restart(): Promise<void> {
    this.crashes = [];
    this.down = undefined;
    const running = this.running;
    if (running) {
      const closed = new Promise<'closed'>((resolve) => running.socket.once('close', () => resolve('closed')));
      const silent = (): Promise<'silent'> => sleep(RESTART_GRACE_MS).then(() => 'silent' as const);
      running.leaving.value = true;
      void running.connection.sendNotification(shutdownNotification, { reason: 'Restart model' }).catch(() => undefined);
      let outcome = await Promise.race([closed, running.leaving.heard.then(() => 'heard' as const), silent()]);
      if (outcome === 'heard') outcome = await Promise.race([closed, silent()]);
      // A hung server never reads the notification.
      if (outcome === 'silent') this.kill('SIGKILL');
      this.detach(running, 'Model restarted.');
    }
    this.stateEmitter.fire({ state: 'idle' });
  }

  /** Test hook and hang recovery: kill the server the hard way (every window sees it die). */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    const pid = this.running?.pid;
    if (pid === undefined) return;
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }

  /** Disconnects; a shared server exits a while after its last window did, a private one at once. */
  dispose(): void {
    this.disposed = true;
    for (const emitter of [this.stateEmitter, this.downEmitter, this.connectedEmitter]) emitter.dispose();
    const running = this.running;
    const goodbye = running && this.privateDir ? running.connection.sendNotification(shutdownNotification, { reason: 'its only client left' }).catch(() => undefined) : Promise.resolve();
    // The goodbye is written before the connection goes.
    void goodbye.then(() => {
      if (running) this.detach(running, 'LM Lens is shutting down.');
      if (this.privateDir) rmSync(this.serverDir, { recursive: true, force: true });
    });
  }

  private ensureConnected(): Promise<Running> {
    if (this.running) return Promise.resolve(this.running);
    this.connecting ??= this.openConnection().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async openConnection(): Promise<Running> {
    this.lastState = 'idle';
    // The server may say goodbye before the hello is answered.
    const leaving = leavingFlag();
    const rearm = new Set<() => void>();
    const handlers = (connection: MessageConnection): void => {
      connection.onNotification(stateNotification, (state) => {
        this.lastState = state.state;
        this.stateEmitter.fire(state);
      });
      connection.onNotification(logNotification, ({ level, message }) => this.options.log?.(level, message));
      connection.onNotification(progressNotification, () => rearm.forEach((again) => again()));
      connection.onNotification(exitingNotification, ({ reason }) => {
        leaving.hear();
        this.options.log?.('info', `The model server is stopping (${reason}); the next request reconnects`);
      });
      for (const register of this.notificationHandlers) register(connection);
    };
    const server = await connectOrStart({ ...this.options, serverDir: this.serverDir }, handlers);
    const connected: Running = { socket: server.socket, connection: server.connection, pid: server.hello.pid, pending: new Set(), rearm, leaving };
    if (this.disposed) {
      this.detach(connected, 'LM Lens is shutting down.');
      throw new LmLensError('model-process', 'LM Lens is shutting down.');
    }
    this.connects++;
    if (server.started) this.starts++;
    // 'end' as well as 'close': a pipe the server's death ended takes no more writes, and under
    // Wine its 'close' came only after the next request had failed writing to it.
    let lost = false;
    const onLost = (): void => {
      if (lost) return;
      lost = true;
      this.onDisconnect(connected);
    };
    server.socket.once('end', onLost);
    server.socket.once('close', onLost);
    this.running = connected;
    this.options.log?.('info', `${server.started ? 'Started' : 'Connected to'} the model server (pid ${server.hello.pid}, ${server.endpoint.address})`);
    if (this.settings) connected.configured = this.send(connected, configureRequest, this.settings);
    this.connectedEmitter.fire(this.connects);
    return connected;
  }

  private onDisconnect(running: Running): void {
    const expected = this.running !== running;
    // New requests go to a new server at once.
    if (!expected) this.running = undefined;
    // A goodbye read together with the close is dispatched on a later turn of the event loop
    // (vscode-jsonrpc queues messages): let it arrive before telling a restart from a crash.
    setTimeout(() => this.afterDisconnect(running, expected), 20);
  }

  private afterDisconnect(running: Running, expected: boolean): void {
    running.connection.dispose();
    const message = running.leaving.value ? 'The model server restarted; try again.' : 'The model process stopped unexpectedly; it restarts on the next request.';
    const failure = new LmLensError('model-process', message);
    for (const reject of [...running.pending]) reject(failure);
    running.pending.clear();
    if (expected || this.disposed) return;
    if (running.leaving.value) {
      this.stateEmitter.fire({ state: 'idle' });
      return;
    }
    this.options.log?.('error', `Lost the model server (pid ${running.pid})`);
    this.recordCrash(failure.message);
  }

  /** Counts a crash (or hang) towards the restart policy; past the limit the process stays down. */
  private recordCrash(message: string): void {
    const now = Date.now();
    const window = this.options.crashWindowMs ?? 180_000;
    this.crashes = [...this.crashes.filter((time) => now - time < window), now];
    if (this.crashes.length >= (this.options.maxCrashes ?? 3)) {
      this.down = `The model process crashed ${this.crashes.length} times in ${Math.round(window / 60_000)} minutes and was stopped. Run "LM Lens: Restart model" to try again.`;
      this.options.log?.('error', this.down);
      this.stateEmitter.fire({ state: 'error', code: 'model-process', message: this.down });
      this.downEmitter.fire(this.down);
    } else {
      this.stateEmitter.fire({ state: 'error', code: 'model-process', message });
    }
  }

  /** Leaves a server on purpose: what is pending fails with `reason`, the disconnect is no crash. */
  private detach(running: Running, reason: string): void {
    if (this.running === running) this.running = undefined;
    const failure = new LmLensError('model-process', reason);
    for (const reject of [...running.pending]) reject(failure);
    running.pending.clear();
    running.connection.dispose();
    // end() lets what was written (a goodbye) leave first; a server that never closes its side is cut off.
    running.socket.end();
    setTimeout(() => running.socket.destroy(), 1000).unref();
  }

  private send<P, R>(running: Running, type: RequestType<P, R, ErrorData>, params: P, signal?: AbortSignal, timeoutOverrideMs?: number): Promise<R> {
    const source = new CancellationTokenSource();
    return new Promise<R>((resolve, reject) => {
      let settled = false;
      const settle = (action: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearTimeout(graceTimer);
        signal?.removeEventListener('abort', onAbort);
        running.pending.delete(fail);
        running.rearm.delete(again);
        source.dispose();
        action();
      };
      const fail = (error: Error): void => settle(() => reject(error));
      let graceTimer: NodeJS.Timeout | undefined;
      const onAbort = (): void => {
        source.cancel();
        // The server stops at its next step boundary and answers; settling on that answer keeps
        // "one request in flight" true in the model process too. A stuck server gets a grace period.
        graceTimer = setTimeout(() => fail(new CancelledError()), 2000);
      };
      const timeoutMs = timeoutOverrideMs ?? this.options.requestTimeoutMs ?? 120_000;
      const onTimeout = (): void => {
        // Loading (a first download can take minutes) reports progress: that is not a hang.
        if (this.lastState === 'loading') {
          timer = setTimeout(onTimeout, timeoutMs);
          return;
        }
        this.options.log?.('error', `${type.method} took longer than ${timeoutMs} ms; restarting the model process`);
        const message = `The model did not answer within ${Math.round(timeoutMs / 1000)} s; it was restarted. Try again, or choose a smaller model with "LM Lens: Select model".`;
        fail(new LmLensError('model-process', message));
        // Detach at once: the next request must go to a fresh process, not to this dying one.
        if (this.running === running) {
          this.kill('SIGKILL');
          this.detach(running, message);
          this.recordCrash(message);
        }
      };
      let timer = setTimeout(onTimeout, timeoutMs);
      const again = (): void => {
        clearTimeout(timer);
        timer = setTimeout(onTimeout, timeoutMs);
      };
      running.pending.add(fail);
      running.rearm.add(again);
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        running.connection.sendRequest(type, params, source.token).then(
          (result) => (signal?.aborted ? fail(new CancelledError()) : settle(() => resolve(result))),
          (error: unknown) => fail(fromResponseError(error)),
        );
      } catch (error) {
        // A closed connection throws synchronously; settling also disarms the hang timer.
        fail(fromResponseError(error));
      }
    });
  }
}

function fromResponseError(error: unknown): Error {
  if (error instanceof ResponseError) {
    const code = ((error.data as ErrorData | undefined)?.code ?? 'internal') as LmLensErrorCode;
    return code === 'cancelled' ? new CancelledError() : new LmLensError(code, error.message);
  }
  return new LmLensError('model-process', `Lost the model process: ${error instanceof Error ? error.message : String(error)}`);
}
