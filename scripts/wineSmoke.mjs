// The win32-x64 VSIX exercised under Wine with Windows Node (scripts/wine-smoke.sh sets both up):
//  1. its bundled CLI (`next`, `loss`) on a model in a folder whose name has a space and non-ASCII
//     letters, against the linux-x64 VSIX's CLI on Linux: equal within 1e-5;
//  2. its model server as the extension starts it (test/wine/serverSmoke.ts, run by node.exe);
//  3. without the Visual C++ runtime (Wine's msvcp140 disabled): one line naming the fix, from
//     the CLI and from the server's start.
//   node scripts/wineSmoke.mjs --node-exe PATH [--vsix-dir DIR]  (DIR: package:all's output; default: package here)
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { readZip } from './checkVsix.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const option = (name) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const nodeExe = resolve(option('--node-exe') ?? '');
if (!existsSync(nodeExe)) throw new Error('usage: node scripts/wineSmoke.mjs --node-exe PATH/node.exe [--vsix-dir DIR]');
const wine = ['/usr/lib/wine/wine64', '/usr/bin/wine64', '/usr/bin/wine'].find(existsSync);
const wineserver = ['/usr/lib/wine/wineserver64', '/usr/lib/wine/wineserver', '/usr/bin/wineserver'].find(existsSync);
if (!wine) throw new Error('Wine is not installed (apt-get install wine64)');

const cache = join(repo, '.cache', 'wine');
// Every path the Windows side sees has a space and non-ASCII letters, as a user folder may.
const work = join(cache, 'Wine smoke – Zoë Ünïcødé');
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
/** Wine maps the Linux root to drive Z:. */
const windowsPath = (file) => `Z:${file.replaceAll('/', '\\')}`;

// Wine's stdio handles for pipes break Node's stderr; files work. LANG: argv and paths are UTF-8.
const env = { ...process.env, WINEPREFIX: join(cache, 'prefix'), WINEDEBUG: '-all', NODE_SKIP_PLATFORM_CHECK: '1', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', WINEDLLOVERRIDES: 'mscoree,mshtml=' };
let outputs = 0;
/** Runs a Windows command line under Wine; stdout and stderr come back through files. */
function underWine(args, extraEnv = {}, timeoutMs = 300_000) {
  const out = join(cache, `out-${++outputs}.txt`);
  const err = join(cache, `err-${outputs}.txt`);
  const [outFd, errFd] = [openSync(out, 'w'), openSync(err, 'w')];
  const result = spawnSync(wine, [nodeExe, ...args], { env: { ...env, ...extraEnv }, stdio: ['ignore', outFd, errFd], timeout: timeoutMs });
  closeSync(outFd);
  closeSync(errFd);
  return { status: result.status, stdout: readFileSync(out, 'utf8'), stderr: readFileSync(err, 'utf8') };
}

const results = [];
function record(name, ok, details = {}) {
  results.push({ name, ok });
  console.log(`${ok ? '✓' : '✗'} ${name}${Object.keys(details).length ? ` ${JSON.stringify(details)}` : ''}`);
}
const started = Date.now();

// The VSIXs: package:all's, or built here from one production build.
const { name, version } = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
const vsixDir = option('--vsix-dir') ? resolve(option('--vsix-dir')) : join(cache, 'vsix');
if (!option('--vsix-dir')) {
  const node = (args) => {
    const result = spawnSync(process.execPath, args, { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] });
    if (result.status !== 0) throw new Error(`node ${args.join(' ')} failed`);
  };
  node(['esbuild.mjs', '--production']);
  for (const target of ['win32-x64', 'linux-x64']) node(['scripts/package.mjs', '--target', target, '--no-build', '--out', join(vsixDir, `${name}-${version}-${target}.vsix`)]);
}
/** Unpacks a VSIX the way VS Code installs it: its extension/ folder. */
function install(target) {
  const folder = join(work, 'VS Code extensions', `${name}-${version}-${target}`);
  for (const [entry, file] of readZip(readFileSync(join(vsixDir, `${name}-${version}-${target}.vsix`)))) {
    if (!entry.startsWith('extension/') || entry.endsWith('/')) continue;
    const out = join(folder, entry.slice('extension/'.length));
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, file.read());
  }
  return folder;
}
const windowsExtension = install('win32-x64');
const linuxExtension = install('linux-x64');

// The test model (the unit tests' GPT-2 shape) from the production build's generator.
const model = join(work, 'Modèles de test', 'tiny gpt2');
const made = spawnSync(process.execPath, [join(repo, 'dist', 'makeTestModel.js'), '--layers', '2', '--dim', '64', '--heads', '4', '--seed', '1', '--out', model], { stdio: ['ignore', 'ignore', 'inherit'] });
if (made.status !== 0) throw new Error('make-test-model failed');

/** Largest difference between two JSON values' numbers; strings, ids and shapes must match exactly. */
function difference(a, b, where = '') {
  if (typeof a === 'number' && typeof b === 'number') return Math.abs(a - b);
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) return Math.max(0, ...a.map((value, i) => difference(value, b[i], `${where}[${i}]`)));
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const keys = Object.keys(a).filter((key) => key !== 'model');
    if (keys.join() !== Object.keys(b).filter((key) => key !== 'model').join()) throw new Error(`${where}: keys differ`);
    return Math.max(0, ...keys.map((key) => difference(a[key], b[key], `${where}.${key}`)));
  }
  if (a !== b) throw new Error(`${where}: ${JSON.stringify(a)} ≠ ${JSON.stringify(b)}`);
  return 0;
}

// 1. The CLI: Windows build under Wine against the Linux build.
const commands = [
  ['next', 'Alice was', '--top', '10', '--json'],
  ['loss', 'Alice was beginning to get very tired. Zoë’s café served crème brûlée.', '--json'],
];
for (const args of commands) {
  const linux = spawnSync(process.execPath, [join(linuxExtension, 'dist', 'cli.js'), ...args, '--model', model, '--threads', '1'], { encoding: 'utf8' });
  const windows = underWine([windowsPath(join(windowsExtension, 'dist', 'cli.js')), ...args, '--model', windowsPath(model), '--threads', '1']);
  try {
    if (linux.status !== 0 || windows.status !== 0) throw new Error(`exit ${linux.status} (Linux) / ${windows.status} (Wine): ${linux.stderr}${windows.stderr}`);
    const diff = difference(JSON.parse(linux.stdout), JSON.parse(windows.stdout));
    record(`CLI ${args[0]} under Wine equals Linux's within 1e-5`, diff <= 1e-5, { maxAbsDiff: diff });
  } catch (error) {
    record(`CLI ${args[0]} under Wine equals Linux's within 1e-5`, false, { error: String(error) });
  }
}

// 2. The model server, as the extension starts it.
const driver = join(cache, 'serverSmoke.js');
await esbuild.build({ entryPoints: [join(repo, 'test', 'wine', 'serverSmoke.ts')], bundle: true, platform: 'node', format: 'cjs', target: 'node20', outfile: driver, logLevel: 'warning' });
const driverOptions = { hostScript: windowsPath(join(windowsExtension, 'dist', 'modelHost.js')), work: windowsPath(work), model: windowsPath(model) };
const server = underWine([windowsPath(driver), JSON.stringify(driverOptions)], {}, 480_000);
const lines = server.stdout.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line));
for (const line of lines) {
  const { case: title, ok, error, ...details } = line;
  record(`server: ${title}`, ok, ok ? details : { error });
}
if ((server.status !== 0 && lines.every((line) => line.ok)) || lines.length === 0) record('server driver', false, { status: server.status, stderr: server.stderr.slice(-2000) });

// 3. No Visual C++ runtime: Wine's builtin msvcp140 disabled, as on a Windows without the redistributable.
const noVcRuntime = { WINEDLLOVERRIDES: `${env.WINEDLLOVERRIDES};msvcp140=d` };
const cli = underWine([windowsPath(join(windowsExtension, 'dist', 'cli.js')), 'next', 'Alice', '--model', windowsPath(model)], noVcRuntime);
const cliLine = cli.stderr.trim();
record('CLI without the Visual C++ runtime: exit 1, one line naming the redistributable', cli.status === 1 && /^lm-lens: .*Microsoft Visual C\+\+ Redistributable is missing.*vc_redist\.x64\.exe/.test(cliLine) && !cliLine.includes('\n'), { status: cli.status, stderr: cliLine });
const runtime = underWine([windowsPath(driver), JSON.stringify({ ...driverOptions, mode: 'runtime' })], noVcRuntime);
const runtimeLines = runtime.stdout.split('\n').filter((text) => text.startsWith('{')).map((text) => JSON.parse(text));
for (const line of runtimeLines) record(`server: ${line.case}`, line.ok, line.ok ? { message: line.message } : { error: line.error });
if (runtimeLines.length === 0) record('server without the Visual C++ runtime', false, { status: runtime.status, stderr: runtime.stderr.slice(-2000) });

// Nothing of this run may stay behind in the Wine prefix.
if (wineserver) spawnSync(wineserver, ['-k'], { env });
const failed = results.filter((result) => !result.ok).length;
console.log(`Wine smoke: ${results.length - failed}/${results.length} passed in ${((Date.now() - started) / 1000).toFixed(0)} s (work folder ${relative(repo, work)})`);
process.exit(failed === 0 && results.length > 0 ? 0 : 1);
