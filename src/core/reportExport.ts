/**
 * The report's exports that need no browser: CSV and JSON of the per-token and per-sentence
 * numbers, and the self-contained HTML page (the report's own script and styles inlined, the
 * data embedded, nothing fetched).
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { LmLensError, errorMessage } from './errors';
import { escapeHtml } from '../shared/format';
import type { ReportSentenceInput, ReportTokenInput } from './report';
import type { ReportData } from '../shared/reportProtocol';
export type { ReportData } from '../shared/reportProtocol';

export interface ReportTokenRow {
  sentence: number;
  start: number;
  end: number;
  text: string;
  logprob: number;
  prob: number;
  rank: number;
  entropy: number;
  topProb: number;
  top10Entropy: number;
  settledLayer?: number;
}

/** Sentences with the token text the sentence-loss feature keeps. */
export type ExportSentence = Omit<ReportSentenceInput, 'tokens'> & { tokens: ReadonlyArray<ReportTokenInput & { text: string }> };

export function tokenRows(sentences: readonly ExportSentence[]): ReportTokenRow[] {
  return sentences.flatMap((sentence, index) =>
    sentence.tokens.map((token) => ({
      sentence: index,
      start: token.start,
      end: token.end,
      text: token.text,
      logprob: token.logprob,
      prob: Math.exp(token.logprob),
      rank: token.rank,
      entropy: token.entropy,
      topProb: Math.exp(token.topLogprob),
      top10Entropy: token.top10Entropy,
      ...(token.settledLayer === undefined ? {} : { settledLayer: token.settledLayer }),
    })),
  );
}

/** RFC 4180: quote a field when it holds a comma, quote or line break; numbers in full precision. */
function csvField(value: unknown): string {
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  const text = String(value ?? '');
  return /[",\r\n]/u.test(text) ? `"${text.replace(/"/gu, '""')}"` : text;
}

export function toCsv<T extends object>(rows: readonly T[], columns: ReadonlyArray<keyof T & string>): string {
  return [columns.join(','), ...rows.map((row) => columns.map((column) => csvField(row[column])).join(','))].join('\r\n') + '\r\n';
}

export function tokensCsv(sentences: readonly ExportSentence[]): string {
  const rows = tokenRows(sentences);
  // The settled layer's column only when it was computed (a token without one, e.g. beyond the lens, has an empty cell).
  const settled = rows.some((row) => row.settledLayer !== undefined);
  return toCsv(rows, ['sentence', 'start', 'end', 'text', 'logprob', 'prob', 'rank', 'entropy', 'topProb', 'top10Entropy', ...(settled ? (['settledLayer'] as const) : [])]);
}

export function sentencesCsv(data: ReportData): string {
  const comparison = data.comparison?.sentences;
  const settled = data.settled?.sentenceMeans;
  const rows = data.report.sentences.map((point) => ({
    ...point,
    lossB: comparison?.[point.index]?.lossB ?? Number.NaN,
    settledLayerMean: settled?.[point.index] ?? Number.NaN,
  }));
  return toCsv(rows, ['index', 'start', 'end', 'loss', 'perplexity', 'tokenCount', ...(comparison ? (['lossB'] as const) : []), ...(settled ? (['settledLayerMean'] as const) : []), 'preview']);
}

/** JSON that survives NaN/Infinity (as null), like the CLI's other outputs. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2);
}

export function reportJson(data: ReportData, sentences: readonly ExportSentence[]): string {
  return toJson({ ...data, tokens: tokenRows(sentences) });
}

/** A script's text can hold anything but the tag that would end it early. */
function scriptSafe(text: string): string {
  return text.replace(/<\/(script)/giu, '<\\/$1');
}

/** JSON inside `<script>`: every `<` escaped (valid JSON, never a tag). */
function jsonSafe(text: string): string {
  return text.replace(/</gu, '\\u003c');
}

export interface StandaloneAssets {
  /** The report's browser bundle (dist/report.js). */
  script: string;
  /** media/report/report.css */
  css: string;
}

/** The report page's script and styles, which the build writes beside every Node bundle (dist/). */
export function readReportAssets(folder: string): StandaloneAssets {
  try {
    return { script: readFileSync(path.join(folder, 'report.js'), 'utf8'), css: readFileSync(path.join(folder, 'report.css'), 'utf8') };
  } catch (error) {
    throw new LmLensError('internal', `The report page is missing from this build (${errorMessage(error)}); run npm run build.`);
  }
}

/** One HTML file that shows the report offline: data, script and styles inline, nothing else. */
export function standaloneHtml(data: ReportData, assets: StandaloneAssets, title: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${assets.css}</style>
</head>
<body class="standalone">
<main id="app"></main>
<footer class="muted">Exported by LM Lens. Charts drawn with Chart.js (MIT License, © 2014–2024 Chart.js Contributors), included in this page.</footer>
<script id="report-data" type="application/json">${jsonSafe(toJson(data))}</script>
<script>${scriptSafe(assets.script)}</script>
</body>
</html>
`;
}
