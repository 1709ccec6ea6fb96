/**
 * Sentence scores are pushed, so a model process that hangs while it scores a document has no
 * request outstanding that could time out: the window would notice only at its next request,
 * with a spinner turning until then. While a document is being scored, a silence longer than
 * `silenceMs` sends one liveness request; its own timeout is the client's hang recovery (the
 * process is killed, the crash counted, the error shown with its actions, and the documents
 * opened again on the next connection). A slow but live process just answers, and the watch
 * goes on. No `vscode` import.
 */

/** Longest quiet spell while scoring before the process is asked whether it is alive. */
export const PUSH_SILENCE_MS = 30_000;
/** How long that question may take; the process answers it between two forward passes. */
export const LIVENESS_TIMEOUT_MS = 30_000;

export class PushWatchdog {
  private timer: NodeJS.Timeout | undefined;
  private asking = false;
  private scoring = false;
  private disposed = false;

  /** `probe`: a cheap request the process answers outside the engine's queue. */
  constructor(
    private readonly probe: () => Promise<unknown>,
    private readonly silenceMs = PUSH_SILENCE_MS,
  ) {}

  /** A push or status arrived; `scoring`: a document is still being scored, so more must come. */
  heard(scoring: boolean): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.scoring = scoring;
    if (!scoring || this.disposed) return;
    this.timer = setTimeout(() => this.ask(), this.silenceMs);
    this.timer.unref();
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
  }

  private ask(): void {
    this.timer = undefined;
    if (this.asking) return;
    this.asking = true;
    this.probe().then(
      // Alive and still scoring quietly (one long sentence on a big model): keep watching.
      () => {
        this.asking = false;
        if (this.scoring && !this.timer) this.heard(true);
      },
      // The client has already recovered (or reported why it could not); the next push re-arms.
      () => {
        this.asking = false;
      },
    );
  }
}
