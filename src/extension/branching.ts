import * as vscode from 'vscode';
import { branchEdit, checkBranch, parseBranchArgs } from './branchEdit';
import { COMMANDS } from '../shared/commands';

/** VS Code's own command: ask the inline-completion providers (our ghost text) at the cursor now. */
const TRIGGER_GHOST_TEXT = 'editor.action.inlineSuggest.trigger';

/**
 * *Replace* and *replace and continue*, the actions the sentence hover and the next-token panel
 * put on every alternative token: one edit (so one undo restores the original), the cursor after
 * the new token, and for *continue* ghost text from there under the usual stop rules.
 */
export class BranchingCommands implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[];
  private readonly continuedEmitter = new vscode.EventEmitter<{ uri: string; offset: number }>();
  /** Fires after *replace and continue* asked for ghost text (tests wait on it). */
  readonly onDidContinue = this.continuedEmitter.event;

  constructor() {
    this.disposables = [
      this.continuedEmitter,
      vscode.commands.registerCommand(COMMANDS.replaceToken, (...args: unknown[]) => this.replace(args, false)),
      vscode.commands.registerCommand(COMMANDS.replaceTokenAndContinue, (...args: unknown[]) => this.replace(args, true)),
    ];
  }

  /** Returns whether the document was changed. */
  async replace(raw: unknown, continueAfter: boolean): Promise<boolean> {
    const args = parseBranchArgs(raw);
    if (!args) return false;
    const document = vscode.workspace.textDocuments.find((candidate) => candidate.uri.toString() === args.uri);
    const now = document && !document.isClosed ? { version: document.version, length: document.getText().length, textAt: (start: number, end: number) => document.getText(new vscode.Range(document.positionAt(start), document.positionAt(end))) } : undefined;
    const check = checkBranch(args, now);
    if (!check.ok || !document) {
      if (!check.ok) void vscode.window.showWarningMessage(`LM Lens: ${check.message}`);
      return false;
    }
    const { edit, cursor } = branchEdit(args);
    // In the column that already shows it: from the panel, the active column is the panel's.
    const shown = vscode.window.visibleTextEditors.find((candidate) => candidate.document === document);
    const editor = await vscode.window.showTextDocument(document, { viewColumn: shown?.viewColumn, preserveFocus: false });
    // Showing the editor may not change the text, but an extension could have: check once more right before writing.
    if (document.version !== args.version) {
      void vscode.window.showWarningMessage('LM Lens: the text changed since it was scored; nothing was replaced. Hover the token again.');
      return false;
    }
    const range = new vscode.Range(document.positionAt(edit.start), document.positionAt(edit.end));
    if (!(await editor.edit((builder) => builder.replace(range, edit.text)))) return false;
    const position = document.positionAt(cursor);
    editor.selection = new vscode.Selection(position, position);
    editor.revealRange(new vscode.Range(position, position));
    if (continueAfter) {
      await vscode.commands.executeCommand(TRIGGER_GHOST_TEXT);
      this.continuedEmitter.fire({ uri: args.uri, offset: cursor });
    }
    return true;
  }

  dispose(): void {
    for (const disposable of this.disposables.splice(0)) disposable.dispose();
  }
}
