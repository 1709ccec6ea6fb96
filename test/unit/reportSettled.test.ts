// "Settled at layer k" in the extension's report (issue 23): the model process's report with
// settled layers equals settledLayers() on the same ids (itself checked against the float64
// reference in settledLayers.test.ts), counted here independently; the exports carry it; an edit
// leaves it stale; a server backend is refused in one line.
import * as assert from 'node:assert/strict';
import { loadEngine } from '../../src/core/engine';
import type { Engine } from '../../src/core/engine';
import { LocalBackend } from '../../src/core/local/localBackend';
import { createRemoteBackend } from '../../src/core/remote';
import { settledLayers, settledLayersOfText } from '../../src/core/settledLayers';
import type { ReportSetup } from '../support/reportSetup';
import { openReport, rejectsWith } from '../support/reportSetup';
import { isFromReportView } from '../../src/shared/reportProtocol';
import { renderReport } from '../../media/report/view';
import { ensureTestModel } from '../support/testModel';

const URI = 'untitled:settled.md';
const TEXT = `Alice was beginning to get very tired of sitting by her sister on the bank. Once or twice she had peeped into the book her sister was reading.

It had no pictures or conversations in it. "And what is the use of a book," thought Alice, "without pictures or conversations?"
`;
const SHAPE = { layers: 3, dim: 48, heads: 3, seed: 2 };

describe('settled layers in the document report (model process)', function () {
  this.timeout(180_000);
  let setup: ReportSetup;
  let engine: Engine;
  /** The reference: settledLayers over [<|endoftext|>, ...ids], keyed by each token's start offset. */
  const expected = new Map<number, number>();

  before(async () => {
    const model = await ensureTestModel(SHAPE);
    setup = await openReport({ model, uri: URI, text: TEXT });
    engine = await loadEngine({ model, allowDownloads: false, threads: 1 });
    const tokenized = await new LocalBackend(engine).tokenize(TEXT);
    const layers = await settledLayers(engine, [engine.model.info.eosTokenId, ...tokenized.ids]);
    tokenized.spans.forEach((span, i) => {
      if (!expected.has(span.start)) expected.set(span.start, layers[i + 1] as number);
    });
  });
  after(async () => {
    await setup?.dispose();
    await engine?.dispose();
  });

  it('is not in the report until asked for', async () => {
    const { data } = await setup.reports.report({ uri: URI });
    assert.equal(data.settled, undefined);
    assert.doesNotMatch((await setup.reports.export({ uri: URI, format: 'tokens-csv', title: 't' })).content ?? '', /settledLayer/u);
  });

  it('equals settledLayers on the same text: histogram, mean, per-sentence means, and every exported token', async () => {
    const progress: Array<[number, number]> = [];
    const { version } = await setup.reports.settle({ uri: URI }, new AbortController().signal, ({ done, total }) => progress.push([done, total]));
    assert.equal(version, 1);
    const last = progress.at(-1);
    assert.ok(last && last[0] === last[1] && last[1] > 0, `progress ends at the total: ${JSON.stringify(last)}`);
    assert.ok(progress.length <= 101, `${progress.length} progress notices`);

    const held = setup.store.get(URI)?.sentences ?? [];
    const perToken = held.map((sentence) => sentence.tokens.map((token) => expected.get(token.start)));
    const all = perToken.flat();
    assert.ok(all.every((layer) => layer !== undefined), 'every scored token has its reference layer');
    const counts = [0, 0, 0, 0];
    for (const layer of all) counts[layer as number]++;
    const mean = (layers: Array<number | undefined>): number => layers.reduce<number>((sum, layer) => sum + (layer as number), 0) / layers.length;

    const { data } = await setup.reports.report({ uri: URI });
    assert.ok(data.settled, 'the report carries the settled layers');
    assert.deepEqual(data.settled.histogram.counts, counts);
    assert.ok(Math.abs(data.settled.mean - mean(all)) < 1e-12);
    assert.equal(data.settled.sentenceMeans.length, held.length);
    data.settled.sentenceMeans.forEach((value, i) => assert.ok(Math.abs(value - mean(perToken[i] as Array<number | undefined>)) < 1e-12, `sentence ${i}`));
    assert.ok(new Set(all).size > 1, 'the tokens settle at different layers');

    const json = JSON.parse((await setup.reports.export({ uri: URI, format: 'json', title: 't' })).content ?? '') as { settled: unknown; tokens: Array<{ start: number; settledLayer: number }> };
    assert.deepEqual(json.settled, JSON.parse(JSON.stringify(data.settled)));
    assert.deepEqual(json.tokens.map((token) => token.settledLayer), all);

    const csv = ((await setup.reports.export({ uri: URI, format: 'tokens-csv', title: 't' })).content ?? '').trimEnd().split('\r\n');
    const column = csv[0]?.split(',').indexOf('settledLayer') ?? -1;
    assert.ok(column > 0, csv[0]);
    // The last column, so a quoted token text with commas before it does not shift it.
    assert.equal(column, (csv[0]?.split(',').length ?? 0) - 1);
    assert.deepEqual(csv.slice(1).map((row) => Number(row.slice(row.lastIndexOf(',') + 1))), all);
    const sentencesCsv = (await setup.reports.export({ uri: URI, format: 'sentences-csv', title: 't' })).content ?? '';
    assert.match(sentencesCsv.split('\r\n')[0] ?? '', /,settledLayerMean,preview$/u);
  });

  it('the page draws them: the histogram with its table, the per-sentence mean in the sentence table, the button', async () => {
    const { data } = await setup.reports.report({ uri: URI });
    assert.ok(data.settled);
    const page = renderReport(data, 'settled.md', true);
    assert.match(page, /id="chart-settled-layers"/u);
    assert.match(page, /<caption>tokens per settled layer<\/caption>/u);
    const counts = data.settled.histogram.counts;
    assert.match(page, new RegExp(`<td>block 3</td><td>${counts[3]}</td>`, 'u'));
    assert.match(page, /<th scope="col">mean settled layer<\/th>/u);
    assert.match(page, new RegExp(`<td>${(data.settled.sentenceMeans[0] as number).toFixed(2)}</td>`, 'u'));
    assert.match(page, /data-action="settled"[^>]*>Recompute settled layers</u);
    const plain = renderReport({ report: data.report }, 'settled.md', true);
    assert.doesNotMatch(plain, /chart-settled-layers|mean settled layer/u);
    assert.match(plain, /data-action="settled"[^>]*>Settled layers</u);
    assert.doesNotMatch(renderReport(data, 'settled.md', false), /data-action="settled"/u, 'an exported page has no button');
    assert.ok(isFromReportView({ type: 'settled' }) && isFromReportView({ type: 'cancelSettled' }));
  });

  it('an edit leaves them stale: the next version’s report has none until asked again', async () => {
    setup.store.change({ uri: URI, version: 2, changes: [{ rangeOffset: TEXT.length, rangeLength: 0, text: 'The end.\n' }] });
    await setup.store.idle();
    const { version, data } = await setup.reports.report({ uri: URI });
    assert.equal(version, 2);
    assert.equal(data.settled, undefined);
  });

  it('a cancelled request stops with the cancellation and keeps nothing', async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(setup.reports.settle({ uri: URI }, controller.signal, () => undefined));
    assert.equal((await setup.reports.report({ uri: URI })).data.settled, undefined);
  });

  it('a server backend is refused in one line: layers need the local engine', async () => {
    const backend = createRemoteBackend('openai', { url: 'http://127.0.0.1:9' });
    try {
      await rejectsWith(settledLayersOfText(backend, TEXT), 'lens-unavailable', /local engine/u);
    } finally {
      await backend.dispose();
    }
  });
});
