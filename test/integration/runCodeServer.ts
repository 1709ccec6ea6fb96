// npm run test:integration: the mocha suite inside a real VS Code extension host (code-server
// 4.100.3 in headless Chromium), with this repo loaded as the extension under development.
// Assumes `npm run build` ran. Env: LM_LENS_TEST_RESULTS (results file), LM_LENS_TEST_MODEL
// (model folder), LM_LENS_TEST_GREP (mocha grep), LM_LENS_TEST_TIMEOUT_MS, LM_LENS_KEEP_TEMP.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Cleanup, exitWith, remoteUri, startSession, workbenchUrl } from './codeServer';
import { assertBuilt, peerTestsEntry, repoRoot, resolveTestModel, resolveTestModelB, testModelBEnvVar, testResultsDir, testSettings, testsEntry, Timings } from './fixtures';
import { openWorkbench } from './page';
import { peerDirEnvVar } from './peerChannel';
import { defaultResultsPath, grepEnvVar, mapBundleStacks, printSummary, resultsEnvVar, testModelEnvVar, waitForResults } from './results';

async function main(): Promise<number> {
  assertBuilt();
  // Several people (or agents) may run this in one checkout at once: each run writes its own file
  // and only the finished one is copied to the well-known place.
  const publishedPath = path.resolve(process.env[resultsEnvVar] || defaultResultsPath(repoRoot));
  const resultsPath = path.join(os.tmpdir(), `lm-lens-results-${process.pid}-${Date.now()}.json`);
  const timings = new Timings();
  const cleanup = new Cleanup();
  cleanup.add(() => rmSync(resultsPath, { force: true }));
  try {
    const model = await timings.time('test model', () => resolveTestModel());
    const modelB = await timings.time('test model B', () => resolveTestModelB());
    // A second workbench window (test/integration/peer.ts) shares the model server with the first.
    const peerDir = mkdtempSync(path.join(os.tmpdir(), 'lm-lens-peer-'));
    cleanup.add(() => rmSync(peerDir, { recursive: true, force: true }));
    const session = await startSession({
      label: 'integration',
      settings: testSettings({ model }),
      env: {
        [resultsEnvVar]: resultsPath,
        [testModelEnvVar]: model,
        [testModelBEnvVar]: modelB,
        [peerDirEnvVar]: peerDir,
        // The model server outlives the windows by this much: a minute of a model process after every run is waste.
        LM_LENS_SERVER_IDLE_MS: '5000',
        ...(process.env[grepEnvVar] ? { [grepEnvVar]: process.env[grepEnvVar] } : {}),
      },
      timings,
      cleanup,
    });
    const url = workbenchUrl(session.server, session.workspaceDir, [
      ['extensionDevelopmentPath', remoteUri(session.server, repoRoot)],
      ['extensionTestsPath', remoteUri(session.server, testsEntry)],
    ]);
    const workbench = await openWorkbench(session.browser, url, { logFile: session.browserLog });
    const peerWorkspace = path.join(peerDir, 'workspace');
    mkdirSync(peerWorkspace, { recursive: true });
    const peerUrl = workbenchUrl(session.server, peerWorkspace, [
      ['extensionDevelopmentPath', remoteUri(session.server, repoRoot)],
      ['extensionTestsPath', remoteUri(session.server, peerTestsEntry)],
    ]);
    await openWorkbench(session.browser, peerUrl, { logFile: path.join(path.dirname(session.browserLog), 'peer-browser.log') });
    const results = await timings.time('workbench + tests', () =>
      waitForResults(resultsPath, {
        timeoutMs: Number(process.env.LM_LENS_TEST_TIMEOUT_MS ?? 300_000),
        abortReason: async () => {
          const exitCode = workbench.hostExitCode();
          return exitCode !== undefined ? `the extension host exited (code ${exitCode}) without writing them` : workbench.fatalProblem();
        },
      }),
    );
    mkdirSync(path.dirname(publishedPath), { recursive: true });
    copyFileSync(resultsPath, publishedPath);
    mapBundleStacks(results, repoRoot);
    const ok = printSummary(results);
    if (!results.environment.resultsPathFromEnv) {
      console.log(`  The extension host did not see ${resultsEnvVar}: the runner's environment did not reach it.`);
    }
    for (const text of await workbench.errorNotifications()) {
      console.log(`  note: the workbench showed an error notification: ${text}`);
    }
    console.log(`  VS Code ${results.environment.vscodeVersion} (${results.environment.appName}, extension host node ${results.environment.nodeVersion})`);
    console.log(`  ${timings.report()}`);
    console.log(`  results: ${path.relative(repoRoot, publishedPath)}, logs: ${path.relative(repoRoot, session.logsDir)}/`);
    return ok && results.environment.resultsPathFromEnv ? 0 : 1;
  } catch (error) {
    console.error(`\nIntegration run failed: ${error instanceof Error ? error.message : String(error)}`);
    console.error(`  ${timings.report()}`);
    console.error(`  logs: ${path.relative(repoRoot, path.join(testResultsDir, 'logs', 'integration'))}/`);
    return 1;
  } finally {
    await cleanup.run();
  }
}

exitWith(main);
