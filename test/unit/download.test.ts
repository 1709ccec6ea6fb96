// Hub downloads end to end against the hub simulator: what a first run does, and every way a
// network or a disk breaks it. The cache must never hold a partial or wrong file.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { ensureHubModel, missingFiles, modelCacheFolder, removeCachedModel } from '../../src/core/download/hubModel';
import type { DownloadProgress } from '../../src/core/download/hubModel';
import { normalizeEndpoint, resolveUrl } from '../../src/core/download/network';
import { loadEngine } from '../../src/core/engine';
import { nextTokenDistribution } from '../../src/core/nextToken';
import { HUB_ID, expectLmLensError, filesUnder, leftovers, startHubFixture } from '../support/downloadFixture';
import type { HubFixture } from '../support/downloadFixture';
import { repoRoot } from '../support/testModel';

const MODEL_FILES = ['config.json', 'generation_config.json', 'onnx/model.onnx', 'tokenizer.json', 'tokenizer_config.json'];

describe('hub downloads (simulator)', function () {
  let fx: HubFixture;
  let localTop: unknown;

  before(async () => {
    fx = await startHubFixture();
    const local = await loadEngine({ model: fx.folder, threads: 1 });
    localTop = (await nextTokenDistribution(local, 'Alice is a', { top: 10 })).top;
    await local.dispose();
  });
  after(() => fx.close());
  beforeEach(() => {
    fx.hub.faults = [];
    fx.hub.requests.length = 0;
  });

  const ensure = (cacheDir: string, extra: Partial<Parameters<typeof ensureHubModel>[0]> = {}): Promise<string> =>
    ensureHubModel({ model: HUB_ID, dtype: 'fp32', cacheDir, allowDownloads: true, network: { hubEndpoint: fx.hub.url }, stallMs: 400, ...extra });

  /** The hub-loaded model answers exactly like the folder the simulator serves. */
  async function assertSameNumbers(cacheDir: string): Promise<void> {
    const engine = await loadEngine({ model: HUB_ID, cacheDir, threads: 1, allowDownloads: false });
    try {
      assert.deepEqual((await nextTokenDistribution(engine, 'Alice is a', { top: 10 })).top, localTop);
    } finally {
      await engine.dispose();
    }
  }

  function assertSameFiles(cacheDir: string): void {
    const folder = modelCacheFolder(cacheDir, HUB_ID);
    for (const file of MODEL_FILES) assert.ok(readFileSync(path.join(folder, file)).equals(readFileSync(path.join(fx.folder, file))), `${file} is byte-identical`);
    assert.deepEqual(leftovers(folder), []);
  }

  it('endpoints with and without the trailing slash build the same hub URLs', () => {
    assert.equal(normalizeEndpoint('http://127.0.0.1:9/'), 'http://127.0.0.1:9');
    assert.equal(normalizeEndpoint('https://mirror.example/hf//'), 'https://mirror.example/hf');
    assert.equal(normalizeEndpoint(''), 'https://huggingface.co');
    assert.equal(resolveUrl('http://h/', 'a/b', 'onnx/model.onnx'), 'http://h/a/b/resolve/main/onnx/model.onnx');
    assert.throws(() => normalizeEndpoint('ftp://x'), /lmLens\.hubEndpoint/);
  });

  it('first run downloads every file with monotone progress and right totals; the model answers like the local folder', async () => {
    const cacheDir = fx.freshCache();
    const events: DownloadProgress[] = [];
    await ensure(cacheDir, { network: { hubEndpoint: `${fx.hub.url}/` }, onProgress: (event) => events.push(event) });
    assertSameFiles(cacheDir);
    for (const file of MODEL_FILES) {
      const mine = events.filter((event) => event.file === file);
      const size = readFileSync(path.join(fx.folder, file)).length;
      assert.ok(mine.length >= 2, `${file} reported`);
      for (let i = 1; i < mine.length; i++) assert.ok((mine[i]?.loadedBytes ?? 0) >= (mine[i - 1]?.loadedBytes ?? 0), `${file} progress is monotone`);
      assert.equal(mine.at(-1)?.loadedBytes, size);
      assert.ok(mine.every((event) => event.totalBytes === size), `${file} total is its size`);
    }
    // The LFS file came through the hub's redirect to its CDN, with its sha256 recorded.
    const onnx = fx.hub.requestsFor('onnx/model.onnx').map((request) => request.status);
    assert.deepEqual(onnx, [302, 200]);
    const manifest = JSON.parse(readFileSync(path.join(modelCacheFolder(cacheDir, HUB_ID), '.lmlens-manifest.json'), 'utf8')) as { files: Record<string, { sha256?: string }> };
    assert.equal(manifest.files['onnx/model.onnx']?.sha256, fx.hub.file(HUB_ID, 'onnx/model.onnx')?.sha256);
    await assertSameNumbers(cacheDir);
  });

  it('a cached model loads offline and online with zero requests', async () => {
    const cacheDir = fx.freshCache();
    await ensure(cacheDir, { network: { hubEndpoint: fx.hub.url } });
    fx.hub.requests.length = 0;
    await assertSameNumbers(cacheDir);
    const online = await loadEngine({ model: HUB_ID, cacheDir, threads: 1, network: { hubEndpoint: fx.hub.url } });
    await online.dispose();
    assert.deepEqual(fx.hub.requests, []);
  });

  it('cancel removes the partial file, and the next start downloads again from byte 0', async () => {
    const cacheDir = fx.freshCache();
    fx.hub.faults = [{ kind: 'slow', file: 'onnx/model.onnx', bytesPerSecond: 2_000_000 }];
    const controller = new AbortController();
    const run = ensure(cacheDir, {
      signal: controller.signal,
      onProgress: (event) => event.file === 'onnx/model.onnx' && event.loadedBytes > 1_000_000 && controller.abort(),
    });
    await expectLmLensError(run, 'cancelled', /cancelled/);
    const folder = modelCacheFolder(cacheDir, HUB_ID);
    assert.deepEqual(leftovers(folder), []);
    assert.ok(!filesUnder(folder).includes('onnx/model.onnx'));
    fx.hub.faults = [];
    fx.hub.requests.length = 0;
    await ensure(cacheDir);
    assert.deepEqual(fx.hub.requestsFor('onnx/model.onnx').map((request) => request.range), [undefined, undefined]);
    assertSameFiles(cacheDir);
  });

  it('a stalled download fails with a timeout error; a healthy run then resumes and answers like the local folder', async () => {
    const cacheDir = fx.freshCache();
    fx.hub.faults = [{ kind: 'stall', file: 'onnx/model.onnx', afterBytes: 3_000_000 }];
    await expectLmLensError(ensure(cacheDir), 'download-stalled', /stalled \(no data for 0\.4 s\).*resumes/);
    fx.hub.faults = [];
    fx.hub.requests.length = 0;
    await ensure(cacheDir);
    assert.ok(fx.hub.requestsFor('onnx/model.onnx').some((request) => request.status === 206 && /^bytes=[1-9]\d*-$/.test(request.range ?? '')), 'resumed with Range');
    assertSameFiles(cacheDir);
    await assertSameNumbers(cacheDir);
  });

  it('a connection reset mid-file resumes with Range and the file is whole', async () => {
    const cacheDir = fx.freshCache();
    fx.hub.faults = [{ kind: 'reset', file: 'onnx/model.onnx', afterBytes: 5_000_000, times: 1 }];
    await ensure(cacheDir);
    const bodies = fx.hub.requestsFor('onnx/model.onnx').filter((request) => request.status !== 302);
    assert.deepEqual(bodies.map((request) => request.status), [200, 206]);
    // It resumes from what reached the disk (up to the 5 MB sent before the reset), not from 0.
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(bodies[1]?.range ?? '')?.[1]);
    assert.ok(resumedAt > 0 && resumedAt <= 5_000_000, `resumed at ${resumedAt}`);
    assertSameFiles(cacheDir);
  });

  it('partial bytes of an older version of a file are not resumed: the download restarts cleanly', async () => {
    const cacheDir = fx.freshCache();
    fx.hub.faults = [{ kind: 'reset', file: 'tokenizer.json', afterBytes: 100_000 }];
    await expectLmLensError(ensure(cacheDir), 'download-interrupted', /broke off.*resumes/);
    const original = readFileSync(path.join(fx.folder, 'tokenizer.json'));
    const updated = Buffer.from(original.toString('utf8').replace('{', '{ '));
    fx.hub.setFile(HUB_ID, 'tokenizer.json', updated);
    fx.hub.faults = [];
    try {
      await ensure(cacheDir);
      assert.ok(readFileSync(path.join(modelCacheFolder(cacheDir, HUB_ID), 'tokenizer.json')).equals(updated));
    } finally {
      fx.hub.setFile(HUB_ID, 'tokenizer.json', original);
    }
  });

  it('an HTML page instead of a file is a one-line error and nothing of it is cached; the next good run works', async () => {
    const cacheDir = fx.freshCache();
    fx.hub.faults = [{ kind: 'html' }];
    await expectLmLensError(ensure(cacheDir), 'hub-html', /answered a web page instead of config\.json .*proxy login or captive portal\?/);
    assert.deepEqual(filesUnder(modelCacheFolder(cacheDir, HUB_ID)), []);
    fx.hub.faults = [];
    await ensure(cacheDir);
    assertSameFiles(cacheDir);
  });

  it('a precision the hub does not have gives the existing message', async () => {
    await expectLmLensError(ensure(fx.freshCache(), { dtype: 'fp16' }), 'hub-not-found', /The hub has no fp16 ONNX export at lm-lens-test\/tiny-gpt2 \(404 for onnx\/model_fp16\.onnx.*Check lmLens\.model and lmLens\.dtype/);
  });

  it('a mirror that lacks a file, and a model the hub does not know, say so', async () => {
    fx.hub.addRepo('lm-lens-test/partial', fx.folder, { exclude: ['tokenizer_config.json'] });
    await expectLmLensError(ensure(fx.freshCache(), { model: 'lm-lens-test/partial' }), 'mirror-missing', /The mirror 127\.0\.0\.1:\d+ has no tokenizer_config\.json of lm-lens-test\/partial/);
    await expectLmLensError(ensure(fx.freshCache(), { model: 'nobody/nothing' }), 'hub-not-found', /has no model nobody\/nothing/);
  });

  it('an unreachable endpoint is a one-line offline error', async () => {
    await expectLmLensError(ensure(fx.freshCache(), { network: { hubEndpoint: 'http://127.0.0.1:9' } }), 'hub-unreachable', /Cannot reach 127\.0\.0\.1:9 .*offline\?/);
  });

  it('a full disk (ENOSPC) is a one-line error and nothing half-written stays', async () => {
    const cacheDir = fx.freshCache();
    const folder = modelCacheFolder(cacheDir, HUB_ID);
    mkdirSync(path.join(folder, 'onnx'), { recursive: true });
    // Writes to /dev/full fail with ENOSPC: a real full disk, for this one file.
    symlinkSync('/dev/full', path.join(folder, 'onnx', 'model.onnx.lmlens-partial'));
    await expectLmLensError(ensure(cacheDir), 'disk-full', /disk is full: onnx\/model\.onnx does not fit .*lmLens\.cacheDir/);
    assert.deepEqual(leftovers(folder), []);
    assert.ok(!filesUnder(folder).includes('onnx/model.onnx'));
  });

  it('leftover temporary files of dead processes are removed', async () => {
    const cacheDir = fx.freshCache();
    const folder = modelCacheFolder(cacheDir, HUB_ID);
    mkdirSync(path.join(folder, 'onnx'), { recursive: true });
    writeFileSync(path.join(folder, 'onnx', 'model.onnx.tmp.999999999.abc123'), 'half a file');
    await ensure(cacheDir);
    assertSameFiles(cacheDir);
  });

  it('a truncated cached file is detected and fetched again; a damaged one asks for a re-download, which works', async () => {
    const cacheDir = fx.freshCache();
    const onnx = path.join(modelCacheFolder(cacheDir, HUB_ID), 'onnx', 'model.onnx');
    await ensure(cacheDir);
    writeFileSync(onnx, readFileSync(onnx).subarray(0, 1000));
    assert.deepEqual(await missingFiles(cacheDir, HUB_ID, 'fp32'), ['onnx/model.onnx']);
    await ensure(cacheDir);
    assertSameFiles(cacheDir);
    const size = readFileSync(onnx).length;
    writeFileSync(onnx, Buffer.alloc(size, 7));
    await expectLmLensError(loadEngine({ model: HUB_ID, cacheDir, threads: 1, allowDownloads: false }), 'cache-corrupt', /cached copy of lm-lens-test\/tiny-gpt2 does not load.*Re-download/);
    await removeCachedModel(cacheDir, HUB_ID);
    await ensure(cacheDir);
    await assertSameNumbers(cacheDir);
  });

  it('two processes downloading the same model at once produce one correct copy', async function () {
    this.timeout(60_000);
    const cacheDir = fx.freshCache();
    // The first process's big file stops half-way until the second is waiting for the lock.
    fx.hub.faults = [{ kind: 'hold', file: 'onnx/model.onnx', afterBytes: 6_000_000, times: 1 }];
    const worker = path.join(repoRoot(), 'test', 'support', 'downloadWorker.ts');
    const runWorker = (onLine: (line: string) => void): Promise<{ code: number | null; stderr: string; stdout: string }> =>
      new Promise((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', worker, HUB_ID, cacheDir, fx.hub.url], { cwd: repoRoot(), stdio: ['ignore', 'pipe', 'pipe'] });
        let stderr = '';
        let stdout = '';
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          onLine(chunk.toString());
        });
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.on('close', (code) => resolve({ code, stderr, stdout }));
      });
    let second: ReturnType<typeof runWorker> | undefined;
    const first = runWorker((line) => {
      if (!second && line.includes('onnx/model.onnx')) second = runWorker((output) => output.includes('"waiting":true') && fx.hub.releaseHeld());
    });
    const one = await first;
    assert.ok(second, 'the first process reached the big file');
    const two = await second;
    for (const result of [one, two]) assert.equal(result.code, 0, result.stderr);
    assert.match(two.stdout, /"waiting":true/, 'the second process waited for the first');
    // One full body of the big file was served, not two.
    assert.equal(fx.hub.requestsFor('onnx/model.onnx').filter((request) => request.status === 200).length, 1);
    assertSameFiles(cacheDir);
  });
});
