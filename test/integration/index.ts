// extensionTestsPath entry: VS Code's extension host calls run() once the extension under
// development is loaded. Bundled by esbuild.mjs into dist/test/integration/index.js; mocha stays
// external and resolves from the repo's node_modules at run time.
import * as path from 'node:path';
import Mocha from 'mocha';
import * as vscode from 'vscode';
import { suites } from './suites';
import { defaultResultsPath, grepEnvVar, resultsEnvVar, testModelEnvVar, writeResults } from './results';
import type { TestRecord, TestResults } from './results';

/** dist/test/integration/index.js → repo root. */
const repoRoot = path.resolve(__dirname, '..', '..', '..');

function errorFields(error: unknown): Pick<TestRecord, 'message' | 'stack'> {
  return error instanceof Error ? { message: error.message, stack: error.stack } : { message: String(error) };
}

function record(test: Mocha.Runnable, error?: unknown): TestRecord {
  return {
    title: test.title,
    fullTitle: test.fullTitle(),
    file: test.file,
    durationMs: test.duration,
    ...(error === undefined ? {} : errorFields(error)),
  };
}

/** Failures outside any test (a suite that does not load, mocha itself) still count. */
function setupFailure(title: string, error: unknown): TestRecord {
  return { title, fullTitle: title, ...errorFields(error) };
}

async function runMocha(results: TestResults): Promise<void> {
  const grep = process.env[grepEnvVar];
  const mocha = new Mocha({ ui: 'bdd', timeout: 60_000, color: false, reporter: 'spec', ...(grep ? { grep } : {}) });
  for (const [name, load] of suites) {
    // Same event sequence as Mocha#loadFiles, so interfaces see one "file" per suite.
    mocha.suite.emit('pre-require', globalThis, name, mocha);
    try {
      mocha.suite.emit('require', await load(), name, mocha);
    } catch (error) {
      results.failures.push(setupFailure(`load suite ${name}`, error));
    }
    mocha.suite.emit('post-require', globalThis, name, mocha);
  }
  await new Promise<void>((resolve) => {
    const runner = mocha.run(() => resolve());
    runner.on('pass', (test) => results.passes.push(record(test)));
    runner.on('fail', (test, error) => results.failures.push(record(test, error)));
    runner.on('pending', (test) => results.pending.push(record(test)));
  });
}

export async function run(): Promise<void> {
  const started = Date.now();
  const resultsPath = process.env[resultsEnvVar] || defaultResultsPath(repoRoot);
  const results: TestResults = {
    startedAt: new Date(started).toISOString(),
    finishedAt: '',
    durationMs: 0,
    passes: [],
    failures: [],
    pending: [],
    environment: {
      vscodeVersion: vscode.version,
      appName: vscode.env.appName,
      appHost: vscode.env.appHost,
      nodeVersion: process.version,
      execPath: process.execPath,
      resultsPathFromEnv: Boolean(process.env[resultsEnvVar]),
      testModel: process.env[testModelEnvVar],
    },
  };
  try {
    await runMocha(results);
  } catch (error) {
    results.failures.push(setupFailure('run mocha', error));
  } finally {
    results.finishedAt = new Date().toISOString();
    results.durationMs = Date.now() - started;
    writeResults(resultsPath, results);
  }
  // Resolving (rather than throwing) lets VS Code end the test run normally: the desktop
  // window closes, and code-server reports the exit to the page, where the runner is
  // listening; the runner then stops code-server itself. The verdict is the file.
}
