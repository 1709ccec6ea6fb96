// Two windows on one model server, one queue: a window's hang timer measures lack of progress,
// not time spent queued or working, so its timeout never restarts a server still working for the
// others; and one window's big scoring does not hold another's keystroke for its whole length.
// The real dist/modelHost.js on the project's test model.
import * as assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ModelClient } from '../../src/client/client';
import { nextTokenRequest, scoreSentencesRequest } from '../../src/shared/hostProtocol';
import type { ModelSettings } from '../../src/shared/hostProtocol';
import { ensureTestModel, repoRoot } from '../support/testModel';

const hostScript = path.join(repoRoot(), 'dist', 'modelHost.js');
const PROSE = 'Alice was beginning to get very tired of sitting by her sister on the bank. ';

describe('one queue for every window of a shared server', function () {
  this.timeout(180_000);
  let settings: ModelSettings;
  let dir: string;
  const clients: ModelClient[] = [];

  const newClient = (name: string, requestTimeoutMs: number): ModelClient => {
    // The server says it is making progress every 100 ms here (5 s by default), well inside the short hang timers below.
    const client = new ModelClient({ hostScript, serverDir: dir, clientName: name, idleShutdownMs: 1000, requestTimeoutMs, env: { LM_LENS_PROGRESS_BEAT_MS: '100' } });
    clients.push(client);
    return client;
  };

  before(async () => {
    assert.ok(existsSync(hostScript), 'dist/modelHost.js is missing: run `npm run build` first');
    settings = { model: await ensureTestModel({ layers: 2, dim: 64, heads: 4, seed: 1 }), dtype: 'fp32', allowDownloads: false, cacheDir: '', threads: 1 };
  });
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'lm-lens-queue-'));
  });
  afterEach(() => {
    for (const client of clients.splice(0)) client.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a request that takes longer than its window’s timeout, queued behind another window’s scoring, is answered: the server was making progress; nobody restarts it', async () => {
    const a = newClient('window A', 60_000);
    const b = newClient('window B', 800);
    await Promise.all([a.configure(settings), b.configure(settings)]);
    await a.request(nextTokenRequest, { text: 'warm up', top: 1 });
    await b.request(nextTokenRequest, { text: 'warm up', top: 1 });
    const pid = a.pid;
    assert.equal(b.pid, pid, 'one server');
    // A's long document first, then B's: B's request waits its turns behind A's steps, and takes
    // several times B's 800 ms hang timer in all.
    const text = PROSE.repeat(300);
    const started = Date.now();
    const scoringA = a.request(scoreSentencesRequest, { text, languageId: 'plaintext', fromOffset: 0 });
    const answer = await b.request(scoreSentencesRequest, { text: text.replace('Alice', 'Alicia'), languageId: 'plaintext', fromOffset: 0 });
    const tookMs = Date.now() - started;
    await scoringA;
    assert.ok(tookMs > 3 * 800, `B's request took ${tookMs} ms: long enough that a timer counting time would have fired`);
    assert.ok(answer.sentences.length > 100);
    assert.equal(a.pid, pid, 'the server was not restarted');
    assert.equal(b.pid, pid);
    assert.ok(!a.isDown && !b.isDown);
  });

  it('a keystroke in one window is answered while another window’s long document is scored', async () => {
    const a = newClient('window A', 60_000);
    const b = newClient('window B', 60_000);
    await Promise.all([a.configure(settings), b.configure(settings)]);
    await a.request(nextTokenRequest, { text: 'warm up', top: 1 });
    await b.request(nextTokenRequest, { text: 'warm up', top: 1 });
    let scoring = true;
    const scored = b.request(scoreSentencesRequest, { text: PROSE.repeat(300), languageId: 'plaintext', fromOffset: 0 }).finally(() => (scoring = false));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const answered: boolean[] = [];
    for (let key = 0; key < 3; key++) {
      await a.request(nextTokenRequest, { text: `Alice was${'!'.repeat(key + 1)}`, top: 3 });
      answered.push(scoring);
    }
    await scored;
    assert.ok(answered.every(Boolean), `every keystroke was answered before the other window's scoring ended: ${answered.join(', ')}`);
  });
});
