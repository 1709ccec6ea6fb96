// One model per machine, in a real VS Code: the runner opens a second workbench window on the
// same code-server (test/integration/peer.ts), and both windows' extension hosts must be served
// by one model process, and both must recover when it is killed.
import * as assert from 'node:assert/strict';
import type { LmLensApi } from '../../../src/extension/extension';
import { processAlive as alive } from '../../../src/shared/endpoint';
import { peerDir, tellPeer, waitForPeer } from '../peerChannel';
import { lmLens, nextToken, waitUntil } from './management.test';

describe('one model process for every window', function () {
  this.timeout(180_000);
  let lens: LmLensApi;
  const dir = peerDir();

  before(async function () {
    if (!dir) this.skip();
    lens = await lmLens();
    const peer = (await waitForPeer(dir)) as { pid: number };
    assert.notEqual(peer.pid, process.pid, 'the peer window runs in an extension host of its own');
  });

  after(async () => {
    if (dir) await tellPeer(dir, 'done');
  });

  it('two workbench windows share one model process and both get answers; killing it recovers both', async () => {
    assert.ok(dir);
    assert.equal((await nextToken(lens)).top.length, 10);
    const pid = lens.model.client.pid;
    assert.ok(pid !== undefined && alive(pid));
    const peer = await tellPeer(dir, 'ask');
    assert.equal(peer.error, undefined);
    assert.equal(peer.rows, 4);
    assert.equal(peer.pid, pid, 'the second window is served by the same process');

    lens.model.client.kill('SIGKILL');
    await waitUntil('the model process is gone', () => !alive(pid) && lens.model.client.pid === undefined, 20_000);
    // The crash is reported once; the next request starts a new server, and the other window joins it.
    await nextToken(lens).catch(() => undefined);
    assert.equal((await nextToken(lens)).top.length, 10);
    const restarted = lens.model.client.pid;
    assert.ok(restarted !== undefined && restarted !== pid);
    const again = await tellPeer(dir, 'ask');
    assert.equal(again.error, undefined);
    assert.equal(again.rows, 4);
    assert.equal(again.pid, restarted, 'the second window reconnected to the new process');
  });
});
