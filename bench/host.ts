// W6 and W7: the same work sent through ModelClient to the real model process
// (dist/modelHost.js), with this process in the extension host's place.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ModelClient } from '../src/client/client';
import { completeRequest, loadRequest, nextTokenRequest, sampleRequest, scoreSentencesRequest, statsRequest } from '../src/shared/hostProtocol';
import { LANGUAGE_ID, TYPED_WORDS, documentVariant, editLastSentence, keystrokes } from './prose';
import type { BenchTexts } from './prose';
import type { Row } from './report';
import { median, repeat, timed } from './stats';
import type { RepeatOptions } from './stats';

export interface HostBench {
  root: string;
  folder: string;
  threads: number;
  weightBytes: number;
  texts: BenchTexts;
  runs: RepeatOptions;
  log: (line: string) => void;
}

const MB = 1e6;
/** Timer interval of the event-loop monitor; its samples include this interval. */
const MONITOR_RESOLUTION_MS = 1;

/** Newest modification time of the TypeScript files under `folder`. */
function newestSource(folder: string): number {
  let newest = 0;
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** Builds the bundles when dist/modelHost.js is missing or stale: W6/W7 must measure the code under test. */
export function ensureHostScript(root: string, log: (line: string) => void): string {
  const script = join(root, 'dist', 'modelHost.js');
  // The model process bundles src/host, src/core and src/shared only.
  const sources = Math.max(...['core', 'host', 'shared'].map((dir) => newestSource(join(root, 'src', dir))));
  if (!existsSync(script) || statSync(script).mtimeMs < sources) {
    log('dist/modelHost.js is missing or older than src/core, src/host or src/shared: running node esbuild.mjs');
    const build = spawnSync(process.execPath, ['esbuild.mjs'], { cwd: root, stdio: 'inherit' });
    if (build.status !== 0 || !existsSync(script)) throw new Error('node esbuild.mjs did not produce dist/modelHost.js');
  }
  return script;
}

/** A `/proc/<pid>/status` field in bytes (Linux only), e.g. VmHWM (the peak: RSS after the work can hide a transient peak). */
function statusBytes(pid: number | undefined, field: 'VmHWM' | 'RssAnon' | 'RssFile'): number | undefined {
  if (pid === undefined || process.platform !== 'linux') return undefined;
  try {
    const match = new RegExp(`${field}:\\s+(\\d+) kB`, 'u').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export async function hostRows(bench: HostBench): Promise<Row[]> {
  const { texts, runs } = bench;
  const client = new ModelClient({
    hostScript: ensureHostScript(bench.root, bench.log),
    // statsRequest then collects garbage before reading RSS: W6 is live memory, not GC timing.
    execArgv: ['--expose-gc'],
    // Scoring 4,000 tokens on a loaded 2-core machine can take minutes; the default would restart the process.
    requestTimeoutMs: 30 * 60_000,
    log: (level, message) => {
      if (level === 'error') bench.log(`model process: ${message}`);
    },
  });
  try {
    await client.configure({ model: bench.folder, dtype: 'fp32', allowDownloads: false, cacheDir: '', threads: bench.threads });
    const loadMs = await timed(() => client.request(loadRequest, null));
    bench.log(`model process loaded in ${loadMs.toFixed(0)} ms`);
    // RSS after each phase: when W6 misses, this shows which kind of request grows the process.
    const rssMBAfter: Record<string, number> = {};
    const phase = async (name: string): Promise<void> => {
      rssMBAfter[name] = (await client.request(statsRequest, null)).rssBytes / MB;
    };
    await phase('load');

    // W1's work: a word typed at the end of the 512-token context.
    for (const text of keystrokes(texts.typing, TYPED_WORDS[0] as string)) await client.request(nextTokenRequest, { text, top: 10, tailTokens: 8 });
    await phase('keystrokes');

    // W2's work with the event loop watched (W7). Each run scores a variant no cache entry matches.
    // One monitor spans every measured run (its percentiles are the row's), one per run shows the spread.
    const overall = monitorEventLoopDelay({ resolution: MONITOR_RESOLUTION_MS });
    const perRun: Array<{ p50: number; p99: number; max: number }> = [];
    const requestMs = await repeat(runs, async (run) => {
      const measured = run >= runs.warmup;
      const monitor = monitorEventLoopDelay({ resolution: MONITOR_RESOLUTION_MS });
      if (measured) {
        overall.enable();
        monitor.enable();
      }
      const ms = await timed(() => client.request(scoreSentencesRequest, { text: documentVariant(texts.long, run), languageId: LANGUAGE_ID, fromOffset: 0 }));
      overall.disable();
      monitor.disable();
      if (measured) perRun.push({ p50: monitor.percentile(50) / 1e6, p99: monitor.percentile(99) / 1e6, max: monitor.max / 1e6 });
      return ms;
    });
    bench.log(`W7 scoreSentences through the model process: median ${median(requestMs).toFixed(0)} ms`);
    await phase('scoring');

    // W3's work: full score, then the re-score after an edit in the last sentence.
    await client.request(scoreSentencesRequest, { text: texts.medium, languageId: LANGUAGE_ID, fromOffset: 0 });
    const edit = editLastSentence(texts.medium, 0, LANGUAGE_ID);
    await client.request(scoreSentencesRequest, { text: edit.text, languageId: LANGUAGE_ID, fromOffset: edit.fromOffset });
    await phase('rescore');

    // W4 and W5's work: ghost text (greedy + 3 alternatives) and the panel's samples.
    const prompt = texts.typing.trimEnd();
    await client.request(completeRequest, { text: prompt, maxNewTokens: 16, alternatives: 3, seed: 1 });
    await client.request(sampleRequest, { text: prompt, n: 3, maxNewTokens: 10, seed: 1 });

    const stats = await client.request(statsRequest, null);
    const peak = statusBytes(client.pid, 'VmHWM');
    // Anonymous memory (heaps, onnxruntime's packed weights, KV) vs pages mapped from files (the model's token embedding read by its Gather, binaries).
    const anon = statusBytes(client.pid, 'RssAnon');
    const file = statusBytes(client.pid, 'RssFile');
    const limitBytes = 1.3 * bench.weightBytes + 250 * MB;
    const p50 = overall.percentile(50) / 1e6;
    const p99 = overall.percentile(99) / 1e6;
    return [
      {
        id: 'W6',
        workload: 'model process RSS after W1–W5 sent through ModelClient (statsRequest.rssBytes)',
        unit: 'MB',
        value: stats.rssBytes / MB,
        samples: [stats.rssBytes / MB],
        baseline: { label: 'weights (onnx file bytes)', value: bench.weightBytes / MB, samples: [bench.weightBytes / MB] },
        ratio: stats.rssBytes / bench.weightBytes,
        target: `≤ 1.3× weights + 250 MB (${(limitBytes / MB).toFixed(0)} MB)`,
        pass: stats.rssBytes <= limitBytes,
        details: { rssMBAfter, peakRssMB: peak === undefined ? undefined : peak / MB, anonMB: anon === undefined ? undefined : anon / MB, fileMB: file === undefined ? undefined : file / MB, heapMB: stats.heapBytes / MB, cache: stats.cache, loadMs },
      },
      {
        id: 'W7',
        workload: `extension-side event-loop delay while the model process scores the ${texts.longIds.length}-token document (scoreSentencesRequest)`,
        unit: 'ms',
        value: p99,
        valueText: `p50 ${p50.toFixed(1)} ms / p99 ${p99.toFixed(1)} ms`,
        samples: perRun.map((sample) => sample.p99),
        target: 'p99 ≤ 20 ms',
        pass: p99 <= 20,
        details: { p50, p99, max: overall.max / 1e6, resolutionMs: MONITOR_RESOLUTION_MS, perRun, requestMs },
      },
    ];
  } finally {
    client.dispose();
  }
}
