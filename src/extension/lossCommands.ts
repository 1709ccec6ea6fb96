/**
 * "Score selection", "Score document" and "Toggle sentence loss". They work whether or not the
 * decorations are on: scoring a selection is a question the user asks explicitly.
 */
import * as vscode from 'vscode';
import { isCancelled } from '../core/errors';
import { scoreTextRequest } from '../shared/hostProtocol';
import type { ScoreTextParams, ScoreTextResponse } from '../shared/hostProtocol';
import { readConfig, updateSetting } from './configuration';
import { documentMessage, documentStatusText, selectionMessage } from './lossHover';
import type { ScoreRangeArgs } from './lossHover';
import type { LossResults } from './lossResults';
import type { ModelController } from './modelController';
import { COMMANDS, STATUS_ITEMS } from '../shared/commands';

/**
 * Long texts take long on a CPU, and exceeding this restarts the model process: never less
 * than the client's default (the first request also waits for the model to load).
 */
export function scoringTimeoutMs(textLength: number): number {
  return 120_000 + 2 * textLength;
}

function isScoreRangeArgs(value: unknown): value is ScoreRangeArgs {
  const args = value as Partial<ScoreRangeArgs> | undefined;
  return typeof args === 'object' && args !== null && typeof args.uri === 'string' && Number.isInteger(args.start) && Number.isInteger(args.end);
}

export class LossCommands implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  private readonly documentItem: vscode.StatusBarItem;
  /** Hide the document score once it no longer describes what is on screen. */
  private documentItemWatch: vscode.Disposable | undefined;

  constructor(
    private readonly model: ModelController,
    private readonly results: Pick<LossResults, 'sentenceAt'>,
  ) {
    this.documentItem = vscode.window.createStatusBarItem(STATUS_ITEMS.documentLoss, vscode.StatusBarAlignment.Right, 100);
    this.documentItem.name = 'LM Lens document loss';
    this.documentItem.command = COMMANDS.scoreDocument;
    this.disposables.push(
      this.documentItem,
      vscode.commands.registerCommand(COMMANDS.scoreSelection, (args?: unknown) => this.scoreSelection(args)),
      vscode.commands.registerCommand(COMMANDS.scoreDocument, () => this.scoreDocument()),
      vscode.commands.registerCommand(COMMANDS.toggleSentenceLoss, () => this.toggle()),
    );
  }

  /**
   * With `{uri, start, end}` (the hover's link) scores that range; else the selection, else the
   * sentence at the cursor. Resolves to the score too, for `executeCommand` callers.
   */
  private async scoreSelection(args?: unknown): Promise<ScoreTextResponse | undefined> {
    let params: ScoreTextParams | undefined;
    if (isScoreRangeArgs(args)) {
      const document = vscode.workspace.textDocuments.find((candidate) => candidate.uri.toString() === args.uri);
      const text = document?.getText().slice(args.start, args.end);
      params = text === undefined ? undefined : { text, bos: false };
    } else {
      const editor = vscode.window.activeTextEditor;
      if (!editor) {
        void vscode.window.showInformationMessage('LM Lens: open a text editor and select some text to score.');
        return undefined;
      }
      params = editor.selection.isEmpty ? this.sentenceAtCursor(editor) : { text: editor.document.getText(editor.selection), bos: false };
    }
    if (!params?.text.trim()) {
      void vscode.window.showInformationMessage('LM Lens: select some text to score.');
      return undefined;
    }
    const score = await this.score(params, 'LM Lens: scoring selection…');
    if (score) void vscode.window.showInformationMessage(selectionMessage(score));
    return score;
  }

  private async scoreDocument(): Promise<ScoreTextResponse | undefined> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      void vscode.window.showInformationMessage('LM Lens: open a document to score.');
      return undefined;
    }
    const document = editor.document;
    const score = await this.score({ text: document.getText(), bos: true }, 'LM Lens: scoring document…');
    if (!score) return undefined;
    const message = documentMessage(vscode.workspace.asRelativePath(document.uri), score);
    this.showDocumentScore(document, documentStatusText(score), message);
    void vscode.window.showInformationMessage(message);
    return score;
  }

  /**
   * The sentence at the cursor: from the pushed scores when they describe this version, else the
   * model process finds it (the extension never splits sentences). A cursor right after a
   * sentence's last character still means that sentence.
   */
  private sentenceAtCursor(editor: vscode.TextEditor): ScoreTextParams {
    const { document } = editor;
    const offset = document.offsetAt(editor.selection.active);
    const uri = document.uri.toString();
    const held = this.results.sentenceAt(uri, document.version, offset) ?? this.results.sentenceAt(uri, document.version, offset - 1);
    if (held) return { text: held.text, bos: false };
    return { text: document.getText(), bos: false, sentenceAt: { offset, languageId: document.languageId } };
  }

  private async score(params: ScoreTextParams, title: string): Promise<ScoreTextResponse | undefined> {
    try {
      return await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title }, () =>
        this.model.request('command', scoreTextRequest, params, undefined, scoringTimeoutMs(params.text.length)),
      );
    } catch (error) {
      if (!isCancelled(error)) void this.model.reportError(error);
      return undefined;
    }
  }

  private showDocumentScore(document: vscode.TextDocument, text: string, tooltip: string): void {
    this.documentItemWatch?.dispose();
    const uri = document.uri.toString();
    const hide = (): void => {
      this.documentItem.hide();
      this.documentItemWatch?.dispose();
      this.documentItemWatch = undefined;
    };
    // These listeners live only while the item is shown.
    const watches = [
      vscode.window.onDidChangeActiveTextEditor((editor) => editor?.document.uri.toString() !== uri && hide()),
      vscode.workspace.onDidChangeTextDocument((event) => event.document.uri.toString() === uri && event.contentChanges.length > 0 && hide()),
      vscode.workspace.onDidCloseTextDocument((closed) => closed.uri.toString() === uri && hide()),
    ];
    this.documentItemWatch = vscode.Disposable.from(...watches);
    this.documentItem.text = text;
    this.documentItem.tooltip = `${tooltip}\nClick to score again.`;
    this.documentItem.show();
  }

  private async toggle(): Promise<void> {
    const enabled = !readConfig().loss.enabled;
    await updateSetting('loss.enabled', enabled);
    vscode.window.setStatusBarMessage(`LM Lens: sentence loss ${enabled ? 'on' : 'off'}`, 3000);
  }

  dispose(): void {
    this.documentItemWatch?.dispose();
    for (const disposable of this.disposables.splice(0)) disposable.dispose();
  }
}
