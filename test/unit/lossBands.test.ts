// Band and bucket edges decide which colour a sentence gets: every boundary is pinned here.
import * as assert from 'node:assert/strict';
import { GLTR_BUCKETS, SENTENCE_BANDS, bandLegend, bandOf, gltrBucketOf, gltrLegend } from '../../src/extension/lossBands';
import { formatLoss, formatPerplexity, formatProbability, formatRank } from '../../src/shared/format';

const THRESHOLDS = [3, 4.5, 6, 7.5];

describe('loss bands', () => {
  it('puts a loss equal to a threshold in the band above it', () => {
    assert.equal(bandOf(0, THRESHOLDS), 0);
    assert.equal(bandOf(2.9999, THRESHOLDS), 0);
    assert.equal(bandOf(3, THRESHOLDS), 1);
    assert.equal(bandOf(4.4999, THRESHOLDS), 1);
    assert.equal(bandOf(4.5, THRESHOLDS), 2);
    assert.equal(bandOf(6, THRESHOLDS), 3);
    assert.equal(bandOf(7.4999, THRESHOLDS), 3);
    assert.equal(bandOf(7.5, THRESHOLDS), 4);
    assert.equal(bandOf(1e6, THRESHOLDS), 4);
    assert.equal(bandOf(Number.POSITIVE_INFINITY, THRESHOLDS), 4);
  });

  it('leaves a missing loss (NaN, or null after JSON) without a band', () => {
    assert.equal(bandOf(Number.NaN, THRESHOLDS), undefined);
    assert.equal(bandOf(null, THRESHOLDS), undefined);
    assert.equal(bandOf(undefined, THRESHOLDS), undefined);
  });

  it('follows the thresholds it is given', () => {
    const custom = [10, 12, 14, 16];
    assert.equal(bandOf(9.99, custom), 0);
    assert.equal(bandOf(12, custom), 2);
    assert.equal(bandOf(16, custom), 4);
    // Equal thresholds collapse a band rather than misordering the rest.
    assert.equal(bandOf(5, [5, 5, 6, 7]), 2);
  });

  it('has five bands and a legend with every threshold', () => {
    assert.equal(SENTENCE_BANDS.length, 5);
    assert.deepEqual(
      bandLegend(THRESHOLDS).map((entry) => entry.range),
      ['< 3.000', '3.000–4.500', '4.500–6.000', '6.000–7.500', '≥ 7.500'],
    );
  });
});

describe('GLTR buckets', () => {
  it('buckets ranks at 10, 100 and 1000 inclusive', () => {
    assert.equal(gltrBucketOf(1), 0);
    assert.equal(gltrBucketOf(10), 0);
    assert.equal(gltrBucketOf(11), 1);
    assert.equal(gltrBucketOf(100), 1);
    assert.equal(gltrBucketOf(101), 2);
    assert.equal(gltrBucketOf(1000), 2);
    assert.equal(gltrBucketOf(1001), 3);
    assert.equal(gltrBucketOf(50257), 3);
    assert.equal(gltrBucketOf(0), 0);
  });

  it('colours them green, yellow, red, purple with a legend', () => {
    assert.deepEqual(
      GLTR_BUCKETS.map((bucket) => bucket.defaults.chart),
      ['charts.green', 'charts.yellow', 'charts.red', 'charts.purple'],
    );
    assert.deepEqual(
      gltrLegend().map((entry) => entry.range),
      ['rank 1–10', 'rank 11–100', 'rank 101–1000', 'rank > 1000'],
    );
  });
});

describe('loss number formats', () => {
  it('shows losses with three decimals', () => {
    assert.equal(formatLoss(4.21349), '4.213');
    assert.equal(formatLoss(4.2136), '4.214');
    assert.equal(formatLoss(12), '12.000');
    assert.equal(formatLoss(null), '–');
    assert.equal(formatLoss(Number.NaN), '–');
  });

  it('shows perplexities, probabilities and ranks readably', () => {
    assert.equal(formatPerplexity(67.6213), '67.62');
    assert.equal(formatPerplexity(1234.56), '1234.6');
    assert.equal(formatPerplexity(3.3e8), '3.30e+8');
    assert.equal(formatPerplexity(Number.POSITIVE_INFINITY), '∞');
    assert.equal(formatProbability(0.5), '50.0%');
    assert.equal(formatProbability(0.0123), '1.23%');
    assert.equal(formatProbability(1.5e-7), '1.5e\u22125%', 'the same text the panel shows');
    assert.equal(formatRank(1204), '#1,204');
  });
});
