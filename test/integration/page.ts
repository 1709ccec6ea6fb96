// The workbench page as both runners watch it: browser console to a log file, crashes, error
// notifications, and the extension host's exit (which the web workbench reports to
// window.codeAutomationExit when that function exists, as @vscode/test-web relies on).
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';

export interface Workbench {
  page: Page;
  /** Set once the extension host has exited (end of an extensionTestsPath run). */
  hostExitCode(): number | undefined;
  /** A reason to give up now: crashed page, closed page, a fatal dialog or notification. */
  fatalProblem(): Promise<string | undefined>;
  /** Error notifications shown so far (text), for the summary. */
  errorNotifications(): Promise<string[]>;
}

export interface OpenOptions {
  logFile: string;
  viewport?: { width: number; height: number };
}

// Notifications that mean the run itself is broken, as opposed to an error the extension under
// test shows on purpose.
const fatalNotification = /extension host|extensionTestsPath|extensionDevelopmentPath|cannot find module|failed to load|reconnect/i;

export async function readErrorNotifications(page: Page): Promise<string[]> {
  // Toasts and the notification centre render the same items; innerText skips their <style>.
  return page.evaluate(() =>
    Array.from(document.querySelectorAll<HTMLElement>('.notification-list-item'))
      .filter((item) => item.querySelector('.codicon-error') !== null)
      .map((item) => {
        const message = item.querySelector<HTMLElement>('.notification-list-item-message')?.innerText ?? item.innerText;
        const source = item.querySelector<HTMLElement>('.notification-list-item-source')?.innerText;
        return `${message.trim()}${source ? ` (${source.trim()})` : ''}`;
      })
      .filter((text, index, all) => text.length > 0 && all.indexOf(text) === index),
  );
}

export async function openWorkbench(browser: Browser, url: string, options: OpenOptions): Promise<Workbench> {
  mkdirSync(path.dirname(options.logFile), { recursive: true });
  writeFileSync(options.logFile, `${new Date().toISOString()} open ${url}\n`);
  const opened = Date.now();
  const append = (line: string): void => appendFileSync(options.logFile, `+${((Date.now() - opened) / 1000).toFixed(2)}s ${line}\n`);
  const context = await browser.newContext({ viewport: options.viewport ?? { width: 1400, height: 900 } });
  const page = await context.newPage();
  let exitCode: number | undefined;
  let crashed: string | undefined;
  page.on('console', (message) => append(`[${message.type()}] ${message.text()}`));
  page.on('pageerror', (error) => append(`[pageerror] ${error.stack ?? error.message}`));
  page.on('crash', () => (crashed = 'the workbench page crashed'));
  page.on('close', () => (crashed ??= 'the workbench page closed'));
  await page.exposeFunction('codeAutomationExit', (code: number, logs?: Array<{ relativePath: string; contents: string }>) => {
    exitCode = code;
    append(`[codeAutomationExit] ${code}`);
    for (const entry of logs ?? []) {
      append(`----- ${entry.relativePath}\n${entry.contents}`);
    }
  });
  await page.goto(url);
  return {
    page,
    hostExitCode: () => exitCode,
    fatalProblem: async () => {
      if (crashed) {
        return crashed;
      }
      const dialog = await page
        .evaluate(() => document.querySelector('.monaco-dialog-box')?.textContent ?? null)
        .catch(() => null);
      if (dialog) {
        return `the workbench shows a dialog: ${dialog.trim()}`;
      }
      const fatal = (await readErrorNotifications(page).catch(() => [])).find((text) => fatalNotification.test(text));
      return fatal === undefined ? undefined : `the workbench shows an error: ${fatal}`;
    },
    errorNotifications: () => readErrorNotifications(page).catch(() => []),
  };
}
