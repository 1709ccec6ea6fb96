// Which editor the next-token panel follows and what text it asks about.
import * as vscode from 'vscode';

/** The model reads at most its last 1024 tokens; this many characters before the cursor cover them in any prose. */
const MAX_CONTEXT_CHARS = 20_000;
/** Output channels and the like show up as text editors but are nothing a user writes in. */
const UNFOLLOWED_SCHEMES = new Set(['output', 'vscode-scm', 'comment', 'debug']);

/** What a prediction is asked for: the text before the cursor, and a key that changes with the document version or the cursor. */
export interface Target {
  key: string;
  text: string;
  /** The text was cut to MAX_CONTEXT_CHARS. */
  cut: boolean;
  document: vscode.TextDocument;
  position: vscode.Position;
}

export function isFollowable(editor: vscode.TextEditor | undefined): editor is vscode.TextEditor {
  return editor !== undefined && !UNFOLLOWED_SCHEMES.has(editor.document.uri.scheme);
}

export function keyOf(editor: vscode.TextEditor): string {
  return `${editor.document.uri.toString()}@${editor.document.version}:${editor.document.offsetAt(editor.selection.active)}`;
}

export function targetOf(editor: vscode.TextEditor | undefined): Target | undefined {
  if (!editor || editor.document.isClosed) return undefined;
  const { document } = editor;
  const position = editor.selection.active;
  const start = Math.max(0, document.offsetAt(position) - MAX_CONTEXT_CHARS);
  // A cut through a surrogate pair would leave half a character for the tokenizer.
  const text = document.getText(new vscode.Range(document.positionAt(start), position)).replace(/^[\uDC00-\uDFFF]/, '');
  return { key: keyOf(editor), text, cut: start > 0, document, position };
}

/** Hover links pass `{uri, offset}`: put the cursor there first, so the panel predicts at that spot. */
export async function moveCursorTo(at: unknown): Promise<void> {
  if (!at || typeof at !== 'object') return;
  const { uri, offset } = at as { uri?: unknown; offset?: unknown };
  if (typeof uri !== 'string' || typeof offset !== 'number') return;
  const document = vscode.workspace.textDocuments.find((candidate) => candidate.uri.toString() === uri);
  if (!document) return;
  const editor = await vscode.window.showTextDocument(document, { preserveFocus: false });
  const position = document.positionAt(offset);
  editor.selection = new vscode.Selection(position, position);
  editor.revealRange(new vscode.Range(position, position));
}
