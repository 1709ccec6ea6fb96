// UI scenarios, run in order in one workbench with the packaged extension installed. Each ends
// in the state its screenshot should show (test-results/screenshots/<nn>-<slug>.png). Add one by
// appending an entry; `skip: 'reason'` keeps a scenario listed without running it.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { loadEngine } from '../../src/core/engine';
import { resolveTestModel, resolveTestModelB, sampleFileName, sampleProse } from '../integration/fixtures';
import { ProtocolFixture } from '../support/serverFixture';
import {
  chooseFolderInDialog,
  cursorToLineEnd,
  answerInputBox,
  editorText,
  ghostText,
  hoverText,
  openFile,
  outputText,
  paletteEntries,
  pickQuickInput,
  runCommand,
  setColorTheme,
  styledDecorationCount,
  typeInEditor,
  waitFor,
  webviewContent,
} from './workbench';
import {
  attentionShadeCount,
  closeEverything,
  GHOST_FILE,
  GHOST_PROMPT,
  PANEL_LINE,
  paletteCommands,
  paletteLabel,
  panelRows,
  REPORT_FILE,
  REPORT_PROSE,
  waitForPanelRows,
} from './scenarioSupport';
import type { Scenario } from './scenarioSupport';
import { inkedCanvases, REPORT_CHARTS, reportTokens, scrollToCharts, waitForCharts } from './reportPage';

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
  {
    name: 'next-token panel: the palette command shows lmLens.nextToken.topK rows (dark theme)',
    async run({ page, log }) {
      await setColorTheme(page, 'Dark Modern', 'vs-dark');
      // The log the scenario before opened would take half the height of the screenshots.
      await runCommand(page, 'View: Hide Panel');
      await openFile(page, sampleFileName);
      await cursorToLineEnd(page, PANEL_LINE);
      await runCommand(page, 'LM Lens: Show next-token probabilities');
      log(`rows: ${(await waitForPanelRows(page)).join(' | ')}`);
    },
  },
  {
    name: 'next-token panel in a light theme, then in a high-contrast one',
    async run({ page, screenshot }) {
      await setColorTheme(page, 'Light Modern', 'vs');
      await waitFor('the panel to take the light theme', async () => ((await webviewContent(page).locator('body.vscode-light').count()) > 0 ? true : undefined));
      await waitForPanelRows(page);
      // A full-page shot taken right after a theme switch has come out dark; the editor area's own is reliable.
      await screenshot('editor-area', page.locator('.part.editor'));
      await setColorTheme(page, 'Dark High Contrast', 'hc-black');
      await waitFor('the panel to take the high-contrast theme', async () => ((await webviewContent(page).locator('body.vscode-high-contrast').count()) > 0 ? true : undefined));
      await waitForPanelRows(page);
      await screenshot('editor-area-high-contrast', page.locator('.part.editor'));
    },
  },
  {
    name: 'next-token panel: clicking a row inserts its token at the cursor',
    async run({ page, log }) {
      await setColorTheme(page, 'Dark Modern', 'vs-dark');
      const labels = await waitForPanelRows(page);
      // Tokens of letters and punctuation (␣ shows a space) compare exactly with the editor's text.
      const index = Math.max(0, labels.findIndex((label) => /^␣?[A-Za-z][A-Za-z,.;:!?'-]*$/.test(label)));
      const token = (labels[index] ?? '').replace(/␣/g, ' ');
      // The click focuses the panel's group; sample.md is the one text editor in the editor area.
      const lineOf = async (): Promise<string> => (await editorText(page, '.part.editor')).split('\n')[PANEL_LINE - 1] ?? '';
      const before = await lineOf();
      await panelRows(page).nth(index).click();
      log(`clicked row ${index + 1}: ${JSON.stringify(token)}`);
      await waitFor(`line ${PANEL_LINE} to end with ${JSON.stringify(token)}`, async () => ((await lineOf()) === before + token ? true : undefined));
      // The cursor moved past the insertion: the panel predicts from there.
      await waitForPanelRows(page, (before + token).length + 1);
    },
  },
  {
    name: 'ghost text: appears after a pause while typing, Tab accepts it',
    workspaceFiles: { [GHOST_FILE]: '' },
    async run({ page, screenshot, log }) {
      await openFile(page, GHOST_FILE);
      await typeInEditor(page, GHOST_PROMPT, { delayMs: 80 });
      const shown = await waitFor('ghost text after the pause', () => ghostText(page), 30_000);
      log(`ghost text: ${JSON.stringify(shown)}`);
      assert.equal(await editorText(page), GHOST_PROMPT, 'the ghost text is not part of the document yet');
      await screenshot('shown');
      await page.keyboard.press('Tab');
      await waitFor('the accepted text in the document', async () => ((await editorText(page)) === GHOST_PROMPT + shown ? true : undefined));
    },
  },
  {
    name: 'sentence loss: decorations on the sample, hover with loss and perplexity',
    async run({ page, screenshot, log }) {
      // sample.md is in the first group since the panel scenarios (the second shows the panel and ghost.md).
      await runCommand(page, 'View: Focus First Editor Group');
      await openFile(page, sampleFileName);
      const count = await waitFor(
        'loss decorations in the editor',
        async () => {
          const drawn = await styledDecorationCount(page);
          return drawn > 0 ? drawn : undefined;
        },
        60_000,
      );
      log(`${count} decorated ranges`);
      await screenshot('decorations');
      const hover = await hoverText(page, 'small golden key');
      assert.match(hover, /loss/i);
      assert.match(hover, /perplexity/i);
    },
  },
  {
    name: 'branching: a hover alternative replaces its token and ↪ continues with ghost text; one undo restores the text',
    async run({ page, screenshot, log }) {
      await openFile(page, sampleFileName);
      await waitFor('loss decorations in the editor', async () => ((await styledDecorationCount(page)) > 0 ? true : undefined), 60_000);
      const before = await editorText(page);
      await hoverText(page, 'small golden key');
      const hover = page.locator('.monaco-hover:not(.hidden)').first();
      await screenshot('hover', hover);
      const link = hover.locator('a', { hasText: '↪' }).first();
      log(`continue link: ${await link.getAttribute('title')}`);
      await link.click();
      await waitFor('the alternative in the document', async () => ((await editorText(page)) !== before ? true : undefined));
      const shown = await waitFor('ghost text after the new token', () => ghostText(page), 30_000);
      log(`ghost text: ${JSON.stringify(shown)}`);
      await screenshot('continued');
      await page.keyboard.press('Escape');
      await page.keyboard.press('Control+Z');
      await waitFor('the original text after one undo', async () => ((await editorText(page)) === before ? true : undefined));
    },
  },
  {
    name: 'document report: GLTR histograms and the per-sentence chart drawn, perplexity shown, sentences revealed from the list and the chart (dark theme)',
    workspaceFiles: { [REPORT_FILE]: REPORT_PROSE },
    timeoutMs: 120_000,
    async run({ page, screenshot, log }) {
      await setColorTheme(page, 'Dark Modern', 'vs-dark');
      await closeEverything(page);
      await openFile(page, REPORT_FILE);
      await runCommand(page, 'LM Lens: Show document report');
      const tokens = await waitFor('the report to count scored tokens', async () => ((await reportTokens(page)) > 0 ? reportTokens(page) : undefined), 90_000);
      log(`tokens: ${tokens}, pixels drawn per chart: ${JSON.stringify(await waitForCharts(page))}`);
      const report = webviewContent(page);
      assert.match(await report.locator('body').innerText(), /perplexity/u);
      await screenshot('editor-area', page.locator('.part.editor'));
      await scrollToCharts(page);
      await screenshot('charts', page.locator('.part.editor'));
      // A listed sentence, clicked, is selected in the editor (the status bar counts the selection).
      await report.locator('.surprising button.sentence').first().click();
      const selected = page.locator('.statusbar-item', { hasText: /selected/u });
      await waitFor('the sentence selected in the editor', async () => ((await selected.count()) > 0 ? selected.first().innerText() : undefined));
      log(`revealed: ${await selected.first().innerText()}`);
      // So does the sentence nearest a click on the per-sentence chart, once the selection is gone.
      await page.keyboard.press('ArrowRight');
      await waitFor('the selection to collapse', async () => ((await selected.count()) === 0 ? true : undefined));
      await report.locator('#chart-sentence-loss').click();
      await waitFor('the clicked sentence selected in the editor', async () => ((await selected.count()) > 0 ? selected.first().innerText() : undefined));
      log(`chart click revealed: ${await selected.first().innerText()}`);
    },
  },
  {
    name: 'document report: follows an edit (light theme), then drawn in a high-contrast theme',
    timeoutMs: 120_000,
    async run({ page, screenshot, log }) {
      const before = await reportTokens(page);
      assert.ok(before > 0, 'the report from the scenario before is open');
      await runCommand(page, 'View: Focus First Editor Group');
      await typeInEditor(page, ' The Queen shouted at the cards in the garden.', { atEnd: true });
      const after = await waitFor('the report to count the new tokens', async () => {
        const tokens = await reportTokens(page);
        return tokens > before ? tokens : undefined;
      }, 90_000);
      log(`tokens ${before} → ${after}`);
      await setColorTheme(page, 'Light Modern', 'vs');
      await waitFor('the report to take the light theme', async () => ((await webviewContent(page).locator('body.vscode-light').count()) > 0 ? true : undefined));
      await waitForCharts(page);
      await screenshot('editor-area', page.locator('.part.editor'));
      await scrollToCharts(page);
      await screenshot('charts', page.locator('.part.editor'));
      await setColorTheme(page, 'Dark High Contrast', 'hc-black');
      await waitFor('the report to take the high-contrast theme', async () => ((await webviewContent(page).locator('body.vscode-high-contrast').count()) > 0 ? true : undefined));
      await waitForCharts(page);
      // Readable, not merely drawn: marks that stand out from the background at 3:1 (WCAG's bar for graphics).
      const legible = await inkedCanvases(page, 3);
      log(`high contrast, pixels at 3:1 contrast or more per chart: ${JSON.stringify(legible)}`);
      for (const chart of REPORT_CHARTS) assert.ok((legible[chart] ?? 0) > 500, `${chart}: ${legible[chart] ?? 0} legible pixels`);
      await scrollToCharts(page);
      await screenshot('charts-high-contrast', page.locator('.part.editor'));
      // Leave no report behind for the scenarios after this one.
      await setColorTheme(page, 'Dark Modern', 'vs-dark');
      await closeEverything(page);
    },
  },
  {
    // Last: it leaves the workbench on another model.
    name: 'Select model: "Choose a local folder…" with a typed path switches the model without a reload',
    timeoutMs: 120_000,
    async run({ page, log }) {
      // A report left open by a failed scenario before would be a second webview frame.
      await closeEverything(page);
      await openFile(page, sampleFileName);
      await cursorToLineEnd(page, PANEL_LINE);
      await runCommand(page, 'LM Lens: Show next-token probabilities');
      const lineEnd = ((await editorText(page)).split('\n')[PANEL_LINE - 1] ?? '').length + 1;
      const before = await waitForPanelRows(page, lineEnd);
      log(`rows before: ${before.join(' | ')}`);
      const folder = await resolveTestModelB();
      await runCommand(page, 'LM Lens: Select model');
      await pickQuickInput(page, 'Choose a local folder…');
      await chooseFolderInDialog(page, folder);
      // A folder with only onnx/model.onnx offers its exact precision and q8-fast, made from it.
      await pickQuickInput(page, 'fp32');
      const name = path.basename(folder);
      const status = page.locator(`.statusbar-item[aria-label*="${name}"]`);
      await waitFor(`the status bar to name ${name}`, async () => ((await status.count()) > 0 ? true : undefined), 30_000);
      log('the status bar names the new model');
      await waitFor(`${name} loaded (a check mark in the status bar)`, async () => ((await status.locator('.codicon-check').count()) > 0 ? true : undefined), 60_000);
      const after = await waitFor("the panel to show the new model's tokens", async () => {
        const rows = await waitForPanelRows(page);
        return rows.join('|') !== before.join('|') ? rows : undefined;
      }, 60_000);
      log(`${name}: ${after.join(' | ')}`);
    },
  },
  {
    name: 'next-token panel: Show layers lists L+1 layer rows and shades the attended tokens in the editor (dark, light, high contrast)',
    timeoutMs: 120_000,
    async run({ page, log, screenshot }) {
      await closeEverything(page);
      await setColorTheme(page, 'Dark Modern', 'vs-dark');
      await openFile(page, sampleFileName);
      await cursorToLineEnd(page, PANEL_LINE);
      await runCommand(page, 'LM Lens: Show next-token probabilities');
      await waitForPanelRows(page);
      await webviewContent(page).locator('button[data-action="toggle-layers"]').click();
      const grid = webviewContent(page).locator('table.lens-grid');
      const rows = await waitFor(
        'the layer grid with one row per layer plus the embeddings',
        async () => {
          const layers = await webviewContent(page).locator('#lens-layer option').count();
          const body = await grid.locator('tbody tr').count();
          return layers > 0 && body === layers + 1 ? body : undefined;
        },
        45_000,
      );
      const headers = await grid.locator('thead th[scope="col"]').allInnerTexts();
      assert.deepEqual([headers[0], ...headers.slice(-3)], ['layer', 'final rank', 'entropy', 'KL to final']);
      const shaded = await waitFor('attention shading in the editor', async () => ((await attentionShadeCount(page)) > 0 ? attentionShadeCount(page) : undefined));
      const chips = await webviewContent(page).locator('.chip.attended').count();
      assert.ok(chips > 0, 'the token strip is shaded too');
      log(`${rows} layer rows; ${shaded} shaded ranges in the editor; ${chips} shaded chips; first row: ${(await grid.locator('tbody tr').first().innerText()).replace(/\s+/g, ' ')}`);
      await screenshot('dark', page.locator('.part.editor'));
      await setColorTheme(page, 'Light Modern', 'vs');
      await waitFor('the panel to take the light theme', async () => ((await webviewContent(page).locator('body.vscode-light').count()) > 0 ? true : undefined));
      await screenshot('light', page.locator('.part.editor'));
      await setColorTheme(page, 'Dark High Contrast', 'hc-black');
      await waitFor('the panel to take the high-contrast theme', async () => ((await webviewContent(page).locator('body.vscode-high-contrast').count()) > 0 ? true : undefined));
      await screenshot('high-contrast', page.locator('.part.editor'));
      await setColorTheme(page, 'Dark Modern', 'vs-dark');
      // Off again: no shading left behind for the scenarios after this one.
      await webviewContent(page).locator('button[data-action="toggle-layers"]').click();
      await waitFor('the shading to go', async () => ((await attentionShadeCount(page)) === 0 ? true : undefined));
      await closeEverything(page);
    },
  },
  {
    // After the folder switch; it leaves the workbench on a server.
    name: 'Select model: "Use a server…" points LM Lens at a vLLM-style server; the status bar and the panel name it',
    timeoutMs: 120_000,
    async run({ page, log, screenshot }) {
      // vLLM's API, answering from the test model in this process (the runner's exit ends it).
      const engine = await loadEngine({ model: await resolveTestModel(), allowDownloads: false, threads: 1 });
      const server = await ProtocolFixture.start({ api: 'openai', engine });
      const host = new URL(server.url).host;
      await openFile(page, sampleFileName);
      await cursorToLineEnd(page, PANEL_LINE);
      await runCommand(page, 'LM Lens: Select model');
      await pickQuickInput(page, 'Use a server…');
      await pickQuickInput(page, 'vLLM or SGLang');
      await answerInputBox(page, 'server URL', server.url);
      await answerInputBox(page, 'served model', server.model);
      const status = page.locator(`.statusbar-item[aria-label*="${server.model} · ${host}"]`);
      await waitFor(`the status bar to name ${server.model} at ${host}`, async () => ((await status.count()) > 0 ? true : undefined), 30_000);
      await runCommand(page, 'LM Lens: Show next-token probabilities');
      const engineLabel = webviewContent(page).locator('#prediction .summary .engine');
      await waitFor(`the panel to name ${server.model} @ ${host}`, async () => ((await engineLabel.innerText().catch(() => '')) === `${server.model} @ ${host}` ? true : undefined), 45_000);
      const rows = await waitForPanelRows(page);
      const notes = await webviewContent(page).locator('#prediction .note').allInnerTexts();
      assert.ok(notes.some((note) => note.startsWith('No entropy')), `notes: ${notes.join(' | ')}`);
      log(`${server.model} @ ${host}: ${rows.join(' | ')}; status "${await status.first().getAttribute('aria-label')}"`);
      await screenshot('status-bar', page.locator('.statusbar'));
    },
  },
];
