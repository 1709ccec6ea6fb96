// The hover and the command messages are plain strings: read them whole.
import * as assert from 'node:assert/strict';
import type { ScoredToken, UnlikelyToken } from '../../src/core/sentenceLoss';
import { annotationText, buildSentenceHover, codeSpan, documentMessage, documentStatusText, selectionMessage, swatchHtml } from '../../src/extension/lossHover';
import { GLTR_BUCKETS, SENTENCE_BANDS } from '../../src/extension/lossBands';
import type { ScoreRangeArgs, SentenceHoverOptions } from '../../src/extension/lossHover';
import { COMMANDS } from '../../src/shared/commands';

const THRESHOLDS = [3, 4.5, 6, 7.5];
const [green, blue, yellow, orange, red] = SENTENCE_BANDS.map(swatchHtml);
const [top10, top100, top1000, beyond] = GLTR_BUCKETS.map(swatchHtml);

function unlikely(text: string, prob: number, rank: number, alternatives: Array<[string, number]>): UnlikelyToken {
  return { start: 0, end: text.length, id: 1, text, logprob: Math.log(prob), prob, rank, entropy: 3, topProb: alternatives[0]?.[1] ?? prob, topLogprob: -1, top10Entropy: 2, alternatives: alternatives.map(([alt, p], i) => ({ id: 100 + i, text: alt, prob: p })) };
}

function options(overrides: Partial<SentenceHoverOptions> = {}): SentenceHoverOptions {
  return {
    sentence: {
      start: 10,
      end: 42,
      loss: 6.213_49,
      perplexity: Math.exp(6.213_49),
      tokenCount: 9,
      leastLikely: [
        unlikely(' rabbit', 0.0012, 1204, [
          [' dog', 0.031],
          [' cat', 0.02],
          [' man', 0.015],
          [' bird', 0.01],
          [' fox', 0.009],
        ]),
        unlikely(' `tick`', 0.002, 800, [[' the', 0.1]]),
        unlikely('\n', 0.01, 50, []),
      ],
    },
    band: 3,
    thresholds: THRESHOLDS,
    mode: 'sentence',
    uri: 'file:///work/sample.md',
    ...overrides,
  };
}

describe('sentence loss hover', () => {
  it('shows mean loss to 3 decimals, perplexity and token count', () => {
    const { markdown } = buildSentenceHover(options());
    assert.match(markdown, /mean loss \*\*6\.213\*\* nats\/token/);
    assert.match(markdown, /perplexity \*\*499\.\d\*\*/);
    assert.match(markdown, /9 tokens/);
    assert.ok(markdown.includes(`${orange} surprising`), markdown);
  });

  it('lists the least likely tokens with probability, rank and the top-5 alternatives', () => {
    const { markdown } = buildSentenceHover(options());
    const line = markdown.split('\n').find((l) => l.includes('␣rabbit'));
    assert.ok(line, markdown);
    assert.ok(line.includes('`␣rabbit` 0.12% · #1,204 · `␣dog` 3.10%, `␣cat` 2.00%, `␣man` 1.50%, `␣bird` 1.00%, `␣fox` 0.90%'), line);
    // Backticks inside a token do not break its code span; line breaks are made visible.
    assert.ok(markdown.includes('`` ␣`tick` `` 0.20%'), markdown);
    assert.ok(markdown.includes('`↵` 1.00% · #50'), markdown);
  });

  it('has a legend of all five bands with thresholds, the current one bold', () => {
    const { markdown } = buildSentenceHover(options());
    assert.ok(markdown.includes(`${green} < 3.000 · ${blue} 3.000–4.500 · ${yellow} 4.500–6.000 · ${orange} **6.000–7.500** · ${red} ≥ 7.500`), markdown);
    assert.ok(!markdown.includes('GLTR'), 'no token legend in sentence mode');
  });

  it('links to the next-token panel and to scoring the sentence, trusting only those commands', () => {
    const content = buildSentenceHover(options());
    assert.deepEqual(content.enabledCommands, [COMMANDS.showNextTokenProbabilities, COMMANDS.scoreSelection, COMMANDS.showDocumentReport]);
    const panelLink = /\(command:lmLens\.showNextTokenProbabilities\?([^ )]+) /.exec(content.markdown);
    assert.ok(panelLink, content.markdown);
    assert.deepEqual(JSON.parse(decodeURIComponent(panelLink[1] as string)), [{ uri: 'file:///work/sample.md', offset: 42 }]);
    const link = /\(command:lmLens\.scoreSelection\?([^ )]+) /.exec(content.markdown);
    assert.ok(link, content.markdown);
    const args = JSON.parse(decodeURIComponent(link[1] as string)) as ScoreRangeArgs[];
    assert.deepEqual(args, [{ uri: 'file:///work/sample.md', start: 10, end: 42 }]);
  });

  it('in token mode shows the token under the pointer and the GLTR legend', () => {
    const token: ScoredToken = { start: 12, end: 19, id: 5, text: ' rabbit', logprob: Math.log(0.0012), prob: 0.0012, rank: 1204, entropy: 5, topProb: 0.3, topLogprob: -1, top10Entropy: 2 };
    const { markdown } = buildSentenceHover(options({ mode: 'token', token }));
    assert.ok(markdown.includes(`Token \`␣rabbit\`: 0.12% · rank #1,204 · ${beyond} beyond 1000`), markdown);
    assert.ok(markdown.includes(`${top10} rank 1–10 · ${top100} rank 11–100 · ${top1000} rank 101–1000 · ${beyond} **rank > 1000**`), markdown);
  });

  it('copes with a missing loss and no band', () => {
    const { markdown } = buildSentenceHover(options({ band: undefined, sentence: { ...options().sentence, loss: Number.NaN, perplexity: Number.NaN, leastLikely: [] } }));
    assert.match(markdown, /mean loss \*\*–\*\*/);
    assert.ok(!markdown.includes('Least likely'));
  });

  it('colours swatches with theme variables the hover sanitizer keeps', () => {
    assert.equal(swatchHtml(SENTENCE_BANDS[0] as (typeof SENTENCE_BANDS)[number]), '<span style="color:var(--vscode-lmLens-sentence-veryPredictable);">■</span>');
    // VS Code keeps a span's style only when it matches this (from its markdown sanitizer).
    const kept = /^(color:(#[0-9a-fA-F]+|var\(--vscode(-[a-zA-Z0-9]+)+\));)?$/;
    for (const swatch of [...SENTENCE_BANDS, ...GLTR_BUCKETS]) assert.match(/style="([^"]*)"/.exec(swatchHtml(swatch))?.[1] ?? '', kept);
  });

  it('fences code spans around backticks', () => {
    assert.equal(codeSpan('a'), '`a`');
    assert.equal(codeSpan('a`b'), '``a`b``');
    assert.equal(codeSpan('`x'), '`` `x ``');
  });
});

describe('loss command messages', () => {
  it('says the first token of a selection is not predicted', () => {
    const message = selectionMessage({ loss: 4.56789, perplexity: 96.3, predicted: 11, tokenCount: 12 });
    assert.match(message, /loss 4\.568 nats\/token, perplexity 96\.30, 12 tokens \(11 predicted: the first token has no context, so it is not predicted\)/);
    assert.match(selectionMessage({ loss: null, perplexity: null, predicted: 0, tokenCount: 1 }), /at least two are needed/);
  });

  it('describes a document score and its status text', () => {
    const score = { loss: 5.1, perplexity: 164.02, predicted: 40, tokenCount: 41 };
    assert.match(documentMessage('notes/a.md', score), /notes\/a\.md — loss 5\.100 nats\/token, perplexity 164\.0, 40 tokens/);
    assert.equal(documentStatusText(score), '$(pulse) loss 5.100 · ppl 164.0');
  });

  it('annotates one or several sentences on a line', () => {
    assert.equal(annotationText([4.2]), 'loss 4.200');
    assert.equal(annotationText([4.2, 7, null]), 'loss 4.200 · 7.000 · –');
  });
});
