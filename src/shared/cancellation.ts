// The one bridge from a cancellation token (VS Code's or vscode-jsonrpc's: they have the same
// shape) to the AbortSignal that src/core and the model client check.

export interface CancellationTokenLike {
  readonly isCancellationRequested: boolean;
  onCancellationRequested(listener: () => void): { dispose(): void };
}

/** Aborts `controller` when `token` fires (at once if it already has); dispose the result when done. */
export function abortOnCancel(token: CancellationTokenLike, controller: AbortController): { dispose(): void } {
  if (token.isCancellationRequested) {
    controller.abort();
    return { dispose: () => undefined };
  }
  return token.onCancellationRequested(() => controller.abort());
}
