/**
 * A measurement aid, off unless the environment asks: with `LM_LENS_STEP_TRACE=<file>` the model
 * process appends one JSON line per scheduler step (class, owner, what ran, time queued, time
 * run) and per context run (tokens reused and computed), so a bench run can show where a slow
 * keystroke's or re-score's time went (bench/README.md, "The typing stall"). Off, it costs one
 * branch per step.
 */
import { appendFileSync } from 'node:fs';

const file = process.env.LM_LENS_STEP_TRACE;

export const tracing = Boolean(file);

/** Appends `{t, event, ...fields}` (t: milliseconds since the epoch, sub-millisecond) when tracing. */
export function traceStep(event: string, fields: Record<string, unknown>): void {
  if (!file) return;
  appendFileSync(file, `${JSON.stringify({ t: performance.timeOrigin + performance.now(), event, ...fields })}\n`);
}
