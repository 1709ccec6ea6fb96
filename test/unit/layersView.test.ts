// The panel's Layers view: the view model built from a real lens answer, the webview messages
// that drive it, and its markup (a table with headers, shaded cells, the attention pickers).
import assert from 'node:assert/strict';
import { loadEngine } from '../../src/core/engine';
import { lensAt } from '../../src/core/lens';
import type { LensResponse } from '../../src/shared/hostProtocol';
import { ATTENTION_LEVELS, DEFAULT_LENS_CONTROLS, attentionLevel, layersView, resolveAttention } from '../../src/shared/layersView';
import { DEFAULT_SAMPLE_OPTIONS, parseWebviewMessage } from '../../src/shared/panelProtocol';
import type { PanelState } from '../../src/shared/panelProtocol';
import { renderLayers } from '../../media/layers';
import { renderPrediction } from '../../media/render';
import { ensureTestModel } from '../support/testModel';

const TEXT = 'Alice was beginning to get very tired of sitting';

describe('panel Layers view', function () {
  this.timeout(120_000);
  let response: LensResponse;

  before(async () => {
    const engine = await loadEngine({ model: await ensureTestModel({ layers: 2, dim: 64, heads: 4, seed: 1 }), allowDownloads: false, threads: 1 });
    try {
      response = { ...(await lensAt(engine, TEXT, { top: 3 })), spans: [], elapsedMs: 5 };
    } finally {
      await engine.dispose();
    }
  });

  function state(overrides: Partial<PanelState> = {}): PanelState {
    const tail = response.tokens.slice(-4).map((token) => ({ ...token, prob: 0.1 }));
    return {
      model: { kind: 'ready', modelId: 'tiny' },
      hasEditor: true,
      controls: { k: 3, temperature: 1, topP: 1, samplingTopK: 0 },
      sampleOptions: DEFAULT_SAMPLE_OPTIONS,
      updating: false,
      sampling: false,
      prediction: { id: 9, emptyContext: false, contextTokens: response.contextTokens, truncated: false, entropy: 1, rows: [], tail, elapsedMs: 1, fileName: 'a.md', line: 1, column: 1 },
      ...overrides,
    };
  }

  it('builds L+1 rows and the picked attention: the last layer’s mean over heads by default, a head when picked', () => {
    const view = layersView(9, response, DEFAULT_LENS_CONTROLS);
    assert.equal(view.rows.length, 3);
    assert.deepEqual(view.rows.map((row) => row.finalRank), response.layers.map((layer) => layer.final.rank));
    assert.equal(view.layer, 2);
    assert.equal(view.head, 0);
    const heads = response.attention[1] as number[][];
    view.attention.forEach((weight, position) => assert.ok(Math.abs(weight - heads.reduce((sum, row) => sum + (row[position] as number), 0) / heads.length) < 1e-12));
    assert.ok(Math.abs(view.attention.reduce((a, b) => a + b, 0) - 1) < 1e-5);
    const picked = layersView(9, response, { show: true, layer: 1, head: 3 });
    assert.deepEqual(picked.attention, response.attention[0]?.[2]);
    assert.deepEqual(resolveAttention({ show: true, layer: 99, head: 99 }, 2, 4), { layer: 2, head: 0 }, 'out of range: the last layer, the mean');
  });

  it('shades by attention relative to the most attended token, in ATTENTION_LEVELS steps', () => {
    assert.equal(attentionLevel(0.5, 0.5), ATTENTION_LEVELS);
    assert.equal(attentionLevel(0, 0.5), 0);
    assert.equal(attentionLevel(1e-9, 0.5), 1);
    assert.equal(attentionLevel(0.25, 0.5), ATTENTION_LEVELS / 2);
    assert.equal(attentionLevel(0.1, 0), 0);
  });

  it('accepts setLens messages with a boolean and counts only', () => {
    assert.deepEqual(parseWebviewMessage({ type: 'setLens', lens: { show: true, layer: 2, head: 0 } }), { type: 'setLens', lens: { show: true, layer: 2, head: 0 } });
    assert.deepEqual(parseWebviewMessage({ type: 'setLens', lens: { show: 'yes', layer: -1, head: 1.5, extra: 1 } }), { type: 'setLens', lens: {} });
    assert.equal(parseWebviewMessage({ type: 'setLens', lens: 3 }), undefined);
  });

  it('renders a table with column and row headers, one body row per layer, cells shaded by probability', () => {
    const html = renderLayers(state({ lens: { show: true, layer: 0, head: 0 }, layers: layersView(9, response, DEFAULT_LENS_CONTROLS) }));
    assert.match(html, /<table class="lens-grid"><caption>/);
    assert.equal((html.match(/<th scope="col"/g) ?? []).length, 1 + 3 + 3, 'layer, top 1-3, final rank, entropy, KL');
    assert.equal((html.match(/<th scope="row">/g) ?? []).length, 3);
    assert.match(html, /<th scope="row">embeddings<\/th>/);
    assert.match(html, /<th scope="row">block 2<\/th>/);
    assert.equal((html.match(/data-shade="/g) ?? []).length, 9);
    assert.match(html, /aria-pressed="true"/);
    assert.match(html, /<select id="lens-layer"[^>]*><option value="1">block 1<\/option><option value="2" selected>block 2<\/option>/);
    assert.match(html, /mean of 4 heads/);
    assert.match(html, /<svg[^>]*aria-hidden="true"/);
  });

  it('off: only the toggle; a server: the one line instead of the grid; chips shaded only for the prediction the lens belongs to', () => {
    const off = renderLayers(state());
    assert.match(off, /Show layers/);
    assert.doesNotMatch(off, /<table/);
    const note = renderLayers(state({ lens: { show: true, layer: 0, head: 0 }, layersNote: 'Layers need the local engine: <b>' }));
    assert.match(note, /Layers need the local engine: &lt;b&gt;/);
    assert.doesNotMatch(note, /<table/);
    const layers = layersView(9, response, DEFAULT_LENS_CONTROLS);
    const shaded = renderPrediction(state({ lens: { show: true, layer: 0, head: 0 }, layers }));
    assert.equal((shaded.match(/class="chip attended" data-shade="/g) ?? []).length, 4);
    assert.match(shaded, /attention \d/);
    const stale = renderPrediction(state({ lens: { show: true, layer: 0, head: 0 }, layers: { ...layers, id: 8 } }));
    assert.doesNotMatch(stale, /attended/);
  });
});
