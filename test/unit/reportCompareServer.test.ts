// The document report compared with a model a server serves: the local main model against a
// protocol fixture (vLLM-style, SGLang-style, llama-server-style) answering from a second test
// model. Its loss per sentence equals the float64 reference of that model, credited to sentences
// independently here; the cross-perplexity is not shown and one line says why; a server that is
// down, refuses the key, lacks the model or the endpoint, sends a web page or hangs gets one line
// and the report goes on with the main model.
import * as assert from 'node:assert/strict';
import { loadEngine } from '../../src/core/engine';
import type { Engine } from '../../src/core/engine';
import type { Backend, ScoreRequest } from '../../src/core/backend';
import { NO_CROSS_PERPLEXITY_ON_SERVER, scoreSentencesOnServer } from '../../src/core/compareServer';
import { splitSentences } from '../../src/core/sentences';
import type { DocumentStore } from '../../src/host/documentStore';
import type { ModelService } from '../../src/host/modelService';
import type { ReportService } from '../../src/host/reportService';
import type { CompareServer } from '../../src/shared/hostProtocol';
import { renderReport } from '../../media/report/view';
import { loadReference, logSoftmax } from '../support/reference';
import type { ReferenceModel } from '../support/reference';
import { ProtocolFixture } from '../support/serverFixture';
import type { FaultMode, FixtureOptions } from '../support/serverFixture';
import { openReport, rejectsWith } from '../support/reportSetup';
import { ensureTestModel } from '../support/testModel';

const URI = 'untitled:compare-server.md';
const KEY = 'sk-compare-secret';
const TOLERANCE = 1e-4;
const TEXT = `# Notes

Alice was beginning to get very tired of sitting by her sister on the bank. Once or twice she had peeped into the book her sister was reading.

It had no pictures or conversations in it. "And what is the use of a book," thought Alice, "without pictures?" It was a naïve café — or so she thought.
`;

/** B's loss per sentence from the reference: each token to the sentence holding its first non-space character. */
function referenceSentenceLosses(engine: Engine, reference: ReferenceModel, sentences: ReadonlyArray<{ start: number; end: number }>): number[] {
  const textIds = engine.model.tokenizer.encode(TEXT);
  const spans = engine.model.tokenizer.spans(TEXT, textIds);
  const ids = [engine.model.info.eosTokenId, ...textIds];
  const rows = reference.logits(ids);
  const sums = sentences.map(() => ({ loss: 0, count: 0 }));
  spans.forEach((span, k) => {
    let anchor = span.start;
    while (anchor < span.end && /\s/u.test(TEXT[anchor] as string)) anchor++;
    if (anchor >= span.end) return;
    const sentence = sentences.findIndex((candidate) => candidate.start <= anchor && anchor < candidate.end);
    if (sentence < 0) return;
    const sum = sums[sentence] as { loss: number; count: number };
    sum.loss -= logSoftmax(rows[k] as Float64Array)[ids[k + 1] as number] as number;
    sum.count++;
  });
  return sums.map((sum) => sum.loss / sum.count);
}

/** One line, and never the key. */
const rejectsWithLine = (work: Promise<unknown>, code: string, pattern: RegExp): Promise<void> =>
  rejectsWith(work, code, pattern, (error) => assert.ok(!error.message.includes(KEY), 'the key is never in a message'));

describe('document report compared with a server', function () {
  this.timeout(180_000);
  let service: ModelService;
  let store: DocumentStore;
  let reports: ReportService;
  let engineB: Engine;
  let referenceB: ReferenceModel;
  const logs: string[] = [];
  const signal = new AbortController().signal;

  before(async () => {
    const model = await ensureTestModel({ layers: 2, dim: 64, heads: 4 });
    const folderB = await ensureTestModel({ layers: 3, dim: 48, heads: 3, seed: 2 });
    engineB = await loadEngine({ model: folderB, allowDownloads: false, threads: 1 });
    referenceB = await loadReference(folderB);
    ({ service, store, reports } = await openReport({ model, uri: URI, text: TEXT, log: (_level, message) => logs.push(message) }));
  });
  after(async () => {
    store?.dispose();
    await service?.dispose();
    await engineB?.dispose();
  });

  const cases: Array<[string, Omit<FixtureOptions, 'engine'>]> = [
    ['vLLM (openai, prompt_logprobs)', { api: 'openai' }],
    ['SGLang (openai, echo)', { api: 'openai', promptLogprobs: false }],
    ['llama-server (llama.cpp)', { api: 'llama.cpp' }],
  ];
  for (const [name, options] of cases) {
    it(`${name}: the server model's loss per sentence is the reference's, and one line says why there is no cross-perplexity`, async () => {
      const fixture = await ProtocolFixture.start({ ...options, engine: engineB, apiKey: KEY });
      try {
        const server: CompareServer = { api: options.api, url: fixture.url, apiKey: KEY };
        await reports.compare({ uri: URI, server }, signal);
        const { data, comparedVersion } = await reports.report({ uri: URI });
        const comparison = data.comparison;
        assert.ok(comparison);
        assert.equal(comparedVersion, 1);
        assert.equal(comparison.modelB, `test-gpt2 @ ${new URL(fixture.url).host}`);
        assert.equal(comparison.crossEntropy, null);
        assert.equal(comparison.ratio, null);
        assert.equal(comparison.note, NO_CROSS_PERPLEXITY_ON_SERVER);
        assert.equal(comparison.sentences.length, data.report.sentenceCount);
        data.report.sentences.forEach((point, i) => assert.ok(Math.abs((comparison.sentences[i]?.lossA as number) - point.loss) < 1e-9, `sentence ${i}: A`));
        const expected = referenceSentenceLosses(engineB, referenceB, data.report.sentences);
        comparison.sentences.forEach((sentence, i) => assert.ok(Math.abs(sentence.lossB - (expected[i] as number)) < TOLERANCE, `sentence ${i}: ${sentence.lossB} vs ${expected[i]}`));
        // The summary's losses are over the sentences' tokens, weighted by tokens.
        const tokens = data.report.sentences.reduce((sum, point) => sum + point.tokenCount, 0);
        assert.equal(comparison.tokens, tokens, 'the same tokenizer gives the same token count');
        const lossB = data.report.sentences.reduce((sum, point, i) => sum + (expected[i] as number) * point.tokenCount, 0) / tokens;
        assert.ok(Math.abs(comparison.lossB - lossB) < TOLERANCE);
        assert.ok(Math.abs(comparison.lossA - data.report.summary.meanLoss) < 1e-9);
        assert.ok(fixture.requests.every((request) => request.authorization === `Bearer ${KEY}`), 'every request carries the key');
        assert.ok(logs.every((line) => !line.includes(KEY)), 'the key never reaches the log');
        assert.ok(logs.some((line) => line.includes(`Comparing with the ${options.api} server at ${fixture.url}`)));
      } finally {
        await reports.compare({ uri: URI }, signal);
        await fixture.close();
      }
    });
  }

  it('a server that tokenizes otherwise: each of its tokens counts for the sentence holding its first non-space character', async () => {
    // A scripted server whose tokens are 7-character chunks, so many straddle a sentence boundary.
    const text = 'The cat sat. A dog ran off!  Then   rain came.';
    const chunks = Array.from({ length: Math.ceil(text.length / 7) }, (_, k) => ({ start: 7 * k, end: Math.min(text.length, 7 * k + 7) }));
    const backend = {
      info: { kind: 'openai', model: 'chunky', host: 'gpu:8000', vocabSize: null, contextSize: null, startTokenId: 0 },
      tokenize: async () => ({ ids: chunks.map((_, k) => k + 1), texts: chunks.map((chunk) => text.slice(chunk.start, chunk.end)), spans: chunks }),
      computedTokens: () => null,
      // One window, handed on as a server backend does.
      score: async (ids: number[], request: ScoreRequest = {}) => {
        const from = request.fromToken ?? 1;
        const scores = ids.slice(from).map((id, offset) => ({ index: from + offset, id, logprob: -id / 10, prob: Math.exp(-id / 10), rank: null, entropy: null }));
        request.onScores?.(scores);
        return scores;
      },
    } as unknown as Backend;
    const spans = splitSentences(text, { languageId: 'plaintext' });
    assert.equal(spans.length, 3);
    const scores = await scoreSentencesOnServer(backend, text, spans, signal);
    assert.equal(scores.modelB, 'chunky @ gpu:8000');
    // Counted here: chunk k (token id k + 1, −log p = (k + 1) / 10) goes where its first non-space character is.
    const expected = spans.map((span) => {
      const mine = chunks
        .map((chunk, k) => {
          const firstNonSpace = text.slice(chunk.start, chunk.end).search(/\S/u);
          return { anchor: firstNonSpace < 0 ? -1 : chunk.start + firstNonSpace, nll: (k + 1) / 10 };
        })
        .filter((token) => token.anchor >= span.start && token.anchor < span.end);
      return { count: mine.length, loss: mine.reduce((sum, token) => sum + token.nll, 0) / mine.length };
    });
    assert.deepEqual(scores.sentences.map((sentence) => sentence.tokenCount), expected.map((sentence) => sentence.count));
    scores.sentences.forEach((sentence, i) => assert.ok(Math.abs(sentence.loss - (expected[i]?.loss as number)) < 1e-12, `sentence ${i}`));
    assert.equal(expected.reduce((sum, sentence) => sum + sentence.count, 0), chunks.length, 'every chunk here has a non-space character in some sentence');
  });

  it('the page shows both losses per sentence and the degrade line instead of the ratio', async () => {
    const fixture = await ProtocolFixture.start({ api: 'openai', engine: engineB });
    try {
      await reports.compare({ uri: URI, server: { api: 'openai', url: fixture.url } }, signal);
      const { data } = await reports.report({ uri: URI });
      const page = renderReport(data, 'compare-server.md', true);
      assert.match(page, /<p class="note muted" id="comparison-note">No cross-perplexity ratio with a server: [^<]*<\/p>/u);
      assert.doesNotMatch(page, /<dt>cross-perplexity ratio<\/dt>|<dt>cross-entropy<\/dt>/u);
      assert.match(page, /<dt>loss under test-gpt2 @ 127\.0\.0\.1:\d+<\/dt>/u);
      assert.match(page, /<th scope="col">loss \(test-gpt2 @ 127\.0\.0\.1:\d+\)<\/th>/u);
    } finally {
      await reports.compare({ uri: URI }, signal);
      await fixture.close();
    }
  });

  it('a server that is down, refuses the key, lacks the model or the endpoint, sends a web page or hangs: one line each, and the report goes on', async () => {
    const fixture = await ProtocolFixture.start({ api: 'openai', engine: engineB, apiKey: KEY });
    const url = fixture.url;
    const compare = (server: Partial<CompareServer>): Promise<unknown> => reports.compare({ uri: URI, server: { api: 'openai', url, apiKey: KEY, ...server } }, signal);
    const withFault = async (mode: FaultMode, work: () => Promise<void>): Promise<void> => {
      fixture.fault = { mode };
      try {
        await work();
      } finally {
        fixture.fault = undefined;
      }
    };
    try {
      await rejectsWithLine(compare({ apiKey: undefined }), 'server-auth', /refused the request \(401: Unauthorized\): set its API key with the command "LM Lens: Set server API key"/u);
      await rejectsWithLine(compare({ apiKey: 'sk-wrong' }), 'server-auth', /401/u);
      await rejectsWithLine(compare({ model: 'no-such-model' }), 'server-model', /does not serve "no-such-model" \(it serves "test-gpt2"\): set lmLens\.server\.model/u);
      await rejectsWithLine(compare({ api: 'llama.cpp' }), 'server-endpoint', /has no \/(?:health|props) \(404\).*Check the kind of server picked in "Compare with a second model"/u);
      await withFault('html', () => rejectsWithLine(compare({ timeoutMs: 5000 }), 'server-response', /not JSON \("<!DOCTYPE html>.*check the kind of server picked in "Compare with a second model"/u));
      await withFault('hang', () => rejectsWithLine(compare({ timeoutMs: 300 }), 'server-timeout', /did not answer .* within 0\.3 s.*lmLens\.server\.url/u));
      // Still comparing once the server behaves, then the server goes away.
      await compare({});
      assert.ok((await reports.report({ uri: URI })).data.comparison);
      await reports.compare({ uri: URI }, signal);
      await fixture.close();
      await rejectsWithLine(compare({ model: 'down' }), 'server-unreachable', /Cannot reach the server at http:\/\/127\.0\.0\.1:\d+ \(connection refused\): check that it is running and that lmLens\.server\.url is right/u);
      const { data } = await reports.report({ uri: URI });
      assert.equal(data.comparison, undefined, 'a failed comparison adds nothing');
      assert.ok(data.report.summary.tokens > 0 && data.report.complete, 'the report keeps the main model');
    } finally {
      await fixture.close().catch(() => undefined);
    }
  });
});
