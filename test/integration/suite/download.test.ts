// First use of a hub model inside a real VS Code: an empty cache downloads from the hub
// simulator (the endpoint setting points at it) with the progress notification, the panel then
// answers with the same numbers as the folder the simulator serves, and a restarted model
// process loads from the cache without a single request. A cancelled download leaves nothing.
import * as assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { LmLensApi } from '../../../src/extension/extension';
import { cancelDownloadRequest } from '../../../src/shared/hostProtocol';
import { HubSimulator } from '../../support/hubSimulator';
import { lmLens, nextToken, rejectionCode, restoreTestModel, setSetting, testModel, waitUntil, withPanel } from './management.test';

const HUB_ID = 'lm-lens-test/tiny-gpt2';

describe('hub downloads in VS Code', function () {
  this.timeout(120_000);
  let lens: LmLensApi;
  let hub: HubSimulator;
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'lm-lens-hub-'));
  const saved = new Map<string, unknown>();

  before(async () => {
    lens = await lmLens();
    for (const key of ['hubEndpoint', 'allowDownloads', 'cacheDir']) saved.set(key, vscode.workspace.getConfiguration('lmLens').inspect(key)?.globalValue);
    hub = await HubSimulator.start({ [HUB_ID]: testModel() });
  });

  after(async () => {
    lens.panel.close();
    for (const [key, value] of saved) await setSetting(key, value);
    await restoreTestModel(lens);
    await hub.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('an empty cache downloads with the progress notification, the panel answers like the served folder, and a restart loads from the cache', async () => {
    const reference = await nextToken(lens);
    await setSetting('cacheDir', path.join(scratch, 'cache'));
    await setSetting('hubEndpoint', `${hub.url}/`);
    await setSetting('allowDownloads', true);
    // Slow enough for the notification to show several updates of the weights file.
    hub.faults = [{ kind: 'slow', file: 'onnx/model.onnx', bytesPerSecond: 10_000_000 }];
    const reportsBefore = lens.modelProbe.downloadReports.length;
    await setSetting('model', HUB_ID);
    // Settings reach the model process asynchronously: ask until the answer comes from the hub model.
    const deadline = Date.now() + 90_000;
    for (;;) {
      const answer = await nextToken(lens);
      const state = lens.model.state;
      if (state.state === 'ready' && state.info?.id === HUB_ID) {
        assert.deepEqual(
          answer.top.map((token) => token.id),
          reference.top.map((token) => token.id),
        );
        break;
      }
      assert.ok(Date.now() < deadline, `still not on ${HUB_ID}: ${JSON.stringify(state)}`);
    }
    await withPanel(lens, async (first) => {
      const onHub = first.model.kind === 'ready' && first.model.modelId === HUB_ID ? first : await lens.panelProbe.waitForRender((state) => !state.updating && state.model.kind === 'ready' && state.model.modelId === HUB_ID && state.prediction !== undefined, 30_000);
      const rows = onHub.prediction?.rows ?? [];
      assert.deepEqual(
        rows.map((row) => row.id),
        reference.top.slice(0, rows.length).map((token) => token.id),
      );
    });
    const reports = lens.modelProbe.downloadReports.slice(reportsBefore);
    assert.ok(
      reports.some((line) => /^onnx\/model\.onnx \(\d\/\d\) · [\d.]+ MB \/ 13\.5 MB · [\d.]+ MB\/s · \d+ s left$/.test(line)),
      `the notification showed file, sizes, speed and time left: ${reports.join(' | ')}`,
    );
    assert.ok(hub.requests.some((request) => request.path.startsWith('/lfs-cdn/')), 'the weights came through the LFS redirect');

    hub.faults = [];
    hub.requests.length = 0;
    await lens.model.restart();
    const again = await nextToken(lens);
    assert.deepEqual(
      again.top.map((token) => token.id),
      reference.top.map((token) => token.id),
    );
    assert.deepEqual(hub.requests, [], 'the restarted model process loaded from the cache');
  });

  it('a cancelled download leaves no partial file and does not start again by itself', async () => {
    const cacheDir = path.join(scratch, 'cancelled');
    await setSetting('cacheDir', cacheDir);
    hub.faults = [{ kind: 'slow', file: 'onnx/model.onnx', bytesPerSecond: 1_000_000 }];
    const pending = nextToken(lens);
    await waitUntil('the weights are downloading', () => lens.model.state.state === 'loading' && lens.model.state.progress?.file === 'onnx/model.onnx', 30_000);
    await lens.model.client.request(cancelDownloadRequest.method as unknown as typeof cancelDownloadRequest, null);
    assert.equal(await rejectionCode(pending), 'download-cancelled');
    assert.equal(await rejectionCode(nextToken(lens)), 'download-cancelled');
    const left = readdirSync(cacheDir, { recursive: true }).map(String);
    assert.deepEqual(
      left.filter((file) => /lmlens-partial|model\.onnx$|\.lock$/.test(file)),
      [],
      `left behind: ${left.join(', ')}`,
    );
    hub.faults = [];
  });
});
