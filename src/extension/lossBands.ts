/**
 * What a loss or a rank means on screen: the five sentence bands, the GLTR rank buckets and
 * the colours of both. No `vscode` import, so the mapping is unit-tested in plain Node; the
 * adapter turns the colour names into `ThemeColor`s.
 */
import { formatLoss } from '../shared/format';

export interface Swatch {
  label: string;
  /** A colour every built-in theme (high contrast included) defines. */
  themeColor: string;
  /** Base colour for the translucent background tint in normal themes. */
  rgb: readonly [number, number, number];
}

/** Low loss (predictable) to high loss (surprising). */
export const SENTENCE_BANDS: readonly Swatch[] = [
  { label: 'very predictable', themeColor: 'charts.green', rgb: [46, 160, 67] },
  { label: 'predictable', themeColor: 'charts.blue', rgb: [56, 139, 253] },
  { label: 'typical', themeColor: 'charts.yellow', rgb: [210, 153, 34] },
  { label: 'surprising', themeColor: 'charts.orange', rgb: [219, 109, 40] },
  { label: 'very surprising', themeColor: 'charts.red', rgb: [248, 81, 73] },
];

export interface GltrBucket extends Swatch {
  /** Largest rank (1 = the model's first choice) that falls in this bucket. */
  maxRank: number;
}

/** GLTR's colouring (Gehrmann et al., 2019): where the observed token sat in the model's ranking. */
export const GLTR_BUCKETS: readonly GltrBucket[] = [
  { maxRank: 10, label: 'top 10', themeColor: 'charts.green', rgb: [46, 160, 67] },
  { maxRank: 100, label: 'top 100', themeColor: 'charts.yellow', rgb: [210, 153, 34] },
  { maxRank: 1000, label: 'top 1000', themeColor: 'charts.red', rgb: [248, 81, 73] },
  { maxRank: Number.POSITIVE_INFINITY, label: 'beyond 1000', themeColor: 'charts.purple', rgb: [163, 113, 247] },
];

/**
 * Band 0..4 of a mean loss: band i holds losses in [thresholds[i-1], thresholds[i]), so a loss
 * equal to a threshold belongs to the band above it. Undefined for a missing loss (JSON turns
 * NaN into null), which is left undecorated rather than painted as "predictable".
 */
export function bandOf(loss: number | null | undefined, thresholds: readonly number[]): number | undefined {
  if (typeof loss !== 'number' || Number.isNaN(loss)) return undefined;
  let band = 0;
  while (band < thresholds.length && band < SENTENCE_BANDS.length - 1 && loss >= (thresholds[band] as number)) band++;
  return band;
}

/** Bucket index 0..3 of a 1-based rank; ranks below 1 (never sent) count as the first choice. */
export function gltrBucketOf(rank: number): number {
  const index = GLTR_BUCKETS.findIndex((bucket) => rank <= bucket.maxRank);
  return index < 0 ? GLTR_BUCKETS.length - 1 : index;
}

export interface LegendEntry {
  swatch: Swatch;
  /** Human range such as "3.000–4.500" or "< 3.000". */
  range: string;
}

export function bandLegend(thresholds: readonly number[]): LegendEntry[] {
  return SENTENCE_BANDS.map((swatch, i) => {
    const low = thresholds[i - 1];
    const high = thresholds[i];
    const range = low === undefined ? `< ${formatLoss(high)}` : high === undefined || i === SENTENCE_BANDS.length - 1 ? `≥ ${formatLoss(low)}` : `${formatLoss(low)}–${formatLoss(high)}`;
    return { swatch, range };
  });
}

export function gltrLegend(): LegendEntry[] {
  return GLTR_BUCKETS.map((swatch, i) => {
    const previous = GLTR_BUCKETS[i - 1];
    const range = previous === undefined ? `rank 1–${swatch.maxRank}` : Number.isFinite(swatch.maxRank) ? `rank ${previous.maxRank + 1}–${swatch.maxRank}` : `rank > ${previous.maxRank}`;
    return { swatch, range };
  });
}
