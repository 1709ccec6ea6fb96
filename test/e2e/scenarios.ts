// UI scenarios, run in order in one workbench with the packaged extension installed. Each ends
// in the state its screenshot should show (test-results/screenshots/<nn>-<slug>.png). Add one by
// appending an entry; `skip: 'reason'` keeps a scenario listed without running it.
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { repoRoot, sampleFileName, sampleProse } from '../integration/fixtures';
import { editorText, openFile, outputText, paletteEntries, pickQuickInput, runCommand, waitFor } from './workbench';

export interface ScenarioContext {
  page: Page;
  workspaceDir: string;
  log(message: string): void;
}

export interface Scenario {
  name: string;
  /** Reason not to run it (yet). */
  skip?: string;
  timeoutMs?: number;
  /** Error notifications normally fail a scenario; set when it provokes one on purpose. */
  allowErrorNotifications?: boolean;
  run(context: ScenarioContext): Promise<void>;
}

interface ManifestCommand {
  command: string;
  title: string;
  category?: string;
}

function paletteLabel(entry: ManifestCommand): string {
  return entry.category ? `${entry.category}: ${entry.title}` : entry.title;
}

interface Manifest {
  contributes: { commands: ManifestCommand[]; menus?: { commandPalette?: Array<{ command: string; when?: string }> } };
}

const manifest = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as Manifest;
/** Commands a user can find in the palette: the rest are hidden with a `when: "false"` entry. */
const hiddenFromPalette = new Set((manifest.contributes.menus?.commandPalette ?? []).filter((entry) => entry.when === 'false').map((entry) => entry.command));
const paletteCommands = manifest.contributes.commands.filter((entry) => !hiddenFromPalette.has(entry.command));

export const scenarios: Scenario[] = [
  {
    name: 'open the sample markdown file',
    async run({ page }) {
      await openFile(page, sampleFileName);
      const firstLines = sampleProse.split('\n').slice(0, 3).join('\n');
      await waitFor('the sample text in the editor', async () => ((await editorText(page)).startsWith(firstLines) ? true : undefined));
    },
  },
  {
    // Only activation exists so far; its observable trace is the "LM Lens" log channel.
    name: 'the extension activates and logs to its output channel',
    async run({ page, log }) {
      await waitFor(
        'an "LM Lens" output channel',
        async () => {
          await runCommand(page, 'Output: Show Output Channels...');
          await pickQuickInput(page, 'LM Lens', 2000);
          return true;
        },
        30_000,
      );
      // Any log line will do: the channel is created in activate(), the wording is not ours to pin.
      const line = await waitFor('a log line in the LM Lens channel', async () =>
        (await outputText(page)).split('\n').find((text) => /\[(trace|debug|info|warning|error)\]/.test(text)),
      );
      log(`first line: ${line.trim()}`);
    },
  },
  {
    name: 'the command palette lists every LM Lens command',
    async run({ page }) {
      const listed = await paletteEntries(page, 'LM Lens: ');
      const missing = paletteCommands.map(paletteLabel).filter((label) => !listed.includes(label));
      assert.deepEqual(missing, [], `not in the palette: ${missing.join(', ')}\nlisted: ${listed.join(' | ')}`);
    },
  },
  {
    name: 'Show log reveals the LM Lens output',
    async run({ page }) {
      await runCommand(page, 'LM Lens: Show log');
      await waitFor('the LM Lens log in the panel', async () => ((await outputText(page)).includes('LM Lens') ? true : undefined));
    },
  },
];
