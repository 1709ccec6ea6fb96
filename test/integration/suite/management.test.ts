// Model management inside a real VS Code: switching model folders without a reload (the panel's
// numbers follow, the status goes loading → ready), clearing the model cache, and the offline
// error with its actions, recovered by fixing the setting. Also exports the helpers the faults
// suite shares (it is loaded after this one, see suites.ts).
import * as assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { LmLensApi } from '../../../src/extension/extension';
import type { PanelState, RowView } from '../../../src/shared/panelProtocol';
import { ModelClient } from '../../../src/client/client';
import { nextTokenRequest } from '../../../src/shared/hostProtocol';
import type { NextTokenResponse } from '../../../src/shared/hostProtocol';
import { extensionId, sampleProse, testModelBEnvVar } from '../fixtures';
import { testModelEnvVar } from '../results';
import { COMMANDS } from '../../../src/shared/commands';
import { lmLens, setSetting, settings, untitledDocument, waitUntil } from './helpers';

export const PROMPT = sampleProse.split('\n\n')[1]?.trim() ?? 'Alice is a curious girl';

export { lmLens, setSetting, waitUntil } from './helpers';

/**
 * The model's next-token answer through the extension's own controller. The request type goes by
 * method name: a RequestType from this bundle carries its own copy of vscode-jsonrpc, which the
 * extension's copy does not recognise.
 */
export function nextToken(lens: LmLensApi, text = PROMPT, top = 10): Promise<NextTokenResponse> {
  return lens.model.request('command', nextTokenRequest.method as unknown as typeof nextTokenRequest, { text, top });
}

/** The error code of a rejected request (the error's class comes from the extension's bundle, not this one). */
export async function rejectionCode(request: Promise<unknown>): Promise<string> {
  try {
    await request;
  } catch (error) {
    return String((error as { code?: unknown }).code);
  }
  throw new Error('the request succeeded');
}

/** Forgets the last error shown, so a test sees only its own (read it back with `lastError`). */
export function forgetLastError(lens: LmLensApi): void {
  lens.modelProbe.lastErrorReport = undefined;
}

export function lastError(lens: LmLensApi): LmLensApi['modelProbe']['lastErrorReport'] {
  return lens.modelProbe.lastErrorReport;
}

/** The test model the runner configured (folder A). */
export function testModel(): string {
  const folder = process.env[testModelEnvVar] ?? settings().get<string>('model');
  assert.ok(folder, 'no test model configured');
  return folder;
}

/** Points lmLens.model back at the test model and waits for a request to succeed on it. */
export async function restoreTestModel(lens: LmLensApi): Promise<NextTokenResponse> {
  await setSetting('model', testModel());
  const response = await nextToken(lens);
  const state = lens.model.state;
  assert.ok(state.state === 'ready' && state.info?.id === testModel(), `ready on the test model, got ${JSON.stringify(state)}`);
  return response;
}

/** A fresh model process of its own (not the extension's), straight on `folder`: the reference numbers. */
async function referenceFrom(lens: LmLensApi, folder: string, text: string, top: number): Promise<NextTokenResponse> {
  const extension = vscode.extensions.getExtension(extensionId);
  assert.ok(extension);
  const client = new ModelClient({ hostScript: path.join(extension.extensionPath, 'dist', 'modelHost.js') });
  try {
    await client.configure({ ...lens.model.settings, model: folder });
    return await client.request(nextTokenRequest, { text, top });
  } finally {
    client.dispose();
  }
}

function assertSameRows(rows: readonly RowView[], expected: NextTokenResponse, what: string): void {
  assert.deepEqual(
    rows.map((row) => row.id),
    expected.top.map((token) => token.id),
    `${what}: token ids`,
  );
  rows.forEach((row, i) => assert.ok(Math.abs(row.prob - (expected.top[i]?.prob ?? Number.NaN)) < 1e-5, `${what}: row ${i} ${row.prob} vs ${expected.top[i]?.prob}`));
}

const settled = (state: PanelState): boolean => !state.updating && state.model.kind === 'ready' && state.prediction !== undefined;

/** A settled render of a prediction other than `previous`'s. */
function newerThan(previous: PanelState): (state: PanelState) => boolean {
  return (state) => settled(state) && state.prediction?.id !== previous.prediction?.id;
}

/** Runs `body` with the next-token panel open on PROMPT (cursor at its end), given its first settled render. */
export async function withPanel(lens: LmLensApi, body: (first: PanelState) => Promise<void>): Promise<void> {
  const document = await untitledDocument('markdown', PROMPT);
  const editor = await vscode.window.showTextDocument(document);
  const end = document.positionAt(PROMPT.length);
  editor.selection = new vscode.Selection(end, end);
  try {
    await vscode.commands.executeCommand(COMMANDS.showNextTokenProbabilities);
    await body(await lens.panelProbe.waitForRender(settled, 90_000));
  } finally {
    lens.panel.close();
    await vscode.window.showTextDocument(document);
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
  }
}

describe('model management', function () {
  this.timeout(120_000);
  let lens: LmLensApi;
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'lm-lens-management-'));

  before(async () => {
    lens = await lmLens();
  });

  after(async () => {
    lens.panel.close();
    await setSetting('cacheDir', undefined);
    await restoreTestModel(lens);
    rmSync(scratch, { recursive: true, force: true });
  });

  it('switches to another local model folder without a reload: the panel shows its numbers, the status goes loading → ready', async function () {
    const folderB = process.env[testModelBEnvVar];
    if (!folderB) this.skip();
    await withPanel(lens, async (onA) => {
      const k = onA.controls.k;
      assertSameRows(onA.prediction?.rows ?? [], await nextToken(lens, PROMPT, k), 'folder A');

      const from = lens.modelProbe.stateHistory.length;
      await setSetting('model', folderB);
      const onB = await lens.panelProbe.waitForRender(newerThan(onA), 90_000);
      const state = lens.model.state;
      assert.ok(state.state === 'ready' && state.info?.id === folderB && state.info.layers === 3, `ready on folder B, got ${JSON.stringify(state)}`);
      const history = lens.modelProbe.stateHistory.slice(from);
      assert.ok(history.indexOf('loading') >= 0 && history.lastIndexOf('ready') > history.indexOf('loading'), `status went ${history.join(' → ')}`);
      assert.notDeepEqual(
        onB.prediction?.rows.map((row) => row.prob),
        onA.prediction?.rows.map((row) => row.prob),
        'the numbers changed',
      );
      assertSameRows(onB.prediction?.rows ?? [], await referenceFrom(lens, folderB, PROMPT, k), 'folder B (own process)');

      await setSetting('model', testModel());
      const back = await lens.panelProbe.waitForRender(newerThan(onB), 90_000);
      assertSameRows(back.prediction?.rows ?? [], await nextToken(lens, PROMPT, k), 'folder A again');
      assert.deepEqual(
        back.prediction?.rows.map((row) => row.id),
        onA.prediction?.rows.map((row) => row.id),
      );
    });
  });

  it('a switch written as the model and then the unchanged precision (as "Select model" writes it) still reaches the panel', async function () {
    const folderB = process.env[testModelBEnvVar];
    if (!folderB) this.skip();
    try {
      await withPanel(lens, async (onA) => {
        await setSetting('model', folderB);
        // A second settings change right behind the first, one that changes nothing the model uses.
        await setSetting('dtype', 'fp32');
        const onB = await lens.panelProbe
          .waitForRender((state) => newerThan(onA)(state) && state.model.kind === 'ready' && state.model.modelId === folderB, 30_000)
          .catch((error: unknown) => {
            const last = lens.panelProbe.lastRendered;
            const shown = `model ${JSON.stringify(last?.model)}, updating ${String(last?.updating)}, prediction #${last?.prediction?.id} (before the switch #${onA.prediction?.id})`;
            throw new Error(`${error instanceof Error ? error.message : String(error)} Last render: ${shown}`);
          });
        assertSameRows(onB.prediction?.rows ?? [], await referenceFrom(lens, folderB, PROMPT, onA.controls.k), 'folder B');
      });
    } finally {
      await setSetting('dtype', undefined);
      await restoreTestModel(lens);
    }
  });

  it('the status bar went through loading and ready', async () => {
    await nextToken(lens);
    const history = lens.modelProbe.stateHistory;
    const loading = history.indexOf('loading');
    assert.ok(loading >= 0 && history.indexOf('ready', loading) > loading, `history: ${history.join(' → ')}`);
    assert.equal(history.at(-1), 'ready');
  });

  it('"Clear model cache" empties the cache folder it names (confirmation skipped with { confirm: false })', async () => {
    const cache = path.join(scratch, 'cache');
    mkdirSync(path.join(cache, 'Xenova', 'gpt2', 'onnx'), { recursive: true });
    writeFileSync(path.join(cache, 'Xenova', 'gpt2', 'onnx', 'model.onnx'), Buffer.alloc(64 * 1024, 1));
    writeFileSync(path.join(cache, 'Xenova', 'gpt2', 'config.json'), '{}');
    writeFileSync(path.join(cache, 'stray.bin'), Buffer.alloc(1024, 2));
    await setSetting('cacheDir', cache);
    assert.equal(lens.management.cacheDir, cache);
    await vscode.commands.executeCommand(COMMANDS.clearModelCache, { confirm: false });
    assert.deepEqual(readdirSync(cache), [], 'the cache folder is empty');
    // The folder itself stays, and the model (a local folder) still answers afterwards.
    assert.equal((await nextToken(lens)).top.length, 10);
    await setSetting('cacheDir', undefined);
  });

  it('offline: a hub model with downloads off fails fast with "Choose a local folder…" and "Retry", and fixing the setting recovers', async () => {
    const emptyCache = mkdtempSync(path.join(scratch, 'empty-cache-'));
    forgetLastError(lens);
    await setSetting('allowDownloads', false);
    await setSetting('cacheDir', emptyCache);
    await setSetting('model', 'Xenova/gpt2');
    const started = Date.now();
    assert.equal(await rejectionCode(nextToken(lens)), 'downloads-disabled');
    await waitUntil('the error is reported with its actions', () => lastError(lens)?.code === 'downloads-disabled', 10_000 - (Date.now() - started));
    const state = lens.model.state;
    assert.ok(state.state === 'error' && state.code === 'downloads-disabled', JSON.stringify(state));
    assert.ok(!state.message.includes('\n') && state.message.includes('lmLens.allowDownloads'), state.message);
    const actions = lastError(lens)?.actions ?? [];
    for (const action of ['Choose a local folder…', 'Retry']) assert.ok(actions.includes(action), `offers ${action}: ${actions.join(', ')}`);
    assert.deepEqual(readdirSync(emptyCache), [], 'nothing was downloaded');

    await setSetting('cacheDir', undefined);
    assert.equal((await restoreTestModel(lens)).top.length, 10);
  });
});
