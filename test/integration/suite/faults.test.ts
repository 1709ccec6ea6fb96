// Faults inside a real VS Code: a broken model path (one-line error, the editor keeps working,
// fixing the setting recovers every feature), odd editors (untitled, closed while scored) and a
// settings change that applies without a reload. The model-process faults themselves (kill -9,
// hangs, crash limits, every bad model folder) are unit-tested: see docs/reliability.md.
import * as assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import * as vscode from 'vscode';
import type { LmLensApi } from '../../../src/extension/extension';
import type { PanelState } from '../../../src/shared/panelProtocol';
import { PROMPT, forgetLastError, lastError, lmLens, nextToken, rejectionCode, restoreTestModel, setSetting, waitUntil } from './management.test';
import { COMMANDS } from '../../../src/shared/commands';
import { closeEditor, openMarkdown } from './helpers';

/** What the ghost-text suite types: a prefix the test model continues. */
const TYPED = 'Alice was beginning to get very';

/** Prose long enough that scoring it takes a while on the test model (several context windows). */
const LONG_PROSE = Array.from({ length: 400 }, (_, i) => `Sentence ${i + 1} tells how Alice followed the rabbit a little further down the hole.`).join(' ');

async function ghostText(lens: LmLensApi, editor: vscode.TextEditor): Promise<string[] | undefined> {
  const source = new vscode.CancellationTokenSource();
  try {
    const context = { triggerKind: vscode.InlineCompletionTriggerKind.Invoke, selectedCompletionInfo: undefined };
    const items = await lens.inline.provideInlineCompletionItems(editor.document, editor.selection.active, context, source.token);
    return items?.map((item) => (typeof item.insertText === 'string' ? item.insertText : item.insertText.value));
  } finally {
    source.dispose();
  }
}

describe('faults in the editor', function () {
  this.timeout(120_000);
  let lens: LmLensApi;

  before(async () => {
    lens = await lmLens();
  });

  after(async () => {
    await setSetting('nextToken.topK', undefined);
    await restoreTestModel(lens);
  });

  it('a missing model folder: one-line error naming lmLens.model, typing still works, fixing the setting recovers', async () => {
    const missing = `/nonexistent/lm-lens-missing-model-${process.pid}`;
    forgetLastError(lens);
    await setSetting('model', missing);
    assert.equal(await rejectionCode(nextToken(lens)), 'folder-missing');
    await waitUntil('the error is reported', () => lastError(lens)?.code === 'folder-missing', 10_000);
    const state = lens.model.state;
    assert.ok(state.state === 'error' && state.code === 'folder-missing', JSON.stringify(state));
    assert.ok(!state.message.includes('\n'), 'one line');
    assert.ok(state.message.includes(missing) && state.message.includes('lmLens.model'), state.message);
    assert.ok(lastError(lens)?.actions.includes('Choose a local folder…'));

    // Typing while the model is broken: ghost text and scoring fail quietly, the text is intact.
    const editor = await openMarkdown('');
    try {
      for (const char of TYPED) await vscode.commands.executeCommand('type', { text: char });
      assert.equal(editor.document.getText(), TYPED);
      assert.equal(await ghostText(lens, editor), undefined, 'no ghost text from a broken model');
      await lens.loss.waitForIdle(editor.document.uri, 30_000);
      assert.equal(lens.loss.resultsFor(editor.document.uri)?.complete, false, 'nothing scored');

      await restoreTestModel(lens);
      // Every feature comes back without a reload: scoring resumes once the model is ready.
      await lens.loss.waitForIdle(editor.document.uri, 60_000);
      assert.equal(lens.loss.resultsFor(editor.document.uri)?.complete, true, 'scored after the fix');
      assert.ok((await ghostText(lens, editor))?.length, 'ghost text after the fix');
      assert.equal(editor.document.getText(), TYPED);
    } finally {
      await closeEditor(editor);
    }
  });

  it('an untitled document gets sentence scores and ghost text', async () => {
    const content = `${PROMPT}\n\n${TYPED}`;
    const editor = await openMarkdown(content);
    try {
      const end = editor.document.positionAt(content.length);
      editor.selection = new vscode.Selection(end, end);
      assert.equal(editor.document.uri.scheme, 'untitled');
      await lens.loss.waitForIdle(editor.document.uri, 60_000);
      const results = lens.loss.resultsFor(editor.document.uri);
      const seen = { uri: editor.document.uri.toString(), version: editor.document.version, text: editor.document.getText(), status: lens.loss.statusOf(editor.document.uri), results: results && { ...results, sentences: results.sentences.map((sentence) => sentence.text) }, history: lens.loss.history };
      assert.ok(results?.complete && results.sentences.length >= 2, JSON.stringify(seen));
      assert.ok(lens.loss.decorationsFor(editor.document.uri)?.groups.flat().length, 'decorated');
      assert.ok((await ghostText(lens, editor))?.length, 'ghost text');
    } finally {
      await closeEditor(editor);
    }
  });

  it('a document closed while it is scored: no error, the loss feature forgets it, the next one is scored', async () => {
    forgetLastError(lens);
    const editor = await openMarkdown(LONG_PROSE);
    const uri = editor.document.uri.toString();
    await waitUntil('the model process is scoring it', () => lens.loss.statusOf(uri)?.state === 'scoring', 30_000);
    assert.notEqual(lens.loss.resultsFor(uri)?.complete, true, 'still being scored when closed');
    await closeEditor(editor);
    await waitUntil('the document is closed', () => !vscode.workspace.textDocuments.some((document) => document.uri.toString() === uri), 10_000);
    await sleep(500);
    assert.equal(lens.loss.resultsFor(uri), undefined);
    assert.equal(lens.loss.decorationsFor(uri), undefined);
    assert.equal(lastError(lens), undefined, `error shown: ${JSON.stringify(lastError(lens))}`);
    assert.notEqual(lens.model.state.state, 'error');

    const next = await openMarkdown(PROMPT);
    try {
      await lens.loss.waitForIdle(next.document.uri, 60_000);
      assert.equal(lens.loss.resultsFor(next.document.uri)?.complete, true);
    } finally {
      await closeEditor(next);
    }
  });

  it('lmLens.nextToken.topK applies to the open panel without a reload', async () => {
    const editor = await openMarkdown(PROMPT);
    try {
      const end = editor.document.positionAt(PROMPT.length);
      editor.selection = new vscode.Selection(end, end);
      await vscode.commands.executeCommand(COMMANDS.showNextTokenProbabilities);
      const rows =
        (k: number) =>
        (state: PanelState): boolean =>
          !state.updating && state.prediction?.rows.length === k;
      await lens.panelProbe.waitForRender(rows(10), 90_000);
      await setSetting('nextToken.topK', 5);
      const state = await lens.panelProbe.waitForRender(rows(5), 30_000);
      assert.equal(state.controls.k, 5);
      await setSetting('nextToken.topK', undefined);
      await lens.panelProbe.waitForRender(rows(10), 30_000);
    } finally {
      lens.panel.close();
      await closeEditor(editor);
    }
  });
});
