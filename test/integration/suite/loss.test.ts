// Sentence loss inside a real VS Code: decorations per sentence in the band of its loss, the
// hover, incremental re-scoring after an edit, and the on/off switch without a reload.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { untitledDocument } from './helpers';
import { splitSentences } from '../../../src/core/sentences';
import type { LmLensApi } from '../../../src/extension/extension';
import { bandOf } from '../../../src/extension/lossBands';
import { formatLoss } from '../../../src/shared/format';
import type { LossDecorationSnapshot } from '../../../src/extension/lossProbe';
import { scoreSentencesRequest } from '../../../src/shared/hostProtocol';
import type { ScoreSentencesResponse, ScoreTextResponse } from '../../../src/shared/hostProtocol';
import { COMMANDS } from '../../../src/shared/commands';
import type { Pass } from './onServer';

const extensionId = 'lm-lens.lm-lens';
const PROSE = `# Alice in the hall

Alice was beginning to get very tired of sitting by her sister on the bank. She had nothing to do.
Once or twice she had peeped into the book her sister was reading.

It had no pictures or conversations in it. What is the use of a book without pictures? Alice thought so.

\`\`\`js
const skipped = "code is never scored";
\`\`\`

Suddenly a White Rabbit with pink eyes ran close by her.
`;

async function waitUntil(what: string, condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function hoverText(hovers: vscode.Hover[]): string {
  return hovers
    .flatMap((hover) => hover.contents)
    .map((content) => (typeof content === 'string' ? content : content.value))
    .join('\n');
}

/** Band of each decorated range, keyed by its start offset. */
function bandsByStart(decorations: LossDecorationSnapshot): Map<number, number> {
  const bands = new Map<number, number>();
  decorations.groups.forEach((ranges, band) => ranges.forEach((range) => bands.set(range.start, band)));
  return bands;
}

/**
 * The reference scores, asked for directly on the 'command' channel. The request type is passed
 * by method name: a RequestType object from this bundle would carry its own copy of
 * vscode-jsonrpc's ParameterStructures, which the extension's copy does not recognise.
 */
function referenceScores(api: LmLensApi, text: string): Promise<ScoreSentencesResponse> {
  return api.model.request('command', scoreSentencesRequest.method as unknown as typeof scoreSentencesRequest, { text, languageId: 'markdown', fromOffset: 0 });
}

export function defineLossSuite(pass: Pass): void {
  describe('sentence loss', function () {
    this.timeout(180_000);
    let api: LmLensApi;
    let document: vscode.TextDocument;
    const settings = (): vscode.WorkspaceConfiguration => vscode.workspace.getConfiguration('lmLens');

    before(async () => {
      const extension = vscode.extensions.getExtension<LmLensApi>(extensionId);
      assert.ok(extension, `${extensionId} is not installed`);
      api = await extension.activate();
      await settings().update('loss.enabled', true, vscode.ConfigurationTarget.Global);
      document = await untitledDocument('markdown', PROSE);
      await vscode.window.showTextDocument(document);
    });

    after(async () => {
      for (const key of ['loss.thresholds', 'loss.mode', 'loss.showAnnotation', 'loss.enabled']) await settings().update(key, undefined, vscode.ConfigurationTarget.Global);
      if (vscode.window.activeTextEditor?.document === document) await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    });

    it('decorates every sentence in the band of the loss the model computes', async () => {
      await api.loss.waitForIdle(document.uri, 150_000);
      const text = document.getText();
      const spans = splitSentences(text, { languageId: 'markdown' });
      const results = api.loss.resultsFor(document.uri);
      assert.ok(results?.complete, 'results are complete');
      assert.deepEqual(
        results.sentences.map((s) => [s.start, s.end]),
        spans.map((s) => [s.start, s.end]),
      );
      assert.ok(!results.sentences.some((s) => s.text.includes('skipped')), 'fenced code is not a sentence');

      // Random test weights give losses far above the default thresholds: spread the bands over them.
      const reference = await referenceScores(api, text);
      const sorted = reference.sentences.map((s) => s.loss).sort((a, b) => a - b);
      const thresholds = [1, 2, 3, 4].map((k) => {
        const cut = Math.round((sorted.length * k) / 5);
        return ((sorted[cut - 1] as number) + (sorted[cut] as number)) / 2;
      });
      await settings().update('loss.thresholds', thresholds, vscode.ConfigurationTarget.Global);
      await waitUntil('the new thresholds are drawn', () => new Set(bandsByStart(api.loss.decorationsFor(document.uri) ?? { mode: 'sentence', groups: [], annotations: [] }).values()).size >= 3);

      const decorations = api.loss.decorationsFor(document.uri);
      assert.ok(decorations);
      assert.equal(decorations.mode, 'sentence');
      assert.equal(decorations.groups.flat().length, spans.length, 'one decoration per sentence');
      const drawn = bandsByStart(decorations);
      reference.sentences.forEach((sentence, i) => {
        const held = api.loss.resultsFor(document.uri)?.sentences[i];
        assert.ok(held);
        assert.ok(Math.abs(held.loss - sentence.loss) < 1e-4, `sentence ${i}: ${held.loss} vs ${sentence.loss}`);
        const expected = bandOf(sentence.loss, thresholds);
        assert.equal(held.band, expected, `band of sentence ${i}`);
        assert.equal(drawn.get(sentence.start), expected, `drawn band of sentence ${i}`);
      });
    });

    it('shows the sentence loss to three decimals in the hover', async () => {
      const sentence = api.loss.resultsFor(document.uri)?.sentences[2];
      assert.ok(sentence);
      const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', document.uri, document.positionAt(sentence.start + 3));
      const markdown = hoverText(hovers);
      assert.ok(markdown.includes(`mean loss **${formatLoss(sentence.loss)}**`), markdown);
      assert.ok(markdown.includes('command:lmLens.showNextTokenProbabilities'), markdown);
      // A server's scores say, in one line, what it cannot give.
      if (pass === 'local') assert.ok(!markdown.includes('Scored by'), markdown);
      else assert.match(markdown, /_Scored by test-gpt2 @ 127\.0\.0\.1:\d+: [^\n]*no entropy[^\n]*_/, markdown);
    });

    it('re-scores only the edited sentence and the ones after it', async () => {
      const before = api.loss.resultsFor(document.uri);
      assert.ok(before?.complete);
      const edited = before.sentences.findIndex((s) => s.text.includes('pictures'));
      const target = before.sentences[edited];
      assert.ok(target && edited > 0 && edited < before.sentences.length - 1, 'a sentence in the middle');
      const counted = api.loss.pushedSentenceCount;
      const word = target.text.indexOf('pictures');
      const edit = new vscode.WorkspaceEdit();
      const at = target.start + word;
      edit.replace(document.uri, new vscode.Range(document.positionAt(at), document.positionAt(at + 'pictures'.length)), 'drawings');
      assert.ok(await vscode.workspace.applyEdit(edit));
      await api.loss.waitForIdle(document.uri, 60_000);

      const after = api.loss.resultsFor(document.uri);
      assert.ok(after?.complete);
      assert.equal(after.version, document.version);
      assert.equal(api.loss.lastPush?.keep, edited, 'the sentences before the edit are kept, not sent again');
      assert.equal(api.loss.pushedSentenceCount - counted, before.sentences.length - edited, 'sentences re-scored');
      for (let i = 0; i < edited; i++) assert.equal(after.sentences[i]?.loss, before.sentences[i]?.loss, `sentence ${i} kept`);
      assert.ok(after.sentences[edited]?.text.includes('drawings'));
    });

    it('matches a fresh score after quick successive edits (debounced, stale answers dropped)', async () => {
      // Late, early, middle: the re-score must start from the earliest one.
      const edits: Array<[string, string]> = [
        ['Rabbit', 'Hare'],
        ['tired', 'weary'],
        ['book', 'novel'],
      ];
      for (const [from, to] of edits) {
        const at = document.getText().indexOf(from);
        assert.ok(at >= 0, from);
        const edit = new vscode.WorkspaceEdit();
        edit.replace(document.uri, new vscode.Range(document.positionAt(at), document.positionAt(at + from.length)), to);
        assert.ok(await vscode.workspace.applyEdit(edit));
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
      await api.loss.waitForIdle(document.uri, 60_000);
      const held = api.loss.resultsFor(document.uri);
      assert.ok(held?.complete && held.version === document.version);
      const reference = await referenceScores(api, document.getText());
      assert.deepEqual(
        held.sentences.map((s) => [s.start, s.end]),
        reference.sentences.map((s) => [s.start, s.end]),
      );
      held.sentences.forEach((s, i) => assert.ok(Math.abs(s.loss - (reference.sentences[i]?.loss ?? Number.NaN)) < 1e-4, `sentence ${i}`));
      // What is drawn is that re-score too: one range per sentence, each in the band of its fresh loss.
      const thresholds = vscode.workspace.getConfiguration('lmLens').get<number[]>('loss.thresholds') ?? [];
      await waitUntil('the latest version is drawn', () => api.loss.decorationsFor(document.uri)?.groups.flat().length === reference.sentences.length);
      const drawn = bandsByStart(api.loss.decorationsFor(document.uri) as LossDecorationSnapshot);
      reference.sentences.forEach((sentence, i) => assert.equal(drawn.get(sentence.start), bandOf(sentence.loss, thresholds), `drawn band of sentence ${i}`));
    });

    it('frees a closed document in the model process', async () => {
      const extra = await untitledDocument('markdown', 'A short note. It has two sentences.');
      await vscode.window.showTextDocument(extra);
      await api.loss.waitForIdle(extra.uri, 60_000);
      const uri = extra.uri.toString();
      assert.ok((await api.model.stats())?.documents?.uris.includes(uri), 'open in the model process');
      await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
      await waitUntil('the editor closed the document', () => !vscode.workspace.textDocuments.some((candidate) => candidate.uri.toString() === uri));
      let open: string[] | undefined = [uri];
      const deadline = Date.now() + 10_000;
      while (open?.includes(uri) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        open = (await api.model.stats())?.documents?.uris;
      }
      assert.ok(open && !open.includes(uri), `still open in the model process: ${JSON.stringify(open)}`);
      assert.ok(open.includes(document.uri.toString()), 'the other document stays');
      await vscode.window.showTextDocument(document);
    });

    it('clears the decorations when switched off and restores them when switched on', async () => {
      const shown = api.loss.decorationsFor(document.uri);
      assert.ok(shown && shown.groups.flat().length > 0);
      await vscode.commands.executeCommand(COMMANDS.toggleSentenceLoss);
      await waitUntil('the feature is off', () => !api.loss.isEnabled);
      assert.equal(api.loss.decorationsFor(document.uri), undefined);
      assert.equal(settings().get('loss.enabled'), false);

      await vscode.commands.executeCommand(COMMANDS.toggleSentenceLoss);
      await waitUntil('the feature is on', () => api.loss.isEnabled);
      await api.loss.waitForIdle(document.uri, 60_000);
      assert.deepEqual(api.loss.decorationsFor(document.uri)?.groups, shown.groups);
    });

    it('switches to GLTR token buckets and end-of-line annotations without a reload', async () => {
      const results = api.loss.resultsFor(document.uri);
      assert.ok(results?.complete);
      const scored = api.loss.pushedSentenceCount;
      await settings().update('loss.mode', 'token', vscode.ConfigurationTarget.Global);
      await settings().update('loss.showAnnotation', true, vscode.ConfigurationTarget.Global);
      await waitUntil('tokens and annotations are drawn', () => {
        const drawn = api.loss.decorationsFor(document.uri);
        return drawn?.mode === 'token' && drawn.annotations.length > 0;
      });
      const drawn = api.loss.decorationsFor(document.uri);
      assert.ok(drawn);
      assert.equal(drawn.groups.length, 4, 'one group per GLTR bucket');
      const tokenTotal = results.sentences.reduce((sum, s) => sum + s.tokenCount, 0);
      assert.equal(drawn.groups.flat().length, tokenTotal, 'one decoration per token');
      const lastSentence = results.sentences[results.sentences.length - 1];
      assert.ok(lastSentence);
      assert.ok(
        drawn.annotations.some((a) => a.text.includes(formatLoss(lastSentence.loss))),
        JSON.stringify(drawn.annotations),
      );
      assert.equal(api.loss.pushedSentenceCount, scored, 'a new look needs no new scores');

      const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', document.uri, document.positionAt(lastSentence.start + 1));
      assert.match(hoverText(hovers), /Token `[^`]+`: .* rank #/);

      await settings().update('loss.mode', undefined, vscode.ConfigurationTarget.Global);
      await settings().update('loss.showAnnotation', undefined, vscode.ConfigurationTarget.Global);
      await waitUntil('sentence bands are back', () => api.loss.decorationsFor(document.uri)?.mode === 'sentence' && api.loss.decorationsFor(document.uri)?.annotations.length === 0);
    });

    it('scores the selection (first token not predicted) and the whole document', async () => {
      const editor = vscode.window.activeTextEditor;
      assert.equal(editor?.document, document);
      const sentence = api.loss.resultsFor(document.uri)?.sentences[1];
      assert.ok(sentence);
      editor.selection = new vscode.Selection(document.positionAt(sentence.start), document.positionAt(sentence.end));
      const selection = await vscode.commands.executeCommand<ScoreTextResponse | undefined>(COMMANDS.scoreSelection);
      assert.ok(selection && Number.isFinite(selection.loss));
      assert.equal(selection.predicted, selection.tokenCount - 1);

      const byLink = await vscode.commands.executeCommand<ScoreTextResponse | undefined>(COMMANDS.scoreSelection, { uri: document.uri.toString(), start: sentence.start, end: sentence.end });
      assert.ok(byLink);
      assert.ok(Math.abs(byLink.loss - selection.loss) < 1e-6, 'the hover link scores the same text');

      const whole = await vscode.commands.executeCommand<ScoreTextResponse | undefined>(COMMANDS.scoreDocument);
      assert.ok(whole && Number.isFinite(whole.loss));
      // tokenCount includes the <|endoftext|> every token of the text is predicted after.
      assert.equal(whole.predicted, whole.tokenCount - 1);
    });
  });
}
