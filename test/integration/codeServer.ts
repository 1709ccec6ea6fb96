// The runners' side of code-server (scripts/codeServer.ts): headless Debian Chromium to drive
// the workbench, cleanup on every exit path, and one timed session setup.
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { createProfile, ensureCodeServer, ensureSystemPackages, installExtension, startCodeServer } from '../../scripts/codeServer';
import type { ProfileDirs, RunningCodeServer } from '../../scripts/codeServer';
import { createSampleWorkspace, testResultsDir } from './fixtures';
import type { Timings } from './fixtures';

export { remoteUri, workbenchUrl } from '../../scripts/codeServer';

function log(message: string): void {
  console.log(`[code-server] ${message}`);
}

export const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Runs cleanups newest first; also on Ctrl+C, so no code-server or Chromium outlives the runner. */
export class Cleanup {
  private readonly tasks: Array<() => Promise<void> | void> = [];
  private interrupted = false;
  // `on`, not `once`: Ctrl+C reaches the runner twice (from the terminal and relayed by tsx), and
  // a second signal without a handler would kill it mid-cleanup, leaving code-server running.
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    if (!this.interrupted) {
      this.interrupted = true;
      console.error(`\n${signal}: stopping code-server and Chromium…`);
      void this.run().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    }
  };

  constructor() {
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
  }

  add(task: () => Promise<void> | void): void {
    this.tasks.push(task);
  }

  private running: Promise<void> | undefined;

  /** Shared by the signal handler and the runner's `finally`, which may both get here. */
  run(): Promise<void> {
    this.running ??= this.runTasks();
    return this.running;
  }

  private async runTasks(): Promise<void> {
    for (let task = this.tasks.pop(); task; task = this.tasks.pop()) {
      try {
        await task();
      } catch (error) {
        console.error('cleanup failed:', error);
      }
    }
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }
}

export async function launchBrowser(): Promise<Browser> {
  const executablePath = process.env.LM_LENS_CHROMIUM ?? '/usr/bin/chromium';
  // The unit tests' browser checks (the exported report page) run before the integration tests
  // install the system packages, so on a clean machine Debian's chromium is installed from here.
  if (!existsSync(executablePath) && !process.env.LM_LENS_CHROMIUM) ensureSystemPackages();
  if (!existsSync(executablePath)) {
    throw new Error(`No Chromium at ${executablePath}: install Debian's chromium or set LM_LENS_CHROMIUM.`);
  }
  // Playwright gives every launch a fresh temporary profile, removed by browser.close(). Its own
  // signal handlers would kill Chromium and leave the profile behind; Cleanup closes it instead.
  return chromium.launch({ executablePath, headless: true, args: chromiumArgs, handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false });
}

export interface Session {
  baseDir: string;
  /** Where the runner writes the browser console; copied to logsDir with the other logs. */
  browserLog: string;
  /** test-results/logs/<label>: filled when the session is cleaned up. */
  logsDir: string;
  workspaceDir: string;
  profile: ProfileDirs;
  server: RunningCodeServer;
  browser: Browser;
}

export interface SessionOptions {
  label: string;
  settings: Record<string, unknown>;
  env?: Record<string, string>;
  /** Installed into the fresh extensions dir before the server starts. */
  vsix?: string;
  timings: Timings;
  cleanup: Cleanup;
}

/** Everything up to a running server and browser, each step timed and registered for cleanup. */
export async function startSession(options: SessionOptions): Promise<Session> {
  const { timings, cleanup } = options;
  await timings.time('system packages', () => ensureSystemPackages());
  const install = await timings.time('code-server install', () => ensureCodeServer());
  const baseDir = mkdtempSync(path.join(os.tmpdir(), `lm-lens-${options.label}-`));
  cleanup.add(() => {
    if (!process.env.LM_LENS_KEEP_TEMP) {
      rmSync(baseDir, { recursive: true, force: true });
    } else {
      log(`kept ${baseDir}`);
    }
  });
  const workspaceDir = createSampleWorkspace(baseDir);
  const profile = createProfile(baseDir, options.settings);
  const logsDir = path.join(testResultsDir, 'logs', options.label);
  const browserLog = path.join(profile.stateDir, 'browser.log');
  cleanup.add(() => {
    // After the server stopped (cleanups run newest first), so the logs are complete.
    rmSync(logsDir, { recursive: true, force: true });
    for (const [from, to] of [
      [path.join(profile.userDataDir, 'logs'), logsDir],
      [path.join(profile.stateDir, 'code-server.log'), path.join(logsDir, 'code-server.log')],
      [browserLog, path.join(logsDir, 'browser.log')],
    ] as const) {
      if (existsSync(from)) {
        cpSync(from, to, { recursive: true });
      }
    }
  });
  if (options.vsix) {
    const vsix = options.vsix;
    await timings.time('install extension', () => installExtension(install, profile, vsix));
  }
  const server = await timings.time('server start', () => startCodeServer(install, { profile, env: options.env }));
  cleanup.add(() => server.stop());
  const browser = await timings.time('browser start', () => launchBrowser());
  cleanup.add(() => browser.close());
  return { baseDir, browserLog, logsDir, workspaceDir, profile, server, browser };
}

/** Runs a runner's main and exits with its code: Playwright's and the server's handles must not keep it alive. */
export function exitWith(main: () => Promise<number>): void {
  void main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exit(1);
    },
  );
}
