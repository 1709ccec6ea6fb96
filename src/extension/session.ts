/**
 * The lifetime a feature's state lives in. A session is made when the feature starts for its
 * subject (the panel opened, sentence loss enabled for a document) and owns everything that
 * exists only meanwhile: listeners, timers, decorations, in-flight requests. Disposing it ends
 * all of that at once, so nothing is reset field by field and nothing outlives it; a new
 * session starts clean. No `vscode` import (a `vscode.Disposable` fits `Disposable`).
 */

export interface Disposable {
  dispose(): void;
}

export class Session implements Disposable {
  protected readonly _disposables: Disposable[] = [];
  private _disposed = false;
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();

  /** True once disposed: an answer that arrives later belongs to no one and is dropped. */
  get disposed(): boolean {
    return this._disposed;
  }

  /** Ties `disposable` to this session; one registered after the end is disposed at once. */
  own<T extends Disposable>(disposable: T): T {
    if (this._disposed) disposable.dispose();
    else this._disposables.push(disposable);
    return disposable;
  }

  /** A timer that cannot fire after the session ends; the handle may be passed to `clearTimer`. */
  protected startTimer(callback: () => void, ms: number): ReturnType<typeof setTimeout> | undefined {
    if (this._disposed) return undefined;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      callback();
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  protected clearTimer(timer: ReturnType<typeof setTimeout> | undefined): void {
    if (timer === undefined) return;
    clearTimeout(timer);
    this.timers.delete(timer);
  }

  /** Timers still pending (the tests' view: none after disposal). */
  get pendingTimers(): number {
    return this.timers.size;
  }

  /** Ends the session: timers cleared, then what it owns disposed, newest first. Idempotent. */
  dispose(): void {
    if (this._disposed) return;
    this._disposed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const disposable of this._disposables.splice(0).reverse()) disposable.dispose();
  }
}

/** Sessions by key (a document's URI): the long-lived feature only opens, finds and closes them. */
export class SessionMap<S extends Disposable> implements Disposable {
  private readonly sessions = new Map<string, S>();

  get(key: string): S | undefined {
    return this.sessions.get(key);
  }

  /** The key's session, made by `create` when there is none. */
  open(key: string, create: () => S): S {
    let session = this.sessions.get(key);
    if (!session) {
      session = create();
      this.sessions.set(key, session);
    }
    return session;
  }

  /** Disposes the key's session only; true when there was one. */
  close(key: string): boolean {
    const session = this.sessions.get(key);
    if (!session) return false;
    this.sessions.delete(key);
    session.dispose();
    return true;
  }

  get keys(): string[] {
    return [...this.sessions.keys()];
  }

  values(): S[] {
    return [...this.sessions.values()];
  }

  dispose(): void {
    for (const key of this.keys) this.close(key);
  }
}
