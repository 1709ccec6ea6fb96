// The results file is the only reliable verdict: VS Code's extension host exits 0 even when
// tests fail. This module is shared by the in-host entry (writes) and the runners (read, print),
// so it must not import vscode.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import * as path from 'node:path';

export const resultsEnvVar = 'LM_LENS_TEST_RESULTS';
export const testModelEnvVar = 'LM_LENS_TEST_MODEL';
export const grepEnvVar = 'LM_LENS_TEST_GREP';

export interface TestRecord {
  title: string;
  fullTitle: string;
  file?: string;
  durationMs?: number;
  message?: string;
  stack?: string;
}

export interface TestResults {
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  passes: TestRecord[];
  failures: TestRecord[];
  pending: TestRecord[];
  /** What the extension host saw, so a runner can prove its env and settings arrived. */
  environment: {
    vscodeVersion: string;
    appName: string;
    appHost: string;
    nodeVersion: string;
    execPath: string;
    resultsPathFromEnv: boolean;
    testModel?: string;
  };
}

export function defaultResultsPath(repoRoot: string): string {
  return path.join(repoRoot, 'test-results', 'integration.json');
}

/** Written via rename so a polling runner never parses half a file. */
export function writeResults(file: string, results: TestResults): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(results, null, 2)}\n`);
  renameSync(temporary, file);
}

export function readResults(file: string): TestResults {
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<TestResults>;
  if (!Array.isArray(parsed.passes) || !Array.isArray(parsed.failures) || !Array.isArray(parsed.pending)) {
    throw new Error(`${file} is not an LM Lens test results file`);
  }
  return parsed as TestResults;
}

export interface WaitOptions {
  timeoutMs: number;
  /** Polled while waiting; a returned message aborts the wait (page crashed, host exited…). */
  abortReason?: () => Promise<string | undefined> | string | undefined;
  pollMs?: number;
}

export async function waitForResults(file: string, options: WaitOptions): Promise<TestResults> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (existsSync(file)) {
      return readResults(file);
    }
    const reason = await options.abortReason?.();
    if (reason !== undefined) {
      // The host may have written the file in the same instant it exited.
      if (existsSync(file)) {
        return readResults(file);
      }
      throw new Error(`No results at ${file}: ${reason}`);
    }
    if (Date.now() > deadline) {
      throw new Error(
        `No results at ${file} after ${Math.round(options.timeoutMs / 1000)} s. The extension host never finished the suite ` +
          `(raise LM_LENS_TEST_TIMEOUT_MS if it is just slow; see the browser log and code-server log for errors).`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 250));
  }
}

function loadSourceMap(bundle: string): SourceMap | undefined {
  const mapFile = `${bundle}.map`;
  // A production build (npm run package) leaves an older map behind without referencing it.
  if (!existsSync(mapFile) || !existsSync(bundle) || !readFileSync(bundle, 'utf8').includes('sourceMappingURL=')) {
    return undefined;
  }
  return new SourceMap(JSON.parse(readFileSync(mapFile, 'utf8')) as ConstructorParameters<typeof SourceMap>[0]);
}

/**
 * The extension host runs the bundles without source maps (they must be enabled before a bundle
 * loads); map the dist/ frames in failure stacks back to the .ts files here instead.
 */
export function mapBundleStacks(results: TestResults, root: string): void {
  const maps = new Map<string, SourceMap | undefined>();
  const frame = /[^\s(]*dist[\\/][^\s():]+\.js:(\d+):(\d+)/g;
  for (const failure of results.failures) {
    failure.stack = failure.stack?.replace(frame, (whole: string, line: string, column: string) => {
      const bundle = path.resolve(root, whole.slice(0, whole.length - line.length - column.length - 2));
      if (!maps.has(bundle)) {
        maps.set(bundle, loadSourceMap(bundle));
      }
      const entry: object = maps.get(bundle)?.findEntry(Number(line) - 1, Number(column) - 1) ?? {};
      if (!('originalSource' in entry && 'originalLine' in entry && 'originalColumn' in entry)) {
        return whole;
      }
      const source = path.relative(root, path.resolve(path.dirname(bundle), String(entry.originalSource)));
      return `${source}:${Number(entry.originalLine) + 1}:${Number(entry.originalColumn) + 1}`;
    });
  }
}

function indent(text: string, prefix: string): string {
  return text
    .split('\n')
    .map((line) => prefix + line)
    .join('\n');
}

/** Mocha-spec-like summary; returns true when nothing failed and something ran. */
export function printSummary(results: TestResults, log: (line: string) => void = console.log): boolean {
  log('');
  for (const test of results.passes) {
    log(`  ✔ ${test.fullTitle}${test.durationMs !== undefined ? ` (${test.durationMs} ms)` : ''}`);
  }
  for (const test of results.pending) {
    log(`  - ${test.fullTitle} (pending)`);
  }
  results.failures.forEach((test, index) => log(`  ${index + 1}) ${test.fullTitle}`));
  log('');
  log(`  ${results.passes.length} passing (${(results.durationMs / 1000).toFixed(1)} s)`);
  if (results.pending.length > 0) {
    log(`  ${results.pending.length} pending`);
  }
  if (results.failures.length > 0) {
    log(`  ${results.failures.length} failing`);
    results.failures.forEach((test, index) => {
      log('');
      log(`  ${index + 1}) ${test.fullTitle}`);
      log(indent(test.stack ?? test.message ?? '(no message)', '     '));
    });
  }
  log('');
  const ran = results.passes.length + results.failures.length;
  if (ran === 0) {
    log('  No test ran: treating this as a failure.');
  }
  return results.failures.length === 0 && ran > 0;
}
