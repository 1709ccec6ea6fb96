/**
 * Every failure a user can fix is an `LmLensError` with a stable code and a one-line message
 * that says what is wrong and which setting or action fixes it. The CLI prints `message`
 * on one line; the extension shows it with buttons chosen by `code`.
 */
export type LmLensErrorCode =
  | 'downloads-disabled'
  | 'hub-unreachable'
  | 'hub-not-found'
  | 'folder-missing'
  | 'file-missing'
  | 'config-invalid'
  | 'not-causal-lm'
  | 'onnx-invalid'
  | 'unknown-dtype'
  | 'dtype-unavailable'
  | 'vocab-mismatch'
  | 'text-invalid'
  | 'endpoint-invalid'
  | 'proxy-auth'
  | 'proxy-refused'
  | 'tls-failed'
  | 'hub-html'
  | 'mirror-missing'
  | 'disk-full'
  | 'download-stalled'
  | 'download-interrupted'
  | 'download-corrupt'
  | 'cache-corrupt'
  | 'download-cancelled'
  | 'cancelled'
  | 'server-unreachable'
  | 'server-timeout'
  | 'server-auth'
  | 'server-model'
  | 'server-endpoint'
  | 'server-refused'
  | 'server-error'
  | 'server-response'
  | 'model-process'
  | 'export-failed'
  | 'lens-unavailable'
  | 'internal';

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
