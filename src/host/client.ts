import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { CancellationTokenSource, IPCMessageReader, IPCMessageWriter, ResponseError, createMessageConnection } from 'vscode-jsonrpc/node';
import type { MessageConnection, RequestType } from 'vscode-jsonrpc/node';
import { CancelledError, LmLensError } from '../core/errors';
import type { LmLensErrorCode } from '../core/errors';
import { configureRequest, logNotification, stateNotification } from './protocol';
import type { ErrorData, ModelSettings, ModelState } from './protocol';

export type LogLevel = 'info' | 'warn' | 'error';

export interface ModelClientOptions {
  /** Path of the bundled model process (dist/modelHost.js). */
  hostScript: string;
  /** Binary that runs it; in desktop VS Code this is Electron, made to behave as Node. */
  execPath?: string;
  /** A request running longer than this is treated as a hung process: cancelled, process restarted. */
  requestTimeoutMs?: number;
  maxCrashes?: number;
  crashWindowMs?: number;
  log?: (level: LogLevel, message: string) => void;
  env?: NodeJS.ProcessEnv;
  /** Node flags for the model process (tests pass --expose-gc to measure live memory). */
  execArgv?: string[];
}

type Listener<T> = (value: T) => void;

class Emitter<T> {
  private readonly listeners = new Set<Listener<T>>();
  on(listener: Listener<T>): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }
  fire(value: T): void {
    for (const listener of [...this.listeners]) listener(value);
  }
}

interface Running {
  child: ChildProcess;
  connection: MessageConnection;
  pending: Set<(error: Error) => void>;
  configured?: Promise<void>;
}

/**
 * The extension's side of the model process: spawns it, restarts it when it dies (up to
 * `maxCrashes` in `crashWindowMs`, then stays down until `restart()`), and turns AbortSignals
 * into JSON-RPC cancellations. No `vscode` import, so it is unit-tested in plain Node.
 */
export class ModelClient {
  readonly onState = new Emitter<ModelState>();
  /** Fired when the crash limit is reached and the process stays down. */
  readonly onDown = new Emitter<string>();
  private running: Running | undefined;
  private settings: ModelSettings | undefined;
  private crashes: number[] = [];
  private down: string | undefined;
  private disposed = false;
  private starts = 0;
  private lastState: ModelState['state'] = 'idle';

  constructor(private readonly options: ModelClientOptions) {}

  get isDown(): boolean {
    return this.down !== undefined;
  }

  /** How many times a process was spawned (tests assert restarts with it). */
  get startCount(): number {
    return this.starts;
  }

  get pid(): number | undefined {
    return this.running?.child.pid;
  }

  async configure(settings: ModelSettings): Promise<void> {
    this.settings = settings;
    if (this.running) {
      const running = this.running;
      running.configured = this.send(running, configureRequest, settings);
      await running.configured;
    }
  }

  /** Sends a request; rejects with `LmLensError` (code `cancelled` when the signal fired). */
  async request<P, R>(type: RequestType<P, R, ErrorData>, params: P, signal?: AbortSignal, timeoutMs?: number): Promise<R> {
    if (signal?.aborted) throw new CancelledError();
    if (this.disposed) throw new LmLensError('model-process', 'LM Lens is shutting down.');
    if (this.down) throw new LmLensError('model-process', this.down);
    const running = this.ensureRunning();
    await running.configured;
    return this.send(running, type, params, signal, timeoutMs);
  }

  /** Kills the process (if any) and forgets past crashes; the next request starts a fresh one. */
  async restart(): Promise<void> {
    this.crashes = [];
    this.down = undefined;
    this.stopProcess('Model restarted.');
    this.onState.fire({ state: 'idle' });
  }

  /** Test hook and hang recovery: kill the process the hard way. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.running?.child.kill(signal);
  }

  dispose(): void {
    this.disposed = true;
    this.stopProcess('LM Lens is shutting down.');
  }

  private ensureRunning(): Running {
    if (this.running) return this.running;
    this.starts++;
    this.lastState = 'idle';
    const child = fork(this.options.hostScript, [], {
      execPath: this.options.execPath ?? process.execPath,
      // --expose-gc lets the process collect garbage logits (tens of MB each) as soon as it is idle.
      execArgv: this.options.execArgv ?? ['--expose-gc'],
      // Electron's binary behaves as plain Node only with this variable (as vscode-languageclient does).
      // MALLOC_ARENA_MAX: onnxruntime's worker threads otherwise each grow a glibc arena, and the
      // process keeps hundreds of MB it no longer uses.
      // MALLOC_MMAP_THRESHOLD_ pins large buffers (logits, KV copies) to mmap so that freeing them
      // returns the memory, instead of glibc raising the threshold and keeping them in its heap.
      env: { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '1048576', ...process.env, ...this.options.env, ELECTRON_RUN_AS_NODE: '1' },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const connection = createMessageConnection(new IPCMessageReader(child), new IPCMessageWriter(child));
    const running: Running = { child, connection, pending: new Set() };
    connection.onNotification(stateNotification, (state) => {
      this.lastState = state.state;
      this.onState.fire(state);
    });
    connection.onNotification(logNotification, ({ level, message }) => this.options.log?.(level, message));
    child.stderr?.on('data', (chunk: Buffer) => this.options.log?.('warn', `model process: ${chunk.toString().trimEnd()}`));
    child.stdout?.on('data', (chunk: Buffer) => this.options.log?.('info', `model process: ${chunk.toString().trimEnd()}`));
    child.on('error', (error) => this.options.log?.('error', `model process error: ${error.message}`));
    child.on('exit', (code, signal) => this.onExit(running, code, signal));
    connection.listen();
    this.running = running;
    this.options.log?.('info', `Model process started (pid ${child.pid})`);
    if (this.settings) running.configured = this.send(running, configureRequest, this.settings);
    return running;
  }

  private onExit(running: Running, code: number | null, signal: NodeJS.Signals | null): void {
    const expected = this.running !== running;
    if (!expected) this.running = undefined;
    running.connection.dispose();
    const how = signal ? `signal ${signal}` : `exit code ${code}`;
    const failure = new LmLensError('model-process', `The model process stopped (${how}); it restarts on the next request.`);
    for (const reject of [...running.pending]) reject(failure);
    running.pending.clear();
    if (expected || this.disposed) return;
    this.options.log?.('error', `Model process stopped unexpectedly (${how})`);
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
      this.onState.fire({ state: 'error', code: 'model-process', message: this.down });
      this.onDown.fire(this.down);
    } else {
      this.onState.fire({ state: 'error', code: 'model-process', message });
    }
  }

  private stopProcess(reason: string): void {
    const running = this.running;
    if (!running) return;
    this.running = undefined;
    const failure = new LmLensError('model-process', reason);
    for (const reject of [...running.pending]) reject(failure);
    running.pending.clear();
    running.connection.dispose();
    running.child.kill('SIGKILL');
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
          this.stopProcess(message);
          this.recordCrash(message);
        }
      };
      let timer = setTimeout(onTimeout, timeoutMs);
      running.pending.add(fail);
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
