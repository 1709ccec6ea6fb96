// Remote engines inside a real VS Code: `lmLens.backend` switched to a protocol fixture server
// (vLLM-style or llama-server-style, a process of its own answering from the same test model)
// without a reload. The panel names the engine and shows the same numbers as the local engine
// within 1e-4, ghost text and sentence loss work through it, and a server that is down, refuses
// the key, fails or caps top-k gets one line with actions while the text stays untouched.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { joinCompletion } from '../../../src/core/completionCache';
import type { LmLensApi } from '../../../src/extension/extension';
import { completeRequest, nextTokenRequest, scoreSentencesRequest } from '../../../src/shared/hostProtocol';
import type { NextTokenResponse, ScoreSentencesResponse } from '../../../src/shared/hostProtocol';
import type { PanelState, RowView } from '../../../src/shared/panelProtocol';
import { COMMANDS } from '../../../src/shared/commands';
import { sampleProse } from '../fixtures';
import type { FixtureProcess } from '../fixtureProcess';
import { closeEditor, lmLens, openMarkdown, setSetting, settings, waitUntil } from './helpers';
import { servedBy, startFixture, useLocal, useServer, waitForEngine } from './onServer';

const PROMPT = 'Alice was beginning to get very';
const PROSE = sampleProse.trim();

// By method name: a RequestType from this bundle is not the extension's copy of the class.
const next = (lens: LmLensApi, text: string, top = 10): Promise<NextTokenResponse> => lens.model.request('command', nextTokenRequest.method as unknown as typeof nextTokenRequest, { text, top });
const greedy = async (lens: LmLensApi, text: string): Promise<string> =>
  (await lens.model.request('command', completeRequest.method as unknown as typeof completeRequest, { text, maxNewTokens: 16, alternatives: 0 })).greedy.text;
const sentences = (lens: LmLensApi, text: string): Promise<ScoreSentencesResponse> =>
  lens.model.request('command', scoreSentencesRequest.method as unknown as typeof scoreSentencesRequest, { text, languageId: 'markdown', fromOffset: 0 });

function assertSameRows(rows: ReadonlyArray<Pick<RowView, 'id' | 'prob'>>, expected: NextTokenResponse, what: string): void {
  assert.deepEqual(
    rows.map((row) => row.id),
    expected.top.slice(0, rows.length).map((token) => token.id),
    `${what}: token ids`,
  );
  rows.forEach((row, i) => assert.ok(Math.abs(row.prob - (expected.top[i]?.prob ?? Number.NaN)) < 1e-4, `${what}: row ${i} ${row.prob} vs ${expected.top[i]?.prob}`));
}

const settled = (state: PanelState): boolean => !state.updating && state.model.kind === 'ready' && state.prediction !== undefined;

describe('remote engines', function () {
  this.timeout(120_000);
  let lens: LmLensApi;
  let openai: FixtureProcess;
  const started: FixtureProcess[] = [];
  let local: { next: NextTokenResponse; greedy: string; sentences: ScoreSentencesResponse };

  // Functions, so that the compiler does not narrow a field that the extension sets meanwhile.
  const reported = (): LmLensApi['modelProbe']['lastErrorReport'] => lens.modelProbe.lastErrorReport;
  const forgetError = (): void => {
    lens.modelProbe.lastErrorReport = undefined;
  };

  /** Opens the panel while the server has `fault`: one line of this code in the panel and in the notification, with Retry and Open settings. */
  const panelFailsWith = async (fault: Parameters<FixtureProcess['setFault']>[0], code: string): Promise<string> => {
    await openai.setFault(fault);
    forgetError();
    await vscode.commands.executeCommand(COMMANDS.showNextTokenProbabilities);
    const failed = await lens.panelProbe.waitForRender((state) => state.model.kind === 'error', 30_000);
    assert.ok(failed.model.kind === 'error' && failed.model.code === code && !failed.model.message.includes('\n'), JSON.stringify(failed.model));
    await waitUntil('the error is reported', () => reported()?.code === code);
    assert.deepEqual(['Retry', 'Open settings'].filter((action) => !reported()?.actions.includes(action)), [], 'the actions offered');
    return failed.model.message;
  };

  const fixture = async (options: Parameters<typeof startFixture>[0]): Promise<FixtureProcess> => {
    const server = await startFixture(options);
    started.push(server);
    return server;
  };

  before(async () => {
    lens = await lmLens();
    await useLocal(lens);
    local = { next: await next(lens, PROMPT), greedy: await greedy(lens, PROMPT), sentences: await sentences(lens, PROSE) };
    openai = await fixture({ api: 'openai' });
  });

  after(async () => {
    lens.panel.close();
    await vscode.commands.executeCommand(COMMANDS.setServerApiKey, '');
    await useLocal(lens);
    for (const server of started) await server.stop();
  });

  it('switching lmLens.backend without a reload: the panel names the server, its numbers equal the local ones within 1e-4', async () => {
    const editor = await openMarkdown(PROMPT);
    try {
      await vscode.commands.executeCommand(COMMANDS.showNextTokenProbabilities);
      const before = await lens.panelProbe.waitForRender(settled, 90_000);
      assert.equal(before.prediction?.engine, undefined, 'the local engine answered first');
      assertSameRows(before.prediction?.rows ?? [], local.next, 'local panel');

      await useServer(lens, 'openai', openai.url);
      const host = new URL(openai.url).host;
      const after = await lens.panelProbe.waitForRender((state) => settled(state) && state.prediction?.engine === `test-gpt2 @ ${host}`, 30_000);
      assertSameRows(after.prediction?.rows ?? [], local.next, 'panel on the server');
      assert.equal(after.prediction?.contextTokens, local.next.contextTokens);
      assert.equal(vscode.window.activeTextEditor?.document.getText(), PROMPT);
      // The status bar's "$(remote) test-gpt2 · host · N ms" is checked on screen by the UI scenario (test/e2e).
    } finally {
      lens.panel.close();
      await closeEditor(editor);
    }
  });

  it('ghost text and sentence loss work through the server and equal the local answers (losses within 1e-4)', async () => {
    await useServer(lens, 'openai', openai.url);
    const editor = await openMarkdown(PROSE);
    try {
      await lens.loss.waitForIdle(editor.document.uri, 90_000);
      const held = lens.loss.resultsFor(editor.document.uri);
      assert.ok(held?.complete, 'scored through the server');
      assert.equal(held.sentences.length, local.sentences.sentences.length);
      held.sentences.forEach((sentence, i) => assert.ok(Math.abs(sentence.loss - (local.sentences.sentences[i]?.loss ?? Number.NaN)) < 1e-4, `sentence ${i}: ${sentence.loss}`));
      assert.ok(lens.loss.decorationsFor(editor.document.uri)?.groups.flat().length, 'decorated');
    } finally {
      await closeEditor(editor);
    }
    const typing = await openMarkdown(PROMPT);
    const source = new vscode.CancellationTokenSource();
    try {
      const context = { triggerKind: vscode.InlineCompletionTriggerKind.Invoke, selectedCompletionInfo: undefined };
      const items = await lens.inline.provideInlineCompletionItems(typing.document, typing.selection.active, context, source.token);
      const first = items?.[0]?.insertText;
      assert.equal(typeof first === 'string' ? first : first?.value, joinCompletion(PROMPT, local.greedy), 'the same greedy ghost text as the local engine');
      assert.equal(lens.inline.stats.lastSource, 'model', 'asked the server, not the cache');
    } finally {
      source.dispose();
      await closeEditor(typing);
    }
  });

  it('a server that is down: one line naming the URL with Retry and Open settings, the text untouched; a working URL recovers', async () => {
    const doomed = await fixture({ api: 'openai' });
    await useServer(lens, 'openai', doomed.url);
    await doomed.stop();
    forgetError();
    const editor = await openMarkdown('');
    try {
      const typed = 'The rabbit ran.';
      for (const char of typed) await vscode.commands.executeCommand('type', { text: char });
      await waitUntil('the error is reported', () => reported()?.code === 'server-unreachable', 30_000);
      const report = reported();
      assert.ok(report && !report.message.includes('\n'), 'one line');
      assert.ok(report.message.includes(doomed.url) && report.message.includes('lmLens.server.url'), report.message);
      assert.ok(report.actions.includes('Retry') && report.actions.includes('Open settings'), JSON.stringify(report.actions));
      assert.equal(editor.document.getText(), typed);

      forgetError();
      await lens.model.retry();
      await waitUntil('Retry reports it again while it is still down', () => reported()?.code === 'server-unreachable', 30_000);

      await setSetting('server.url', openai.url);
      await waitForEngine(lens, 'the working server answers', servedBy(new URL(openai.url).host));
      await lens.loss.waitForIdle(editor.document.uri, 60_000);
      assert.equal(lens.loss.resultsFor(editor.document.uri)?.complete, true, 'scored after the fix');
      assert.equal(editor.document.getText(), typed);
    } finally {
      await closeEditor(editor);
    }
  });

  it('a server that refuses the key (401): the error offers Set API key; the command recovers, and the key is in no setting', async () => {
    const key = `sk-lm-lens-${process.pid}`;
    const guarded = await fixture({ api: 'openai', apiKey: key });
    forgetError();
    await setSetting('server.url', guarded.url);
    await setSetting('backend', 'openai');
    await waitForEngine(lens, 'the refusal is reported', () => reported()?.code === 'server-auth');
    const report = reported();
    assert.ok(report, 'reported');
    assert.ok(report.message.includes('LM Lens: Set server API key'), report.message);
    assert.ok(report.actions.includes('Set API key') && report.actions.includes('Open settings'), JSON.stringify(report.actions));

    await vscode.commands.executeCommand(COMMANDS.setServerApiKey, key);
    await waitForEngine(lens, 'the server answers with the key', servedBy(new URL(guarded.url).host));
    assert.equal((await next(lens, PROMPT)).top.length, 10);
    await setSetting('server.url', openai.url);
    const contributed = Object.keys((vscode.extensions.getExtension('lm-lens.lm-lens')?.packageJSON as { contributes: { configuration: { properties: object } } }).contributes.configuration.properties);
    for (const id of contributed) assert.ok(!JSON.stringify(settings().get(id.slice('lmLens.'.length)) ?? '').includes(key), `${id} holds the key`);
    await vscode.commands.executeCommand(COMMANDS.setServerApiKey, '');
  });

  it('a 500 and a web page instead of JSON: the panel shows one line with Retry and Open settings; Retry answers once the server recovers', async () => {
    await useServer(lens, 'openai', openai.url);
    const editor = await openMarkdown(PROMPT);
    try {
      assert.match(await panelFailsWith({ mode: 'status500', path: 'completions' }, 'server-error'), /CUDA error/, 'the server’s own message');

      await openai.setFault({ mode: 'html', path: 'completions' });
      await lens.panel.handleMessage({ type: 'retry' });
      await lens.panelProbe.waitForRender((state) => state.model.kind === 'error' && state.model.code === 'server-response', 30_000);

      await openai.setFault(null);
      await lens.panel.handleMessage({ type: 'retry' });
      const recovered = await lens.panelProbe.waitForRender(settled, 30_000);
      assertSameRows(recovered.prediction?.rows ?? [], local.next, 'after Retry');
      assert.equal(editor.document.getText(), PROMPT);
    } finally {
      await openai.setFault(null);
      lens.panel.close();
      await closeEditor(editor);
    }
  });

  it('a server too slow to answer: after lmLens.server.timeoutSeconds one line says so, with Retry and Open settings', async () => {
    await setSetting('server.timeoutSeconds', 5);
    await useServer(lens, 'openai', openai.url);
    const editor = await openMarkdown(PROMPT);
    try {
      assert.match(await panelFailsWith({ mode: 'hang', path: 'completions' }, 'server-timeout'), /did not answer \/v1\/completions within 5\.0 s/);
      assert.equal(editor.document.getText(), PROMPT);
    } finally {
      await openai.setFault(null);
      lens.panel.close();
      await closeEditor(editor);
      await setSetting('server.timeoutSeconds', undefined);
    }
  });

  it('a top-k cap below the panel’s rows: the panel lists what the server gives and says so in one line', async () => {
    const capped = await fixture({ api: 'openai', maxLogprobs: 5 });
    await useServer(lens, 'openai', capped.url);
    const editor = await openMarkdown(PROMPT);
    try {
      await vscode.commands.executeCommand(COMMANDS.showNextTokenProbabilities);
      const state = await lens.panelProbe.waitForRender((candidate) => settled(candidate) && candidate.prediction?.engine?.endsWith(new URL(capped.url).host) === true, 60_000);
      const prediction = state.prediction;
      assert.equal(state.controls.k, 10);
      assert.equal(prediction?.rows.length, 5);
      assert.ok(prediction.notes?.includes('The server returns at most 5 alternatives per token (asked for 10).'), JSON.stringify(prediction.notes));
      assertSameRows(prediction.rows, local.next, 'capped rows');
    } finally {
      lens.panel.close();
      await closeEditor(editor);
    }
  });

  it("llama-server's native API: the numbers equal the local ones within 1e-4, ghost text too", async () => {
    const llama = await fixture({ api: 'llama.cpp' });
    await useServer(lens, 'llama.cpp', llama.url);
    const state = lens.model.state;
    assert.ok(state.state === 'ready' && state.engine?.kind === 'llama.cpp', JSON.stringify(state));
    const answer = await next(lens, PROMPT);
    assertSameRows(answer.top, local.next, 'llama.cpp');
    assert.equal(await greedy(lens, PROMPT), local.greedy);
  });
});
