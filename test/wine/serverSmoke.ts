// Runs under Windows Node (node.exe in Wine), bundled by scripts/wineSmoke.mjs: the model server
// of the win32-x64 VSIX started as the extension starts it (ModelClient → launcher → detached
// node.exe dist/modelHost.js on a named pipe), through the cases Windows makes different.
// Prints one JSON line per case ({ case, ok, ... }) on stdout and exits 1 when any failed.
//   node.exe serverSmoke.js '{"hostScript":…,"work":…,"model":…}'          all cases
//   node.exe serverSmoke.js '{"mode":"window",…}'     a window that connects, says its server's pid, and waits to be killed
//   node.exe serverSmoke.js '{"mode":"runtime",…}'    only the start, expecting the runtime-missing line
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import * as path from 'node:path';
import { ResponseError, SocketMessageReader, SocketMessageWriter, createMessageConnection } from 'vscode-jsonrpc/node';
import { ModelClient } from '../../src/client/client';
import { buildIdOf, endpointFor, processAlive } from '../../src/shared/endpoint';
import { helloRequest, HELLO_REFUSED, PROTOCOL_VERSION } from '../../src/shared/handshake';
import { nextTokenRequest } from '../../src/shared/hostProtocol';
import type { ModelSettings, NextTokenResponse } from '../../src/shared/hostProtocol';
import { HubSimulator } from '../support/hubSimulator';

interface Options {
  mode?: 'all' | 'window' | 'runtime';
  /** dist/modelHost.js inside the extracted win32-x64 VSIX. */
  hostScript: string;
  /** A folder whose name has a space and non-ASCII letters; every case works under it. */
  work: string;
  /** The test model's folder (also served by the hub simulator). */
  model: string;
  serverDir?: string;
}

const options = JSON.parse(process.argv[2] ?? '{}') as Options;
const TEXT = 'Alice was';
const HUB_ID = 'lm-lens-test/tiny-gpt2';
const failures: string[] = [];
const clients: ModelClient[] = [];
const pids = new Set<number>();

const report = (result: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(result)}\n`);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await sleep(50);
  }
}

async function step(name: string, body: () => Promise<Record<string, unknown> | void>): Promise<void> {
  const started = Date.now();
  try {
    const details = (await body()) ?? {};
    report({ case: name, ok: true, ms: Date.now() - started, ...details });
  } catch (error) {
    failures.push(name);
    report({ case: name, ok: false, ms: Date.now() - started, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  }
}

function newClient(serverDir: string, name: string, idleShutdownMs = 2000, execArgv?: string[]): ModelClient {
  const client = new ModelClient({ hostScript: options.hostScript, serverDir, idleShutdownMs, clientName: name, requestTimeoutMs: 120_000, execArgv });
  clients.push(client);
  return client;
}

const localSettings = (): ModelSettings => ({ model: options.model, dtype: 'fp32', allowDownloads: false, cacheDir: '', threads: 1 });

async function ask(client: ModelClient, settings: ModelSettings): Promise<{ pid: number; answer: NextTokenResponse }> {
  await client.configure(settings);
  const answer = await client.request(nextTokenRequest, { text: TEXT, top: 5 });
  assert.ok(client.pid !== undefined);
  pids.add(client.pid);
  return { pid: client.pid, answer };
}

const tops = (answer: NextTokenResponse): Array<{ id: number | null; prob: number }> => answer.top.map(({ id, prob }) => ({ id, prob }));

/**
 * Wine 8 fails a TCP connect whose socket was given keep-alive before it connected (undici, the
 * downloader's HTTP client, does that; node's own fetch fails the same way under Wine, while real
 * Windows accepts it). Preloaded into the downloading server only, this applies keep-alive once
 * connected; everything else of the download (undici, checks, rename, cache) runs as shipped.
 */
const WINE_KEEPALIVE_SHIM = `const net = require('net');
const setKeepAlive = net.Socket.prototype.setKeepAlive;
net.Socket.prototype.setKeepAlive = function (enable, delay) {
  if (!this.connecting) return setKeepAlive.call(this, enable, delay);
  this.once('connect', () => setKeepAlive.call(this, enable, delay));
  return this;
};
`;

/** A window: connects (starting the server), prints the server's pid, and waits until it is killed. */
async function windowMode(): Promise<void> {
  const { pid } = await ask(newClient(options.serverDir ?? '', 'window to be killed', 1500), localSettings());
  report({ case: 'window', pid });
  setInterval(() => undefined, 60_000);
}

/** Expects the server not to start, with the one-line runtime error the launcher took from its log. */
async function runtimeMode(): Promise<void> {
  const client = newClient(path.join(options.work, 'Server runtime'), 'window without VC++');
  await step('the server says in one line that the Visual C++ Redistributable is missing', async () => {
    const error = await client.connect().then(() => undefined, (caught: unknown) => caught as Error);
    assert.ok(error, 'the server started although its runtime cannot load');
    assert.match(error.message, /Microsoft Visual C\+\+ Redistributable is missing\. Install it from https:\/\/aka\.ms\/vs\/17\/release\/vc_redist\.x64\.exe/);
    assert.doesNotMatch(error.message, /\n/);
    return { message: error.message };
  });
}

async function allCases(): Promise<void> {
  const serverDir = path.join(options.work, 'Server Ünïcödé');
  const endpoint = await endpointFor(serverDir, await buildIdOf(options.hostScript));
  let firstPid = 0;
  let first: NextTokenResponse | undefined;

  await step('three windows starting at once share one server on a named pipe (the lock)', async () => {
    const windows = [newClient(serverDir, 'window 1'), newClient(serverDir, 'window 2'), newClient(serverDir, 'window 3')];
    const answers = await Promise.all(windows.map((client) => ask(client, localSettings())));
    assert.equal(new Set(answers.map((a) => a.pid)).size, 1, `pids ${answers.map((a) => a.pid).join(', ')}`);
    assert.equal(windows.reduce((sum, client) => sum + client.startCount, 0), 1);
    assert.match(endpoint.address, /^\\\\\.\\pipe\\lm-lens-[0-9a-f]{16}-/);
    assert.equal(readFileSync(endpoint.tokenFile, 'utf8').trim().length, 64);
    firstPid = answers[0]!.pid;
    first = answers[0]!.answer;
    return { pid: firstPid, address: endpoint.address, top: tops(first) };
  });

  await step('the pipe refuses a wrong access token', async () => {
    const socket = createConnection(endpoint.address);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const connection = createMessageConnection(new SocketMessageReader(socket), new SocketMessageWriter(socket));
    connection.listen();
    await assert.rejects(connection.sendRequest(helloRequest, { token: 'f'.repeat(64), protocol: PROTOCOL_VERSION, build: endpoint.build }), (error: unknown) => error instanceof ResponseError && error.code === HELLO_REFUSED);
    connection.dispose();
    socket.destroy();
  });

  await step('killing the server: the next request restarts it and both windows get answers', async () => {
    const [one, two] = clients;
    one!.kill();
    await until(() => !processAlive(firstPid), 'the killed server exits');
    // As in a window: the next request goes out once the client saw its connection go.
    await until(() => one!.pid === undefined && two!.pid === undefined, 'both windows see the server gone', 10_000);
    const again = await ask(one!, localSettings());
    const other = await ask(two!, localSettings());
    assert.notEqual(again.pid, firstPid);
    assert.equal(other.pid, again.pid);
    assert.deepEqual(tops(again.answer), tops(first!));
    return { before: firstPid, after: again.pid };
  });

  await step('a download from the hub into a path with spaces and non-ASCII letters, renamed into place while another process holds the file', async () => {
    const hub = await HubSimulator.start({ [HUB_ID]: options.model });
    try {
      const cacheDir = path.join(options.work, 'Modèles téléchargés');
      const folder = path.join(cacheDir, ...HUB_ID.split('/'));
      const dest = path.join(folder, 'onnx', 'model.onnx');
      const size = statSync(path.join(options.model, 'onnx', 'model.onnx')).size;
      // A cached copy that the manifest says is incomplete: it is downloaded again and must replace this file.
      mkdirSync(path.dirname(dest), { recursive: true });
      writeFileSync(dest, 'x');
      writeFileSync(path.join(folder, '.lmlens-manifest.json'), JSON.stringify({ format: 1, files: { 'onnx/model.onnx': { size } } }));
      // Held open the way a virus scanner holds a file it inspects: Windows refuses to replace it.
      const held = openSync(dest, 'r');
      const probe = path.join(folder, 'probe');
      writeFileSync(probe, 'y');
      const refused = (() => {
        try {
          renameSync(probe, dest);
          return 'renamed';
        } catch (error) {
          return (error as NodeJS.ErrnoException).code ?? 'unknown';
        }
      })();
      assert.ok(['EPERM', 'EBUSY', 'EACCES'].includes(refused), `replacing a held file gave ${refused}`);
      // Released once the download is whole and its rename is being retried.
      const partial = `${dest}.lmlens-partial`;
      let heldMs = 0;
      let renameWaited = false;
      const release = (async (): Promise<void> => {
        const since = Date.now();
        await until(() => existsSync(partial) && statSync(partial).size === size, 'the partial file is complete', 120_000);
        await sleep(500);
        // Still there: the rename into place is waiting for the file, not done behind its back.
        renameWaited = existsSync(partial);
        closeSync(held);
        heldMs = Date.now() - since;
      })();
      const shim = path.join(options.work, 'wine keep-alive shim.cjs');
      writeFileSync(shim, WINE_KEEPALIVE_SHIM);
      const client = newClient(path.join(options.work, 'Server download'), 'window downloading', 2000, ['--expose-gc', '--require', shim]);
      const { answer } = await ask(client, { ...localSettings(), model: HUB_ID, allowDownloads: true, cacheDir, network: { hubEndpoint: hub.url } });
      await release;
      const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');
      assert.equal(sha(dest), sha(path.join(options.model, 'onnx', 'model.onnx')));
      const leftovers = readdirSync(folder, { recursive: true }).map(String).filter((name) => /lmlens-partial|\.tmp$/.test(name));
      assert.deepEqual(leftovers, []);
      assert.ok(renameWaited, 'the download was renamed into place while the file was held');
      assert.deepEqual(tops(answer), tops(first!));
      return { refused, heldMs, requests: hub.requests.length };
    } finally {
      await hub.close();
    }
  });

  await step("the model server exits when the window that started it goes away (no orphan holding the DLLs)", async () => {
    const child = spawn(process.execPath, [__filename, JSON.stringify({ ...options, mode: 'window', serverDir: path.join(options.work, 'Server orphan') })], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    await until(() => /"pid":\d+/.test(output), 'the window reports its server', 120_000);
    const serverPid = Number(/"pid":(\d+)/.exec(output)?.[1]);
    pids.add(serverPid);
    assert.ok(processAlive(serverPid));
    child.kill('SIGKILL');
    await until(() => !processAlive(serverPid), 'the server exits after its window was killed');
    return { serverPid };
  });

  await step('every server exits once its windows close', async () => {
    for (const client of clients.splice(0)) client.dispose();
    for (const pid of pids) await until(() => !processAlive(pid), `server ${pid} exits`);
    return { servers: pids.size };
  });
}

async function main(): Promise<void> {
  if (options.mode === 'window') return windowMode();
  if (options.mode === 'runtime') await runtimeMode();
  else await allCases();
  for (const client of clients) client.dispose();
  // Whatever a failed case left running must not outlive the test.
  for (const pid of pids) if (processAlive(pid)) process.kill(pid, 'SIGKILL');
  process.exit(failures.length === 0 ? 0 : 1);
}

main().catch((error: unknown) => {
  report({ case: 'driver', ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
});
