/**
 * Entry of the model process (bundled as dist/modelHost.js): one per machine, shared by every
 * window. The first window starts it; it listens on a local socket (see endpoint.ts), holds one
 * model for all windows, and exits a while after the last window left.
 *
 *   node modelHost.js --dir <global storage>/server [--suffix -private] [--idle-ms 60000]
 */
// First: a runtime that cannot load is reported in one line before any other import needs it.
import './runtimeCheck';
import { parseArgs } from 'node:util';
import { ResponseError } from 'vscode-jsonrpc/node';
import type { CancellationToken, RequestType } from 'vscode-jsonrpc/node';
import { LmLensError, errorMessage, isCancelled } from '../core/errors';
import { buildIdOf, endpointFor } from '../shared/endpoint';
import { EXIT_ALREADY_RUNNING, READY_LINE } from '../shared/handshake';
import { withWork } from '../core/scheduler';
import { traceStep, tracing } from '../core/stepTrace';
import type { WorkClass } from '../core/scheduler';
import { abortOnCancel } from '../shared/cancellation';
import { DocumentStore } from './documentStore';
import { ReportService } from './reportService';
import { ModelService } from './modelService';
import {
  completeRequest,
  compareRequest,
  settledLayersRequest,
  settledProgressNotification,
  cancelDownloadRequest,
  configureRequest,
  didChangeNotification,
  didCloseNotification,
  didOpenNotification,
  documentReportRequest,
  documentStatusNotification,
  focusNotification,
  loadRequest,
  logNotification,
  nextTokenRequest,
  lensRequest,
  progressNotification,
  PROGRESS_BEAT_MS,
  reportExportRequest,
  sampleRequest,
  scoreSentencesRequest,
  scoreTextRequest,
  sentenceScoresNotification,
  stateNotification,
  statsRequest,
} from '../shared/hostProtocol';
import type { ErrorData, ModelState } from '../shared/hostProtocol';
import { ModelSocketServer } from './socketServer';
import type { Session } from './socketServer';

/** How long the server outlives its last window by default: reopening a window within it finds the model loaded. */
export const DEFAULT_IDLE_SHUTDOWN_MS = 60_000;

/** JSON-RPC's code for a request the client cancelled (LSP's RequestCancelled). */
const REQUEST_CANCELLED = -32800;
const MODEL_ERROR = -32001;

function toResponseError(error: unknown): ResponseError<ErrorData> {
  if (isCancelled(error)) return new ResponseError(REQUEST_CANCELLED, 'Request cancelled.', { code: 'cancelled' });
  if (error instanceof LmLensError) return new ResponseError(MODEL_ERROR, error.message, { code: error.code });
  return new ResponseError(MODEL_ERROR, `Unexpected error in the model process: ${errorMessage(error)}`, { code: 'internal' });
}

const gc = (globalThis as { gc?: () => void }).gc;
let idleGcTimer: NodeJS.Timeout | undefined;
let active = 0;

/**
 * Requests leave large garbage behind (a prefill chunk's logits are 25 MB for GPT-2); V8 only
 * collects it under pressure. Collecting once the process has been idle for a moment keeps its
 * resident memory near the live set without costing any request time.
 */
function collectWhenIdle(): void {
  if (!gc) return;
  clearTimeout(idleGcTimer);
  idleGcTimer = setTimeout(() => {
    if (active === 0) gc();
  }, 1000);
  idleGcTimer.unref();
}

/**
 * One window's handlers. Each feature has its own request method, so "latest wins per window
 * and feature" is: a request supersedes the same window's unfinished request of the same
 * method (the window's own channels already cancel it; this also holds for a client that
 * does not). Everything of a window is cancelled when it disconnects.
 */
function serveWindow(session: Session, service: ModelService, state: () => ModelState, stores: Set<DocumentStore>): void {
  const { connection } = session;
  // Windows take turns within a class of work (see core/scheduler.ts).
  const owner = String(session.id);
  const documents = new DocumentStore((text, options) => withWork({ class: 'background', owner }, () => service.scoreDocument(text, options)), {
    scores: (params) => void connection.sendNotification(sentenceScoresNotification, params),
    status: (params) => void connection.sendNotification(documentStatusNotification, params),
  });
  stores.add(documents);
  session.onClose(() => {
    stores.delete(documents);
    documents.dispose();
  });
  connection.onNotification(didOpenNotification, (item) => documents.open(item));
  connection.onNotification(didChangeNotification, (params) => documents.change(params));
  connection.onNotification(didCloseNotification, ({ uri }) => documents.close(uri));
  connection.onNotification(focusNotification, ({ visible }) => documents.focus(visible));
  const running = new Map<string, AbortController>();
  const all = new Set<AbortController>();
  session.onClose(() => {
    for (const controller of all) controller.abort();
  });
  /** `work`: the person is waiting for it (`interactive`, first in the model's queue) or not (`background`). */
  const handle = <P, R>(type: RequestType<P, R, ErrorData>, run: (params: P, signal: AbortSignal) => Promise<R>, latestWins = true, work: WorkClass = 'interactive'): void => {
    connection.onRequest(type, async (params: P, token: CancellationToken): Promise<R | ResponseError<ErrorData>> => {
      const controller = new AbortController();
      if (latestWins) {
        running.get(type.method)?.abort();
        running.set(type.method, controller);
      }
      all.add(controller);
      const cancel = abortOnCancel(token, controller);
      active++;
      const arrived = performance.now();
      let outcome = 'ok';
      try {
        return await withWork({ class: work, owner }, () => run(params, controller.signal));
      } catch (error) {
        outcome = isCancelled(error) ? 'cancelled' : 'error';
        return toResponseError(error);
      } finally {
        if (tracing) traceStep('request', { method: type.method, owner, class: work, outcome, ms: performance.now() - arrived });
        active--;
        cancel.dispose();
        all.delete(controller);
        if (running.get(type.method) === controller) running.delete(type.method);
        collectWhenIdle();
      }
    });
  };
  handle(configureRequest, (settings) => service.configure(settings), false);
  handle(loadRequest, () => service.load(true), false);
  handle(cancelDownloadRequest, async () => service.cancelDownload(), false);
  handle(nextTokenRequest, (params, signal) => service.nextToken(params, signal));
  handle(lensRequest, (params, signal) => service.lens(params, signal));
  handle(sampleRequest, (params, signal) => service.sample(params, signal));
  handle(completeRequest, (params, signal) => service.complete(params, signal));
  handle(scoreSentencesRequest, (params, signal) => service.scoreSentences(params, signal), true, 'background');
  handle(scoreTextRequest, (params, signal) => service.scoreText(params, signal));
  handle(statsRequest, async () => ({ ...(await service.stats()), documents: documents.stats() }), false);
  // The report page's script and styles are built beside this bundle.
  const reports = new ReportService(documents, service, __dirname);
  handle(documentReportRequest, (params) => reports.report(params));
  handle(compareRequest, (params, signal) => reports.compare(params, signal), true, 'background');
  handle(settledLayersRequest, (params, signal) => reports.settle(params, signal, (progress) => void connection.sendNotification(settledProgressNotification, progress)), true, 'background');
  handle(reportExportRequest, (params) => reports.export(params), false);
  // A window that connects while the model loads or after it loaded learns where it stands.
  void connection.sendNotification(stateNotification, state());
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { dir: { type: 'string' }, suffix: { type: 'string', default: '' }, 'idle-ms': { type: 'string' } } });
  if (!values.dir) throw new Error('usage: modelHost.js --dir <folder> [--suffix S] [--idle-ms N]');
  const endpoint = await endpointFor(values.dir, await buildIdOf(__filename), values.suffix);
  let current: ModelState = { state: 'idle' };
  // Logs and states may come while the server is still starting.
  const started: { server?: ModelSocketServer } = {};
  const log = (level: 'info' | 'warn' | 'error', message: string): void => {
    void started.server?.broadcast(logNotification, { level, message });
    if (level !== 'info') process.stderr.write(`${new Date().toISOString()} ${level} ${message}\n`);
  };
  const stores = new Set<DocumentStore>();
  const service = new ModelService((state) => {
    current = state;
    void started.server?.broadcast(stateNotification, state);
    for (const store of stores) store.modelState(state);
  }, log);
  const server = await ModelSocketServer.start({
    endpoint,
    idleMs: Number(values['idle-ms']) || DEFAULT_IDLE_SHUTDOWN_MS,
    log,
    serve: (session) => serveWindow(session, service, () => current, stores),
    onShutdown: () => void service.dispose().finally(() => process.exit(0)),
  });
  // The window that started this process stops reading stdout once it is ready; later writes must not kill it.
  process.stdout.on('error', () => undefined);
  if (!server) process.exit(EXIT_ALREADY_RUNNING);
  started.server = server;
  process.stdout.write(`${READY_LINE} ${endpoint.address}\n`);
  beatWhileWorking(service, server);
}

/**
 * Tells every window, every PROGRESS_BEAT_MS, that the model finished steps since the last beat:
 * a window's hang timer then measures lack of progress, never time queued behind other windows'
 * work, so one window's timeout cannot restart a server still working for the others.
 */
function beatWhileWorking(service: ModelService, server: ModelSocketServer): void {
  let last: number | undefined;
  setInterval(() => {
    void service.steps().then((steps) => {
      if (steps !== undefined && last !== undefined && steps > last) void server.broadcast(progressNotification, { steps });
      last = steps;
    });
    // Tests beat faster than a window's (shortened) hang timer.
  }, Number(process.env.LM_LENS_PROGRESS_BEAT_MS) || PROGRESS_BEAT_MS).unref();
}

main().catch((error: unknown) => {
  process.stderr.write(`The model server could not start: ${errorMessage(error)}\n`);
  process.exit(1);
});
