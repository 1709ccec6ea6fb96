// W14 and W15: typing in bursts at the end of a Markdown document with sentence loss on, as a
// person types (5 keys ~150 ms apart, then a 1.2 s pause), against the same typing with sentence
// loss off, in the same process and run. This process plays the extension host: the extension's
// own document sync sends the edits, and each keystroke asks what the panel (`nextTokenRequest`,
// the whole text before the cursor) or ghost text (`completeRequest`, greedy, the suggester's
// prompt window) asks. A keystroke's latency is the time until an answer for its text or a later
// one arrives (a newer keystroke's request supersedes an older one, as in the editor).
import type { RequestType } from 'vscode-jsonrpc';
import { promptWindow } from '../src/core/completionCache';
import { traceStep } from '../src/core/stepTrace';
import type { SyncedDocument } from '../src/extension/documentSync';
import { completeRequest, documentStatusNotification, loadRequest, nextTokenRequest, statsRequest } from '../src/shared/hostProtocol';
import type { DocumentStatusParams, ErrorData } from '../src/shared/hostProtocol';
import { SETTINGS } from '../src/shared/settings';
import { benchWindow, sleep } from './documents';
import type { BenchWindow } from './documents';
import { TYPED_WORDS } from './prose';
import type { Row } from './report';
import { percentile } from './stats';

export interface TypingBench {
  root: string;
  folder: string;
  threads: number;
  /** The documents typed into: W14a/W15a in the first (≈1,000 tokens), …b in the second (4,000). */
  documents: Array<{ suffix: string; text: string; tokens: number }>;
  smoke: boolean;
  log: (line: string) => void;
}

export const KEYS_PER_BURST = 5;
export const KEY_GAP_MS = 150;
export const PAUSE_MS = 1200;
/** Sentence loss must have caught up this soon after the last keystroke. */
const CATCH_UP_MS = 2000;

/** A request per keystroke; `ask` answers for the text before the cursor, unless `signal` cancels it. */
export type Ask = (text: string, signal: AbortSignal) => Promise<unknown>;

/**
 * Sends `ask` for every keystroke of `keys` bursts on a fixed schedule (whatever the answers
 * take) and returns each keystroke's latency until an answer for it or a later keystroke came.
 * The model process supersedes a window's unfinished request of the same kind (latest wins);
 * `cancelPrevious` also cancels it from this side first, as the extension's channels do (then
 * an answer that comes after the next keystroke is dropped, and fast typing sees none).
 */
export async function typeInBursts(
  keys: number,
  type: () => string,
  ask: Ask,
  options: { gapMs?: number; pauseMs?: number; perBurst?: number; stop?: () => boolean; cancelPrevious?: boolean } = {},
): Promise<number[]> {
  const perBurst = options.perBurst ?? KEYS_PER_BURST;
  const sent: Array<{ at: number; answeredAt?: number }> = [];
  const pending: Array<Promise<void>> = [];
  let due = performance.now();
  let previous: AbortController | undefined;
  for (let key = 0; key < keys; key++) {
    await sleep(Math.max(0, due - performance.now()));
    if (options.stop?.()) break;
    const index = sent.length;
    sent.push({ at: performance.now() });
    traceStep('key', { index });
    if (options.cancelPrevious) previous?.abort();
    const controller = new AbortController();
    previous = controller;
    pending.push(
      ask(type(), controller.signal).then(
        () => {
          const now = performance.now();
          traceStep('answer', { index, ms: now - (sent[index] as { at: number }).at });
          for (let j = index; j >= 0 && sent[j]?.answeredAt === undefined; j--) (sent[j] as { answeredAt?: number }).answeredAt = now;
        },
        () => undefined,
      ),
    );
    const endOfBurst = (key + 1) % perBurst === 0;
    due += endOfBurst ? (options.pauseMs ?? PAUSE_MS) : (options.gapMs ?? KEY_GAP_MS);
  }
  await Promise.all(pending);
  return sent.map((key) => (key.answeredAt ?? Number.NaN) - key.at);
}

/** The typed document: a base text and what was typed at its end, with the version the sync sends. */
class TypedDocument {
  typed = '';
  version = 1;
  constructor(
    readonly uri: string,
    private readonly base: string,
  ) {}

  get text(): string {
    return this.base + this.typed;
  }

  synced(): SyncedDocument {
    return { uri: { toString: () => this.uri }, languageId: 'markdown', version: this.version, getText: () => this.text };
  }
}

/** Every status the model process pushed, with when it arrived. */
type Statuses = Array<{ status: DocumentStatusParams; at: number }>;

/** When the model process reported `document` scored at its current version (or later): waits for it, NaN after `timeoutMs`. */
function scoredAt(statuses: Statuses, document: TypedDocument, timeoutMs: number): Promise<number> {
  const started = performance.now();
  const { uri, version } = document;
  return new Promise((resolve) => {
    const check = (): void => {
      const done = statuses.find(({ status }) => status.uri === uri && status.version >= version && status.state === 'done');
      if (done) resolve(done.at);
      else if (performance.now() - started > timeoutMs) resolve(Number.NaN);
      else setTimeout(check, 10);
    };
    check();
  });
}

interface Phase {
  latencies: number[];
  catchUpMs?: number;
  /** Tokens the model computed (not taken from the prefix cache) per keystroke, scoring's included. */
  computedPerKey: number;
}

async function typePhase(side: BenchWindow, statuses: Statuses, document: TypedDocument, ask: Ask, keys: number, loss: boolean, wordIndex: number): Promise<Phase> {
  const word = ` ${TYPED_WORDS[wordIndex % TYPED_WORDS.length]}${TYPED_WORDS[(wordIndex + 1) % TYPED_WORDS.length]}`;
  let typedHere = 0;
  let lastKeyAt = 0;
  const type = (): string => {
    lastKeyAt = performance.now();
    const char = word[typedHere++ % word.length] as string;
    const change = { rangeOffset: document.text.length, rangeLength: 0, text: char };
    document.typed += char;
    document.version++;
    if (loss) side.sync.change(document.synced(), [change]);
    return document.text;
  };
  const computed = async (): Promise<number> => (await side.client.request(statsRequest, null)).cache.computedTokens;
  // Every phase types into the same text: what an earlier phase typed is deleted first (near the
  // window's end, a longer text would move the ghost-text prompt's window and cost a prefill).
  if (document.typed !== '') {
    const change = { rangeOffset: document.text.length - document.typed.length, rangeLength: document.typed.length, text: '' };
    document.typed = '';
    document.version++;
    if (loss) {
      side.sync.change(document.synced(), [change]);
      await scoredAt(statuses, document, 30 * 60_000);
    }
  }
  // Untimed: the text as it stands, so the first keystroke extends a computed context as every later one does.
  await ask(document.text, new AbortController().signal);
  const before = await computed();
  traceStep('phase', { uri: document.uri, loss, wordIndex });
  const latencies = await typeInBursts(keys, type, ask);
  const catchUpMs = loss ? (await scoredAt(statuses, document, 60_000)) - lastKeyAt : undefined;
  return { latencies, catchUpMs, computedPerKey: ((await computed()) - before) / keys };
}

const summary = (samples: number[]): { p50: number; p90: number; p99: number } => ({ p50: percentile(samples, 50), p90: percentile(samples, 90), p99: percentile(samples, 99) });
const ms = (value: number): string => `${value.toFixed(0)} ms`;

function typingRow(id: string, what: string, tokens: number, on: Phase, off: Phase): Row {
  const a = summary(on.latencies);
  const b = summary(off.latencies);
  const catchUp = on.catchUpMs ?? Number.NaN;
  const ratio = a.p99 / b.p99;
  return {
    id,
    workload: `${what} per keystroke, typing in bursts (${KEYS_PER_BURST} keys ${KEY_GAP_MS} ms apart, ${PAUSE_MS / 1000} s pause) at the end of a ${tokens}-token Markdown document with sentence loss on (document sync, real model process); p99`,
    unit: 'ms',
    value: a.p99,
    valueText: `p50 ${ms(a.p50)} / p90 ${ms(a.p90)} / p99 ${ms(a.p99)}; caught up ${ms(catchUp)} after the last key`,
    samples: on.latencies,
    baseline: { label: `sentence loss off: p50 ${ms(b.p50)} / p90 ${ms(b.p90)} / p99 ${ms(b.p99)}`, value: b.p99, samples: off.latencies },
    ratio,
    target: `p99 ≤ 2× off; caught up ≤ ${CATCH_UP_MS / 1000} s`,
    pass: ratio <= 2 && catchUp <= CATCH_UP_MS,
    details: { on: a, off: b, catchUpMs: catchUp, keys: on.latencies.length, computedPerKey: { on: on.computedPerKey, off: off.computedPerKey } },
  };
}

export async function typingRows(bench: TypingBench): Promise<Row[]> {
  const keys = (bench.smoke ? 2 : 8) * KEYS_PER_BURST;
  const statuses: Statuses = [];
  const side = benchWindow(bench.root, bench.log);
  side.client.onNotification(documentStatusNotification, (status) => void statuses.push({ status, at: performance.now() }));
  const request = <P>(type: RequestType<P, unknown, ErrorData>, params: P, signal: AbortSignal): Promise<unknown> => side.client.request(type, params, signal);
  const maxNewTokens = SETTINGS['inline.maxNewTokens'].default;
  const panel: Ask = (text, signal) => request(nextTokenRequest, { text, top: 10, tailTokens: 8 }, signal);
  const ghost: Ask = (text, signal) => request(completeRequest, { text: promptWindow(text), maxNewTokens, alternatives: 0 }, signal);
  const rows: Row[] = [];
  try {
    await side.client.configure({ model: bench.folder, dtype: 'fp32', allowDownloads: false, cacheDir: '', threads: bench.threads });
    await side.client.request(loadRequest, null);
    for (const { suffix, text, tokens } of bench.documents) {
      const document = new TypedDocument(`untitled:bench-typing-${suffix}.md`, text);
      // Sentence loss off: the document is not open in the model process.
      const offPanel = await typePhase(side, statuses, document, panel, keys, false, 0);
      const offGhost = await typePhase(side, statuses, document, ghost, keys, false, 2);
      side.sync.open(document.synced());
      side.sync.focus([document.uri]);
      const opened = performance.now();
      const firstMs = (await scoredAt(statuses, document, 30 * 60_000)) - opened;
      bench.log(`W14/W15${suffix}: first scoring of the ${tokens}-token document took ${ms(firstMs)}`);
      const onPanel = await typePhase(side, statuses, document, panel, keys, true, 4);
      const onGhost = await typePhase(side, statuses, document, ghost, keys, true, 6);
      side.sync.close(document.uri);
      rows.push(typingRow(`W14${suffix}`, "the panel's next-token request (nextTokenRequest)", tokens, onPanel, offPanel), typingRow(`W15${suffix}`, "ghost text's greedy completion (completeRequest)", tokens, onGhost, offGhost));
      for (const row of rows.slice(-2)) bench.log(`${row.id}: on ${row.valueText}; off ${row.baseline?.label}; tokens computed per key ${JSON.stringify(row.details?.computedPerKey)}`);
    }
    return rows;
  } finally {
    side.dispose();
  }
}
