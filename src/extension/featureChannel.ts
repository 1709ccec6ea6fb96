import { CancelledError } from '../core/errors';

export interface ChannelStats {
  sent: number;
  cancelled: number;
  /** Most requests of this channel ever in flight at once (must stay 1). */
  maxInFlight: number;
}

/**
 * "Latest request wins" for one feature (panel, ghost text, scoring): starting a request
 * cancels the previous one and waits for it to settle, so at most one is in flight.
 */
export class FeatureChannel {
  private current: { controller: AbortController; done: Promise<unknown> } | undefined;
  private inFlight = 0;
  readonly stats: ChannelStats = { sent: 0, cancelled: 0, maxInFlight: 0 };

  /** Runs `send` once the previous request has settled; rejects with CancelledError if superseded first. */
  async run<R>(send: (signal: AbortSignal) => Promise<R>, outer?: AbortSignal): Promise<R> {
    const previous = this.current;
    const controller = new AbortController();
    const abort = (): void => controller.abort();
    outer?.addEventListener('abort', abort, { once: true });
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    this.current = { controller, done };
    if (previous) {
      if (!previous.controller.signal.aborted) this.stats.cancelled++;
      previous.controller.abort();
      await previous.done;
    }
    try {
      if (controller.signal.aborted || outer?.aborted) throw new CancelledError();
      this.inFlight++;
      this.stats.sent++;
      this.stats.maxInFlight = Math.max(this.stats.maxInFlight, this.inFlight);
      try {
        return await send(controller.signal);
      } finally {
        this.inFlight--;
      }
    } finally {
      outer?.removeEventListener('abort', abort);
      if (this.current?.controller === controller) this.current = undefined;
      release();
    }
  }

  cancel(): void {
    this.current?.controller.abort();
  }
}
