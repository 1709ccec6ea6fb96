/** Speed over the last few seconds (not since the start: a resumed or throttled download would lie). */
const WINDOW_MS = 5_000;
/** Progress reports at most this often, plus the final one. */
const REPORT_MS = 100;

export interface Speed {
  bytesPerSecond?: number;
  secondsLeft?: number;
}

export class SpeedMeter {
  private readonly samples: Array<{ at: number; bytes: number }> = [];
  private lastReport = -Infinity;
  private total: number | undefined;

  /** Records `loaded` bytes; returns the speed when a report is due (always for the final sample), otherwise undefined. */
  sample(loaded: number, final: boolean, total?: number, now = performance.now()): Speed | undefined {
    this.total = total ?? this.total;
    this.samples.push({ at: now, bytes: loaded });
    while (this.samples.length > 2 && (this.samples[0]?.at ?? now) < now - WINDOW_MS) this.samples.shift();
    if (!final && now - this.lastReport < REPORT_MS) return undefined;
    this.lastReport = now;
    const first = this.samples[0];
    if (!first || now - first.at < 200 || loaded <= first.bytes) return {};
    const bytesPerSecond = ((loaded - first.bytes) * 1000) / (now - first.at);
    return { bytesPerSecond, secondsLeft: this.total !== undefined ? Math.max(0, (this.total - loaded) / bytesPerSecond) : undefined };
  }
}
