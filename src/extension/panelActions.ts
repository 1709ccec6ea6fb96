// The panel's one-shot actions on the followed editor (insert a row, branch from it, copy the
// table): they read the session's state and keep none of their own.
import * as vscode from 'vscode';
import { errorMessage } from '../core/errors';
import { COMMANDS } from '../shared/commands';
import type { CopyFormat, PanelState, WebviewMessage } from '../shared/panelProtocol';
import { nextWordLength } from './branchEdit';
import type { BranchArgs } from './branchEdit';
import { predictionToJson, predictionToMarkdown } from './exportTable';
import { keyOf } from './panelTarget';

/** Inserts the chosen row at the cursor; `predictionKey` is the target the shown prediction was made for. */
export async function insertRow(message: Extract<WebviewMessage, { type: 'insert' }>, view: PanelState, editor: vscode.TextEditor | undefined, predictionKey: string | undefined): Promise<void> {
  const { prediction, samples } = view;
  if (!editor || editor.document.isClosed) return;
  // A row of a table made for an earlier cursor would insert a token predicted for other text.
  const text =
    message.source === 'prediction'
      ? prediction?.id === message.resultId && predictionKey === keyOf(editor)
        ? prediction.rows[message.index]?.text
        : undefined
      : samples?.id === message.resultId
        ? samples.sequences[message.index]?.text
        : undefined;
  if (text === undefined) return;
  const position = editor.selection.active;
  if (message.source === 'prediction' && (message.replace || message.continueAfter)) return branch(editor, position, text, message.continueAfter === true);
  if (!(await editor.edit((edit) => edit.insert(position, text)))) return;
  // Put the cursor after the insertion, so the next prediction continues from there.
  const end = editor.document.positionAt(editor.document.offsetAt(position) + text.length);
  editor.selection = new vscode.Selection(end, end);
  editor.revealRange(new vscode.Range(end, end));
}

/** *Replace* (and *continue*) from a row: through the hover's commands, so the same checks and the one undo apply. */
async function branch(editor: vscode.TextEditor, position: vscode.Position, token: string, continueAfter: boolean): Promise<void> {
  const { document } = editor;
  const start = document.offsetAt(position);
  const lineRest = document.lineAt(position.line).text.slice(position.character);
  const original = lineRest.slice(0, nextWordLength(lineRest));
  const args: BranchArgs = { uri: document.uri.toString(), version: document.version, start, end: start + original.length, original, replacement: token };
  await vscode.commands.executeCommand(continueAfter ? COMMANDS.replaceTokenAndContinue : COMMANDS.replaceToken, args);
}

export async function copyTable(format: CopyFormat, view: PanelState): Promise<void> {
  const prediction = view.prediction;
  if (!prediction) return;
  const text = format === 'json' ? predictionToJson(prediction, view.controls) : predictionToMarkdown(prediction, view.controls);
  try {
    await vscode.env.clipboard.writeText(text);
    vscode.window.setStatusBarMessage(`LM Lens: copied the next-token table as ${format === 'json' ? 'JSON' : 'Markdown'}`, 3000);
  } catch (error) {
    void vscode.window.showWarningMessage(`LM Lens: could not copy: ${errorMessage(error)}`);
  }
}
