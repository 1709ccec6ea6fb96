// Number and text formatting shared by the webview's rendering and the extension's exports.
// Pure, so the unit tests run it in Node.
import { showWhitespace } from '../src/core/tokenDisplay';

const MINUS = '\u2212';

/** A probability as a percentage with the precision a reader can use: 45.6%, 3.45%, <0.01%. */
export function formatPercent(prob: number): string {
  if (!Number.isFinite(prob) || prob <= 0) return '0%';
  const percent = prob * 100;
  if (percent < 0.01) return '<0.01%';
  if (percent >= 99.95) return percent >= 100 ? '100%' : '>99.9%';
  return `${percent.toFixed(percent >= 10 ? 1 : 2)}%`;
}

/** Log-probabilities and entropies: three decimals, a real minus sign, ∞ for impossible tokens. */
export function formatNumber(value: number, digits = 3): string {
  if (value === -Infinity) return `${MINUS}∞`;
  if (value === Infinity) return '∞';
  if (Number.isNaN(value)) return '–';
  const text = value.toFixed(digits);
  return text.startsWith('-') ? MINUS + text.slice(1) : text;
}

/** Joint probabilities of whole sequences span many orders of magnitude: 0.0123, 4.6e-9. */
export function formatProbability(prob: number): string {
  if (!Number.isFinite(prob) || prob <= 0) return '0';
  if (prob >= 0.001) return prob.toPrecision(3);
  return prob.toExponential(2).replace('e-', `e${MINUS}`);
}

/** Download sizes, in decimal megabytes like the hub shows them. */
export function formatMegabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** Token text as the user must see it: whitespace visible, and something visible for an empty token. */
export function tokenLabel(text: string): string {
  return text === '' ? '∅' : showWhitespace(text);
}

const htmlEscapes: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Every model-produced string goes through this before it reaches innerHTML. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => htmlEscapes[char] as string);
}
