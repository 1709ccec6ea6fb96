// npm run test:integration:electron: the same suite in desktop VS Code via @vscode/test-electron,
// for machines that can download VS Code. Where the download fails (no internet) it skips with
// exit 0, unless LM_LENS_REQUIRE_ELECTRON is set. On Linux without a display, run it under
// `xvfb-run -a`. Env as for test:integration, plus LM_LENS_VSCODE_VERSION (default: stable).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { downloadAndUnzipVSCode, runTests } from '@vscode/test-electron';
import { assertBuilt, createProfile, createSampleWorkspace, repoRoot, resolveTestModel, testSettings, testsEntry, Timings } from './fixtures';
import { defaultResultsPath, grepEnvVar, mapBundleStacks, printSummary, readResults, resultsEnvVar, testModelEnvVar } from './results';

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function download(timings: Timings): Promise<string | undefined> {
  const version = process.env.LM_LENS_VSCODE_VERSION ?? 'stable';
  try {
    return await timings.time('download', () => downloadAndUnzipVSCode({ version, cachePath: path.join(repoRoot, '.vscode-test'), timeout: 30_000 }));
  } catch (error) {
    console.log(`Cannot download VS Code ${version} (${message(error)}); use \`npm run test:integration\` (code-server) on this machine.`);
    return undefined;
  }
}

async function main(): Promise<number> {
  assertBuilt();
  const timings = new Timings();
  const vscodeExecutablePath = await download(timings);
  if (vscodeExecutablePath === undefined) {
    if (process.env.LM_LENS_REQUIRE_ELECTRON) {
      return 1;
    }
    console.log('Skipped the Electron run (set LM_LENS_REQUIRE_ELECTRON=1 to make this an error).');
    return 0;
  }
  const resultsPath = path.resolve(process.env[resultsEnvVar] || defaultResultsPath(repoRoot));
  rmSync(resultsPath, { force: true });
  const baseDir = mkdtempSync(path.join(os.tmpdir(), 'lm-lens-electron-'));
  try {
    const model = await timings.time('test model', () => resolveTestModel());
    const workspace = createSampleWorkspace(baseDir);
    const profile = createProfile(baseDir, testSettings({ model }));
    try {
      await timings.time('tests', () =>
        runTests({
          vscodeExecutablePath,
          extensionDevelopmentPath: repoRoot,
          extensionTestsPath: testsEntry,
          extensionTestsEnv: { [resultsEnvVar]: resultsPath, [testModelEnvVar]: model, [grepEnvVar]: process.env[grepEnvVar] },
          launchArgs: [
            workspace,
            ...['--user-data-dir', profile.userDataDir, '--extensions-dir', profile.extensionsDir],
            ...['--disable-workspace-trust', '--skip-welcome', '--skip-release-notes', '--disable-gpu'],
          ],
        }),
      );
    } catch (error) {
      // A non-zero exit still may have written results (a crash on shutdown); they decide.
      console.log(`VS Code exited abnormally: ${message(error)}`);
      if (process.platform === 'linux' && !process.env.DISPLAY) {
        console.log('No DISPLAY: run this under `xvfb-run -a npm run test:integration:electron`.');
      }
    }
    if (!existsSync(resultsPath)) {
      console.error(`No results at ${resultsPath}: the suite did not run to the end.`);
      return 1;
    }
    const results = readResults(resultsPath);
    mapBundleStacks(results, repoRoot);
    const ok = printSummary(results);
    console.log(`  VS Code ${results.environment.vscodeVersion} (${results.environment.appName})`);
    console.log(`  ${timings.report()}`);
    return ok ? 0 : 1;
  } finally {
    rmSync(baseDir, { recursive: true, force: true });
  }
}

void main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(message(error));
    process.exit(1);
  },
);
