// What the UI scenarios share: the scenario contract, facts read from the manifest (so a scenario
// never restates a setting's default or a command's title), the fixture texts, and page helpers
// that more than one scenario uses.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { repoRoot, sampleProse } from '../integration/fixtures';
import { runCommand, waitFor, webviewContent } from './workbench';

export interface ScenarioContext {
  page: Page;
  workspaceDir: string;
  log(message: string): void;
  /** An extra screenshot, `<scenario>-<label>.png`: of the page, or of `target` only. */
  screenshot(label: string, target?: Locator): Promise<void>;
}

export interface Scenario {
  name: string;
  /** Reason not to run it (yet). */
  skip?: string;
  timeoutMs?: number;
  /** Files (name → content) the workspace holds from the start: quick open finds them. */
  workspaceFiles?: Record<string, string>;
  /** Error notifications normally fail a scenario; set when it provokes one on purpose. */
  allowErrorNotifications?: boolean;
  run(context: ScenarioContext): Promise<void>;
}

interface ManifestCommand {
  command: string;
  title: string;
  category?: string;
}

export function paletteLabel(entry: ManifestCommand): string {
  return entry.category ? `${entry.category}: ${entry.title}` : entry.title;
}

interface Manifest {
  contributes: {
    commands: ManifestCommand[];
    menus?: { commandPalette?: Array<{ command: string; when?: string }> };
    configuration: { properties: Record<string, { default?: unknown }> };
  };
}

const manifest = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as Manifest;
/** Commands a user can find in the palette: the rest are hidden with a `when: "false"` entry. */
const hiddenFromPalette = new Set((manifest.contributes.menus?.commandPalette ?? []).filter((entry) => entry.when === 'false').map((entry) => entry.command));
export const paletteCommands = manifest.contributes.commands.filter((entry) => !hiddenFromPalette.has(entry.command));
/** Rows the next-token panel lists: the setting's default (the test settings leave it alone). */
export const topK = Number(manifest.contributes.configuration.properties['lmLens.nextToken.topK']?.default);

/** The sample's last prose line ("…through the door."): the panel predicts after its full stop. */
export const PANEL_LINE = sampleProse.trimEnd().split('\n').length;
export const GHOST_FILE = 'ghost.md';
export const GHOST_PROMPT = 'Alice was beginning to get very';
export const REPORT_FILE = 'report.md';
/** Enough sentences for the per-sentence chart to read as a series (Lewis Carroll, public domain). */
export const REPORT_PROSE = `${sampleProse}
Alice was beginning to get very tired of sitting by her sister on the bank, and of having nothing to do. Once or twice she had peeped into the book her sister was reading, but it had no pictures or conversations in it. "And what is the use of a book," thought Alice, "without pictures or conversations?"

So she was considering in her own mind whether the pleasure of making a daisy-chain would be worth the trouble of getting up and picking the daisies. Suddenly a White Rabbit with pink eyes ran close by her. There was nothing so very remarkable in that. Burning with curiosity, she ran across the field after it.
`;

/**
 * One webview at a time: the next-token panel's frame and the report's match the same selectors.
 * Edited files are saved first, so closing asks nothing (no later scenario reads them from disk).
 */
export async function closeEverything(page: Page): Promise<void> {
  await runCommand(page, 'File: Save All');
  await runCommand(page, 'View: Close All Editor Groups');
  await waitFor('no webview left', async () => ((await page.locator('iframe.webview').count()) === 0 ? true : undefined));
}

/** Editor ranges with the Layers view's attention wash (src/extension/layersController.ts: rgba(170, 90, 255, …)). */
export async function attentionShadeCount(page: Page): Promise<number> {
  return page.evaluate(
    () => Array.from(document.querySelectorAll<HTMLElement>('.part.editor .monaco-editor .view-overlays [class*="ced-"]')).filter((element) => getComputedStyle(element).backgroundColor.startsWith('rgba(170, 90, 255')).length,
  );
}

export function panelRows(page: Page): Locator {
  return webviewContent(page).locator('button.row[data-action="insert-prediction"]');
}

/** Waits until the panel lists topK rows predicted for a cursor on PANEL_LINE (at `column` when given). */
export async function waitForPanelRows(page: Page, column?: number): Promise<string[]> {
  const summary = webviewContent(page).locator('#prediction .summary');
  const place = new RegExp(`Ln ${PANEL_LINE}, Col ${column ?? '\\d+'}(?!\\d)`);
  return waitFor(
    `${topK} next-token rows for ${place}`,
    async () => {
      const rows = await panelRows(page).locator('.token code').allInnerTexts();
      return rows.length === topK && place.test(await summary.innerText()) ? rows : undefined;
    },
    // Below the scenario timeout, so a failure says what was missing.
    45_000,
  );
}
