// The features must behave the same whichever engine answers: `onEveryBackend` defines a suite
// on the local engine, then again on a protocol fixture server (test/support/serverFixture.ts,
// a process of its own answering from the same test model) that `lmLens.backend` is switched
// to without a reload. LM_LENS_TEST_SERVER_PASS picks that server's API: `openai` (default),
// `llama.cpp`, or `off`.
import * as assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LmLensApi } from '../../../src/extension/extension';
import type { ModelState } from '../../../src/shared/hostProtocol';
import { loadRequest } from '../../../src/shared/hostProtocol';
import type { FixtureApi } from '../../support/serverFixture';
import { FixtureProcess } from '../fixtureProcess';
import type { FixtureProcessOptions } from '../fixtureProcess';
import { testModelEnvVar } from '../results';
import { lmLens, setSetting, settings } from './helpers';

export const serverPassEnvVar = 'LM_LENS_TEST_SERVER_PASS';

/** Which engine a suite runs on: the local one, or a fixture server of this API. */
export type Pass = 'local' | FixtureApi;

export function testModelFolder(): string {
  const folder = process.env[testModelEnvVar] ?? settings().get<string>('model');
  assert.ok(folder, 'no test model configured');
  return folder;
}

/** A fixture server on the test model (stop it in `after`). */
export function startFixture(options: Omit<FixtureProcessOptions, 'model'>): Promise<FixtureProcess> {
  return FixtureProcess.start({ ...options, model: testModelFolder() });
}

/**
 * Asks the model process to load (or connect) until `ready` holds: the settings reach it a moment
 * after the extension host sees them, and a load sent before answers for the old engine. By
 * method name: a RequestType from this bundle is not the extension's copy of the class.
 */
export async function waitForEngine(lens: LmLensApi, what: string, ready: (state: ModelState) => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await lens.model.client.request(loadRequest.method as unknown as typeof loadRequest, null).catch(() => undefined);
    if (ready(lens.model.state)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}: ${JSON.stringify(lens.model.state)}`);
    await sleep(200);
  }
}

export const servedBy =
  (host: string) =>
  (state: ModelState): boolean =>
    state.state === 'ready' && state.engine?.host === host;

export const servedLocally = (state: ModelState): boolean => state.state === 'ready' && state.info !== undefined;

/** Switches `lmLens.backend` to the server at `url`, as a user would in settings, and waits until it answers. */
export async function useServer(lens: LmLensApi, api: FixtureApi, url: string): Promise<void> {
  await setSetting('server.url', url);
  await setSetting('backend', api);
  await waitForEngine(lens, `the ${api} server at ${url} answers`, servedBy(new URL(url).host));
}

/**
 * Back to the local engine (the server settings' defaults) on the test model. The model is set
 * again: in code-server, writing a machine-scoped setting creates the remote machine settings,
 * and from then on the runner's user-settings value of `lmLens.model` (machine-scoped too) may
 * no longer be read.
 */
export async function useLocal(lens: LmLensApi): Promise<void> {
  await setSetting('model', testModelFolder());
  await setSetting('backend', undefined);
  await setSetting('server.url', undefined);
  await setSetting('server.model', undefined);
  await waitForEngine(lens, 'the local engine answers', servedLocally);
}

function serverPass(): FixtureApi | undefined {
  const value = process.env[serverPassEnvVar] ?? 'openai';
  if (value === 'off') return undefined;
  assert.ok(value === 'openai' || value === 'llama.cpp', `${serverPassEnvVar} must be openai, llama.cpp or off, not ${value}`);
  return value;
}

/** `define` once on the local engine and once more, in a suite of its own, on a fixture server. */
export function onEveryBackend(define: (pass: Pass) => void): void {
  define('local');
  const api = serverPass();
  if (!api) return;
  describe(`server pass (${api} protocol fixture)`, function () {
    this.timeout(120_000);
    let lens: LmLensApi;
    let fixture: FixtureProcess | undefined;
    before(async () => {
      lens = await lmLens();
      fixture = await startFixture({ api });
      await useServer(lens, api, fixture.url);
    });
    after(async () => {
      await useLocal(lens);
      await fixture?.stop();
    });
    define(api);
  });
}
