// W12 and W13: two windows on one shared model server. Window A types a word at the end of a
// 511-token context, a keystroke every 100 ms, each asking for the next-token distribution,
// while window B's 4,000-token document is scored (scoreSentencesRequest). W12: A's keystroke
// latency against the same keystrokes with B idle (measured in the same run); W13: B's scoring
// throughput while A types ÷ B's scoring alone.
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { ModelClient } from '../src/client/client';
import { loadRequest, nextTokenRequest, scoreSentencesRequest } from '../src/shared/hostProtocol';
import { traceStep } from '../src/core/stepTrace';
import { ensureHostScript } from './host';
import { LANGUAGE_ID, TYPED_WORDS, documentVariant } from './prose';
import type { BenchTexts } from './prose';
import type { Row } from './report';
import { median, percentile, timed } from './stats';
import { typeInBursts } from './typing';

export interface CompetingBench {
  root: string;
  folder: string;
  threads: number;
  texts: BenchTexts;
  /** Pairs of (B alone, B while A types). */
  pairs: number;
  log: (line: string) => void;
}

const KEY_GAP_MS = 100;

export async function competingRows(bench: CompetingBench): Promise<Row[]> {
  const hostScript = ensureHostScript(bench.root, bench.log);
  const serverDir = mkdtempSync(join(os.tmpdir(), 'lm-lens-bench-w12-'));
  const client = (name: string): ModelClient => new ModelClient({ hostScript, serverDir, clientName: name, idleShutdownMs: 500, requestTimeoutMs: 30 * 60_000 });
  const windowA = client('bench window A');
  const windowB = client('bench window B');
  const settings = { model: bench.folder, dtype: 'fp32', allowDownloads: false, cacheDir: '', threads: bench.threads };
  const idle: number[] = [];
  const busy: number[] = [];
  const alone: number[] = [];
  const during: number[] = [];
  try {
    await Promise.all([windowA.configure(settings), windowB.configure(settings)]);
    await windowA.request(loadRequest, null);
    await windowB.request(loadRequest, null);
    if (windowA.pid !== windowB.pid) throw new Error('W12: the windows were not served by one process');
    const tokens = bench.texts.longIds.length;
    let words = 0;
    /**
     * Words typed at the end of the 511-token context, a keystroke every 100 ms: `keys` of them, or
     * fewer once `stop` says so. Each word is typed from the same context (a different word each
     * time, as W1a), so the context stays at 511 tokens plus one word however long B takes.
     */
    const typeWords = (keys: number, stop?: () => boolean): Promise<number[]> => {
      let typed = 0;
      const type = (): string => {
        const word = ` ${TYPED_WORDS[words % TYPED_WORDS.length]}`;
        const text = bench.texts.typing + word.slice(0, (typed % word.length) + 1);
        typed++;
        if (typed % word.length === 0) words++;
        return text;
      };
      return typeInBursts(keys, type, (text, signal) => windowA.request(nextTokenRequest, { text, top: 10, tailTokens: 8 }, signal), { gapMs: KEY_GAP_MS, perBurst: Number.MAX_SAFE_INTEGER, stop });
    };
    // The context's first prefill is no keystroke's: W1a's keystrokes extend a cached context.
    await windowA.request(nextTokenRequest, { text: bench.texts.typing, top: 10, tailTokens: 8 });
    for (let pair = 0; pair < bench.pairs; pair++) {
      traceStep('phase', { what: 'A idle', pair });
      idle.push(...(await typeWords(20)));
      bench.log(`W12/W13 pair ${pair + 1}: A alone median ${median(idle).toFixed(0)} ms; B scoring alone…`);
      traceStep('phase', { what: 'B alone', pair });
      alone.push(await timed(() => windowB.request(scoreSentencesRequest, { text: documentVariant(bench.texts.long, 100 + 2 * pair), languageId: LANGUAGE_ID, fromOffset: 0 })));
      traceStep('phase', { what: 'B while A types', pair });
      let scoring = true;
      const scored = timed(() => windowB.request(scoreSentencesRequest, { text: documentVariant(bench.texts.long, 101 + 2 * pair), languageId: LANGUAGE_ID, fromOffset: 0 })).finally(() => (scoring = false));
      // Typing while B scores, and only then.
      busy.push(...(await typeWords(Number.MAX_SAFE_INTEGER, () => !scoring)));
      during.push(await scored);
      bench.log(`W12/W13 pair ${pair + 1}: B alone ${alone.at(-1)?.toFixed(0)} ms, while A types ${during.at(-1)?.toFixed(0)} ms; A p50 idle ${median(idle).toFixed(0)} ms, busy ${median(busy).toFixed(0)} ms`);
    }
    const idleMedian = median(idle);
    const p50 = percentile(busy, 50);
    const p99 = percentile(busy, 99);
    const throughput = alone.map((ms, i) => ms / (during[i] as number));
    const perSecond = (ms: number): number => (tokens * 1000) / ms;
    return [
      {
        id: 'W12',
        workload: `window A's next-token request per keystroke (511-token context, a key every ${KEY_GAP_MS} ms) while window B's ${tokens}-token document is scored on the same server; p99`,
        unit: 'ms',
        value: p99,
        valueText: `p50 ${p50.toFixed(0)} ms / p99 ${p99.toFixed(0)} ms`,
        samples: busy,
        baseline: { label: `the same keystrokes with B idle (median ${idleMedian.toFixed(0)} ms)`, value: idleMedian, samples: idle },
        ratio: p99 / idleMedian,
        target: 'p99 ≤ 3× the idle median',
        pass: p99 <= 3 * idleMedian,
        details: { p50, p99, idleP99: percentile(idle, 99), keys: busy.length },
      },
      {
        id: 'W13',
        workload: `window B's scoring throughput while A types (W12) ÷ B's scoring alone (${tokens} tokens, scoreSentencesRequest)`,
        unit: 'tok/s',
        value: perSecond(median(during)),
        samples: during.map(perSecond),
        baseline: { label: 'B scoring alone', value: perSecond(median(alone)), samples: alone.map(perSecond) },
        ratio: median(throughput),
        target: '≥ 0.8',
        pass: median(throughput) >= 0.8,
        details: { aloneMs: alone, duringMs: during },
      },
    ];
  } finally {
    windowA.dispose();
    windowB.dispose();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    rmSync(serverDir, { recursive: true, force: true });
  }
}
