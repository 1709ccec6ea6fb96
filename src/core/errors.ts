import type { LmLensErrorCode } from '../shared/errorCodes';
export type { LmLensErrorCode } from '../shared/errorCodes';

/**
 * Every failure a user can fix is an `LmLensError` with a stable code and a one-line message
 * that says what is wrong and which setting or action fixes it. The CLI prints `message`
 * on one line; the extension shows it with buttons chosen by `code`.
 */
export class LmLensError extends Error {
  override readonly name = 'LmLensError';

  constructor(
    readonly code: LmLensErrorCode,
    message: string,
  ) {
    // One line, always: multi-line messages break the CLI contract and VS Code notifications.
    super(message.replace(/\s*\n\s*/g, ' ').trim());
  }
}

export class CancelledError extends LmLensError {
  constructor() {
    super('cancelled', 'Request cancelled.');
  }
}

export function isCancelled(error: unknown): boolean {
  return error instanceof LmLensError && error.code === 'cancelled';
}

/** Step boundaries call this so a cancelled request stops instead of running to the end. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CancelledError();
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message.split('\n')[0] ?? String(error);
  return String(error);
}
