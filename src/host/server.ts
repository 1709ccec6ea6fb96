/**
 * Entry of the model process (bundled as dist/modelHost.js). It owns the model so that the
 * extension host never runs inference; it speaks JSON-RPC over the IPC channel of its parent.
 */
import { IPCMessageReader, IPCMessageWriter, ResponseError, createMessageConnection } from 'vscode-jsonrpc/node';
import { LmLensError, errorMessage, isCancelled } from '../core/errors';
import { ModelService } from './modelService';
import {
  completeRequest,
  configureRequest,
  debugHangRequest,
  loadRequest,
  logNotification,
  nextTokenRequest,
  sampleRequest,
  scoreSentencesRequest,
  scoreTextRequest,
  stateNotification,
  statsRequest,
} from './protocol';
import type { ErrorData } from './protocol';
import type { CancellationToken } from 'vscode-jsonrpc/node';

/** JSON-RPC's code for a request the client cancelled (LSP's RequestCancelled). */
const REQUEST_CANCELLED = -32800;
const MODEL_ERROR = -32001;

function toAbortSignal(token: CancellationToken): AbortSignal {
  const controller = new AbortController();
  if (token.isCancellationRequested) controller.abort();
  else token.onCancellationRequested(() => controller.abort());
  return controller.signal;
}

function toResponseError(error: unknown): ResponseError<ErrorData> {
  if (isCancelled(error)) return new ResponseError(REQUEST_CANCELLED, 'Request cancelled.', { code: 'cancelled' });
  if (error instanceof LmLensError) return new ResponseError(MODEL_ERROR, error.message, { code: error.code });
  return new ResponseError(MODEL_ERROR, `Unexpected error in the model process: ${errorMessage(error)}`, { code: 'internal' });
}

const gc = (globalThis as { gc?: () => void }).gc;
let idleTimer: NodeJS.Timeout | undefined;
let active = 0;

/**
 * Requests leave large garbage behind (a prefill chunk's logits are 25 MB for GPT-2); V8 only
 * collects it under pressure. Collecting once the process has been idle for a moment keeps its
 * resident memory near the live set without costing any request time.
 */
function collectWhenIdle(): void {
  if (!gc) return;
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => {
    if (active === 0) gc();
  }, 1000);
  idleTimer.unref();
}

/** Wraps a handler: cancellation token → AbortSignal, errors → typed ResponseErrors. */
function handle<P, R>(run: (params: P, signal: AbortSignal) => Promise<R>) {
  return async (params: P, token: CancellationToken): Promise<R | ResponseError<ErrorData>> => {
    active++;
    try {
      return await run(params, toAbortSignal(token));
    } catch (error) {
      return toResponseError(error);
    } finally {
      active--;
      collectWhenIdle();
    }
  };
}

function main(): void {
  const connection = createMessageConnection(new IPCMessageReader(process), new IPCMessageWriter(process));
  const service = new ModelService(
    (state) => void connection.sendNotification(stateNotification, state),
    (level, message) => void connection.sendNotification(logNotification, { level, message }),
  );
  connection.onRequest(configureRequest, handle((settings) => service.configure(settings)));
  connection.onRequest(loadRequest, handle(() => service.load()));
  connection.onRequest(nextTokenRequest, handle((params, signal) => service.nextToken(params, signal)));
  connection.onRequest(sampleRequest, handle((params, signal) => service.sample(params, signal)));
  connection.onRequest(completeRequest, handle((params, signal) => service.complete(params, signal)));
  connection.onRequest(scoreSentencesRequest, handle((params, signal) => service.scoreSentences(params, signal)));
  connection.onRequest(scoreTextRequest, handle((params, signal) => service.scoreText(params, signal)));
  connection.onRequest(statsRequest, handle(() => service.stats()));
  connection.onRequest(
    debugHangRequest,
    handle(async ({ ms }) => {
      // Deliberately blocks the event loop: the client must notice a stuck process and restart it.
      const until = Date.now() + ms;
      while (Date.now() < until) {
        /* busy */
      }
    }),
  );
  // The parent going away (window closed, extension host crashed) must not leave a process holding 1 GB.
  process.on('disconnect', () => process.exit(0));
  connection.onClose(() => process.exit(0));
  connection.listen();
}

main();
