/**
 * Messages between the document report's webview and the extension. The report's numbers are
 * the core's types (plain data); the webview only draws them.
 */
import type { ComparisonSummary } from '../core/compare';
import type { DocumentReport, Histogram, ScatterPoint, SentencePoint } from '../core/report';

export type { ComparisonSummary, DocumentReport, Histogram, ScatterPoint, SentencePoint };

export interface ReportViewData {
  report: DocumentReport;
  comparison?: ComparisonSummary;
}

export type ExportFormat = 'html' | 'tokens-csv' | 'sentences-csv' | 'json';

export type ToReportView =
  /** Extension → webview: the report of the document's latest scores (sent again after every re-score). */
  | { type: 'report'; documentName: string; data: ReportViewData }
  /** Extension → webview: one line about scoring, comparing or an error (empty clears it). */
  | { type: 'status'; text: string; busy: boolean }
  /** Extension → webview: send this chart's picture back (as the PNG button does). */
  | { type: 'png'; chart: ReportChartName };

export type FromReportView =
  /** Webview → extension: the script runs and can take a report. */
  | { type: 'ready' }
  /** Webview → extension: select this range of the document in its editor. */
  | { type: 'reveal'; start: number; end: number }
  | { type: 'export'; format: ExportFormat }
  /** Webview → extension: save this chart's picture (a `data:image/png;base64,` URL). */
  | { type: 'png'; chart: string; dataUrl: string }
  | { type: 'compare' }
  | { type: 'clearCompare' };

/** Names of the report's charts: ids in the page, names of PNG exports. */
export const REPORT_CHARTS = ['rank-buckets', 'frac', 'top10-entropy', 'sentence-loss', 'surprisal-entropy'] as const;
export type ReportChartName = (typeof REPORT_CHARTS)[number];

export function isFromReportView(value: unknown): value is FromReportView {
  if (typeof value !== 'object' || value === null) return false;
  const message = value as Record<string, unknown>;
  switch (message.type) {
    case 'ready':
    case 'compare':
    case 'clearCompare':
      return true;
    case 'reveal':
      return Number.isInteger(message.start) && Number.isInteger(message.end) && (message.start as number) >= 0 && (message.end as number) >= (message.start as number);
    case 'export':
      return ['html', 'tokens-csv', 'sentences-csv', 'json'].includes(message.format as string);
    case 'png':
      return (REPORT_CHARTS as readonly unknown[]).includes(message.chart) && typeof message.dataUrl === 'string' && message.dataUrl.startsWith('data:image/png;base64,');
    default:
      return false;
  }
}
