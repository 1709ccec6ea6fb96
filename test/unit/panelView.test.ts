// The panel's pure view layer: number formatting, exports, markup and the HTML document's CSP.
import assert from 'node:assert/strict';
import { markdownCode, predictionToJson, predictionToMarkdown } from '../../src/extension/exportTable';
import { escapeHtml, formatMegabytes, formatNumber, formatProbability, formatJointProbability, tokenLabel } from '../../src/shared/format';
import { buildPanelHtml } from '../../src/extension/panelHtml';
import { CONTROL_INPUT_IDS, SAMPLE_INPUT_IDS, renderPrediction, renderSamples, renderShell, renderStatus } from '../../media/render';
import { CONTROL_LIMITS, DEFAULT_SAMPLE_OPTIONS, SAMPLE_LIMITS } from '../../src/shared/panelProtocol';
import type { PanelControls, PanelState, PredictionView } from '../../src/shared/panelProtocol';

const identity: PanelControls = { k: 3, temperature: 1, topP: 1, samplingTopK: 0 };
const sharpened: PanelControls = { k: 3, temperature: 0.7, topP: 0.9, samplingTopK: 0 };

function prediction(overrides: Partial<PredictionView> = {}): PredictionView {
  return {
    id: 7,
    emptyContext: false,
    contextTokens: 3,
    truncated: false,
    entropy: 4.2123,
    rows: [
      { id: 4419, text: ' harm', prob: 0.113, logprob: Math.log(0.113), logit: 13.27 },
      { id: 91, text: '|<b>', prob: 0.05, logprob: Math.log(0.05), logit: 12.5 },
      { id: 198, text: '\n', prob: 0.00001, logprob: Math.log(0.00001), logit: 2 },
    ],
    tail: [
      { id: 44484, text: 'Alice' },
      { id: 318, text: ' is', prob: 0.25 },
      { id: 257, text: ' a', prob: 0.5 },
    ],
    elapsedMs: 12.3,
    fileName: 'notes/<x>.md',
    line: 3,
    column: 10,
    ...overrides,
  };
}

function sampledPrediction(): PredictionView {
  const base = prediction();
  return { ...base, sampling: { entropy: 2.5, keptTokens: 100 }, rows: base.rows.map((row, i) => ({ ...row, sampledProb: [0.4, 0.13, 0][i] as number })) };
}

function state(overrides: Partial<PanelState> = {}): PanelState {
  return { model: { kind: 'ready', modelId: 'tiny' }, hasEditor: true, controls: identity, sampleOptions: DEFAULT_SAMPLE_OPTIONS, updating: false, sampling: false, prediction: prediction(), ...overrides };
}

describe('panel view: formatting', () => {
  it('formats percentages with useful precision', () => {
    assert.equal(formatProbability(0.113), '11.3%');
    assert.equal(formatProbability(0.0345), '3.45%');
    assert.equal(formatProbability(0.00001), '1.0e\u22123%', 'tiny ones in exponent form, as the hover shows them');
    assert.equal(formatProbability(0), '0%');
    assert.equal(formatProbability(1), '100%');
    assert.equal(formatProbability(0.99999), '>99.9%', 'never claims certainty it does not have');
    assert.equal(formatProbability(Number.NaN), '0%');
  });

  it('formats log-probabilities, joint probabilities and sizes', () => {
    assert.equal(formatNumber(-2.17916), '\u22122.179');
    assert.equal(formatNumber(-Infinity), '\u2212∞');
    assert.equal(formatNumber(0.5, 1), '0.5');
    assert.equal(formatJointProbability(0.0123), '0.0123');
    assert.equal(formatJointProbability(4.6e-9), '4.60e\u22129');
    assert.equal(formatJointProbability(0), '0');
    assert.equal(formatMegabytes(501_000_000), '501 MB');
    assert.equal(formatMegabytes(12_345_678), '12.3 MB', 'decimal megabytes, as the hub counts them');
  });

  it('makes whitespace visible and escapes HTML', () => {
    assert.equal(tokenLabel(' is\n\t'), '␣is↵⇥');
    assert.equal(tokenLabel(''), '∅');
    assert.equal(escapeHtml(`<img src=x onerror="a('b')">&`), '&lt;img src=x onerror=&quot;a(&#39;b&#39;)&quot;&gt;&amp;');
  });
});

describe('panel view: exports', () => {
  it('writes code spans that survive backticks and table pipes', () => {
    assert.equal(markdownCode('␣harm'), '`␣harm`');
    assert.equal(markdownCode('a`b'), '``a`b``');
    assert.equal(markdownCode('`'), '`` ` ``');
    assert.equal(markdownCode('|'), '`\\|`');
  });

  it('exports a Markdown table with one row per token', () => {
    const markdown = predictionToMarkdown(prediction(), identity);
    const lines = markdown.trimEnd().split('\n');
    assert.match(lines[0] as string, /^\*\*Next token\*\* after notes\/<x>\.md Ln 3, Col 10: 3 context tokens, entropy 4\.212 nats$/);
    assert.equal(lines.filter((line) => /^\| \d/.test(line)).length, 3);
    assert.ok(lines.includes('| 1 | `␣harm` | 4419 | 11.3% | \u22122.180 |'), markdown);
    assert.ok(lines.includes('| 2 | `\\|<b>` | 91 | 5.00% | \u22122.996 |'), markdown);
    assert.ok(lines.includes('| 3 | `↵` | 198 | 1.0e\u22123% | \u221211.513 |'), markdown);
    assert.ok(!markdown.includes('sampled'), 'no sampling column for the identity');
  });

  it('adds the sampling column and settings when sampling differs from the model', () => {
    const markdown = predictionToMarkdown(sampledPrediction(), sharpened);
    assert.match(markdown, /Sampling \(temperature 0\.7, top-p 0\.9, top-k off\): 100 tokens kept, entropy 2\.500 nats/);
    assert.match(markdown, /\| # \| token \| id \| probability \| log-prob \| sampled \|/);
    assert.match(markdown, /\| 1 \| `␣harm` \| 4419 \| 11\.3% \| \u22122\.180 \| 40\.0% \|/);
  });

  it('exports JSON with full-precision numbers', () => {
    const data = JSON.parse(predictionToJson(sampledPrediction(), sharpened)) as Record<string, unknown> & { top: Array<Record<string, unknown>> };
    assert.equal(data.contextTokens, 3);
    assert.deepEqual(data.sampling, { temperature: 0.7, topP: 0.9, topK: 0, entropy: 2.5, keptTokens: 100 });
    assert.deepEqual(data.top[0], { rank: 1, id: 4419, text: ' harm', prob: 0.113, logprob: Math.log(0.113), logit: 13.27, sampledProb: 0.4 });
    assert.equal(data.top.length, 3);
    assert.ok(!('sampling' in (JSON.parse(predictionToJson(prediction(), identity)) as object)));
  });
});

describe('panel view: markup', () => {
  it('renders one focusable, labelled button per row, escaping token text', () => {
    const html = renderPrediction(state());
    assert.equal(html.match(/<button type="button" class="row"/g)?.length, 3);
    assert.ok(html.includes('aria-label="Rank 1: “␣harm”, id 4419, 11.3%. Insert at the cursor."'));
    assert.ok(html.includes('<code>|&lt;b&gt;</code>'));
    assert.ok(!html.includes('<b>'));
    assert.ok(!/style=/.test(html), 'inline styles are blocked by the CSP');
    assert.ok(html.includes('data-w="0.113"'));
    assert.ok(html.includes('notes/&lt;x&gt;.md Ln 3, Col 10'));
  });

  it('gives every row a replace and a replace-and-continue button beside it, in the table\'s last column', () => {
    const html = renderPrediction(state());
    for (const action of ['replace-prediction', 'continue-prediction']) {
      assert.deepEqual([...html.matchAll(new RegExp(`data-action="${action}" data-index="(\\d+)"`, 'g'))].map((match) => match[1]), ['0', '1', '2']);
    }
    assert.ok(html.includes('aria-label="Replace the word after the cursor with “␣harm” and continue with ghost text"'));
    assert.ok(html.includes('“|&lt;b&gt;”'), 'token text escaped in labels');
  });

  it('shows context chips with ids, and their probabilities on hover', () => {
    const html = renderPrediction(state());
    assert.equal(html.match(/class="chip"/g)?.length, 3);
    assert.ok(html.includes('title="“␣is” id 318, probability 25.0% given the tokens before it"'));
    assert.ok(html.includes('title="“Alice” id 44484, first token: no probability"'));
  });

  it('shows the sampling distribution beside the raw one only when it differs', () => {
    assert.ok(!renderPrediction(state()).includes('bar sampled'));
    const html = renderPrediction(state({ prediction: sampledPrediction(), controls: sharpened }));
    assert.equal(html.match(/bar sampled/g)?.length, 3);
    assert.ok(html.includes('sampling: 100 tokens kept, entropy 2.500 nats'));
  });

  it('explains the empty context and a cut context', () => {
    assert.ok(renderPrediction(state({ prediction: prediction({ emptyContext: true }) })).includes('&lt;|endoftext|&gt;'));
    assert.ok(renderPrediction(state({ prediction: prediction({ truncated: true }) })).includes('cut to the window'));
  });

  it('picks the status: error, no editor, download progress, loading', () => {
    const error = renderStatus(state({ model: { kind: 'error', message: 'Folder <missing>' } }));
    assert.ok(error.includes('Folder &lt;missing&gt;') && error.includes('data-action="retry"') && error.includes('data-action="selectModel"'));
    assert.equal(renderPrediction(state({ model: { kind: 'error', message: 'x' } })), '');
    assert.ok(renderStatus(state({ hasEditor: false })).includes('Open a text editor to see predictions'));
    assert.equal(renderPrediction(state({ hasEditor: false })), '');
    const download = renderStatus(state({ model: { kind: 'loading', phase: 'download', file: 'onnx/model.onnx', loadedBytes: 123_400_000, totalBytes: 501_000_000 } }));
    assert.ok(download.includes('<progress max="501000000" value="123400000">') && download.includes('123 MB of 501 MB') && download.includes('onnx/model.onnx'));
    assert.ok(renderStatus(state({ model: { kind: 'loading', phase: 'load' }, prediction: undefined })).includes('Loading the model'));
    assert.ok(renderStatus(state({ model: { kind: 'starting' }, prediction: undefined })).includes('Starting the model'));
    assert.equal(renderStatus(state({ model: { kind: 'starting' } })), '', 'a table on screen stays while the model restarts');
  });

  it('lists samples with their numbers', () => {
    const samples = {
      id: 2,
      stale: false,
      elapsedMs: 40,
      sequences: [
        { text: ' was here', tokens: [{ id: 373, text: ' was', prob: 0.2, sampledProb: 0.3, normedProb: 0.6 }, { id: 994, text: ' here', prob: 0.1, sampledProb: 0.2, normedProb: 1 }], prob: 0.02, sampledProb: 0.06, logprob: Math.log(0.02), share: 0.75, normedProd: 0.6 },
        { text: '!', tokens: [{ id: 0, text: '!', prob: 0.01, sampledProb: 0.02, normedProb: 0.4 }], prob: 0.01, sampledProb: 0.02, logprob: Math.log(0.01), share: 0.25, normedProd: 0.4 },
      ],
    };
    const html = renderSamples(state({ samples }));
    assert.equal(html.match(/class="sequence"/g)?.length, 2);
    assert.ok(html.includes('p 0.0200 · sampled p 0.0600 · share 75.0% · normed 0.600'));
    assert.ok(html.includes('normed 60.0%'), 'each token chip names its normalised probability');
    assert.ok(renderSamples(state({ samples: { ...samples, stale: true } })).includes('earlier cursor position'));
    assert.ok(renderSamples(state({ samples, sampling: true })).includes('Sampling…'));
  });

  it('labels every input with its range', () => {
    const shell = renderShell();
    for (const id of [...CONTROL_INPUT_IDS, ...SAMPLE_INPUT_IDS]) {
      assert.match(shell, new RegExp(`<label class="field"[^>]*><span>[^<]+</span><input id="${id}" type="number"`));
    }
    assert.deepEqual(CONTROL_INPUT_IDS, Object.keys(CONTROL_LIMITS));
    assert.deepEqual(SAMPLE_INPUT_IDS, Object.keys(SAMPLE_LIMITS));
  });
});

describe('panel view: HTML document', () => {
  const html = buildPanelHtml({
    cspSource: 'https://file+.vscode-resource.vscode-cdn.net',
    nonce: 'abc123+/=',
    scriptUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/dist/webview.js',
    styleUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/media/panel.css',
  });

  it('has a CSP that allows only the nonce script and the extension styles', () => {
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)?.[1];
    assert.equal(csp, "default-src 'none'; style-src https://file+.vscode-resource.vscode-cdn.net; script-src 'nonce-abc123+/='; font-src https://file+.vscode-resource.vscode-cdn.net");
  });

  it('loads one script, by nonce, and nothing remote', () => {
    const scripts = html.match(/<script[^>]*>/g) ?? [];
    assert.deepEqual(scripts, ['<script nonce="abc123+/=" src="https://file+.vscode-resource.vscode-cdn.net/ext/dist/webview.js">']);
    const withoutCsp = html.replace(/<meta http-equiv="Content-Security-Policy"[^>]*>/, '');
    const urls = withoutCsp.match(/https?:\/\/[^"'\s)]+/g) ?? [];
    assert.deepEqual(urls.filter((url) => !url.startsWith('https://file+.vscode-resource.vscode-cdn.net/ext/')), []);
    assert.ok(!/\son\w+=/.test(html), 'no inline event handlers');
    assert.ok(!/style=/.test(html), 'no inline styles');
  });
});
