// The win32-x64 VSIX exercised under Wine with Windows Node (scripts/wine-smoke.sh sets both up):
//  1. its bundled CLI (`next`, `loss`) on a model in a folder whose name has a space and non-ASCII
//     letters, against the linux-x64 VSIX's CLI on Linux: equal within 1e-5;
//  2. its model server as the extension starts it (test/wine/serverSmoke.ts, run by node.exe);
//  3. without the Visual C++ runtime (Wine's msvcp140 disabled): one line naming the fix, from
//     the CLI and from the server's start.
//   node scripts/wineSmoke.mjs --node-exe PATH [--vsix-dir DIR]  (DIR: package:all's output; default: package here)
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as esbuild from 'esbuild';
import { compareCli, createReport, installVsixs, makeTestModel, option, repo, workFolder } from './smokeSetup.mjs';

const nodeExe = resolve(option('--node-exe') ?? '');
if (!existsSync(nodeExe)) throw new Error('usage: node scripts/wineSmoke.mjs --node-exe PATH/node.exe [--vsix-dir DIR]');
const wine = ['/usr/lib/wine/wine64', '/usr/bin/wine64', '/usr/bin/wine'].find(existsSync);
const wineserver = ['/usr/lib/wine/wineserver64', '/usr/lib/wine/wineserver', '/usr/bin/wineserver'].find(existsSync);
if (!wine) throw new Error('Wine is not installed (apt-get install wine64)');

const cache = join(repo, '.cache', 'wine');
const work = workFolder('wine');
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

const { record, finish } = createReport();
const { 'win32-x64': windowsExtension, 'linux-x64': linuxExtension } = installVsixs(work, ['win32-x64', 'linux-x64']);
const model = makeTestModel(work);

// 1. The CLI: Windows build under Wine against the Linux build.
compareCli(record, 'under Wine', linuxExtension, model, (args) => underWine([windowsPath(join(windowsExtension, 'dist', 'cli.js')), ...args, '--model', windowsPath(model)]));

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
finish('Wine smoke');
