// W10: one model process for every window. Model-process RSS with 3 windows (3 clients on one
// server folder) each scoring its own document, against one window scoring one document, on a
// fresh server each time (issue 14: "≤ 1.2× one window's").
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { ModelClient } from '../src/client/client';
import { processAlive as alive } from '../src/shared/endpoint';
import { scoreSentencesRequest, statsRequest } from '../src/shared/hostProtocol';
import { ensureHostScript } from './host';
import type { HostBench } from './host';
import { LANGUAGE_ID, documentVariant } from './prose';
import { ratioRow } from './report';
import type { Row } from './report';
import { median } from './stats';

export type SharedServerBench = Omit<HostBench, 'weightBytes'>;

const MB = 1e6;
/** Each run loads the model twice; three pairs show the spread of a memory figure well enough. */
const MAX_PAIRS = 3;

/** RSS of a fresh shared server after `windows` clients each scored their own document. */
async function serverRss(bench: SharedServerBench, hostScript: string, windows: number, run: number): Promise<number> {
  const serverDir = mkdtempSync(join(os.tmpdir(), 'lm-lens-bench-w10-'));
  const clients = Array.from(
    { length: windows },
    (_unused, i) =>
      new ModelClient({ hostScript, serverDir, clientName: `bench window ${i + 1}`, idleShutdownMs: 200, execArgv: ['--expose-gc'], requestTimeoutMs: 30 * 60_000 }),
  );
  let pid: number | undefined;
  try {
    const settings = { model: bench.folder, dtype: 'fp32', allowDownloads: false, cacheDir: '', threads: bench.threads };
    await Promise.all(clients.map((client) => client.configure(settings)));
    // Every window's document differs from the others' (and from other runs'): no prefix is shared.
    await Promise.all(clients.map((client, i) => client.request(scoreSentencesRequest, { text: documentVariant(bench.texts.medium, run * 10 + i), languageId: LANGUAGE_ID, fromOffset: 0 })));
    const [first] = clients;
    if (!first) throw new Error('no client');
    pid = first.pid;
    if (clients.some((client) => client.pid !== pid)) throw new Error('W10: the windows were not served by one process');
    // statsRequest collects garbage first (--expose-gc): live memory, not GC timing.
    return (await first.request(statsRequest, null)).rssBytes / MB;
  } finally {
    for (const client of clients) client.dispose();
    // The next measurement must not share the machine's memory with this server.
    const deadline = Date.now() + 10_000;
    while (pid !== undefined && alive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    rmSync(serverDir, { recursive: true, force: true });
  }
}

export async function sharedServerRows(bench: SharedServerBench): Promise<Row[]> {
  const hostScript = ensureHostScript(bench.root, bench.log);
  const one: number[] = [];
  const three: number[] = [];
  const pairs = Math.min(MAX_PAIRS, bench.runs.reps);
  for (let run = 0; run < pairs; run++) {
    one.push(await serverRss(bench, hostScript, 1, run));
    three.push(await serverRss(bench, hostScript, 3, run));
    bench.log(`W10 run ${run + 1}: 1 window ${one.at(-1)?.toFixed(0)} MB, 3 windows ${three.at(-1)?.toFixed(0)} MB`);
  }
  return [
    ratioRow(
      {
        id: 'W10',
        workload: 'model-process RSS with 3 windows (3 clients, one server) each scoring its own document (statsRequest.rssBytes)',
        unit: 'MB',
        samples: three,
        baseline: { label: 'one window scoring one document', value: median(one), samples: one },
        pairs: three.map((value, i) => value / (one[i] as number)),
        target: 'ratio ≤ 1.2',
      },
      { max: 1.2 },
    ),
  ];
}
