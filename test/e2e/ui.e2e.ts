// npm run test:e2e: the packaged VSIX installed into a fresh code-server, driven through the UI
// in headless Chromium, one screenshot per scenario (scenarios.ts). Packages the VSIX when it is
// missing or older than the sources; LM_LENS_VSIX points at another one. Env as for
// test:integration (LM_LENS_TEST_MODEL, LM_LENS_KEEP_TEMP), plus LM_LENS_E2E_GREP (scenario names).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Locator } from 'playwright-core';
import { Cleanup, exitWith, startSession, workbenchUrl } from '../integration/codeServer';
import { repoRoot, resolveTestModel, testResultsDir, testSettings, Timings } from '../integration/fixtures';
import { openWorkbench } from '../integration/page';
import type { Workbench } from '../integration/page';
import { testModelEnvVar } from '../integration/results';
import { scenarios } from './scenarios';
import type { Scenario } from './scenarioSupport';
import { dismiss, waitForWorkbench } from './workbench';

const screenshotsDir = path.join(testResultsDir, 'screenshots');

function newestMtime(entry: string): number {
  if (!existsSync(entry)) {
    return 0;
  }
  const stat = statSync(entry);
  if (!stat.isDirectory()) {
    return stat.mtimeMs;
  }
  return Math.max(0, ...readdirSync(entry).map((name) => newestMtime(path.join(entry, name))));
}

/** The VSIX `npm run package` makes for this machine, rebuilt when a source is newer. */
function ensureVsix(): string {
  if (process.env.LM_LENS_VSIX) {
    return path.resolve(process.env.LM_LENS_VSIX);
  }
  const { name, version } = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { name: string; version: string };
  const vsix = path.join(repoRoot, `${name}-${version}-${process.platform}-${process.arch}.vsix`);
  const sources = ['src', 'media', 'package.json', 'esbuild.mjs', 'scripts'].map((entry) => newestMtime(path.join(repoRoot, entry)));
  if (existsSync(vsix) && statSync(vsix).mtimeMs > Math.max(...sources)) {
    console.log(`reusing ${path.relative(repoRoot, vsix)}`);
    return vsix;
  }
  const result = spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'package.mjs'), '--out', vsix], { cwd: repoRoot, stdio: 'inherit' });
  if (result.status !== 0 || !existsSync(vsix)) {
    throw new Error('packaging the VSIX failed (see above)');
  }
  return vsix;
}

function slug(index: number, scenario: Scenario): string {
  const words = scenario.name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
  return `${String(index + 1).padStart(2, '0')}-${words}`.slice(0, 80);
}

async function withTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`scenario timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

type Outcome = 'passed' | 'failed' | 'skipped';

async function runScenario(index: number, scenario: Scenario, workbench: Workbench, workspaceDir: string): Promise<Outcome> {
  const name = slug(index, scenario);
  if (scenario.skip) {
    console.log(`  - ${scenario.name} (skipped: ${scenario.skip})`);
    return 'skipped';
  }
  const { page } = workbench;
  const started = Date.now();
  const errorsBefore = new Set(await workbench.errorNotifications());
  let failure: unknown;
  try {
    await dismiss(page);
    const extraScreenshot = async (label: string, target?: Locator): Promise<void> => {
      const file = path.join(screenshotsDir, `${name}-${label}.png`);
      await (target ?? page).screenshot({ path: file });
      console.log(`      screenshot: ${path.relative(repoRoot, file)}`);
    };
    await withTimeout(
      scenario.run({ page, workspaceDir, log: (message) => console.log(`      ${message}`), screenshot: extraScreenshot }),
      scenario.timeoutMs ?? 60_000,
    );
    if (!scenario.allowErrorNotifications) {
      const fresh = (await workbench.errorNotifications()).filter((text) => !errorsBefore.has(text));
      if (fresh.length > 0) {
        throw new Error(`error notification: ${fresh.join(' | ')}`);
      }
    }
  } catch (error) {
    failure = error;
  }
  const screenshot = path.join(screenshotsDir, `${name}${failure ? '-FAILED' : ''}.png`);
  await page.screenshot({ path: screenshot }).catch((error: unknown) => console.log(`      (no screenshot: ${String(error)})`));
  const ms = Date.now() - started;
  if (failure === undefined) {
    console.log(`  ✔ ${scenario.name} (${ms} ms)`);
    return 'passed';
  }
  console.log(`  ✖ ${scenario.name} (${ms} ms)`);
  console.log(`      ${(failure instanceof Error ? (failure.stack ?? failure.message) : String(failure)).split('\n').join('\n      ')}`);
  console.log(`      screenshot: ${path.relative(repoRoot, screenshot)}`);
  return 'failed';
}

async function main(): Promise<number> {
  const timings = new Timings();
  const cleanup = new Cleanup();
  rmSync(screenshotsDir, { recursive: true, force: true });
  mkdirSync(screenshotsDir, { recursive: true });
  try {
    const vsix = await timings.time('package', () => ensureVsix());
    const model = await timings.time('test model', () => resolveTestModel());
    const session = await startSession({ label: 'e2e', settings: testSettings({ model }), env: { [testModelEnvVar]: model, LM_LENS_SERVER_IDLE_MS: '5000' }, vsix, timings, cleanup });
    for (const [name, content] of scenarios.flatMap((scenario) => Object.entries(scenario.workspaceFiles ?? {}))) {
      writeFileSync(path.join(session.workspaceDir, name), content);
    }
    const workbench = await openWorkbench(session.browser, workbenchUrl(session.server, session.workspaceDir), { logFile: session.browserLog });
    await timings.time('workbench', () => waitForWorkbench(workbench.page));
    const grep = process.env.LM_LENS_E2E_GREP;
    const selected = scenarios.filter((scenario) => !grep || scenario.name.includes(grep));
    console.log('');
    const outcomes = await timings.time('scenarios', async () => {
      const results: Outcome[] = [];
      for (const scenario of selected) {
        results.push(await runScenario(scenarios.indexOf(scenario), scenario, workbench, session.workspaceDir));
      }
      return results;
    });
    const count = (outcome: Outcome): number => outcomes.filter((each) => each === outcome).length;
    console.log(`\n  ${count('passed')} passing, ${count('failed')} failing, ${count('skipped')} skipped`);
    console.log(`  ${timings.report()}`);
    console.log(`  screenshots: ${path.relative(repoRoot, screenshotsDir)}/, logs: ${path.relative(repoRoot, session.logsDir)}/`);
    return count('failed') === 0 && count('passed') > 0 ? 0 : 1;
  } catch (error) {
    console.error(`\nUI run failed: ${error instanceof Error ? error.message : String(error)}`);
    console.error(`  ${timings.report()}`);
    return 1;
  } finally {
    await cleanup.run();
  }
}

exitWith(main);
