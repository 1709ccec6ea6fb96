// Branching from an alternative in a real VS Code: the sentence hover's links replace a token
// with one of the model's alternatives (one undo restores it), refuse when the text changed since
// it was scored, and *replace and continue* asks for ghost text right after the new token, which
// Alt+] and accept-next-word then work on as on any ghost text.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { lmLens, untitledDocument, waitUntil } from './helpers';
import { joinCompletion } from '../../../src/core/completionCache';
import { parseBranchArgs } from '../../../src/extension/branchEdit';
import type { BranchArgs } from '../../../src/extension/branchEdit';
import type { LmLensApi } from '../../../src/extension/extension';
import { completeRequest } from '../../../src/shared/hostProtocol';
import { COMMANDS } from '../../../src/shared/commands';

const PROSE = `# The bank

Alice was beginning to get very tired of sitting by her sister on the bank. She had nothing to do.

Once or twice she had peeped into the book her sister was reading. It had no pictures in it.
`;

/** The first link to `command` in the hover over the document's second sentence, with the args a click passes. */
async function hoverLink(api: LmLensApi, document: vscode.TextDocument, command: string): Promise<BranchArgs> {
  await api.loss.waitForIdle(document.uri, 150_000);
  const sentence = api.loss.resultsFor(document.uri)?.sentences[1];
  assert.ok(sentence, 'no scores');
  const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', document.uri, document.positionAt(sentence.start + 3));
  const markdown = hovers.flatMap((hover) => hover.contents).map((content) => (typeof content === 'string' ? content : content.value)).join('\n');
  const match = new RegExp(`\\(command:${command.replace(/\./g, '\\.')}\\?([^ )]+) "`).exec(markdown);
  assert.ok(match, `no ${command} link in the hover:\n${markdown}`);
  const args = parseBranchArgs(JSON.parse(decodeURIComponent(match[1] as string)));
  assert.ok(args, 'the link carries no valid arguments');
  assert.equal(args.version, document.version, 'the link names the scored version');
  return args;
}

/** What a click on a command link does: the command, with the link's JSON array spread as its arguments. */
async function click(command: string, args: BranchArgs): Promise<void> {
  await vscode.commands.executeCommand(command, args);
}

const replaced = (text: string, args: BranchArgs): string => text.slice(0, args.start) + args.replacement + text.slice(args.end);

describe('branching from an alternative', function () {
  this.timeout(180_000);
  let api: LmLensApi;
  let document: vscode.TextDocument;

  before(async () => {
    api = await lmLens();
    await vscode.workspace.getConfiguration('lmLens').update('loss.enabled', true, vscode.ConfigurationTarget.Global);
    document = await untitledDocument('markdown', PROSE);
    await vscode.window.showTextDocument(document);
  });

  after(async () => {
    await vscode.workspace.getConfiguration('lmLens').update('loss.enabled', undefined, vscode.ConfigurationTarget.Global);
    await vscode.window.showTextDocument(document);
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
  });

  it('the hover’s replace link puts the alternative in place of the token, and one undo restores the text', async () => {
    const args = await hoverLink(api, document, COMMANDS.replaceToken);
    assert.equal(document.getText().slice(args.start, args.end), args.original);
    await click(COMMANDS.replaceToken, args);
    assert.equal(document.getText(), replaced(PROSE, args));
    const editor = vscode.window.activeTextEditor;
    assert.equal(editor?.document, document);
    assert.equal(document.offsetAt(editor.selection.active), args.start + args.replacement.length, 'the cursor is after the new token');
    await vscode.commands.executeCommand('undo');
    assert.equal(document.getText(), PROSE, 'one undo restores the original');
  });

  it('refuses a link whose text changed since it was scored, and writes nothing', async () => {
    const args = await hoverLink(api, document, COMMANDS.replaceToken);
    const edit = new vscode.WorkspaceEdit();
    edit.insert(document.uri, new vscode.Position(0, 0), 'X');
    assert.ok(await vscode.workspace.applyEdit(edit));
    const changed = document.getText();
    await click(COMMANDS.replaceToken, args);
    await click(COMMANDS.replaceTokenAndContinue, args);
    assert.equal(document.getText(), changed, 'nothing was written');
    await vscode.window.showTextDocument(document);
    await vscode.commands.executeCommand('undo');
    assert.equal(document.getText(), PROSE);
  });

  it('replace and continue asks for ghost text right after the new token: the model’s greedy continuation there', async () => {
    const args = await hoverLink(api, document, COMMANDS.replaceTokenAndContinue);
    const asked = api.inline.stats.modelRequests;
    const continued = new Promise<{ offset: number }>((resolve) => {
      const listener = api.branching.onDidContinue((event) => {
        listener.dispose();
        resolve(event);
      });
    });
    await click(COMMANDS.replaceTokenAndContinue, args);
    const text = replaced(PROSE, args);
    assert.equal(document.getText(), text);
    const cursor = args.start + args.replacement.length;
    assert.equal((await continued).offset, cursor);
    await waitUntil('VS Code asks for ghost text after the new token', () => api.inline.stats.modelRequests > asked && api.inline.stats.pending === 0, 60_000);
    const prompt = text.slice(0, cursor);
    const reference = await api.model.request('command', completeRequest.method as unknown as typeof completeRequest, {
      text: prompt,
      maxNewTokens: vscode.workspace.getConfiguration('lmLens').get<number>('inline.maxNewTokens') ?? 16,
      alternatives: 0,
    });
    assert.ok(reference.greedy.text.length > 0, `the test model continues "${prompt.slice(-30)}" with nothing (${reference.greedy.stopReason}); pick another sentence`);
    await waitUntil('the continuation is the first ghost-text item', () => api.inline.stats.lastItems[0] === joinCompletion(prompt, reference.greedy.text), 30_000);
  });

  it('Alt+] (show next) cycles the continuation to a sampled alternative, which commit inserts', async () => {
    const items = [...api.inline.stats.lastItems];
    const before = document.getText();
    const cursor = document.offsetAt(vscode.window.activeTextEditor?.selection.active ?? new vscode.Position(0, 0));
    await vscode.commands.executeCommand('editor.action.inlineSuggest.showNext');
    await vscode.commands.executeCommand('editor.action.inlineSuggest.commit');
    await waitUntil('an item is inserted', () => document.getText() !== before, 10_000);
    const inserted = document.getText().slice(cursor, cursor + document.getText().length - before.length);
    assert.ok(items.includes(inserted), `inserted ${JSON.stringify(inserted)}, items ${JSON.stringify(items)}`);
    // The continuation was triggered explicitly, so sampled alternatives are there to cycle to.
    assert.ok(items.length > 1, `only ${JSON.stringify(items)}`);
    assert.notEqual(inserted, items[0], 'show next moved past the greedy item');
    await vscode.commands.executeCommand('undo');
    assert.equal(document.getText(), before);
  });

  it('accept-next-word takes the continuation’s first word into the document', async () => {
    const editor = vscode.window.activeTextEditor;
    assert.ok(editor && editor.document === document);
    const before = document.getText();
    const cursor = document.offsetAt(editor.selection.active);
    const answered = api.inline.stats.modelRequests + api.inline.stats.cacheHits;
    await vscode.commands.executeCommand('editor.action.inlineSuggest.trigger');
    await waitUntil('the ghost text is back', () => api.inline.stats.modelRequests + api.inline.stats.cacheHits > answered && api.inline.stats.pending === 0, 30_000);
    const suggestion = api.inline.stats.lastItems[0] ?? '';
    await vscode.commands.executeCommand('editor.action.inlineSuggest.acceptNextWord');
    await waitUntil('a word of the suggestion is accepted', () => document.getText() !== before, 10_000);
    const inserted = document.getText().slice(cursor, cursor + document.getText().length - before.length);
    assert.ok(inserted.length > 0 && inserted.length <= suggestion.length && suggestion.startsWith(inserted), `inserted ${JSON.stringify(inserted)} of ${JSON.stringify(suggestion)}`);
  });

  it('the panel’s ↪ puts a row’s token in place of the word after the cursor and continues from it; one undo restores', async () => {
    const editor = await vscode.window.showTextDocument(document, vscode.ViewColumn.One);
    const before = document.getText();
    const at = before.indexOf(' tired');
    assert.ok(at > 0);
    editor.selection = new vscode.Selection(document.positionAt(at), document.positionAt(at));
    try {
      await vscode.commands.executeCommand(COMMANDS.showNextTokenProbabilities);
      const cursor = editor.selection.active;
      const state = await api.panelProbe.waitForRender((candidate) => !candidate.updating && candidate.prediction?.line === cursor.line + 1 && candidate.prediction.column === cursor.character + 1, 60_000);
      const prediction = state.prediction;
      assert.ok(prediction);
      const index = prediction.rows.findIndex((row) => row.text !== ' tired' && row.text.trim() !== '' && !row.text.includes('\uFFFD'));
      const token = prediction.rows[index]?.text ?? '';
      const asked = api.inline.stats.modelRequests;
      await api.panel.handleMessage({ type: 'insert', source: 'prediction', resultId: prediction.id, index, replace: true, continueAfter: true });
      assert.equal(document.getText(), before.slice(0, at) + token + before.slice(at + ' tired'.length));
      assert.equal(vscode.window.activeTextEditor?.document, document, 'the editor has the focus for the ghost text');
      assert.equal(document.offsetAt(vscode.window.activeTextEditor.selection.active), at + token.length);
      await waitUntil('VS Code asks for ghost text after the new token', () => api.inline.stats.modelRequests > asked && api.inline.stats.pending === 0, 60_000);
      await vscode.commands.executeCommand('undo');
      assert.equal(document.getText(), before, 'one undo restores the word');
    } finally {
      api.panel.close();
    }
  });
});
