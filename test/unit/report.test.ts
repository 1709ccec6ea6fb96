// The document report's numbers against values computed independently from the float64
// reference's per-token distributions; cross-perplexity against the reference of two models.
import * as assert from 'node:assert/strict';
import { loadEngine } from '../../src/core/engine';
import type { Engine } from '../../src/core/engine';
import { compareText, summarizeComparison } from '../../src/core/compare';
import { FRAC_BINS, MAX_SCATTER_POINTS, TOP10_ENTROPY_BINS, TOP10_ENTROPY_MAX, binOf, buildReport, mostSurprising, rankBucketOf, reportableSentences } from '../../src/core/report';
import type { ReportSentenceInput } from '../../src/core/report';
import { scoreIds } from '../../src/core/scoring';
import { scoreSentences } from '../../src/core/sentenceLoss';
import type { DocumentScore } from '../../src/core/sentenceLoss';
import { loadReference, logSoftmax, topK } from '../support/reference';
import type { ReferenceModel } from '../support/reference';
import { ensureTestModel } from '../support/testModel';

const TOLERANCE = 1e-4;
const PROSE =
  'Alice was beginning to get very tired of sitting by her sister on the bank. Once or twice she had peeped into the book her sister was reading! It had no pictures or conversations in it. "And what is the use of a book," thought Alice, "without pictures?"';

/** What the reference says about every token of `[<|endoftext|>, ...text]`, keyed by the token's start offset. */
interface ReferenceToken {
  logprob: number;
  rank: number;
  frac: number;
  top10Entropy: number;
  entropy: number;
}

function referenceTokens(engine: Engine, reference: ReferenceModel, text: string): Map<number, ReferenceToken> {
  const textIds = engine.model.tokenizer.encode(text);
  const spans = engine.model.tokenizer.spans(text, textIds);
  const ids = [50256, ...textIds];
  const rows = reference.logits(ids);
  const result = new Map<number, ReferenceToken>();
  for (let i = 1; i < ids.length; i++) {
    const row = rows[i - 1] as Float64Array;
    const logProbs = logSoftmax(row);
    const target = ids[i] as number;
    const top = topK(row, 10);
    const topSum = top.reduce((sum, entry) => sum + entry.prob, 0);
    result.set((spans[i - 1] as { start: number }).start, {
      logprob: logProbs[target] as number,
      rank: 1 + row.filter((value) => value > (row[target] as number)).length,
      frac: Math.exp(logProbs[target] as number) / (top[0] as { prob: number }).prob,
      top10Entropy: -top.reduce((sum, entry) => sum + (entry.prob / topSum) * Math.log(entry.prob / topSum), 0),
      entropy: -logProbs.reduce((sum, lp) => sum + Math.exp(lp) * lp, 0),
    });
  }
  return result;
}

/** Expected counts as ranges: a value within the tolerance of a bin edge may fall on either side in float32. */
function binRanges(values: number[], bins: number, max: number): Array<[number, number]> {
  const ranges = Array.from({ length: bins }, () => [0, 0] as [number, number]);
  for (const value of values) {
    const low = binOf(value - TOLERANCE, bins, max);
    const high = binOf(value + TOLERANCE, bins, max);
    if (low === high) (ranges[low] as [number, number])[0]++;
    for (let bin = low; bin <= high; bin++) (ranges[bin] as [number, number])[1]++;
  }
  return ranges;
}

function assertWithin(counts: number[], ranges: Array<[number, number]>, what: string): void {
  counts.forEach((count, bin) => {
    const [low, high] = ranges[bin] as [number, number];
    assert.ok(count >= low && count <= high, `${what} bin ${bin}: ${count} not in [${low}, ${high}]`);
  });
}

/**
 * A random test model ranks almost every real word beyond 1000. To fill every bucket, the ids
 * start with tokens chosen at set ranks of the reference's own prediction (as ids: decoding and
 * re-encoding would merge them differently).
 */
function rankedIds(engine: Engine, reference: ReferenceModel): number[] {
  const ranks = [1, 4, 20, 60, 300, 900, 2000, 8000];
  const ids = [50256, ...engine.model.tokenizer.encode('Alice')];
  for (let step = 0; step < 16; step++) {
    const row = reference.logits(ids).at(-1) as Float64Array;
    const order = Array.from(row.keys()).sort((a, b) => (row[b] as number) - (row[a] as number));
    ids.push(order[(ranks[step % ranks.length] as number) - 1] as number);
  }
  return [...ids, ...engine.model.tokenizer.encode(` ${PROSE}`)];
}

describe('document report', function () {
  let engine: Engine;
  let reference: ReferenceModel;
  let scored: DocumentScore;
  let expected: Map<number, ReferenceToken>;
  const TEXT = PROSE;

  before(async function () {
    const folder = await ensureTestModel({ layers: 2, dim: 64, heads: 4, seed: 1 });
    engine = await loadEngine({ model: folder, allowDownloads: false, threads: 1 });
    reference = await loadReference(folder);
    scored = await scoreSentences(engine, TEXT);
    expected = referenceTokens(engine, reference, TEXT);
  });
  after(async () => engine?.dispose());

  const referenceOf = (start: number): ReferenceToken => {
    const token = expected.get(start);
    assert.ok(token, `no reference token at ${start}`);
    return token;
  };

  it('counts GLTR’s three histograms as the reference does', async () => {
    const ids = rankedIds(engine, reference);
    const scores = await scoreIds(engine, ids);
    const sentence: ReportSentenceInput = { start: 0, end: ids.length, text: '', loss: 0, perplexity: 1, tokenCount: scores.length, tokens: scores.map((score) => ({ ...score, start: score.index, end: score.index + 1 })) };
    const report = buildReport([sentence], { model: 'test', dtype: 'fp32', documentChars: ids.length, complete: true });
    const rows = reference.logits(ids);
    const tokens = ids.slice(1).map((target, n) => {
      const row = rows[n] as Float64Array;
      const logProbs = logSoftmax(row);
      const top = topK(row, 10);
      const topSum = top.reduce((sum, entry) => sum + entry.prob, 0);
      return {
        rank: 1 + row.filter((value) => value > (row[target] as number)).length,
        frac: Math.exp(logProbs[target] as number) / (top[0] as { prob: number }).prob,
        top10Entropy: -top.reduce((sum, entry) => sum + (entry.prob / topSum) * Math.log(entry.prob / topSum), 0),
      };
    });
    assert.equal(report.summary.tokens, tokens.length);

    const rankCounts = [0, 0, 0, 0];
    for (const token of tokens) (rankCounts[token.rank <= 10 ? 0 : token.rank <= 100 ? 1 : token.rank <= 1000 ? 2 : 3] as number)++;
    assert.ok(rankCounts.every((n) => n >= 3), `every bucket is filled: ${rankCounts}`);
    // Ranks of near-ties can differ between float32 and float64; none sit on a bucket limit here.
    assert.deepEqual(report.rankBuckets.counts, rankCounts);

    assertWithin(report.fracHistogram.counts, binRanges(tokens.map((token) => token.frac), FRAC_BINS, 1), 'p/p(top 1)');
    assertWithin(report.top10EntropyHistogram.counts, binRanges(tokens.map((token) => token.top10Entropy), TOP10_ENTROPY_BINS, TOP10_ENTROPY_MAX), 'top-10 entropy');
    assert.equal(report.fracHistogram.counts.reduce((a, b) => a + b, 0), tokens.length);
    assert.ok((report.fracHistogram.counts[FRAC_BINS - 1] as number) >= 2, 'the first choices land in the last p/p(top 1) bin');
    assert.equal(report.top10EntropyHistogram.edges.length, TOP10_ENTROPY_BINS + 1);
  });

  it('gives the per-sentence loss series, the summary and the most surprising sentences from the reference’s numbers', () => {
    const report = buildReport(reportableSentences(scored.sentences), { model: 'test', dtype: 'fp32', documentChars: TEXT.length, complete: true });
    assert.ok(report.sentences.length >= 4);
    const referenceLosses = scored.sentences.map((sentence) => {
      const losses = sentence.tokens.map((token) => -referenceOf(token.start).logprob);
      return losses.reduce((a, b) => a + b, 0) / losses.length;
    });
    report.sentences.forEach((point, i) => {
      assert.ok(Math.abs(point.loss - (referenceLosses[i] as number)) < TOLERANCE, `sentence ${i}: ${point.loss} vs ${referenceLosses[i]}`);
      assert.ok(Math.abs(point.perplexity / Math.exp(referenceLosses[i] as number) - 1) < TOLERANCE);
      assert.equal(point.start, scored.sentences[i]?.start);
    });
    const all = scored.sentences.flatMap((sentence) => sentence.tokens.map((token) => referenceOf(token.start)));
    const meanLoss = all.reduce((sum, token) => sum - token.logprob, 0) / all.length;
    assert.ok(Math.abs(report.summary.meanLoss - meanLoss) < TOLERANCE);
    assert.ok(Math.abs(report.summary.perplexity / Math.exp(meanLoss) - 1) < TOLERANCE);
    assert.ok(Math.abs(report.summary.meanEntropy - all.reduce((sum, token) => sum + token.entropy, 0) / all.length) < TOLERANCE);
    assert.ok(Math.abs(report.summary.bucketShares.reduce((a, b) => a + b, 0) - 1) < 1e-12);
    const order = referenceLosses.map((loss, index) => ({ loss, index })).sort((a, b) => b.loss - a.loss).map((entry) => entry.index);
    assert.deepEqual(report.surprising.map((point) => point.index), order);
    // Surprisal against entropy: one point per token here, from the reference too.
    assert.equal(report.scatter.points.length, all.length);
    for (const point of report.scatter.points) {
      const token = referenceOf(point.start);
      assert.ok(Math.abs(point.surprisal + token.logprob) < TOLERANCE && Math.abs(point.entropy - token.entropy) < TOLERANCE);
    }
  });

  it('cross-perplexity equals log-perplexity under A ÷ mean H(p_A, p_B) from two references', async () => {
    const folderB = await ensureTestModel({ layers: 3, dim: 48, heads: 3, seed: 2 });
    const engineB = await loadEngine({ model: folderB, allowDownloads: false, threads: 1 });
    try {
      const referenceB = await loadReference(folderB);
      const compared = await compareText(engine, engineB, TEXT);
      const ids = [50256, ...engine.model.tokenizer.encode(TEXT)];
      const rowsA = reference.logits(ids);
      const rowsB = referenceB.logits(ids);
      let lossA = 0;
      let cross = 0;
      assert.equal(compared.length, ids.length - 1);
      compared.forEach((token, n) => {
        const i = n + 1;
        const logA = logSoftmax(rowsA[i - 1] as Float64Array);
        const logB = logSoftmax(rowsB[i - 1] as Float64Array);
        const h = -logA.reduce((sum, lp, v) => sum + Math.exp(lp) * (logB[v] as number), 0);
        assert.equal(token.index, i);
        assert.ok(Math.abs(token.logprobA - (logA[ids[i] as number] as number)) < TOLERANCE);
        assert.ok(Math.abs(token.logprobB - (logB[ids[i] as number] as number)) < TOLERANCE);
        assert.ok(Math.abs(token.crossEntropy - h) < TOLERANCE, `position ${i}: ${token.crossEntropy} vs ${h}`);
        lossA -= logA[ids[i] as number] as number;
        cross += h;
      });
      const summary = summarizeComparison('B', compared, reportableSentences(scored.sentences));
      assert.ok(Math.abs(summary.ratio - lossA / cross) < TOLERANCE, `${summary.ratio} vs ${lossA / cross}`);
      assert.equal(summary.sentences.length, scored.sentences.length);
      const first = reportableSentences(scored.sentences)[0] as ReportSentenceInput;
      const firstLoss = first.tokens.reduce((sum, token) => sum - referenceOf(token.start).logprob, 0) / first.tokens.length;
      assert.ok(Math.abs((summary.sentences[0]?.lossA as number) - firstLoss) < TOLERANCE);
    } finally {
      await engineB.dispose();
    }
  });
});

describe('document report aggregation', () => {
  const token = (start: number, logprob: number, rank: number) => ({ start, end: start + 1, logprob, rank, entropy: 2, topLogprob: Math.min(logprob, -0.1), top10Entropy: 1 });

  it('puts ranks into GLTR buckets and values on bin edges into the upper bin', () => {
    assert.deepEqual([1, 10, 11, 100, 101, 1000, 1001].map(rankBucketOf), [0, 0, 1, 1, 2, 2, 3]);
    assert.equal(binOf(0, 10, 1), 0);
    assert.equal(binOf(0.1, 10, 1), 1);
    assert.equal(binOf(1, 10, 1), 9, 'p(token) = p(top 1) is the last bin');
    assert.equal(binOf(Number.NaN, 10, 1), 0);
  });

  it('ranks sentences by loss and never lists one without tokens', () => {
    const points = [
      { index: 0, start: 0, end: 1, loss: 2, perplexity: Math.exp(2), tokenCount: 3, preview: 'a' },
      { index: 1, start: 1, end: 2, loss: Number.NaN, perplexity: Number.NaN, tokenCount: 0, preview: 'b' },
      { index: 2, start: 2, end: 3, loss: 5, perplexity: Math.exp(5), tokenCount: 1, preview: 'c' },
    ];
    assert.deepEqual(mostSurprising(points, 5).map((point) => point.index), [2, 0]);
  });

  it('thins the scatter of a long document evenly and re-uses unchanged sentences', () => {
    const sentences: ReportSentenceInput[] = Array.from({ length: 50 }, (_, s) => ({
      start: s * 100,
      end: s * 100 + 100,
      text: `Sentence ${s}.`,
      loss: 1,
      perplexity: Math.E,
      tokenCount: 100,
      tokens: Array.from({ length: 100 }, (_, t) => token(s * 100 + t, -1, 1 + t * 20)),
    }));
    const meta = { model: 'm', dtype: 'fp32', documentChars: 5000, complete: true };
    const report = buildReport(sentences, meta);
    assert.ok(report.scatter.points.length <= MAX_SCATTER_POINTS);
    assert.ok(report.scatter.points.length >= MAX_SCATTER_POINTS / 2);
    assert.equal(report.scatter.totalTokens, 5000);
    assert.ok((report.scatter.points.at(-1)?.start as number) > 4900, 'the end of the document is represented');
    assert.deepEqual(report.rankBuckets.counts, [50, 200, 2250, 2500]);
    const edited = [...sentences.slice(0, 49), { ...(sentences[49] as ReportSentenceInput), tokens: [token(4900, -3, 5000)], tokenCount: 1, loss: 3 }];
    const again = buildReport(edited, meta);
    assert.equal(again.summary.tokens, 4901);
    assert.equal(again.rankBuckets.counts[3], 2500 - 50 + 1);
    assert.equal(again.surprising[0]?.index, 49);
  });
});
