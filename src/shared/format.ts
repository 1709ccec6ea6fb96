// How numbers and token text are printed, everywhere: the panel (webview), the hover, the status
// bar, messages and the CLI's tables. One module so the same probability never reads two ways.
// Pure and DOM-free: the webview bundle, the extension and plain Node all import it.

const MINUS = '\u2212';

const withMinus = (text: string): string => text.replace(/-/g, MINUS);

/**
 * A token's probability as a percentage with the precision a reader can use: 45.6%, 3.45%, and
 * tiny ones in exponent form (3.4e−3%) so they never read as 0 and the hover and the panel agree.
 */
export function formatProbability(prob: number | null): string {
  if (prob === null) return '–';
  if (!Number.isFinite(prob) || prob <= 0) return '0%';
  const percent = prob * 100;
  if (percent >= 99.95) return percent >= 100 ? '100%' : '>99.9%';
  if (percent >= 10) return `${percent.toFixed(1)}%`;
  if (percent >= 0.01) return `${percent.toFixed(2)}%`;
  return `${withMinus(percent.toExponential(1))}%`;
}

/** Joint probabilities of whole sequences span many orders of magnitude: 0.0123, 4.60e−9. */
export function formatJointProbability(prob: number | null): string {
  if (prob === null) return '–';
  if (!Number.isFinite(prob) || prob <= 0) return '0';
  if (prob >= 0.001) return prob.toPrecision(3);
  return withMinus(prob.toExponential(2));
}

/** The CLI's plain numbers: fixed decimals, `n/a` where there is none (a server's entropy) or it is not finite. */
export function formatFixed(value: number | null, digits = 3): string {
  return value !== null && Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}

/** Log-probabilities, logits and entropies: fixed decimals, a real minus sign, ∞ for impossible tokens. */
export function formatNumber(value: number | null, digits = 3): string {
  // null: a number the engine could not give (a server's entropy, logits).
  if (value === null) return '–';
  if (value === -Infinity) return `${MINUS}∞`;
  if (value === Infinity) return '∞';
  if (Number.isNaN(value)) return '–';
  return withMinus(value.toFixed(digits));
}

/** Losses always show three decimals: the hover, the annotation and the messages must agree. */
export function formatLoss(loss: number | null | undefined): string {
  return typeof loss === 'number' && Number.isFinite(loss) ? loss.toFixed(3) : '–';
}

export function formatPerplexity(perplexity: number | null | undefined): string {
  if (typeof perplexity !== 'number' || Number.isNaN(perplexity)) return '–';
  if (!Number.isFinite(perplexity)) return '∞';
  return perplexity >= 10_000 ? perplexity.toExponential(2) : perplexity.toFixed(perplexity >= 100 ? 1 : 2);
}

export function formatRank(rank: number | null): string {
  // A server that returns only its top few alternatives leaves other ranks unknown.
  if (rank === null) return 'beyond the server’s top choices';
  return `#${Math.round(rank).toLocaleString('en-US')}`;
}

const BYTES_PER_MB = 1e6;

/**
 * Sizes in decimal megabytes (10^6 bytes), the unit the Hugging Face hub and download dialogs
 * use, so a file's size here matches the one on its model page. One decimal below 100 MB.
 */
export function formatMegabytes(bytes: number): string {
  const megabytes = Math.max(0, bytes) / BYTES_PER_MB;
  return `${megabytes.toFixed(megabytes < 100 ? 1 : 0)} MB`;
}

/**
 * Token text with its whitespace made visible: GPT-2 tokens usually carry their leading
 * space, and a user must see it to understand token boundaries.
 */
export function showWhitespace(text: string): string {
  return text.replace(/ /g, '␣').replace(/\r\n|\n|\r/g, '↵').replace(/\t/g, '⇥');
}

/** Token text as the user must see it: whitespace visible, and something visible for an empty token. */
export function tokenLabel(text: string): string {
  return text === '' ? '∅' : showWhitespace(text);
}

const htmlEscapes: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Every model-produced string goes through this before it reaches HTML (webview or hover). */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => htmlEscapes[char] as string);
}
