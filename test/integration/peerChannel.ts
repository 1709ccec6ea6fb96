// The second workbench window of the integration run (test/integration/peer.ts) takes orders
// from the first one's suite through files in a folder both extension hosts are told about:
// command-N.json from the suite, answer-N.json from the peer. No vscode import: both sides use it.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const peerDirEnvVar = 'LM_LENS_PEER_DIR';

export type PeerAction = 'ask' | 'done';

export interface PeerAnswer {
  /** The model server's pid as the peer window sees it after answering. */
  pid?: number;
  /** How many next-token rows the peer got. */
  rows?: number;
  error?: string;
}

/** Written whole or not at all: the other side polls and must never read half a file. */
function writeAtomic(file: string, value: unknown): void {
  writeFileSync(`${file}.tmp`, JSON.stringify(value));
  renameSync(`${file}.tmp`, file);
}

async function waitForFile(file: string, timeoutMs: number): Promise<unknown> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`no ${path.basename(file)} within ${timeoutMs} ms (is the peer window running?)`);
    await sleep(100);
  }
  return JSON.parse(readFileSync(file, 'utf8'));
}

let sent = 0;

/** Suite side: gives the peer an order and waits for its answer. */
export async function tellPeer(dir: string, action: PeerAction, timeoutMs = 60_000): Promise<PeerAnswer> {
  const n = ++sent;
  writeAtomic(path.join(dir, `command-${n}.json`), { action });
  if (action === 'done') return {};
  return (await waitForFile(path.join(dir, `answer-${n}.json`), timeoutMs)) as PeerAnswer;
}

/** Peer side: answers orders in turn until told `done` (or until `timeoutMs`, if the suite never says it). */
export async function servePeer(dir: string, answer: () => Promise<PeerAnswer>, timeoutMs: number): Promise<void> {
  mkdirSync(dir, { recursive: true });
  writeAtomic(path.join(dir, 'peer-ready.json'), { pid: process.pid });
  const deadline = Date.now() + timeoutMs;
  for (let n = 1; Date.now() < deadline; n++) {
    const { action } = (await waitForFile(path.join(dir, `command-${n}.json`), deadline - Date.now())) as { action: PeerAction };
    if (action === 'done') return;
    writeAtomic(path.join(dir, `answer-${n}.json`), await answer());
  }
}

/** Suite side: whether the runner opened a peer window at all (the Electron runner does not). */
export function peerDir(): string | undefined {
  return process.env[peerDirEnvVar] || undefined;
}

export function waitForPeer(dir: string, timeoutMs = 120_000): Promise<unknown> {
  return waitForFile(path.join(dir, 'peer-ready.json'), timeoutMs);
}
