/**
 * What a loss or a rank means on screen: the five sentence bands, the GLTR rank buckets and
 * the colours of both. No `vscode` import, so the mapping is unit-tested in plain Node; the
 * adapter turns the colour names into `ThemeColor`s.
 */
import { formatLoss } from '../shared/format';

export interface Swatch {
  label: string;
  /** Contributed colour (package.json `contributes.colors`) for the underline and the hover's square. */
  colorId: string;
  /** Contributed colour of the translucent tint behind the text (transparent in high contrast). */
  backgroundId: string;
}

interface SwatchDefaults {
  /** The built-in chart colour normal themes already define. */
  chart: string;
  rgb: readonly [number, number, number];
  /** Strong colours for high-contrast dark and light themes, where tints would lower contrast. */
  highContrast: string;
  highContrastLight: string;
}

const hex = (rgb: readonly number[], alpha: number): string => `#${[...rgb, Math.round(alpha * 255)].map((v) => v.toString(16).padStart(2, '0')).join('')}`;

function swatch(group: 'sentence' | 'token', key: string, label: string, defaults: SwatchDefaults): Swatch & { defaults: SwatchDefaults; group: string } {
  return { label, colorId: `lmLens.${group}.${key}`, backgroundId: `lmLens.${group}.${key}Background`, defaults, group };
}

const GREEN = { chart: 'charts.green', rgb: [46, 160, 67], highContrast: '#89d185', highContrastLight: '#1a7f37' } as const;
const BLUE = { chart: 'charts.blue', rgb: [56, 139, 253], highContrast: '#75beff', highContrastLight: '#0550ae' } as const;
const YELLOW = { chart: 'charts.yellow', rgb: [210, 153, 34], highContrast: '#ffd700', highContrastLight: '#7d4e00' } as const;
const ORANGE = { chart: 'charts.orange', rgb: [219, 109, 40], highContrast: '#ff9a3c', highContrastLight: '#953800' } as const;
const RED = { chart: 'charts.red', rgb: [248, 81, 73], highContrast: '#ff6b6b', highContrastLight: '#b3261e' } as const;
const PURPLE = { chart: 'charts.purple', rgb: [163, 113, 247], highContrast: '#d7a6ff', highContrastLight: '#6639ba' } as const;

/** Low loss (predictable) to high loss (surprising). */
export const SENTENCE_BANDS = [
  swatch('sentence', 'veryPredictable', 'very predictable', GREEN),
  swatch('sentence', 'predictable', 'predictable', BLUE),
  swatch('sentence', 'typical', 'typical', YELLOW),
  swatch('sentence', 'surprising', 'surprising', ORANGE),
  swatch('sentence', 'verySurprising', 'very surprising', RED),
] as const;

export interface GltrBucket extends Swatch {
  /** Largest rank (1 = the model's first choice) that falls in this bucket. */
  maxRank: number;
}

/** GLTR's colouring (Gehrmann et al., 2019): where the observed token sat in the model's ranking. */
export const GLTR_BUCKETS: ReadonlyArray<GltrBucket & { defaults: SwatchDefaults; group: string }> = [
  { maxRank: 10, ...swatch('token', 'top10', 'top 10', GREEN) },
  { maxRank: 100, ...swatch('token', 'top100', 'top 100', YELLOW) },
  { maxRank: 1000, ...swatch('token', 'top1000', 'top 1000', RED) },
  { maxRank: Number.POSITIVE_INFINITY, ...swatch('token', 'beyond1000', 'beyond 1000', PURPLE) },
];

export interface ContributedColor {
  id: string;
  description: string;
  defaults: { dark: string; light: string; highContrast: string; highContrastLight: string };
}

/**
 * Every colour the loss decorations use, as package.json must contribute it (a unit test
 * compares the two): themes can override each, high contrast gets strong colours and no tint.
 * Token mode tints twice as strongly: a token is much smaller than a sentence.
 */
export function contributedColors(): ContributedColor[] {
  return [...SENTENCE_BANDS, ...GLTR_BUCKETS].flatMap(({ colorId, backgroundId, label, defaults, group }) => {
    const what = group === 'sentence' ? `sentences LM Lens finds ${label}` : `tokens ranked ${label} by the model`;
    const strength = group === 'token' ? 2 : 1;
    return [
      { id: colorId, description: `Underline of ${what}.`, defaults: { dark: defaults.chart, light: defaults.chart, highContrast: defaults.highContrast, highContrastLight: defaults.highContrastLight } },
      {
        id: backgroundId,
        description: `Background tint of ${what}.`,
        defaults: { dark: hex(defaults.rgb, 0.1 * strength), light: hex(defaults.rgb, 0.12 * strength), highContrast: '#00000000', highContrastLight: '#00000000' },
      },
    ];
  });
}

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

/**
 * Bucket index 0..3 of a 1-based rank; ranks below 1 (never sent) count as the first choice.
 * A server that returns only its top few alternatives leaves other ranks unknown (null): no bucket.
 */
export function gltrBucketOf(rank: number | null): number | undefined {
  if (rank === null) return undefined;
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
