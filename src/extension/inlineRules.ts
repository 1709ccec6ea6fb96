// Ghost-text rules as pure functions (no vscode import), so they are unit-tested in plain Node.

export type TriggerBlock = 'mid-word' | 'text-after';

/**
 * Why an automatic trigger should not run with `lineSuffix` (the rest of the cursor's line)
 * after the cursor, or undefined when it may. A continuation would be spliced into a word or
 * pushed in front of existing text; an explicit trigger is the user's call and ignores this.
 */
export function autoTriggerBlock(lineSuffix: string): TriggerBlock | undefined {
  if (/^[\p{L}\p{N}]/u.test(lineSuffix)) return 'mid-word';
  if (/\S/u.test(lineSuffix)) return 'text-after';
  return undefined;
}

/** Where a request was made, or where the user is now. */
export interface DocumentPoint {
  version: number;
  /** Cursor offset in UTF-16 code units. */
  offset: number;
}

/**
 * An answer is for an outdated position when the document changed or the cursor moved since
 * it was asked for (`current` undefined: the document is gone). It is never shown then.
 */
export function isStale(requested: DocumentPoint, current: DocumentPoint | undefined): boolean {
  return current === undefined || current.version !== requested.version || current.offset !== requested.offset;
}

/** What the status bar describes: the suggestion shown first. */
export interface SuggestionStatus {
  meanProb: number;
  jointProb: number;
  /** Wall time of the model request; undefined when served from the cache. */
  latencyMs: number | undefined;
  /** Suggestions available through Alt+] / Alt+[. */
  count: number;
}

export interface StatusView {
  text: string;
  tooltip: string;
}

const percent = (value: number): string => `${Math.round(value * 100)}%`;
// Joint probabilities of a dozen tokens are tiny: percentages would all read 0%.
const probability = (value: number): string => (value >= 0.01 ? value.toFixed(2) : value.toExponential(1));

/** Status bar text and tooltip for the ghost-text feature's state. */
export function statusView(enabled: boolean, status: SuggestionStatus | undefined): StatusView {
  if (!enabled) return { text: '$(circle-slash) ghost text off', tooltip: 'LM Lens ghost text is off. Click to turn it on.' };
  if (!status) return { text: '$(sparkle) ghost text', tooltip: 'LM Lens ghost text: no suggestion yet. Click to turn it off.' };
  const source = status.latencyMs === undefined ? 'cached' : `${Math.round(status.latencyMs)} ms`;
  const others = status.count > 1 ? `, ${status.count - 1} more with Alt+] / Alt+[` : ' (Alt+] samples alternatives)';
  return {
    text: `$(sparkle) ${percent(status.meanProb)} · ${source}`,
    tooltip: [
      `LM Lens ghost text${others}`,
      `Mean token probability ${percent(status.meanProb)}, joint probability ${probability(status.jointProb)}`,
      status.latencyMs === undefined ? 'Served from the cache while you type through it' : `Computed in ${source}`,
      'Click to turn ghost text off.',
    ].join('\n'),
  };
}
