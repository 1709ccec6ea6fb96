// What the download tests share: the test model served by a hub simulator under a hub id,
// fresh cache folders, and checks on what a cache folder holds.
import * as assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LmLensError } from '../../src/core/errors';
import type { LmLensErrorCode } from '../../src/core/errors';
import { HubSimulator } from './hubSimulator';
import { ensureTestModel } from './testModel';

export const HUB_ID = 'lm-lens-test/tiny-gpt2';
export const TINY_SHAPE = { layers: 2, dim: 64, heads: 4, seed: 1 } as const;

export interface HubFixture {
  hub: HubSimulator;
  /** The model folder the simulator serves. */
  folder: string;
  scratch: string;
  freshCache(): string;
  close(): Promise<void>;
}

export async function startHubFixture(options: { tls?: { key: string; cert: string } } = {}): Promise<HubFixture> {
  const folder = await ensureTestModel(TINY_SHAPE);
  const hub = await HubSimulator.start({ [HUB_ID]: folder }, options);
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'lm-lens-download-'));
  let caches = 0;
  return {
    hub,
    folder,
    scratch,
    freshCache: () => path.join(scratch, `cache-${++caches}`),
    close: async () => {
      await hub.close();
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}

/** Every file under `folder`, relative, sorted (empty if it does not exist). */
export function filesUnder(folder: string): string[] {
  try {
    return (readdirSync(folder, { recursive: true, withFileTypes: true }) as Array<{ name: string; parentPath: string; isFile(): boolean }>)
      .filter((entry) => entry.isFile())
      .map((entry) => path.relative(folder, path.join(entry.parentPath, entry.name)))
      .sort();
  } catch {
    return [];
  }
}

/** Temporary or partial files: what a download must never leave behind after it gave up. */
export const leftovers = (folder: string): string[] => filesUnder(folder).filter((file) => /lmlens-partial|\.tmp\.|\.lock$/.test(file));

export async function expectLmLensError(promise: Promise<unknown>, code: LmLensErrorCode, pattern: RegExp): Promise<LmLensError> {
  let caught: unknown;
  await assert.rejects(promise, (error: unknown) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof LmLensError, `an LmLensError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.ok(!caught.message.includes('\n'), `one line: ${caught.message}`);
  assert.match(caught.message, pattern);
  return caught;
}
