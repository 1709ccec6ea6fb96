// Ghost text inside a real VS Code: the provider is registered for markdown, its first item is
// the model's greedy completion, typed-through text comes from the cache, and a burst of
// requests never puts two on the model at once.
import * as assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import * as vscode from 'vscode';
import { untitledDocument } from './helpers';
import { joinCompletion } from '../../../src/core/completionCache';
import type { LmLensApi } from '../../../src/extension/extension';
import { completeRequest } from '../../../src/shared/hostProtocol';
import { COMMANDS } from '../../../src/shared/commands';
import type { Pass } from './onServer';

const extensionId = 'lm-lens.lm-lens';
const PROMPT = 'Alice was beginning to get very';

async function api(): Promise<LmLensApi> {
  const extension = vscode.extensions.getExtension<LmLensApi>(extensionId);
  assert.ok(extension, `${extensionId} is not installed in this extension host`);
  return extension.activate();
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

async function type(text: string): Promise<void> {
  for (const char of text) await vscode.commands.executeCommand('type', { text: char });
}

/**
 * Lets VS Code's own calls (it asks the provider after every keystroke, debounced on both
 * sides) run out, so counters do not move underneath a check: nothing pending and nothing
 * counted for a quiet period longer than the debounce.
 */
async function settle(lens: LmLensApi): Promise<void> {
  const quietMs = (vscode.workspace.getConfiguration('lmLens').get<number>('inline.debounceMs') ?? 300) + 300;
  const snapshot = (): string => JSON.stringify({ ...lens.inline.stats, lastItems: undefined, statusText: undefined });
  const deadline = Date.now() + 60_000;
  for (;;) {
    const before = snapshot();
    await sleep(quietMs);
    if (lens.inline.stats.pending === 0 && snapshot() === before) return;
    if (Date.now() > deadline) throw new Error('ghost-text requests did not settle');
  }
}

async function provide(lens: LmLensApi, editor: vscode.TextEditor, triggerKind: vscode.InlineCompletionTriggerKind): Promise<string[] | undefined> {
  const source = new vscode.CancellationTokenSource();
  try {
    const items = await lens.inline.provideInlineCompletionItems(editor.document, editor.selection.active, { triggerKind, selectedCompletionInfo: undefined }, source.token);
    return items?.map((item) => (typeof item.insertText === 'string' ? item.insertText : item.insertText.value));
  } finally {
    source.dispose();
  }
}

/**
 * The model's own greedy completion, asked for directly on the 'command' channel. The request
 * type goes by method name: a RequestType object from this bundle would carry its own copy of
 * vscode-jsonrpc's ParameterStructures, which the extension's copy does not recognise.
 */
async function expectedGreedy(lens: LmLensApi, text: string): Promise<string> {
  const maxNewTokens = vscode.workspace.getConfiguration('lmLens').get<number>('inline.maxNewTokens') ?? 16;
  const response = await lens.model.request('command', completeRequest.method as unknown as typeof completeRequest, { text, maxNewTokens, alternatives: 0 });
  return joinCompletion(text, response.greedy.text);
}

export function defineInlineSuite(_pass: Pass): void {
  describe('inline completions', function () {
    // The first request loads the model.
    this.timeout(120_000);
    let lens: LmLensApi;
    let editor: vscode.TextEditor;
    let suggestion = '';

    before(async () => {
      lens = await api();
      const document = await untitledDocument('markdown', '');
      editor = await vscode.window.showTextDocument(document);
    });

    after(async () => {
      await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    });

    it('is registered for markdown and shows its status', () => {
      assert.equal(lens.inline.stats.registered, true);
      assert.match(lens.inline.stats.statusText, /\$\(sparkle\)/);
    });

    it("offers the model's greedy completion first", async () => {
      await type(PROMPT);
      await settle(lens);
      assert.equal(editor.document.getText(), PROMPT);
      const typing = lens.inline.stats;
      assert.ok(typing.modelRequests + typing.cancelled > 0, 'VS Code never asked the provider while typing');
      const items = await provide(lens, editor, vscode.InlineCompletionTriggerKind.Invoke);
      assert.ok(items && items.length > 0, 'no items');
      suggestion = items[0] as string;
      assert.equal(suggestion, await expectedGreedy(lens, PROMPT));
      assert.ok(suggestion.length >= 2, `suggestion ${JSON.stringify(suggestion)} too short to type through`);
      assert.equal(new Set(items).size, items.length, 'duplicate items');
      assert.match(lens.inline.stats.statusText, /^\$\(sparkle\) \d+% · (\d+ ms|cached)$/);
    });

    it('serves typed-through text from the cache without asking the model', async () => {
      await settle(lens);
      const before = { ...lens.inline.stats };
      const sent = lens.model.channelStats().inline?.sent ?? 0;
      await type(suggestion.slice(0, 2));
      await settle(lens);
      const items = await provide(lens, editor, vscode.InlineCompletionTriggerKind.Automatic);
      assert.equal(items?.[0], suggestion.slice(2));
      assert.equal(lens.inline.stats.lastSource, 'cache');
      assert.equal(lens.inline.stats.modelRequests, before.modelRequests, 'a model request was made');
      assert.equal(lens.model.channelStats().inline?.sent ?? 0, sent);
      assert.ok(lens.inline.stats.cacheHits > before.cacheHits);
    });

    it('answers the trigger command through VS Code', async () => {
      await settle(lens);
      const hits = lens.inline.stats.cacheHits;
      await vscode.commands.executeCommand('editor.action.inlineSuggest.trigger');
      await waitFor('VS Code to ask the provider', () => lens.inline.stats.cacheHits > hits);
      assert.equal(lens.inline.stats.lastItems[0], suggestion.slice(2));
    });

    it('keeps at most one model request in flight through a burst', async () => {
      await settle(lens);
      const cancelledBefore = lens.model.channelStats().inline?.cancelled ?? 0;
      const calls: Array<Promise<string[] | undefined>> = [];
      // Characters no suggestion starts with, each followed by an explicit request that is not debounced.
      for (const char of ' ~~ ~~ ~~ ~~') {
        await type(char);
        calls.push(provide(lens, editor, vscode.InlineCompletionTriggerKind.Invoke));
      }
      await Promise.all(calls);
      const stats = lens.model.channelStats().inline;
      assert.ok(stats, 'the inline channel was never used');
      assert.ok(stats.maxInFlight <= 1, `maxInFlight ${stats.maxInFlight}`);
      assert.ok(stats.cancelled > cancelledBefore, 'no request was superseded');
      // The last call may itself lose to VS Code's own debounced call; once quiet, asking works.
      await settle(lens);
      assert.ok((await provide(lens, editor, vscode.InlineCompletionTriggerKind.Invoke))?.length, 'no items after the burst');
      assert.ok((lens.model.channelStats().inline?.maxInFlight ?? 0) <= 1);
    });

    it('turns off and on with the toggle command', async () => {
      try {
        await vscode.commands.executeCommand(COMMANDS.toggleInlineCompletions);
        await waitFor('the provider to be unregistered', () => !lens.inline.stats.registered);
        assert.equal(vscode.workspace.getConfiguration('lmLens').get('inline.enabled'), false);
        assert.equal(lens.inline.stats.statusText, '$(circle-slash) ghost text off');
        await vscode.commands.executeCommand(COMMANDS.toggleInlineCompletions);
        await waitFor('the provider to be registered again', () => lens.inline.stats.registered);
        assert.match(lens.inline.stats.statusText, /\$\(sparkle\)/);
      } finally {
        await vscode.workspace.getConfiguration('lmLens').update('inline.enabled', undefined, vscode.ConfigurationTarget.Global);
      }
    });
  });
}
