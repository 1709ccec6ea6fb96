// One model server per machine: windows (clients) given the same storage folder share one
// process over a local socket, authenticated by a token file; races, stale sockets, other
// builds, idle shutdown and crashes. The real dist/modelHost.js on the project's test model.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import type { Server } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ResponseError, SocketMessageReader, SocketMessageWriter, createMessageConnection } from 'vscode-jsonrpc/node';
import type { MessageConnection } from 'vscode-jsonrpc/node';
import { LmLensError } from '../../src/core/errors';
import { ModelClient } from '../../src/client/client';
import { buildIdOf, endpointFor, processAlive as alive, readToken } from '../../src/shared/endpoint';
import type { Endpoint } from '../../src/shared/endpoint';
import { helloRequest, HELLO_REFUSED, PROTOCOL_VERSION } from '../../src/shared/handshake';
import { nextTokenRequest } from '../../src/shared/hostProtocol';
import type { ModelSettings } from '../../src/shared/hostProtocol';
import { ensureTestModel, repoRoot } from '../support/testModel';

const hostScript = path.join(repoRoot(), 'dist', 'modelHost.js');

async function until(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A JSON-RPC connection straight to the socket, to say what a well-behaved client would not. */
function rawConnection(address: string): Promise<{ connection: MessageConnection; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(address);
    socket.once('error', reject);
    socket.once('connect', () => {
      const connection = createMessageConnection(new SocketMessageReader(socket), new SocketMessageWriter(socket));
      connection.listen();
      resolve({ connection, closed: new Promise((done) => socket.once('close', () => done())) });
    });
  });
}

describe('shared model server', function () {
  let model: string;
  let settings: ModelSettings;
  let dir: string;
  let endpoint: Endpoint;
  const clients: ModelClient[] = [];
  const pids = new Set<number>();

  function newClient(name: string, idleShutdownMs = 1500): ModelClient {
    const client = new ModelClient({ hostScript, serverDir: dir, idleShutdownMs, clientName: name, requestTimeoutMs: 60_000 });
    clients.push(client);
    return client;
  }

  async function ask(client: ModelClient, text = 'Alice was'): Promise<number> {
    await client.configure(settings);
    const result = await client.request(nextTokenRequest, { text, top: 3 });
    assert.equal(result.top.length, 3);
    const pid = client.pid;
    assert.ok(pid !== undefined);
    pids.add(pid);
    return pid;
  }

  before(async () => {
    assert.ok(existsSync(hostScript), 'dist/modelHost.js is missing: run `npm run build` first');
    model = await ensureTestModel({ layers: 2, dim: 64, heads: 4, seed: 1 });
    settings = { model, dtype: 'fp32', allowDownloads: false, cacheDir: '', threads: 1 };
  });
  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'lm-lens-shared-'));
    endpoint = await endpointFor(dir, await buildIdOf(hostScript));
  });
  afterEach(() => {
    for (const client of clients.splice(0)) client.dispose();
    // A test that failed half-way must not leave a server holding a model.
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    pids.clear();
    rmSync(dir, { recursive: true, force: true });
  });

  it('two windows share one process and both get answers; the token file is readable by the user only', async () => {
    const first = newClient('window 1');
    const second = newClient('window 2');
    const firstPid = await ask(first);
    const secondPid = await ask(second, 'The cat');
    assert.equal(secondPid, firstPid);
    assert.equal(first.startCount + second.startCount, 1);
    if (process.platform !== 'win32') {
      assert.equal(statSync(endpoint.tokenFile).mode & 0o777, 0o600);
      assert.equal(statSync(dir).mode & 0o777, 0o700);
    }
  });

  it('windows starting at the same moment end up on one server', async () => {
    const windows = [newClient('window 1'), newClient('window 2'), newClient('window 3')];
    const started = await Promise.all(windows.map((client, i) => ask(client, `Window ${i} says`)));
    assert.equal(new Set(started).size, 1, `pids ${started.join(', ')}`);
    assert.equal(windows.reduce((sum, client) => sum + client.startCount, 0), 1);
  });

  it('refuses a connection with a wrong token, and requests before the hello', async () => {
    const client = newClient('window 1');
    await ask(client);
    const early = await rawConnection(endpoint.address);
    await assert.rejects(early.connection.sendRequest(nextTokenRequest, { text: 'Alice', top: 3 }), (error: unknown) => error instanceof ResponseError && error.code !== HELLO_REFUSED);
    early.connection.dispose();
    const intruder = await rawConnection(endpoint.address);
    await assert.rejects(
      intruder.connection.sendRequest(helloRequest, { token: 'f'.repeat(64), protocol: PROTOCOL_VERSION, build: endpoint.build }),
      (error: unknown) => error instanceof ResponseError && error.code === HELLO_REFUSED && /wrong access token/.test(error.message),
    );
    await intruder.closed;
    // The right token (what a window of this user reads) is accepted on a connection of its own.
    const friend = await rawConnection(endpoint.address);
    const hello = await friend.connection.sendRequest(helloRequest, { token: await readToken(endpoint.tokenFile), protocol: PROTOCOL_VERSION, build: endpoint.build });
    assert.equal(hello.pid, client.pid);
    friend.connection.dispose();
  });

  it('replaces a socket file and a lock left behind by a dead server', async function () {
    if (process.platform === 'win32') this.skip();
    const squatter = spawn(process.execPath, ['-e', "require('net').createServer().listen(process.argv[1], () => console.log('up'))", endpoint.address], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => squatter.stdout.once('data', () => resolve()));
    squatter.kill('SIGKILL');
    await new Promise((resolve) => squatter.once('exit', resolve));
    assert.ok(existsSync(endpoint.address), 'the dead server left its socket file');
    writeFileSync(endpoint.lockFile, String(squatter.pid));
    const client = newClient('window 1');
    await ask(client);
    assert.equal(client.startCount, 1);
  });

  it('starts a server of its own beside a server of another protocol at its address', async () => {
    const seen: string[] = [];
    const fake: Server = createServer((socket) => {
      const connection = createMessageConnection(new SocketMessageReader(socket), new SocketMessageWriter(socket));
      connection.onRequest((method) => {
        seen.push(method);
        return { pid: process.pid, protocol: PROTOCOL_VERSION + 100, build: 'someone-else', session: 1 };
      });
      connection.listen();
    });
    await new Promise<void>((resolve) => fake.listen(endpoint.address, resolve));
    try {
      const client = newClient('window 1');
      const pid = await ask(client);
      assert.notEqual(pid, process.pid);
      assert.deepEqual(seen, [helloRequest.method], 'the other build got nothing but the hello');
      // A second window meets the same incompatible server and starts its own too: each works.
      assert.ok((await ask(newClient('window 2'))) > 0);
    } finally {
      fake.close();
    }
  });

  it('stays while a window is connected, and exits a while after the last one left', async () => {
    const client = newClient('window 1', 300);
    const pid = await ask(client);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.ok(alive(pid), 'a connected window keeps the server');
    client.dispose();
    await until(() => !alive(pid));
    if (process.platform !== 'win32') assert.ok(!existsSync(endpoint.address), 'the socket file went with it');
  });

  it('killing the server: both windows recover, one starts a new server and the other connects to it', async () => {
    const first = newClient('window 1');
    const second = newClient('window 2');
    const before = await ask(first);
    await ask(second);
    first.kill('SIGKILL');
    await until(() => first.pid === undefined && second.pid === undefined);
    const [afterFirst, afterSecond] = await Promise.all([ask(first), ask(second, 'The cat')]);
    assert.equal(afterFirst, afterSecond);
    assert.notEqual(afterFirst, before);
    assert.equal(first.startCount + second.startCount, 2);
    assert.equal(first.connectCount + second.connectCount, 4);
  });

  it('"Restart model" in one window restarts the server for both; the other counts no crash', async () => {
    const first = newClient('window 1');
    const second = newClient('window 2');
    const states: string[] = [];
    second.onState((state) => states.push(state.state));
    const before = await ask(first);
    await ask(second);
    await first.restart();
    await until(() => !alive(before));
    assert.ok(!states.includes('error'), `window 2 saw ${states.join(' → ')}`);
    const after = await ask(second);
    assert.notEqual(after, before);
    assert.equal(await ask(first), after);
  });

  it('a request cut off by the server dying says it restarts on the next request', async () => {
    const client = newClient('window 1');
    await ask(client);
    const pending = client.request(nextTokenRequest, { text: 'Alice '.repeat(400), top: 3 });
    client.kill('SIGKILL');
    await assert.rejects(pending, (error: unknown) => error instanceof LmLensError && error.code === 'model-process' && /restarts on the next request/.test(error.message));
  });

  it('a token file that others could read is replaced, and the running server takes the new token', async function () {
    if (process.platform === 'win32') this.skip();
    const first = newClient('window 1');
    const pid = await ask(first);
    const leaked = readFileSync(endpoint.tokenFile, 'utf8');
    chmodSync(endpoint.tokenFile, 0o644);
    assert.equal(await ask(newClient('window 2')), pid);
    assert.notEqual(readFileSync(endpoint.tokenFile, 'utf8'), leaked);
    assert.equal(statSync(endpoint.tokenFile).mode & 0o777, 0o600);
    const intruder = await rawConnection(endpoint.address);
    await assert.rejects(intruder.connection.sendRequest(helloRequest, { token: leaked, protocol: PROTOCOL_VERSION, build: endpoint.build }), /wrong access token/);
  });
});
