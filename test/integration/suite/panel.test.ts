// The next-token panel inside a real VS Code: it follows the editor, shows exactly what the model
// process computes, inserts tokens and samples. The webview's DOM is out of reach here, so the
// assertions read the state the controller sent to it (its test hooks).
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { untitledDocument } from './helpers';
import type { LmLensApi } from '../../../src/extension/extension';
import type { PanelState, PredictionView } from '../../../src/shared/panelProtocol';
import { nextTokenRequest } from '../../../src/shared/hostProtocol';
import type { NextTokenResponse } from '../../../src/shared/hostProtocol';
import { sampleProse } from '../fixtures';
import { COMMANDS } from '../../../src/shared/commands';
import type { Pass } from './onServer';

const extensionId = 'lm-lens.lm-lens';

async function api(): Promise<LmLensApi> {
  const extension = vscode.extensions.getExtension<LmLensApi>(extensionId);
  assert.ok(extension, `${extensionId} is not installed in this extension host`);
  return extension.activate();
}

/**
 * What the model process answers directly. The request type goes by method name: a RequestType
 * from this bundle carries its own copy of vscode-jsonrpc, which the extension's copy rejects.
 */
function reference(lens: LmLensApi, text: string, top: number): Promise<NextTokenResponse> {
  return lens.model.request('command', nextTokenRequest.method as unknown as typeof nextTokenRequest, { text, top });
}

function endOf(document: vscode.TextDocument): vscode.Position {
  return document.positionAt(document.getText().length);
}

/** A rendered prediction made for exactly this cursor, with no newer one pending. */
function settledAt(editor: vscode.TextEditor): (state: PanelState) => boolean {
  return (state) => {
    const prediction = state.prediction;
    const cursor = editor.selection.active;
    return !state.updating && prediction !== undefined && prediction.line === cursor.line + 1 && prediction.column === cursor.character + 1;
  };
}

export function definePanelSuite(pass: Pass): void {
  describe('next-token panel', function () {
    this.timeout(120_000);
    let lens: LmLensApi;
    let editor: vscode.TextEditor;

    before(async () => {
      lens = await api();
      const document = await untitledDocument('markdown', sampleProse.trimEnd());
      editor = await vscode.window.showTextDocument(document, vscode.ViewColumn.One);
      const end = endOf(document);
      editor.selection = new vscode.Selection(end, end);
    });

    after(async () => {
      lens.panel.close();
      // An untitled document with edits would ask to be saved.
      await vscode.window.showTextDocument(editor.document);
      await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    });

    let first: PredictionView;

    it('opens beside the editor without taking focus and shows the model distribution', async () => {
      await vscode.commands.executeCommand(COMMANDS.showNextTokenProbabilities);
      assert.equal(lens.panel.isOpen, true);
      assert.equal(vscode.window.activeTextEditor?.document, editor.document, 'the editor keeps focus');
      const state = await lens.panelProbe.waitForRender(settledAt(editor), 90_000);
      first = state.prediction as PredictionView;
      const k = state.controls.k;
      assert.equal(first.rows.length, k);
      for (let i = 1; i < k; i++) assert.ok((first.rows[i - 1]?.prob ?? 0) >= (first.rows[i]?.prob ?? 0), `row ${i} is not sorted`);
      const expected = await reference(lens, editor.document.getText(), k);
      assert.equal(first.contextTokens, expected.contextTokens);
      assert.deepEqual(
        first.rows.map((row) => row.id),
        expected.top.map((token) => token.id),
      );
      first.rows.forEach((row, i) => assert.ok(Math.abs(row.prob - (expected.top[i]?.prob ?? NaN)) < 1e-6, `row ${i}: ${row.prob} vs ${expected.top[i]?.prob}`));
      assert.ok(first.tail.length > 0 && first.tail.every((chip) => Number.isInteger(chip.id)));
      assert.equal(first.sampling, undefined, 'default controls are the identity');
    });

    it('names the engine that answers and says what it cannot give', () => {
      if (pass === 'local') {
        assert.equal(first.engine, undefined);
        assert.ok(first.entropy !== null && Number.isFinite(first.entropy));
        assert.deepEqual(first.notes, []);
      } else {
        assert.match(first.engine ?? '', /^test-gpt2 @ 127\.0\.0\.1:\d+$/);
        assert.equal(first.entropy, null);
        assert.ok(first.notes?.some((note) => note.startsWith('No entropy')), JSON.stringify(first.notes));
        assert.ok(first.rows.every((row) => row.logit === null), 'a server gives no logits');
      }
      assert.ok(first.elapsedMs > 0);
    });

    it('follows typing', async () => {
      const before = lens.panelProbe.postedMessages;
      await editor.edit((edit) => edit.insert(endOf(editor.document), ' Then the Queen'));
      const end = endOf(editor.document);
      editor.selection = new vscode.Selection(end, end);
      const state = await lens.panelProbe.waitForRender((candidate) => settledAt(editor)(candidate) && candidate.prediction?.contextTokens !== first.contextTokens);
      assert.ok((state.prediction?.contextTokens ?? 0) > first.contextTokens);
      assert.ok(lens.panelProbe.postedMessages > before);
    });

    it('inserts the clicked row at the cursor', async () => {
      const state = lens.panelProbe.lastRendered as PanelState;
      const prediction = state.prediction as PredictionView;
      const before = editor.document.getText();
      const token = prediction.rows[0]?.text ?? '';
      await lens.panel.handleMessage({ type: 'insert', source: 'prediction', resultId: prediction.id, index: 0 });
      assert.equal(editor.document.getText(), before + token);
      assert.equal(editor.document.offsetAt(editor.selection.active), before.length + token.length, 'the cursor follows the insertion');
      // The edit moves the cursor: a new prediction for the new position arrives.
      const next = await lens.panelProbe.waitForRender(settledAt(editor));
      assert.notEqual(next.prediction?.id, prediction.id);
    });

    it('ignores clicks on outdated rows and malformed messages', async () => {
      const before = editor.document.getText();
      const posted = lens.panelProbe.postedMessages;
      await lens.panel.handleMessage({ type: 'insert', source: 'prediction', resultId: 0, index: 0 });
      await lens.panel.handleMessage({ type: 'insert', source: 'prediction', resultId: lens.panelProbe.lastRendered?.prediction?.id, index: 1e6 });
      await lens.panel.handleMessage({ type: 'runCommand', command: 'workbench.action.quit' });
      await lens.panel.handleMessage('ready');
      assert.equal(editor.document.getText(), before);
      assert.equal(lens.panelProbe.postedMessages, posted);
    });

    it('shows the sampling distribution when a control differs from the identity', async () => {
      // With top-k on (within a server's cap), a server's alternatives determine it exactly too.
      await lens.panel.handleMessage({ type: 'setControls', controls: { temperature: 0.5, samplingTopK: 10 } });
      try {
        const state = await lens.panelProbe.waitForRender((candidate) => settledAt(editor)(candidate) && candidate.prediction?.sampling !== undefined);
        const rows = state.prediction?.rows ?? [];
        assert.ok(rows.every((row) => row.sampledProb !== undefined));
        // Temperature below 1 sharpens: the top token gains.
        assert.ok((rows[0]?.sampledProb ?? 0) > (rows[0]?.prob ?? 1));
        assert.equal(vscode.workspace.getConfiguration('lmLens').get('nextToken.temperature'), 0.5, 'persisted to the settings');
      } finally {
        await lens.panel.handleMessage({ type: 'setControls', controls: { temperature: 1, samplingTopK: 0 } });
        await lens.panelProbe.waitForRender((candidate) => settledAt(editor)(candidate) && candidate.prediction?.sampling === undefined);
      }
    });

    it('samples continuations whose shares sum to 1', async () => {
      // A server's alternatives fix the sampled probabilities only with top-k on; without it they are unknown, never guessed.
      if (pass !== 'local') {
        await lens.panel.handleMessage({ type: 'sample' });
        assert.ok(lens.panelProbe.lastRendered?.samples?.sequences.every((sequence) => sequence.share === null && sequence.sampledProb === null));
        await lens.panel.handleMessage({ type: 'setControls', controls: { samplingTopK: 10 } });
      }
      try {
        await lens.panel.handleMessage({ type: 'sample' });
      } finally {
        if (pass !== 'local') await lens.panel.handleMessage({ type: 'setControls', controls: { samplingTopK: 0 } });
      }
      const samples = lens.panelProbe.lastRendered?.samples;
      assert.ok(samples, 'no samples rendered');
      assert.equal(samples.sequences.length, 3);
      const total = samples.sequences.reduce((sum, sequence) => sum + (sequence.share ?? Number.NaN), 0);
      assert.ok(Math.abs(total - 1) <= 1e-9, `shares sum to ${total}`);
      for (const sequence of samples.sequences) {
        assert.ok(sequence.tokens.length >= 1 && sequence.tokens.length <= 10);
      }
      const before = editor.document.getText();
      await lens.panel.handleMessage({ type: 'insert', source: 'samples', resultId: samples.id, index: 0 });
      assert.equal(editor.document.getText(), before + (samples.sequences[0]?.text ?? ''));
    });

    it('stops listening once closed', async () => {
      lens.panel.close();
      assert.equal(lens.panel.isOpen, false);
      const posted = lens.panelProbe.postedMessages;
      await editor.edit((edit) => edit.insert(endOf(editor.document), ' more'));
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(lens.panelProbe.postedMessages, posted);
    });
  });
}
