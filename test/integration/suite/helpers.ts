// What several suites share: the extension's API, waiting for a condition, and user settings
// that the extension has seen before the test goes on.
import * as assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import * as vscode from 'vscode';
import type { LmLensApi } from '../../../src/extension/extension';
import { extensionId } from '../fixtures';

export async function lmLens(): Promise<LmLensApi> {
  const extension = vscode.extensions.getExtension<LmLensApi>(extensionId);
  assert.ok(extension, `${extensionId} is not installed in this extension host`);
  return extension.activate();
}

export async function waitUntil(what: string, condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await sleep(50);
  }
}

/** An untitled markdown editor with the cursor at the end of `content`. */
/**
 * A new untitled document holding `content`. VS Code names it like the one a test just closed
 * (Untitled-1) and fills it from that one's hot-exit backup instead of `content` when the backup
 * is not discarded yet (UntitledTextEditorModel.resolve prefers a backup): then the content is
 * put in with an edit, as a user would.
 */
export async function untitledDocument(language: string, content: string): Promise<vscode.TextDocument> {
  const document = await vscode.workspace.openTextDocument({ language, content });
  if (document.getText() !== content) {
    const edit = new vscode.WorkspaceEdit();
    edit.replace(document.uri, new vscode.Range(document.positionAt(0), document.positionAt(document.getText().length)), content);
    assert.ok(await vscode.workspace.applyEdit(edit), 'could not replace the restored backup');
    assert.equal(document.getText(), content);
  }
  return document;
}

export async function openMarkdown(content: string): Promise<vscode.TextEditor> {
  const editor = await vscode.window.showTextDocument(await untitledDocument('markdown', content));
  const end = editor.document.positionAt(content.length);
  editor.selection = new vscode.Selection(end, end);
  return editor;
}

/** Closes an untitled editor without the save prompt. */
export async function closeEditor(editor: vscode.TextEditor): Promise<void> {
  await vscode.window.showTextDocument(editor.document);
  await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
}

export const settings = (): vscode.WorkspaceConfiguration => vscode.workspace.getConfiguration('lmLens');

/**
 * Sets (or with `undefined` removes) a user setting and waits until the extension host sees the
 * new value: its listeners (the model controller's among them) have run by then.
 */
export async function setSetting(key: string, value: unknown): Promise<void> {
  await settings().update(key, value, vscode.ConfigurationTarget.Global);
  const expected = JSON.stringify(value ?? settings().inspect(key)?.defaultValue);
  await waitUntil(`lmLens.${key} is ${expected}`, () => JSON.stringify(settings().get(key)) === expected, 10_000);
}
