// Everything the webview sends is untrusted: the parser must accept exactly the documented
// shapes and the merge must keep every control inside its range.
import assert from 'node:assert/strict';
import { CONTROL_LIMITS, DEFAULT_SAMPLE_OPTIONS, SAMPLE_LIMITS, mergeLimited, modelStatus, parseWebviewMessage, predictionView, samplesView, samplingParams } from '../../src/shared/panelProtocol';
import type { PanelControls } from '../../src/shared/panelProtocol';
import type { NextTokenResponse } from '../../src/shared/hostProtocol';

const controls: PanelControls = { k: 10, temperature: 1, topP: 1, samplingTopK: 0 };

describe('panel protocol: parseWebviewMessage', () => {
  it('accepts the argument-free messages', () => {
    for (const type of ['ready', 'sample', 'retry', 'selectModel'] as const) {
      assert.deepEqual(parseWebviewMessage({ type }), { type });
    }
  });

  it('drops extra fields instead of passing them on', () => {
    assert.deepEqual(parseWebviewMessage({ type: 'retry', command: 'workbench.action.quit' }), { type: 'retry' });
    assert.deepEqual(parseWebviewMessage({ type: 'setControls', controls: { k: 5, evil: 1 } }), { type: 'setControls', controls: { k: 5 } });
  });

  it('ignores unknown types and non-objects', () => {
    for (const raw of [undefined, null, 42, 'ready', [], {}, { type: 1 }, { type: 'runCommand' }, { type: '__proto__' }]) {
      assert.equal(parseWebviewMessage(raw), undefined, JSON.stringify(raw));
    }
  });

  it('keeps only finite numbers in control changes', () => {
    const parsed = parseWebviewMessage({ type: 'setControls', controls: { k: '5', temperature: Number.NaN, topP: Infinity, samplingTopK: 40 } });
    assert.deepEqual(parsed, { type: 'setControls', controls: { samplingTopK: 40 } });
    assert.equal(parseWebviewMessage({ type: 'setControls', controls: null }), undefined);
    assert.equal(parseWebviewMessage({ type: 'setSampleOptions', options: [3] }), undefined);
    assert.deepEqual(parseWebviewMessage({ type: 'setSampleOptions', options: { n: 4, maxNewTokens: 12 } }), { type: 'setSampleOptions', options: { n: 4, maxNewTokens: 12 } });
  });

  it('validates insert references', () => {
    assert.deepEqual(parseWebviewMessage({ type: 'insert', source: 'prediction', resultId: 3, index: 0 }), { type: 'insert', source: 'prediction', resultId: 3, index: 0 });
    assert.deepEqual(parseWebviewMessage({ type: 'insert', source: 'samples', resultId: 1, index: 2 }), { type: 'insert', source: 'samples', resultId: 1, index: 2 });
    assert.deepEqual(parseWebviewMessage({ type: 'insert', source: 'prediction', resultId: 3, index: 1, replace: true, continueAfter: true }), { type: 'insert', source: 'prediction', resultId: 3, index: 1, replace: true, continueAfter: true });
    // Only `true` switches them on: anything else from the webview is a plain insert.
    assert.deepEqual(parseWebviewMessage({ type: 'insert', source: 'prediction', resultId: 3, index: 1, replace: 'yes', continueAfter: 1 }), { type: 'insert', source: 'prediction', resultId: 3, index: 1 });
    for (const bad of [
      { source: 'editor', resultId: 1, index: 0 },
      { source: 'prediction', resultId: -1, index: 0 },
      { source: 'prediction', resultId: 1, index: 0.5 },
      { source: 'prediction', resultId: 1 },
      { source: 'prediction', resultId: 1, index: 0, text: 'rm -rf' },
    ]) {
      const parsed = parseWebviewMessage({ type: 'insert', ...bad });
      if ('text' in bad) assert.deepEqual(parsed, { type: 'insert', source: 'prediction', resultId: 1, index: 0 }, 'text from the webview is never used');
      else assert.equal(parsed, undefined, JSON.stringify(bad));
    }
  });

  it('accepts only the two copy formats', () => {
    assert.deepEqual(parseWebviewMessage({ type: 'copy', format: 'markdown' }), { type: 'copy', format: 'markdown' });
    assert.deepEqual(parseWebviewMessage({ type: 'copy', format: 'json' }), { type: 'copy', format: 'json' });
    assert.equal(parseWebviewMessage({ type: 'copy', format: 'html' }), undefined);
  });
});

describe('panel protocol: mergeLimited', () => {
  it('clamps to the documented ranges and rounds integer controls', () => {
    assert.deepEqual(mergeLimited(CONTROL_LIMITS, controls, { k: 1000, temperature: 0, topP: 2, samplingTopK: 12.6 }), { k: 100, temperature: 0.05, topP: 1, samplingTopK: 13 });
    assert.deepEqual(mergeLimited(CONTROL_LIMITS, controls, { k: -3 }), { ...controls, k: 1 });
  });

  it('leaves unspecified and invalid values as they were', () => {
    assert.deepEqual(mergeLimited(CONTROL_LIMITS, controls, { temperature: 0.7 }), { ...controls, temperature: 0.7 });
    assert.deepEqual(mergeLimited(CONTROL_LIMITS, controls, { k: Number.NaN }), controls);
  });

  it('limits sample options', () => {
    assert.deepEqual(mergeLimited(SAMPLE_LIMITS, DEFAULT_SAMPLE_OPTIONS, { n: 99, maxNewTokens: 0 }), { n: 10, maxNewTokens: 1 });
    assert.deepEqual(DEFAULT_SAMPLE_OPTIONS, { n: 3, maxNewTokens: 10 });
  });
});

describe('panel protocol: view builders', () => {
  const response: NextTokenResponse = {
    contextTokens: 2,
    truncated: false,
    entropy: 3.5,
    top: [
      { id: 1, text: ' a', prob: 0.5, logprob: Math.log(0.5), logit: 3 },
      { id: 2, text: ' b', prob: 0.3, logprob: Math.log(0.3), logit: 2 },
      { id: 3, text: ' c', prob: 0.1, logprob: Math.log(0.1), logit: 1 },
    ],
    sampling: { entropy: 0.6, keptTokens: 2, top: [{ id: 1, text: ' a', prob: 0.62 }, { id: 2, text: ' b', prob: 0.38 }, { id: 4, text: ' d', prob: 0 }] },
    tail: [{ id: 9, text: 'Hi' }, { id: 10, text: '!', prob: 0.2 }],
    elapsedMs: 5,
  };
  const place = { emptyContext: false, cut: false, fileName: 'a.md', line: 1, column: 4 };

  it('pairs each row with its sampling probability, 0 when truncated away', () => {
    const view = predictionView(4, response, place);
    assert.deepEqual(view.rows.map((row) => row.sampledProb), [0.62, 0.38, 0]);
    assert.deepEqual(view.sampling, { entropy: 0.6, keptTokens: 2 });
    assert.equal(view.id, 4);
    assert.equal(view.column, 4);
    assert.ok(!('cut' in view));
  });

  it('leaves sampling out for the identity, and marks a cut text as truncated', () => {
    const view = predictionView(1, { ...response, sampling: undefined }, { ...place, cut: true });
    assert.ok(view.rows.every((row) => !('sampledProb' in row)));
    assert.ok(!('sampling' in view));
    assert.equal(view.truncated, true);
  });

  it('keeps only the documented sample fields', () => {
    const token = { id: 5, text: ' x', prob: 0.1, sampledProb: 0.2, normedProb: 1 };
    const view = samplesView(2, { sequences: [{ text: ' x', tokens: [token], prob: 0.1, sampledProb: 0.2, logprob: Math.log(0.1), share: 1, normedProd: 1, stopReason: 'length' }], elapsedMs: 3 }, false);
    assert.deepEqual(view, { id: 2, stale: false, elapsedMs: 3, sequences: [{ text: ' x', tokens: [token], prob: 0.1, sampledProb: 0.2, logprob: Math.log(0.1), share: 1, normedProd: 1 }] });
  });

  it('maps model states and names the sampling parameters as the model process does', () => {
    assert.deepEqual(modelStatus({ state: 'idle' }), { kind: 'starting' });
    assert.deepEqual(modelStatus({ state: 'loading' }), { kind: 'loading', phase: 'load' });
    assert.deepEqual(modelStatus({ state: 'loading', progress: { phase: 'download', file: 'onnx/model.onnx', loadedBytes: 1, totalBytes: 2 } }), {
      kind: 'loading',
      phase: 'download',
      file: 'onnx/model.onnx',
      loadedBytes: 1,
      totalBytes: 2,
    });
    assert.deepEqual(modelStatus({ state: 'error', code: 'folder-missing', message: 'No folder' }), { kind: 'error', message: 'No folder', code: 'folder-missing' });
    assert.deepEqual(samplingParams({ k: 5, temperature: 0.7, topP: 0.9, samplingTopK: 0 }), { temperature: 0.7, topP: 0.9, topK: 0 });
  });
});
