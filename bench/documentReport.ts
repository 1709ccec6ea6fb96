// W11: the document report of a 1 MB Markdown document kept current while it is edited. This
// process plays the extension host as in W8 (the extension's document sync and push handling)
// plus the report's window side (src/extension/reportFeed.ts): after every push it asks the model
// process for the report, which aggregates it from the scores it holds, and serialises each
// answer as webview.postMessage does. The webview's own drawing runs in another process.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { errorMessage } from '../src/core/errors';
import type { SyncedDocument } from '../src/extension/documentSync';
import { ReportFeed } from '../src/extension/reportFeed';
import { compareRequest, documentReportRequest, documentStatusNotification, loadRequest } from '../src/shared/hostProtocol';
import { ensureTestModel } from '../test/support/testModel';
import { BENCH_URI, MONITOR_RESOLUTION_MS, benchWindow, eventLoopRow, sleep } from './documents';
import { TYPED_WORDS, markdownDocument } from './prose';
import type { Row } from './report';
import { median } from './stats';

export interface DocumentReportBench {
  root: string;
  threads: number;
  smoke: boolean;
  log: (line: string) => void;
}

/** One edit a second: each is re-scored (after the store's pause), pushed, and reported. */
const EDIT_INTERVAL_MS = 1000;

export async function documentReportRows(bench: DocumentReportBench): Promise<Row[]> {
  const edits = bench.smoke ? 5 : 20;
  // The smoke run checks the harness on a tenth of the text.
  const base = markdownDocument(bench.smoke ? 30_000 : 1_000_000);
  // The window's work depends on the number of sentences, not on the model: the tiny test model
  // scores the whole megabyte in minutes, where the 124M shape would take most of an hour here.
  const folder = await ensureTestModel({ layers: 2, dim: 64, heads: 4 });
  let scored: (() => void) | undefined;
  const firstScores = new Promise<void>((resolve) => (scored = resolve));
  const reportMs: number[] = [];
  const postedBytes: number[] = [];
  let shown = { version: 0, sentences: 0, points: 0, complete: false };
  const feed = new ReportFeed({
    report: async (params) => {
      const started = performance.now();
      const response = await side.client.request(documentReportRequest, params);
      reportMs.push(performance.now() - started);
      return response;
    },
    compare: (params) => side.client.request(compareRequest, params),
    show: (response) => {
      // What webview.postMessage costs the extension host: the message serialised once.
      postedBytes.push(Buffer.byteLength(JSON.stringify({ type: 'report', documentName: BENCH_URI, data: response.data })));
      const { report } = response.data;
      shown = { version: response.version, sentences: report.sentenceCount, points: report.sentences.length, complete: report.complete };
    },
    comparing: () => undefined,
    failed: (_what, error) => bench.log(`W11: the report failed: ${errorMessage(error)}`),
  });
  const side = benchWindow(bench.root, bench.log, (push) => feed.update(push.uri));
  const { client, sync } = side;
  client.onNotification(documentStatusNotification, (status) => {
    side.results.applyStatus(status);
    if (status.state === 'done') scored?.();
    feed.update(status.uri);
  });
  try {
    await client.configure({ model: folder, dtype: 'fp32', allowDownloads: false, cacheDir: '', threads: bench.threads });
    await client.request(loadRequest, null);
    // Edits go into the last sentence, so each re-score is short and the report updates often.
    const at = base.trimEnd().length - 1;
    let typed = '';
    let version = 1;
    const document = (): SyncedDocument => ({ uri: { toString: () => BENCH_URI }, languageId: 'markdown', version, getText: () => base.slice(0, at) + typed + base.slice(at) });
    const scoringStarted = performance.now();
    sync.open(document());
    sync.focus([BENCH_URI]);
    await firstScores;
    const firstScoreMs = performance.now() - scoringStarted;
    feed.watch(BENCH_URI);
    while (!shown.complete) await sleep(50);
    bench.log(`W11: ${base.length} characters scored in ${(firstScoreMs / 1000).toFixed(0)} s; ${shown.sentences} sentences, ${shown.points} points per report`);

    const spanMs = edits * EDIT_INTERVAL_MS + 2000;
    const idle = monitorEventLoopDelay({ resolution: MONITOR_RESOLUTION_MS });
    idle.enable();
    await sleep(spanMs);
    idle.disable();

    const updatesBefore = postedBytes.length;
    const monitor = monitorEventLoopDelay({ resolution: MONITOR_RESOLUTION_MS });
    monitor.enable();
    const started = performance.now();
    for (let edit = 0; edit < edits; edit++) {
      await sleep(Math.max(0, started + edit * EDIT_INTERVAL_MS - performance.now()));
      const word = ` ${TYPED_WORDS[edit % TYPED_WORDS.length] as string}`;
      const change = { rangeOffset: at + typed.length, rangeLength: 0, text: word };
      typed += word;
      version++;
      sync.change(document(), [change]);
    }
    // Until the last edit is reported (or the span is over), so the last update is measured too.
    const deadline = started + spanMs + 60_000;
    while ((shown.version !== version || !shown.complete) && performance.now() < deadline) await sleep(50);
    monitor.disable();
    const updates = postedBytes.length - updatesBefore;
    const p99 = monitor.percentile(99) / 1e6;
    const bytes = median(postedBytes.slice(updatesBefore));
    bench.log(`W11: ${edits} edits, ${updates} report updates (last of version ${shown.version} of ${version}): event loop p99 ${p99.toFixed(1)} ms, ${bytes} bytes per update`);
    return [
      eventLoopRow({
        id: 'W11',
        workload: `extension-side event-loop delay while the document report of a ${Math.round(base.length / 1000).toLocaleString('en-US')} kB Markdown document updates after each of ${edits} edits (1/s; report aggregated in the model process, answer serialised as for the webview; sentence-loss push handling included)`,
        limitMs: 20,
        monitor,
        idle,
        idleLabel: 'same process, report open, nobody editing, as long',
        // A report that never caught up with the last edit did not do the work measured.
        done: shown.version === version,
        details: {
          documentChars: base.length,
          sentences: shown.sentences,
          pointsPerReport: shown.points,
          edits,
          updates,
          lastReportedVersion: shown.version,
          finalVersion: version,
          medianPostedBytes: bytes,
          medianReportRequestMs: median(reportMs),
          firstScoreMs,
          model: 'tiny test model (2 layers, 64 dims): the window side does not depend on the model',
        },
      }),
    ];
  } finally {
    feed.dispose();
    side.dispose();
  }
}
