// What the editor says about a server: the status bar text, the sentence hover's one-line note,
// and the panel's server error and unknown sampled probabilities. Pure functions, read whole.
import assert from 'node:assert/strict';
import { renderSamples, renderStatus } from '../../media/render';
import { buildSentenceHover } from '../../src/extension/lossHover';
import { describeServerState, engineDescription, hostOf } from '../../src/extension/statusText';
import { scoringNote } from '../../src/shared/engineNotes';
import type { EngineLabel, ModelState } from '../../src/shared/hostProtocol';
import { DEFAULT_SAMPLE_OPTIONS, modelStatus, parseWebviewMessage } from '../../src/shared/panelProtocol';
import type { PanelState } from '../../src/shared/panelProtocol';

const engine: EngineLabel = {
  kind: 'openai',
  host: 'gpu-box:8000',
  model: 'meta-llama/Llama-3.1-8B',
  contextSize: 8192,
  capabilities: { kind: 'openai', maxTopK: 20, entropy: false, logits: false, exactRank: false, samplingView: false, seededSampling: true, lens: false },
};
const ready: ModelState = { state: 'ready', engine };
const server = { backend: 'openai', url: 'http://gpu-box:8000', model: '' };

function panel(overrides: Partial<PanelState>): PanelState {
  return { model: { kind: 'ready', modelId: 'x' }, hasEditor: true, controls: { k: 10, temperature: 1, topP: 1, samplingTopK: 0 }, sampleOptions: DEFAULT_SAMPLE_OPTIONS, updating: false, sampling: false, ...overrides };
}

describe('remote engines in the editor', () => {
  it('the status menu names the engine that answers: the local model and precision, or the served model and host', () => {
    assert.equal(engineDescription({ backend: 'local', model: 'Xenova/gpt2', dtype: 'fp32', server: { url: 'http://gpu-box:8000', model: 'qwen' } }), 'Xenova/gpt2 · fp32');
    assert.equal(engineDescription({ backend: 'openai', model: 'Xenova/gpt2', dtype: 'fp32', server: { url: 'http://gpu-box:8000/', model: 'qwen' } }), 'qwen @ gpu-box:8000');
    assert.equal(engineDescription({ backend: 'llama.cpp', model: 'Xenova/gpt2', dtype: 'fp32', server: { url: 'http://127.0.0.1:8080', model: '' } }), 'llama.cpp @ 127.0.0.1:8080');
  });

  it('the status bar names the served model, the host and the latency once it answers', () => {
    assert.deepEqual(describeServerState(ready, server, 42.4), { text: '$(remote) Llama-3.1-8B · gpu-box:8000 · 42 ms', severity: 'normal' });
    assert.equal(describeServerState(ready, server, undefined).text, '$(remote) Llama-3.1-8B · gpu-box:8000');
    assert.equal(describeServerState({ state: 'loading' }, { ...server, model: 'qwen' }, 5).text, '$(loading~spin) qwen · gpu-box:8000 · loading');
    const down = describeServerState({ state: 'error', code: 'server-unreachable', message: 'Cannot reach' }, server, 5);
    assert.deepEqual(down, { text: '$(error) openai · gpu-box:8000', severity: 'error' });
    assert.equal(hostOf('http://127.0.0.1:8080/'), '127.0.0.1:8080');
    assert.equal(hostOf('not a url'), 'not a url');
  });

  it('the hover says in one line what a server cannot give; nothing for the local engine', () => {
    const note = scoringNote(ready);
    assert.equal(note, 'Scored by meta-llama/Llama-3.1-8B @ gpu-box:8000: ranks outside its top 20 may be unknown; no entropy (the server gives only its top log-probabilities).');
    assert.equal(scoringNote({ state: 'ready', engine: { ...engine, capabilities: { ...engine.capabilities, exactRank: true, entropy: true } } }), 'Scored by meta-llama/Llama-3.1-8B @ gpu-box:8000.');
    assert.equal(scoringNote({ state: 'ready' }), undefined);
    assert.equal(scoringNote({ state: 'idle' }), undefined);
    const sentence = { start: 0, end: 10, loss: 3, perplexity: Math.exp(3), tokenCount: 3, leastLikely: [] };
    const hover = buildSentenceHover({ sentence, band: 0, thresholds: [3, 4.5, 6, 7.5], mode: 'sentence', uri: 'untitled:1', engineNote: note }).markdown;
    const line = hover.split('\n').find((text) => text.includes('Scored by'));
    assert.equal(line, '_Scored by meta-llama/Llama-3.1-8B @ gpu-box:8000: ranks outside its top 20 may be unknown; no entropy \\(the server gives only its top log-probabilities\\)._');
    assert.ok(!buildSentenceHover({ sentence, band: 0, thresholds: [3, 4.5, 6, 7.5], mode: 'sentence', uri: 'untitled:1' }).markdown.includes('Scored by'));
  });

  it("the panel offers Open settings for a server's error, and only then", () => {
    const view = modelStatus({ state: 'error', code: 'server-auth', message: 'The server at gpu-box:8000 refused the request (401)' });
    assert.deepEqual(view, { kind: 'error', code: 'server-auth', message: 'The server at gpu-box:8000 refused the request (401)' });
    const html = renderStatus(panel({ model: view }));
    assert.ok(html.includes('data-action="retry"') && html.includes('data-action="openSettings"'), html);
    assert.ok(!renderStatus(panel({ model: { kind: 'error', code: 'folder-missing', message: 'x' } })).includes('openSettings'));
    assert.deepEqual(parseWebviewMessage({ type: 'openSettings' }), { type: 'openSettings' });
  });

  it('the sample list says when the sampled probabilities are unknown', () => {
    const token = { id: 1, text: ' a', prob: 0.2, sampledProb: null, normedProb: null };
    const samples = { id: 1, stale: false, elapsedMs: 3, sequences: [{ text: ' a', tokens: [token], prob: 0.2, sampledProb: null, logprob: Math.log(0.2), share: null, normedProd: null }] };
    assert.ok(renderSamples(panel({ samples })).includes('does not determine the sampled probabilities'));
    const known = { ...samples, sequences: [{ ...samples.sequences[0]!, tokens: [{ ...token, sampledProb: 0.5, normedProb: 1 }], sampledProb: 0.5, share: 1, normedProd: 1 }] };
    assert.ok(!renderSamples(panel({ samples: known })).includes('does not determine'));
  });
});
