/**
 * The sentence-loss hover and the loss commands' messages, built as plain strings from named
 * options (no `vscode` import): the adapter only wraps them, and unit tests read them whole.
 */
import type { ScoredToken, SentenceScore, UnlikelyToken } from '../shared/hostProtocol';
import { isReplaceable } from './branchEdit';
import type { BranchArgs } from './branchEdit';
import { formatLoss, formatPerplexity, formatProbability, formatRank, showWhitespace } from '../shared/format';
import { GLTR_BUCKETS, SENTENCE_BANDS, bandLegend, gltrBucketOf, gltrLegend } from './lossBands';
import type { GltrBucket, LegendEntry, Swatch } from './lossBands';
import { COMMANDS } from '../shared/commands';

/** What the hover's "score on its own" link hands to `lmLens.scoreSelection`. */
export interface ScoreRangeArgs {
  uri: string;
  start: number;
  end: number;
}

export interface SentenceHoverOptions {
  sentence: Pick<SentenceScore, 'start' | 'end' | 'loss' | 'perplexity' | 'tokenCount' | 'leastLikely'>;
  band: number | undefined;
  thresholds: readonly number[];
  mode: 'sentence' | 'token';
  /** The token under the pointer, shown in token mode. */
  token?: ScoredToken;
  /** Document of the sentence, for the "score on its own" link. */
  uri: string;
  /** What the engine that scored it could not give (a server), one line. */
  engineNote?: string;
  /** The document version the scores belong to: with it, every alternative gets *replace* links. */
  version?: number;
}

export interface HoverContent {
  markdown: string;
  /** Exactly the commands the markdown links to: the adapter trusts only these. */
  enabledCommands: string[];
}

export function buildSentenceHover(options: SentenceHoverOptions): HoverContent {
  const { sentence, band } = options;
  const bandSwatch = band === undefined ? undefined : SENTENCE_BANDS[band];
  const lines: string[] = [];
  // Short paragraphs: VS Code caps a hover's height, and the links come last.
  lines.push(
    `**LM Lens** · mean loss **${formatLoss(sentence.loss)}** nats/token · perplexity **${formatPerplexity(sentence.perplexity)}** · ` +
      `${plural(sentence.tokenCount, 'token')}${bandSwatch ? ` · ${swatchHtml(bandSwatch)} ${bandSwatch.label}` : ''}`,
    '',
  );
  if (options.engineNote) lines.push(`_${escapeMarkdown(options.engineNote)}_`, '');

  if (options.mode === 'token' && options.token) {
    const token = options.token;
    const index = gltrBucketOf(token.rank);
    const bucket = index === undefined ? undefined : (GLTR_BUCKETS[index] as GltrBucket);
    lines.push(`Token ${codeSpan(showWhitespace(token.text))}: ${formatProbability(token.prob)} · rank ${formatRank(token.rank)}${bucket ? ` · ${swatchHtml(bucket)} ${bucket.label}` : ''}`, '');
  }

  if (sentence.leastLikely.length > 0) {
    lines.push('Least likely tokens (probability · rank · the model’s top choices there):', '');
    for (const token of sentence.leastLikely) {
      const alternatives = token.alternatives.map((alt) => alternativeText(token, alt, options)).join(', ');
      lines.push(`- ${codeSpan(showWhitespace(token.text))} ${formatProbability(token.prob)} · ${formatRank(token.rank)}${alternatives ? ` · ${alternatives}` : ''}`);
    }
    if (branchable(options)) lines.push('', 'Click an alternative to put it in place of the token; ↪ also continues from it with ghost text. One undo restores the text.');
    lines.push('');
  }

  lines.push(`Bands (mean loss, nats): ${legendLine(bandLegend(options.thresholds), band)}`, '');
  if (options.mode === 'token') {
    const current = options.token ? gltrBucketOf(options.token.rank) : undefined;
    lines.push(`Tokens (GLTR, rank of the actual token): ${legendLine(gltrLegend(), current)}`, '');
  }

  const scoreArgs: ScoreRangeArgs = { uri: options.uri, start: sentence.start, end: sentence.end };
  lines.push(
    [
      commandLink('Next-token probabilities here', COMMANDS.showNextTokenProbabilities, [{ uri: options.uri, offset: sentence.end }], 'Open the next-token panel at the end of this sentence'),
      commandLink('Score this sentence on its own', COMMANDS.scoreSelection, [scoreArgs], 'Loss of the sentence without the text before it'),
      commandLink('Document report', COMMANDS.showDocumentReport, [{ uri: options.uri }], 'Histograms and the loss of every sentence of this document'),
    ].join(' · '),
  );
  const branching = branchable(options) ? [COMMANDS.replaceToken, COMMANDS.replaceTokenAndContinue] : [];
  return { markdown: lines.join('\n'), enabledCommands: [COMMANDS.showNextTokenProbabilities, COMMANDS.scoreSelection, COMMANDS.showDocumentReport, ...branching] };
}

function branchable(options: SentenceHoverOptions): boolean {
  return options.version !== undefined && options.sentence.leastLikely.some((token) => token.alternatives.some((alt) => isReplaceable(token.text, alt.text)));
}

/** An alternative with its probability; with a document version, as *replace* and *replace and continue* links. */
function alternativeText(token: UnlikelyToken, alt: UnlikelyToken['alternatives'][number], options: SentenceHoverOptions): string {
  const shown = codeSpan(showWhitespace(alt.text));
  const prob = formatProbability(alt.prob);
  if (options.version === undefined || !isReplaceable(token.text, alt.text)) return `${shown} ${prob}`;
  const args: BranchArgs = { uri: options.uri, version: options.version, start: token.start, end: token.end, original: token.text, replacement: alt.text };
  // Link titles sit inside "…": the token texts there are shown, never raw quotes or line breaks.
  const title = (text: string): string => showWhitespace(text).replace(/["\\]/g, "'");
  const what = `${title(token.text)} → ${title(alt.text)}`;
  return `${commandLink(shown, COMMANDS.replaceToken, [args], `Replace ${what}`)} ${prob} ${commandLink('↪', COMMANDS.replaceTokenAndContinue, [args], `Replace ${what} and continue with ghost text`)}`;
}

/**
 * A square in the swatch's theme colour. VS Code's hover sanitizer keeps a span's `style` when
 * it is only `color:var(--vscode-…);`, so the square follows the theme like the decorations do;
 * the adapter must set `supportHtml`. Token texts only ever appear inside code spans.
 */
export function swatchHtml(swatch: Swatch): string {
  return `<span style="color:var(--vscode-${swatch.colorId.replace(/\./g, '-')});">■</span>`;
}

export interface TextScoreSummary {
  loss: number | null;
  perplexity: number | null;
  predicted: number;
  tokenCount: number;
}

/** `bos: false` semantics (HF `labels=input_ids`): the first token has no context and is not predicted. */
export function selectionMessage(score: TextScoreSummary): string {
  if (score.predicted === 0) {
    return `LM Lens: the selection has ${plural(score.tokenCount, 'token')}; at least two are needed, because the first token has no context and is not predicted.`;
  }
  return (
    `LM Lens: selection loss ${formatLoss(score.loss)} nats/token, perplexity ${formatPerplexity(score.perplexity)}, ` +
    `${plural(score.tokenCount, 'token')} (${score.predicted} predicted: the first token has no context, so it is not predicted).`
  );
}

/**
 * `bos: true` semantics: every token of the text is predicted, the first one after the start
 * token (`<|endoftext|>` for GPT-2, `<|begin_of_text|>` for Llama 3; `tokenCount` includes it, so
 * the text's own count is `predicted`).
 */
export function documentMessage(name: string, score: TextScoreSummary): string {
  return `LM Lens: ${name} — loss ${formatLoss(score.loss)} nats/token, perplexity ${formatPerplexity(score.perplexity)}, ${plural(score.predicted, 'token')} (each predicted, the first after the start token).`;
}

export function documentStatusText(score: TextScoreSummary): string {
  return `$(pulse) loss ${formatLoss(score.loss)} · ppl ${formatPerplexity(score.perplexity)}`;
}

/** End-of-line annotation for the sentences that end on one line. */
export function annotationText(losses: ReadonlyArray<number | null>): string {
  return losses.length === 1 ? `loss ${formatLoss(losses[0])}` : `loss ${losses.map((loss) => formatLoss(loss)).join(' · ')}`;
}

// ---------------------------------------------------------------------------------------------

function legendLine(entries: readonly LegendEntry[], current: number | undefined): string {
  return entries.map((entry, i) => (i === current ? `${swatchHtml(entry.swatch)} **${entry.range}**` : `${swatchHtml(entry.swatch)} ${entry.range}`)).join(' · ');
}

/** A server's model name or host may hold Markdown syntax. */
function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+!<>|]/g, '\\$&');
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** A code span that survives backticks in the text (CommonMark: a longer fence, padded). */
export function codeSpan(text: string): string {
  const longestRun = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longestRun + 1);
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

/** `label` is Markdown already (a code span). Args travel URI-encoded, parentheses too, so no token text in them can end the link. */
function commandLink(label: string, command: string, args: unknown[] | undefined, title: string): string {
  const query = args ? `?${encodeURIComponent(JSON.stringify(args)).replace(/\(/g, '%28').replace(/\)/g, '%29')}` : '';
  return `[${label}](command:${command}${query} "${title}")`;
}
