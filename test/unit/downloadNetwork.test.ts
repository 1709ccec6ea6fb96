// Downloads through proxies, past TLS trouble, and from the `lm-lens` CLI, against the hub
// simulator and a forward proxy on 127.0.0.1.
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ensureHubModel } from '../../src/core/download/hubModel';
import type { NetworkSettings } from '../../src/core/download/network';
import { progressLine } from '../../src/cli/progressBar';
import { HUB_ID, expectLmLensError, startHubFixture } from '../support/downloadFixture';
import type { HubFixture } from '../support/downloadFixture';
import { ForwardProxy } from '../support/forwardProxy';
import type { ProxyOptions } from '../support/forwardProxy';
import { repoRoot } from '../support/testModel';

const PROXY_ENV = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy'];

/** Runs `body` with the proxy variables set to `values` (others cleared), as a shell would. */
async function withProxyEnv<T>(values: Record<string, string>, body: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(PROXY_ENV.map((key) => [key, process.env[key]]));
  for (const key of PROXY_ENV) delete process.env[key];
  Object.assign(process.env, values);
  try {
    return await body();
  } finally {
    for (const key of PROXY_ENV) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
  }
}

describe('hub downloads through proxies and TLS', function () {
  let fx: HubFixture;

  before(async () => (fx = await startHubFixture()));
  after(() => fx.close());
  beforeEach(() => (fx.hub.requests.length = 0));

  const ensure = (network: NetworkSettings): Promise<string> => ensureHubModel({ model: HUB_ID, dtype: 'fp32', cacheDir: fx.freshCache(), allowDownloads: true, network: { hubEndpoint: fx.hub.url, ...network } });

  async function withProxy<T>(options: ProxyOptions, body: (proxy: ForwardProxy) => Promise<T>): Promise<T> {
    const proxy = await ForwardProxy.start(options);
    try {
      return await body(proxy);
    } finally {
      await proxy.close();
    }
  }

  /** Every request the hub saw came out of one of the proxy's tunnels. */
  function assertAllThrough(proxy: ForwardProxy): void {
    assert.ok(fx.hub.requests.length >= 6, `hub requests: ${fx.hub.requests.length}`);
    for (const request of fx.hub.requests) assert.ok(proxy.upstreamPorts.has(request.remotePort ?? -1), `${request.path} came through the proxy`);
    assert.ok(proxy.log.length > 0 && proxy.log.every((line) => line === `CONNECT 127.0.0.1:${fx.hub.port}`), proxy.log.join(', '));
  }

  it('http.proxy (passed down by the extension): every hub request goes through the CONNECT proxy', () =>
    withProxy({}, async (proxy) => {
      await withProxyEnv({}, () => ensure({ proxy: proxy.url, noProxy: [] }));
      assertAllThrough(proxy);
    }));

  it('HTTPS_PROXY / HTTP_PROXY (the CLI): every hub request goes through the proxy, loopback included when NO_PROXY is empty', () =>
    withProxy({}, async (proxy) => {
      await withProxyEnv({ HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url, NO_PROXY: '' }, () => ensure({}));
      assertAllThrough(proxy);
    }));

  it('NO_PROXY and http.noProxy are respected: the hub is reached directly', () =>
    withProxy({ refuse: true }, async (proxy) => {
      await withProxyEnv({ HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1' }, () => ensure({}));
      await withProxyEnv({}, () => ensure({ proxy: proxy.url, noProxy: ['127.0.0.1'] }));
      assert.deepEqual(proxy.log, []);
    }));

  it('a proxy that wants a login gives a one-line 407 error; credentials in the proxy URL work', () =>
    withProxy({ auth: 'alice:s3cret' }, async (proxy) => {
      await expectLmLensError(withProxyEnv({}, () => ensure({ proxy: proxy.url })), 'proxy-auth', /asks for a login \(407\).*http\.proxy/);
      await withProxyEnv({}, () => ensure({ proxy: proxy.url.replace('http://', 'http://alice:s3cret@') }));
    }));

  it('a proxy that refuses the hub, or is not running, says so in one line', async () => {
    await withProxy({ refuse: true }, (proxy) => expectLmLensError(withProxyEnv({}, () => ensure({ proxy: proxy.url })), 'proxy-refused', /refused the connection to 127\.0\.0\.1:\d+ \(403\)/));
    await expectLmLensError(withProxyEnv({}, () => ensure({ proxy: 'http://127.0.0.1:9' })), 'proxy-refused', /Cannot connect to the proxy 127\.0\.0\.1:9/);
  });

  it('a TLS certificate that is not trusted names http.proxyStrictSSL; turning it off downloads', async function () {
    const dir = fx.freshCache();
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${dir}.key`, '-out', `${dir}.crt`, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
    if (made.status !== 0) this.skip();
    const secure = await startHubFixture({ tls: { key: readFileSync(`${dir}.key`, 'utf8'), cert: readFileSync(`${dir}.crt`, 'utf8') } });
    try {
      const run = (strictSSL: boolean): Promise<string> => ensureHubModel({ model: HUB_ID, dtype: 'fp32', cacheDir: secure.freshCache(), allowDownloads: true, network: { hubEndpoint: secure.hub.url, strictSSL } });
      await expectLmLensError(withProxyEnv({}, () => run(true)), 'tls-failed', /certificate of 127\.0\.0\.1:\d+ was not accepted.*http\.proxyStrictSSL/);
      await withProxyEnv({}, () => run(false));
    } finally {
      await secure.close();
    }
  });
});

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('lm-lens CLI downloads from a hub endpoint', function () {
  let fx: HubFixture;
  const cliBundle = path.join(repoRoot(), 'dist', 'cli.js');

  before(async () => {
    assert.ok(existsSync(cliBundle), 'dist/cli.js is missing: run `npm run build` first');
    fx = await startHubFixture();
  });
  after(() => fx.close());
  beforeEach(() => (fx.hub.requests.length = 0));

  /** Asynchronous: the simulator runs in this process and must answer while the CLI waits. */
  function cli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
    return new Promise((resolve) => {
      const clean = Object.fromEntries(Object.entries(process.env).filter(([key]) => !PROXY_ENV.includes(key) && key !== 'HF_ENDPOINT' && key !== 'LM_LENS_CACHE_DIR'));
      const child = spawn(process.execPath, [cliBundle, ...args], { env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  const lossOf = (run: CliRun): number => (JSON.parse(run.stdout) as { loss: number }).loss;

  it('--hub-endpoint URL/ downloads and answers like the local folder; --offline then works from the cache with zero requests', async () => {
    const cacheDir = fx.freshCache();
    const local = await cli(['loss', 'Alice is a', '--model', fx.folder, '--json', '--threads', '1']);
    assert.equal(local.code, 0, local.stderr);
    const first = await cli(['loss', 'Alice is a', '--model', HUB_ID, '--hub-endpoint', `${fx.hub.url}/`, '--cache-dir', cacheDir, '--json', '--threads', '1']);
    assert.equal(first.code, 0, first.stderr);
    // stderr is not a terminal here: no progress bar, and no library warnings either.
    assert.equal(first.stderr, '');
    assert.equal(lossOf(first), lossOf(local));
    assert.ok(fx.hub.requests.length >= 6);
    fx.hub.requests.length = 0;
    const offline = await cli(['loss', 'Alice is a', '--model', HUB_ID, '--offline', '--cache-dir', cacheDir, '--json', '--threads', '1']);
    assert.equal(offline.code, 0, offline.stderr);
    assert.equal(lossOf(offline), lossOf(local));
    assert.deepEqual(fx.hub.requests, []);
  });

  it('HF_ENDPOINT without the trailing slash does the same', async () => {
    const run = await cli(['loss', 'Alice is a', '--model', HUB_ID, '--cache-dir', fx.freshCache(), '--json', '--threads', '1'], { HF_ENDPOINT: fx.hub.url });
    assert.equal(run.code, 0, run.stderr);
    assert.ok(Number.isFinite(lossOf(run)));
    assert.ok(fx.hub.requests.some((request) => request.path === `/${HUB_ID}/resolve/main/config.json`));
  });

  it('a captive portal answer exits 1 with the one-line error, and --redownload fetches a damaged copy again', async () => {
    const cacheDir = fx.freshCache();
    fx.hub.faults = [{ kind: 'html' }];
    const portal = await cli(['loss', 'Alice is a', '--model', HUB_ID, '--hub-endpoint', fx.hub.url, '--cache-dir', cacheDir]);
    fx.hub.faults = [];
    assert.equal(portal.code, 1);
    assert.match(portal.stderr, /^lm-lens: The server answered a web page instead of config\.json .*captive portal\?.*\n$/);
    assert.equal(portal.stderr.trim().split('\n').length, 1);
    const again = await cli(['loss', 'Alice is a', '--model', HUB_ID, '--hub-endpoint', fx.hub.url, '--cache-dir', cacheDir, '--redownload', '--json', '--threads', '1']);
    assert.equal(again.code, 0, again.stderr);
  });

  it('draws a bar with file, sizes, speed and time left (on a terminal only)', () => {
    const line = progressLine({ phase: 'download', file: 'onnx/model.onnx', fileIndex: 4, fileCount: 5, loadedBytes: 250_000_000, totalBytes: 500_000_000, bytesPerSecond: 12_300_000, secondsLeft: 20.3 }, 120);
    assert.equal(line, '[############............] onnx/model.onnx (4/5) · 250 MB / 500 MB · 12.3 MB/s · 21 s left');
    assert.ok(progressLine({ phase: 'download', file: 'x', loadedBytes: 1 }, 20).length <= 19);
  });
});
