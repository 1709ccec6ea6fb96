// The document report inside a real VS Code: it shows the numbers of the sentence-loss scores
// (aggregated in the model process, no model work of its own), follows edits, reveals a sentence,
// exports through the save dialog (answered by the probe), compares with a second model, and
// says in one line what it cannot do.
import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { LmLensApi } from '../../../src/extension/extension';
import { COMMANDS } from '../../../src/shared/commands';
import { sampleProse, testModelBEnvVar } from '../fixtures';
import { FixtureProcess } from '../fixtureProcess';
import { lmLens, openMarkdown, setSetting, untitledDocument } from './helpers';
import { testModelFolder } from './onServer';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

describe('document report', function () {
  this.timeout(180_000);
  let api: LmLensApi;
  let document: vscode.TextDocument;
  let folder: string;
  /** The local comparison's loss per sentence under the second test model, for the server's. */
  let localLossB: number[] | undefined;
  before(async () => {
    api = await lmLens();
    await setSetting('loss.enabled', true);
    document = (await openMarkdown(sampleProse)).document;
    folder = mkdtempSync(path.join(os.tmpdir(), 'lm-lens-report-export-'));
  });

  after(async () => {
    api.report.close();
    await setSetting('loss.enabled', undefined);
    await vscode.window.showTextDocument(document);
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
  });

  it('opens beside the editor with the numbers of the held sentence scores', async () => {
    await vscode.commands.executeCommand(COMMANDS.showDocumentReport);
    assert.ok(api.report.isOpen);
    assert.equal(vscode.window.activeTextEditor?.document, document, 'the editor keeps the focus');
    await api.loss.waitForIdle(document.uri, 150_000);
    const data = await api.report.waitForReport((candidate) => candidate.report.complete && candidate.report.summary.tokens > 0);
    const held = api.loss.resultsFor(document.uri);
    assert.ok(held?.complete);
    assert.deepEqual(
      data.report.sentences.map((s) => [s.start, s.end, s.tokenCount]),
      held.sentences.map((s) => [s.start, s.end, s.tokenCount]),
    );
    data.report.sentences.forEach((s, i) => assert.ok(Math.abs(s.loss - (held.sentences[i]?.loss as number)) < 1e-12));
    const tokens = held.sentences.reduce((sum, s) => sum + s.tokenCount, 0);
    assert.equal(data.report.summary.tokens, tokens);
    // The mean over tokens, from the per-sentence means the editor shows.
    const meanLoss = held.sentences.reduce((sum, s) => sum + s.loss * s.tokenCount, 0) / tokens;
    assert.ok(Math.abs(data.report.summary.meanLoss - meanLoss) < 1e-9);
    assert.equal(data.report.rankBuckets.counts.reduce((a, b) => a + b, 0), tokens);
    assert.equal(data.report.documentChars, document.getText().length);
    assert.equal(api.report.status.text, '', 'nothing to say once scored');
  });

  it('reveals a listed sentence in the editor', async () => {
    const point = api.report.lastPosted?.report.surprising[0];
    assert.ok(point);
    await api.report.receive({ type: 'reveal', start: point.start, end: point.end });
    const editor = vscode.window.activeTextEditor;
    assert.equal(editor?.document, document);
    assert.equal(document.offsetAt(editor.selection.start), point.start);
    assert.equal(document.offsetAt(editor.selection.end), point.end);
  });

  it('updates after an edit', async () => {
    const before = api.report.lastPosted?.report.summary.tokens ?? 0;
    const edit = new vscode.WorkspaceEdit();
    edit.insert(document.uri, document.positionAt(document.getText().length), '\nThe Queen shouted at the cards in the garden.\n');
    assert.ok(await vscode.workspace.applyEdit(edit));
    const data = await api.report.waitForReport((candidate) => candidate.report.complete && candidate.report.summary.tokens > before);
    assert.equal(api.report.lastVersion, document.version);
    assert.ok(data.report.sentences.some((s) => s.preview.includes('Queen shouted')));
  });

  it('exports HTML without remote content, CSV and JSON of every token, and a chart as PNG', async () => {
    const save = async (message: { type: 'export'; format: string }, name: string): Promise<string> => {
      const target = vscode.Uri.file(path.join(folder, name));
      api.report.answerSaveDialog(target);
      await api.report.receive(message);
      assert.equal(api.report.saved.at(-1), target.toString(), api.report.lastError);
      return readFileSync(target.fsPath, 'utf8');
    };
    const tokens = api.report.lastPosted?.report.summary.tokens ?? 0;
    const page = await save({ type: 'export', format: 'html' }, 'r.html');
    assert.doesNotMatch(page, /https?:\/\//u);
    assert.match(page, /<script id="report-data" type="application\/json">/u);
    const csv = (await save({ type: 'export', format: 'tokens-csv' }, 't.csv')).trimEnd().split('\r\n');
    assert.equal(csv[0], 'sentence,start,end,text,logprob,prob,rank,entropy,topProb,top10Entropy');
    assert.equal(csv.length - 1, tokens);
    const sentences = (await save({ type: 'export', format: 'sentences-csv' }, 's.csv')).trimEnd().split('\r\n');
    assert.equal(sentences.length - 1, api.report.lastPosted?.report.sentenceCount);
    assert.equal((JSON.parse(await save({ type: 'export', format: 'json' }, 'r.json')) as { tokens: unknown[] }).tokens.length, tokens);
    // The picture comes from the webview's own canvas.
    const png = vscode.Uri.file(path.join(folder, 'rank-buckets.png'));
    api.report.answerSaveDialog(png);
    api.report.requestPng('rank-buckets');
    await api.report.waitFor('PNG saved', () => api.report.saved.includes(png.toString()), 30_000);
    const bytes = readFileSync(png.fsPath);
    assert.deepEqual([...bytes.subarray(0, 8)], PNG_SIGNATURE);
    assert.ok(bytes.length > 1000, `${bytes.length} bytes`);
  });

  it('an unwritable export path: one line, nothing written, the report keeps working', async () => {
    const blocker = path.join(folder, 'a-file');
    writeFileSync(blocker, '');
    api.report.answerSaveDialog(vscode.Uri.file(path.join(blocker, 'out.csv')));
    const saved = api.report.saved.length;
    await api.report.receive({ type: 'export', format: 'tokens-csv' });
    assert.equal(api.report.saved.length, saved);
    assert.match(api.report.lastError ?? '', /^Could not write .*out\.csv.*Choose another folder\.$/u);
    assert.ok(api.report.lastPosted?.report.complete);
  });

  it('compares with a second model: both losses per sentence and the cross-perplexity ratio', async () => {
    const folderB = process.env[testModelBEnvVar];
    assert.ok(folderB, 'the runner names a second test model');
    await api.report.compareWith(folderB);
    const data = await api.report.waitForReport((candidate) => candidate.comparison !== undefined);
    const comparison = data.comparison;
    assert.ok(comparison);
    assert.ok(comparison.ratio !== null && comparison.crossEntropy !== null, 'a local model gives the cross-perplexity');
    assert.ok(Number.isFinite(comparison.ratio) && comparison.ratio > 0, `ratio ${comparison.ratio}`);
    assert.ok(Math.abs(comparison.ratio - comparison.lossA / comparison.crossEntropy) < 1e-12);
    assert.equal(comparison.sentences.length, data.report.sentenceCount);
    // Model A scored in lockstep with B agrees with the sentence-loss scores.
    data.report.sentences.forEach((s, i) => assert.ok(Math.abs((comparison.sentences[i]?.lossA as number) - s.loss) < 1e-4, `sentence ${i}`));
    assert.ok(comparison.sentences.every((s) => Number.isFinite(s.lossB)));
    localLossB = comparison.sentences.map((s) => s.lossB);
    await api.report.receive({ type: 'clearCompare' });
    await api.report.waitForReport((candidate) => candidate.comparison === undefined);
  });

  it('compares with a server: its model’s loss per sentence with the stored API key, and one line instead of the cross-perplexity', async () => {
    const folderB = process.env[testModelBEnvVar];
    assert.ok(folderB, 'the runner names a second test model');
    // The second test model, served by a vLLM-style fixture that wants a key.
    const server = await FixtureProcess.start({ api: 'openai', model: folderB, apiKey: 'sk-report-compare' });
    try {
      // A new key re-reads the model settings; in code-server the runner's machine-scoped lmLens.model may no longer be read once a setting was written (see useLocal).
      await setSetting('model', testModelFolder());
      await vscode.commands.executeCommand(COMMANDS.setServerApiKey, 'sk-report-compare');
      await api.report.compareWithServer({ api: 'openai', url: server.url });
      const data = await api.report.waitForReport((candidate) => candidate.comparison?.note !== undefined, 120_000);
      const comparison = data.comparison;
      assert.ok(comparison, api.report.lastError);
      assert.equal(comparison.modelB, `test-gpt2 @ ${new URL(server.url).host}`);
      assert.equal(comparison.ratio, null);
      assert.match(comparison.note ?? '', /^No cross-perplexity ratio with a server: /u);
      assert.equal(comparison.sentences.length, data.report.sentenceCount);
      data.report.sentences.forEach((s, i) => assert.ok(Math.abs((comparison.sentences[i]?.lossA as number) - s.loss) < 1e-9, `sentence ${i}`));
      // The same model and tokenizer as the local comparison above: the same loss per sentence.
      if (localLossB) comparison.sentences.forEach((s, i) => assert.ok(Math.abs(s.lossB - (localLossB?.[i] as number)) < 1e-4, `sentence ${i}: ${s.lossB} vs ${localLossB?.[i]}`));
      else assert.ok(comparison.sentences.every((s) => Number.isFinite(s.lossB)));
      await api.report.receive({ type: 'clearCompare' });
      await api.report.waitForReport((candidate) => candidate.comparison === undefined);
      // Down: one line naming the server, and the report without a comparison.
      await server.stop();
      await api.report.compareWithServer({ api: 'openai', url: server.url });
      assert.match(api.report.lastError ?? '', /^The comparison failed: Cannot reach the server at http:\/\/127\.0\.0\.1:\d+ \(connection refused\)/u);
      assert.equal(api.report.lastPosted?.comparison, undefined);
    } finally {
      await vscode.commands.executeCommand(COMMANDS.setServerApiKey, '');
      await server.stop();
    }
  });

  it('a comparison model that does not exist: one line, the report without a comparison', async () => {
    const missing = path.join(folder, 'no-such-model');
    await api.report.compareWith(missing);
    assert.match(api.report.lastError ?? '', /^The comparison failed: Model folder .*no-such-model does not exist/u);
    assert.equal(api.report.lastPosted?.comparison, undefined);
  });

  it('a document whose language sentence loss skips: the report says how to turn it on', async () => {
    const other = await untitledDocument('json', '{ "a": 1 }');
    await vscode.window.showTextDocument(other);
    await vscode.commands.executeCommand(COMMANDS.showDocumentReport);
    await api.report.waitFor('the reason in the status line', () => /lmLens\.loss\.languages/u.test(api.report.status.text));
    await vscode.window.showTextDocument(other);
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    api.report.close();
    assert.equal(api.report.isOpen, false);
  });
});
