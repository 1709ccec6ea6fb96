// The document report in the model process, on the real store and service with a tiny model:
// its numbers are those of the scores the store holds (counted here independently), it follows
// edits, thins long series without losing the totals, compares with a second model, exports,
// and refuses with one line what it cannot do.
import * as assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DocumentStore } from '../../src/host/documentStore';
import { ModelService } from '../../src/host/modelService';
import { NOT_SCORED_MESSAGE, ReportService } from '../../src/host/reportService';
import type { ScoredToken } from '../../src/shared/hostProtocol';
import { MAX_TEXT_CHARS } from '../../src/shared/settings';
import { openReport, rejectsWith } from '../support/reportSetup';
import { ensureTestModel } from '../support/testModel';
import { ProtocolFixture } from '../support/serverFixture';
import { loadEngine } from '../../src/core/engine';

const URI = 'untitled:report.md';
const TEXT = `# Notes

Alice was beginning to get very tired of sitting by her sister on the bank. Once or twice she had peeped into the book her sister was reading.

It had no pictures or conversations in it. "And what is the use of a book," thought Alice, "without pictures or conversations?"

So she was considering in her own mind whether the pleasure of making a daisy-chain would be worth the trouble.
`;

describe('document report in the model process', function () {
  this.timeout(120_000);
  let service: ModelService;
  let store: DocumentStore;
  let reports: ReportService;
  let scratch: string;
  let modelB: string;

  before(async () => {
    const model = await ensureTestModel({ layers: 2, dim: 64, heads: 4 });
    modelB = await ensureTestModel({ layers: 3, dim: 48, heads: 3, seed: 2 });
    scratch = mkdtempSync(path.join(os.tmpdir(), 'lm-lens-report-service-'));
    // The page's assets as the build writes them beside the bundle (their content is the HTML test's business).
    writeFileSync(path.join(scratch, 'report.js'), '/* report page */');
    writeFileSync(path.join(scratch, 'report.css'), 'body {}');
    ({ service, store, reports } = await openReport({ model, uri: URI, text: TEXT, assetsFolder: scratch }));
  });
  after(async () => {
    store?.dispose();
    await service?.dispose();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('aggregates the scores the store holds: GLTR buckets, frac bins, sentence series and coverage', async () => {
    const held = store.get(URI)?.sentences ?? [];
    assert.ok(held.length >= 4, `${held.length} sentences`);
    const { version, data } = await reports.report({ uri: URI });
    const { report } = data;
    assert.equal(version, 1);
    assert.ok(report.complete);
    const tokens = held.flatMap((sentence) => sentence.tokens) as ScoredToken[];
    assert.equal(report.summary.tokens, tokens.length);
    // Counted here from the held tokens, not by the report's code.
    const buckets = [0, 0, 0, 0];
    for (const token of tokens) buckets[(token.rank as number) <= 10 ? 0 : (token.rank as number) <= 100 ? 1 : (token.rank as number) <= 1000 ? 2 : 3]++;
    assert.deepEqual(report.rankBuckets.counts, buckets);
    const firstChoices = tokens.filter((token) => token.rank === 1).length;
    assert.ok((report.fracHistogram.counts.at(-1) as number) >= firstChoices, 'p ÷ p(top 1) = 1 lands in the last bin');
    const meanLoss = tokens.reduce((sum, token) => sum - token.logprob, 0) / tokens.length;
    assert.ok(Math.abs(report.summary.meanLoss - meanLoss) < 1e-9);
    assert.deepEqual(
      report.sentences.map((point) => [point.start, point.end, point.tokenCount]),
      held.map((sentence) => [sentence.start, sentence.end, sentence.tokenCount]),
    );
    assert.equal(report.documentChars, TEXT.length);
    assert.equal(report.scoredChars, held.reduce((sum, sentence) => sum + sentence.end - sentence.start, 0));
    assert.equal(report.sentenceCount, held.length);
  });

  it('thins the sentence series to the points asked for, keeping the totals', async () => {
    const full = (await reports.report({ uri: URI })).data.report;
    const thin = (await reports.report({ uri: URI, maxSentencePoints: 2 })).data.report;
    assert.ok(thin.sentences.length <= 2 && thin.sentences.length > 0);
    assert.equal(thin.sentenceCount, full.sentenceCount);
    assert.deepEqual(thin.summary, full.summary);
    assert.deepEqual(thin.surprising, full.surprising);
    for (const point of thin.sentences) assert.deepEqual(point, full.sentences[point.index]);
  });

  it('says how much is scored while an edit is re-scored, then covers the new text', async () => {
    const insert = '\nThe Queen shouted at the cards in the garden.\n';
    store.change({ uri: URI, version: 2, changes: [{ rangeOffset: TEXT.length, rangeLength: 0, text: insert }] });
    const during = (await reports.report({ uri: URI })).data.report;
    assert.equal(during.complete, false);
    assert.equal(during.documentChars, TEXT.length + insert.length);
    assert.ok(during.scoredChars < during.documentChars);
    await store.idle();
    const after = await reports.report({ uri: URI });
    assert.equal(after.version, 2);
    assert.ok(after.data.report.complete);
    assert.ok(after.data.report.sentences.some((point) => point.preview.includes('Queen shouted')));
  });

  it('compares with a second model: per-sentence loss of both and the cross-perplexity ratio', async () => {
    const compared = await reports.compare({ uri: URI, model: modelB, dtype: 'fp32' }, new AbortController().signal);
    assert.equal(compared.version, 2);
    const { data, comparedVersion } = await reports.report({ uri: URI });
    const comparison = data.comparison;
    assert.ok(comparison);
    assert.equal(comparedVersion, 2);
    assert.equal(comparison.sentences.length, data.report.sentenceCount);
    // The comparison scores model A on its own path (lockstep with B): it must agree with the sentence scores.
    data.report.sentences.forEach((point, i) => assert.ok(Math.abs((comparison.sentences[i]?.lossA as number) - point.loss) < 1e-4, `sentence ${i}`));
    // The ratio is over every token of the text; sentences leave out markup such as the heading.
    assert.ok(comparison.tokens >= data.report.summary.tokens);
    assert.ok(comparison.ratio !== null && comparison.crossEntropy !== null && comparison.note === undefined, 'a local model gives the cross-perplexity');
    assert.ok(Math.abs(comparison.ratio - comparison.lossA / comparison.crossEntropy) < 1e-12);
    assert.ok(comparison.sentences.every((sentence) => Number.isFinite(sentence.lossB)));
    // An edit makes it stale: the report leaves it out until the new version is compared.
    store.change({ uri: URI, version: 3, changes: [{ rangeOffset: 0, rangeLength: 0, text: ' ' }] });
    await store.idle();
    const stale = await reports.report({ uri: URI });
    assert.equal(stale.data.comparison, undefined);
    assert.equal(stale.comparedVersion, 2);
    await reports.compare({ uri: URI }, new AbortController().signal);
    assert.equal((await reports.report({ uri: URI })).comparedVersion, undefined);
  });

  it('exports CSV of every token and JSON, and writes them where asked', async () => {
    const held = store.get(URI)?.sentences ?? [];
    const tokenCount = held.reduce((sum, sentence) => sum + sentence.tokens.length, 0);
    const csv = await reports.export({ uri: URI, format: 'tokens-csv', title: 't' });
    const lines = (csv.content ?? '').trimEnd().split('\r\n');
    assert.equal(lines[0], 'sentence,start,end,text,logprob,prob,rank,entropy,topProb,top10Entropy');
    assert.equal(lines.length - 1, tokenCount);
    const file = path.join(scratch, 'report.json');
    const written = await reports.export({ uri: URI, format: 'json', title: 't', path: file });
    assert.equal(written.content, undefined);
    const json = JSON.parse(readFileSync(file, 'utf8')) as { tokens: unknown[]; report: { summary: { tokens: number } } };
    assert.equal(written.bytes, readFileSync(file).length);
    assert.equal(json.tokens.length, tokenCount);
    assert.equal(json.report.summary.tokens, tokenCount);
    const html = await reports.export({ uri: URI, format: 'html', title: 'LM Lens report: <notes>' });
    assert.match(html.content ?? '', /<title>LM Lens report: &lt;notes&gt;<\/title>/u);
  });

  it('refuses with one line: a document it does not hold, a missing or corrupt comparison model, an unwritable export path', async () => {
    await rejectsWith(reports.report({ uri: 'untitled:never-opened.md' }), 'text-invalid', new RegExp(NOT_SCORED_MESSAGE.slice(0, 30)));
    // The fix it names is another comparison model, not the main model's setting.
    await rejectsWith(reports.compare({ uri: URI, model: path.join(scratch, 'no-such-model'), dtype: 'fp32' }, new AbortController().signal), 'folder-missing', /no-such-model.*the comparison model \("Compare with a second model…"\)/u);
    await assert.rejects(reports.compare({ uri: URI, model: path.join(scratch, 'no-such-model'), dtype: 'fp32' }, new AbortController().signal), (error: Error) => !/lmLens\.model|--model/u.test(error.message));
    const corrupt = path.join(scratch, 'corrupt-model');
    cpSync(modelB, corrupt, { recursive: true });
    writeFileSync(path.join(corrupt, 'config.json'), '{ "model_type": "gpt2", ');
    await rejectsWith(reports.compare({ uri: URI, model: corrupt, dtype: 'fp32' }, new AbortController().signal), 'config-invalid', /not valid JSON/u);
    // A path below a file can never be created.
    const blocked = path.join(scratch, 'report.js', 'out.csv');
    await rejectsWith(reports.export({ uri: URI, format: 'tokens-csv', title: 't', path: blocked }), 'export-failed', /Could not write .*out\.csv.*Choose another folder/u);
    // Still answering afterwards.
    assert.ok((await reports.report({ uri: URI })).data.report.summary.tokens > 0);
  });

  it('a document too large to score: the report says none of it is scored', async () => {
    const uri = 'untitled:huge.txt';
    const huge = 'All work and no play. '.repeat(Math.ceil((MAX_TEXT_CHARS + 1) / 22));
    store.open({ uri, languageId: 'plaintext', version: 1, opening: 1, text: huge });
    store.focus([uri, URI]);
    await store.idle();
    const { report } = (await reports.report({ uri })).data;
    assert.equal(report.complete, false);
    assert.equal(report.documentChars, huge.length);
    assert.equal(report.scoredChars, 0);
    assert.equal(report.sentenceCount, 0);
    store.close(uri);
  });

  it('on a server backend: one line saying the report needs the local engine', async () => {
    // The server answers (the backend learns what it can give by connecting), yet cannot give whole distributions.
    const engine = await loadEngine({ model: await ensureTestModel({ layers: 2, dim: 64, heads: 4 }), allowDownloads: false, threads: 1 });
    const fixture = await ProtocolFixture.start({ api: 'openai', engine });
    const remote = new ModelService(() => undefined, () => undefined);
    try {
      await remote.configure({ model: '', dtype: 'fp32', allowDownloads: false, cacheDir: '', threads: 1, backend: 'openai', serverUrl: fixture.url });
      await rejectsWith(new ReportService(store, remote, scratch).report({ uri: URI }), 'internal', /only the local engine gives: switch lmLens\.backend to local/u);
    } finally {
      await remote.dispose();
      await fixture.close();
      await engine.dispose();
    }
  });
});
