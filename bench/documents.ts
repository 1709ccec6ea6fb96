// W8 and W9: typing into a 1 MB Markdown document with sentence loss on. This process plays the
// extension host: the extension's own document sync (src/extension/documentSync.ts) sends the
// edits to the real model process (dist/modelHost.js), and every push it gets back is mirrored
// and planned into decorations as the extension does. VS Code's own drawing is not included.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { IntervalHistogram } from 'node:perf_hooks';
import type { NotificationType } from 'vscode-jsonrpc';
import { DocumentSync } from '../src/extension/documentSync';
import type { SyncedDocument } from '../src/extension/documentSync';
import { planDecorations } from '../src/extension/lossRanges';
import { LossResults } from '../src/extension/lossResults';
import { ModelClient } from '../src/client/client';
import { didChangeNotification, loadRequest, sentenceScoresNotification, statsRequest } from '../src/shared/hostProtocol';
import type { SentenceScoresParams } from '../src/shared/hostProtocol';
import { SETTINGS } from '../src/shared/settings';
import { ensureHostScript } from './host';
import { TYPED_WORDS, markdownDocument } from './prose';
import type { Row } from './report';
import { median } from './stats';

export interface DocumentBench {
  root: string;
  folder: string;
  threads: number;
  smoke: boolean;
  log: (line: string) => void;
}

export const BENCH_URI = 'untitled:bench-1mb.md';
const KEYS_PER_SECOND = 20;
export const MONITOR_RESOLUTION_MS = 1;
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** What a JSON-RPC notification costs on the socket: header plus body (vscode-jsonrpc's framing). */
function wireBytes(method: string, params: unknown): number {
  const body = Buffer.byteLength(JSON.stringify({ jsonrpc: '2.0', method, params }));
  return Buffer.byteLength(`Content-Length: ${body}\r\n\r\n`) + body;
}

/** The extension's side of one window: the model process, the document sync and the mirror of the pushes. */
export interface BenchWindow {
  client: ModelClient;
  sync: DocumentSync;
  results: LossResults;
  /** Wire bytes of every didChange sent. */
  changeBytes: number[];
  dispose(): void;
}

/** A window as the extension wires it; every push is mirrored and planned into decorations, then handed to `onPush`. */
export function benchWindow(root: string, log: (line: string) => void, onPush?: (push: SentenceScoresParams) => void): BenchWindow {
  const client = new ModelClient({ hostScript: ensureHostScript(root, log), execArgv: ['--expose-gc'], requestTimeoutMs: 30 * 60_000 });
  const changeBytes: number[] = [];
  const transport = {
    get connection(): number | undefined {
      return client.connection;
    },
    connect: () => client.connect(),
    notify<P>(type: NotificationType<P>, params: P): void {
      if (type.method === didChangeNotification.method) changeBytes.push(wireBytes(type.method, params));
      client.notify(type, params);
    },
  };
  const sync = new DocumentSync(transport);
  const results = new LossResults();
  client.onNotification(sentenceScoresNotification, (push) => {
    const held = results.applyScores(push);
    planDecorations('', held.sentences, { mode: 'sentence', thresholds: SETTINGS['loss.thresholds'].default });
    onPush?.(push);
  });
  client.onConnected(() => sync.flush());
  return {
    client,
    sync,
    results,
    changeBytes,
    dispose: () => {
      sync.dispose();
      client.dispose();
    },
  };
}

/** An extension-side event-loop row (W8, W11): p99 while the work runs, against the same process idle for as long. */
export function eventLoopRow(fields: { id: string; workload: string; limitMs: number; monitor: IntervalHistogram; idle: IntervalHistogram; idleLabel?: string; done?: boolean; details: Record<string, unknown> }): Row {
  const { monitor, idle } = fields;
  const p50 = monitor.percentile(50) / 1e6;
  const p99 = monitor.percentile(99) / 1e6;
  const idleP99 = idle.percentile(99) / 1e6;
  return {
    id: fields.id,
    workload: fields.workload,
    unit: 'ms',
    value: p99,
    valueText: `p50 ${p50.toFixed(1)} ms / p99 ${p99.toFixed(1)} ms`,
    samples: [p99],
    baseline: { label: fields.idleLabel ?? 'same process idle, as long', value: idleP99, samples: [idleP99] },
    ratio: p99 / idleP99,
    target: `p99 ≤ ${fields.limitMs} ms`,
    pass: (fields.done ?? true) && p99 <= fields.limitMs,
    details: { ...fields.details, p50, p99, max: monitor.max / 1e6, idleP50: idle.percentile(50) / 1e6, idleP99, resolutionMs: MONITOR_RESOLUTION_MS },
  };
}

export async function documentRows(bench: DocumentBench): Promise<Row[]> {
  const keystrokes = bench.smoke ? 40 : 200;
  const base = markdownDocument(1_000_000);
  let pushes = 0;
  const side = benchWindow(bench.root, bench.log, () => pushes++);
  const { client, sync, changeBytes } = side;
  try {
    await client.configure({ model: bench.folder, dtype: 'fp32', allowDownloads: false, cacheDir: '', threads: bench.threads });
    await client.request(loadRequest, null);
    // The editor's document: typed text goes in the middle; the text is built only if asked for (a reconnect).
    const at = Math.floor(base.length / 2);
    let typed = '';
    let version = 1;
    const document = (): SyncedDocument => ({ uri: { toString: () => BENCH_URI }, languageId: 'markdown', version, getText: () => base.slice(0, at) + typed + base.slice(at) });
    sync.open(document());
    sync.focus([BENCH_URI]);
    await sleep(500);

    // Baseline: the same process, document open, nobody typing, for as long as the typing lasts.
    // On a loaded machine both see the scheduler's delays; the difference is the typing's.
    const typingMs = (keystrokes * 1000) / KEYS_PER_SECOND;
    const idle = monitorEventLoopDelay({ resolution: MONITOR_RESOLUTION_MS });
    idle.enable();
    await sleep(typingMs + 200);
    idle.disable();

    const word = `${TYPED_WORDS.join(' ')} `;
    const monitor = monitorEventLoopDelay({ resolution: MONITOR_RESOLUTION_MS });
    monitor.enable();
    const started = performance.now();
    for (let key = 0; key < keystrokes; key++) {
      // Keystrokes on a fixed 20/s schedule, as a typist's would arrive whatever the process does.
      await sleep(Math.max(0, started + key * (1000 / KEYS_PER_SECOND) - performance.now()));
      const char = word[key % word.length] as string;
      const change = { rangeOffset: at + typed.length, rangeLength: 0, text: char };
      typed += char;
      version++;
      sync.change(document(), [change]);
    }
    await sleep(200);
    monitor.disable();
    const stats = await client.request(statsRequest, null);
    const p99 = monitor.percentile(99) / 1e6;
    const bytes = median(changeBytes);
    bench.log(`W8/W9: ${keystrokes} keystrokes into ${base.length} characters: event loop p99 ${p99.toFixed(1)} ms, ${bytes} bytes per keystroke, ${pushes} pushes`);
    const common = { documentChars: base.length, keystrokes, keysPerSecond: KEYS_PER_SECOND, pushes, hostDocuments: stats.documents };
    return [
      eventLoopRow({
        id: 'W8',
        workload: `extension-side event-loop delay while typing ${keystrokes} keystrokes at ${KEYS_PER_SECOND}/s into a 1 MB Markdown document with sentence loss on (document sync + push handling; VS Code's drawing not included)`,
        limitMs: 10,
        monitor,
        idle,
        details: common,
      }),
      {
        id: 'W9',
        workload: 'bytes sent extension → model process per keystroke in that document (didChange, JSON-RPC framing included)',
        unit: 'bytes',
        value: bytes,
        samples: changeBytes,
        target: 'median ≤ 2 KB',
        pass: bytes <= 2048,
        details: { ...common, max: Math.max(...changeBytes), documentBytes: Buffer.byteLength(base) },
      },
    ];
  } finally {
    side.dispose();
  }
}
