// A real VS Code without downloading VS Code: code-server 4.100.3 (VS Code 1.100.3, the newest
// one that runs on Node 20) installed from npm into .cache on first use. `npm start` runs it for
// people; the integration and UI runners (test/integration/codeServer.ts) drive it with a browser.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import * as path from 'node:path';

export const repoRoot = path.resolve(__dirname, '..');

export interface ProfileDirs {
  userDataDir: string;
  extensionsDir: string;
  /** Holds the isolated XDG dirs and logs. */
  stateDir: string;
}

export function writeUserSettings(userDataDir: string, settings: Record<string, unknown>): void {
  const userDir = path.join(userDataDir, 'User');
  mkdirSync(userDir, { recursive: true });
  writeFileSync(path.join(userDir, 'settings.json'), `${JSON.stringify(settings, null, 2)}\n`);
}

export function createProfile(baseDir: string, settings: Record<string, unknown>): ProfileDirs {
  const dirs = { userDataDir: path.join(baseDir, 'user-data'), extensionsDir: path.join(baseDir, 'extensions'), stateDir: path.join(baseDir, 'state') };
  Object.values(dirs).forEach((dir) => mkdirSync(dir, { recursive: true }));
  writeUserSettings(dirs.userDataDir, settings);
  return dirs;
}

export const codeServerVersion = '4.100.3';
export const systemPackages = ['libkrb5-dev', 'libxkbfile-dev', 'libsecret-1-dev', 'libx11-dev', 'pkg-config', 'ripgrep', 'chromium'];

// @vscode/ripgrep (a code-server dependency) downloads rg from GitHub in its postinstall unless
// this exact asset is already in its cache folder under $TMPDIR.
const ripgrepPackageVersion = '1.15.11';
const ripgrepAssetVersion = 'v13.0.0-10';
const ripgrepTargets: Partial<Record<string, string>> = { x64: 'x86_64-unknown-linux-musl', arm64: 'aarch64-unknown-linux-musl' };

const cacheRoot = path.join(repoRoot, '.cache', 'code-server');

function log(message: string): void {
  console.log(`[code-server] ${message}`);
}

/** npm run exports dozens of npm_config_* (the project's .npmrc among them); a nested npm must not inherit them. */
function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(key)) {
      env[key] = value;
    }
  }
  return { ...env, ...extra };
}

function xdgEnv(root: string): Record<string, string> {
  const dirs = { XDG_CONFIG_HOME: 'config', XDG_DATA_HOME: 'data', XDG_CACHE_HOME: 'cache', XDG_STATE_HOME: 'state' };
  return Object.fromEntries(
    Object.entries(dirs).map(([key, name]) => {
      const dir = path.join(root, 'xdg', name);
      mkdirSync(dir, { recursive: true });
      return [key, dir];
    }),
  );
}

function missingDebianPackages(): string[] | undefined {
  const query = spawnSync('dpkg-query', ['-W', '-f=${Package} ${Status}\\n', ...systemPackages], { encoding: 'utf8' });
  if (query.error) {
    return undefined;
  }
  const installed = new Set(
    query.stdout
      .split('\n')
      .filter((line) => line.endsWith('install ok installed'))
      .map((line) => line.split(' ')[0]),
  );
  return systemPackages.filter((name) => !installed.has(name));
}

function runLoud(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): void {
  const result = spawnSync(command, args, { stdio: 'inherit', env });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited with ${result.status ?? result.signal}`);
  }
}

/** Installs the Debian packages code-server's build and the browser need; apt only when something is missing. */
export function ensureSystemPackages(): void {
  const missing = missingDebianPackages();
  if (missing === undefined) {
    log(`not a Debian system: make sure these (or equivalents) are installed: ${systemPackages.join(' ')}`);
    return;
  }
  if (missing.length === 0) {
    return;
  }
  if (process.getuid?.() !== 0) {
    log(`missing Debian packages (not root, so not installing): ${missing.join(' ')}`);
    log(`install them with: sudo apt-get install -y --no-install-recommends ${missing.join(' ')}`);
    return;
  }
  log(`installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  runLoud('apt-get', ['update', '-qq'], env);
  runLoud('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], env);
}

export interface CodeServerInstall {
  root: string;
  entry: string;
}

function seedRipgrep(tmpDir: string): void {
  const target = ripgrepTargets[process.arch];
  const rg = spawnSync('sh', ['-c', 'command -v rg'], { encoding: 'utf8' }).stdout.trim();
  if (process.platform !== 'linux' || !target || !rg) {
    log('not seeding the ripgrep cache (no Linux rg found): @vscode/ripgrep will try to download it');
    return;
  }
  const cacheDir = path.join(tmpDir, `vscode-ripgrep-cache-${ripgrepPackageVersion}`);
  mkdirSync(cacheDir, { recursive: true });
  const asset = path.join(cacheDir, `ripgrep-${ripgrepAssetVersion}-${target}.tar.gz`);
  runLoud('tar', ['-czf', asset, '-C', path.dirname(rg), path.basename(rg)]);
}

/** Installs code-server into .cache/code-server/<version> once; later runs reuse it. */
export function ensureCodeServer(): CodeServerInstall {
  const root = path.join(cacheRoot, codeServerVersion);
  const entry = path.join(root, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
  const marker = path.join(root, '.installed');
  if (existsSync(marker) && existsSync(entry)) {
    return { root, entry };
  }
  // A half-finished install (interrupted, failed postinstall) is not worth repairing.
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  const tmpDir = path.join(cacheRoot, `tmp-${codeServerVersion}`);
  rmSync(tmpDir, { recursive: true, force: true });
  mkdirSync(tmpDir, { recursive: true });
  seedRipgrep(tmpDir);
  const logFile = path.join(cacheRoot, `install-${codeServerVersion}.log`);
  log(`installing code-server ${codeServerVersion} into ${path.relative(repoRoot, root)} (≈40 s, ≈300 MB; log: ${path.relative(repoRoot, logFile)})`);
  const env = cleanEnv({
    ...xdgEnv(tmpDir),
    TMPDIR: tmpDir,
    npm_config_unsafe_perm: 'true', // its postinstall refuses to run as root otherwise
    npm_config_yes: 'true', // node-pty's build runs `npx node-gyp`
  });
  const out = openSync(logFile, 'w');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const args = ['install', '--prefix', root, `code-server@${codeServerVersion}`, '--no-audit', '--no-fund', '--loglevel=warn'];
  const result = spawnSync(npm, args, { cwd: root, env, stdio: ['ignore', out, out] });
  closeSync(out);
  if (result.status !== 0 || !existsSync(entry)) {
    const tail = readFileSync(logFile, 'utf8').split('\n').slice(-40).join('\n');
    throw new Error(`npm ${args.join(' ')} failed (${result.status ?? result.signal ?? result.error?.message}):\n${tail}`);
  }
  writeFileSync(marker, `${new Date().toISOString()}\n`);
  rmSync(tmpDir, { recursive: true, force: true });
  return { root, entry };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function profileArgs(profile: ProfileDirs): string[] {
  return ['--user-data-dir', profile.userDataDir, '--extensions-dir', profile.extensionsDir];
}

export function installExtension(install: CodeServerInstall, profile: ProfileDirs, vsix: string): void {
  const result = spawnSync(process.execPath, [install.entry, ...profileArgs(profile), '--install-extension', vsix], {
    env: cleanEnv(xdgEnv(profile.stateDir)),
    encoding: 'utf8',
  });
  const output = `${result.stdout}${result.stderr}`;
  if (result.status !== 0 || !/successfully installed/i.test(output)) {
    throw new Error(`code-server --install-extension ${vsix} failed (${result.status}):\n${output}`);
  }
}

export interface RunningCodeServer {
  origin: string;
  authority: string;
  logFile: string;
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

export interface StartOptions {
  profile: ProfileDirs;
  /** Reaches the extension host: code-server forks it with the server's environment. */
  env?: Record<string, string>;
  startTimeoutMs?: number;
}

export async function startCodeServer(install: CodeServerInstall, options: StartOptions): Promise<RunningCodeServer> {
  const port = await freePort();
  const authority = `127.0.0.1:${port}`;
  const origin = `http://${authority}`;
  const logFile = path.join(options.profile.stateDir, 'code-server.log');
  const out = openSync(logFile, 'w');
  const args = [
    install.entry,
    ...['--bind-addr', authority, '--auth', 'none', '--disable-telemetry', '--disable-update-check'],
    ...['--disable-workspace-trust', '--disable-getting-started-override', '--ignore-last-opened'],
    ...profileArgs(options.profile),
  ];
  // Own process group: code-server forks its extension host, pty host and file watcher, and
  // killing the group is the only way to be sure none survives.
  const child: ChildProcess = spawn(process.execPath, args, {
    env: cleanEnv({ ...xdgEnv(options.profile.stateDir), ...options.env }),
    stdio: ['ignore', out, out],
    detached: true,
  });
  closeSync(out);
  const killGroup = (signal: NodeJS.Signals): void => {
    try {
      if (child.pid !== undefined) {
        process.kill(-child.pid, signal);
      }
    } catch {
      // Already gone.
    }
  };
  const killOnExit = (): void => killGroup('SIGKILL');
  process.on('exit', killOnExit);
  let exited = child.exitCode !== null;
  const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  const logTail = (lines = 30): string => readFileSync(logFile, 'utf8').split('\n').slice(-lines).join('\n');
  const stop = async (): Promise<void> => {
    killGroup('SIGTERM');
    const timer = setTimeout(() => killGroup('SIGKILL'), 5000);
    await exit;
    clearTimeout(timer);
    // Children that ignored SIGTERM after the leader died.
    killGroup('SIGKILL');
    process.off('exit', killOnExit);
  };
  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`code-server exited during startup:\n${logTail()}`);
    }
    try {
      if ((await fetch(`${origin}/healthz`)).ok) {
        return { origin, authority, logFile, logTail, stop };
      }
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`code-server did not answer on ${origin} within ${options.startTimeoutMs ?? 60_000} ms:\n${logTail()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** A file on the code-server machine as the workbench addresses it in a payload. */
export function remoteUri(server: RunningCodeServer, file: string): string {
  return `vscode-remote://${server.authority}${file}`;
}

export function workbenchUrl(server: RunningCodeServer, folder: string, payload: Array<[string, string]> = []): string {
  const query = [`folder=${encodeURIComponent(folder)}`];
  if (payload.length > 0) {
    query.push(`payload=${encodeURIComponent(JSON.stringify(payload))}`);
  }
  return `${server.origin}/?${query.join('&')}`;
}
