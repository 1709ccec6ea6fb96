// The document report's page script (bundled to dist/report.js). In a webview it draws the
// reports the extension sends and turns clicks into messages; in an exported page it draws the
// report embedded in the page and saves pictures itself.
import type { FromReportView, ReportChartName, ReportViewData, ToReportView } from '../../src/shared/reportProtocol';
import { ReportCharts } from './charts';
import { renderReport } from './view';

interface VsCodeApi {
  postMessage(message: FromReportView): void;
  setState(state: unknown): void;
  getState(): unknown;
}

declare function acquireVsCodeApi(): VsCodeApi;

const vscode = typeof acquireVsCodeApi === 'function' ? acquireVsCodeApi() : undefined;
const app = document.getElementById('app') as HTMLElement;
const charts = new ReportCharts((start, end) => vscode?.postMessage({ type: 'reveal', start, end }));
let current: { data: ReportViewData; documentName: string } | undefined;
let status = { text: '', busy: false, settling: false };

function showStatus(): void {
  const line = document.getElementById('status');
  if (!line) return;
  line.textContent = status.text;
  line.classList.toggle('busy', status.busy);
  const settled = app.querySelector<HTMLButtonElement>('[data-action="settled"]');
  if (settled) {
    settled.dataset.label ??= settled.textContent ?? '';
    settled.textContent = status.settling ? 'Cancel settled layers' : settled.dataset.label;
  }
}

/** Re-renders the page, keeping open tables, the focused control and the scroll position. */
function show(data: ReportViewData, documentName: string): void {
  current = { data, documentName };
  const open = Array.from(app.querySelectorAll('details')).map((details) => details.open);
  const focused = document.activeElement instanceof HTMLElement && app.contains(document.activeElement) ? focusKey(document.activeElement) : undefined;
  const scroll = window.scrollY;
  app.innerHTML = renderReport(data, documentName, vscode !== undefined);
  app.querySelectorAll('details').forEach((details, i) => (details.open = open[i] ?? false));
  charts.draw(data);
  if (focused) app.querySelector<HTMLElement>(focused)?.focus();
  window.scrollTo(0, scroll);
  showStatus();
  document.body.dataset.tokens = String(data.report.summary.tokens);
}

function focusKey(element: HTMLElement): string | undefined {
  if (element.id) return `#${CSS.escape(element.id)}`;
  const { action, format, chart, start } = element.dataset;
  if (!action) return undefined;
  return `[data-action="${action}"]${format ? `[data-format="${format}"]` : ''}${chart ? `[data-chart="${chart}"]` : ''}${start ? `[data-start="${start}"]` : ''}`;
}

function savePng(chart: ReportChartName): void {
  const dataUrl = charts.png(chart);
  if (!dataUrl) return;
  if (vscode) {
    vscode.postMessage({ type: 'png', chart, dataUrl });
    return;
  }
  const link = document.createElement('a');
  link.href = dataUrl;
  link.download = `${chart}.png`;
  link.click();
}

app.addEventListener('click', (event) => {
  const target = (event.target as HTMLElement).closest<HTMLElement>('[data-action]');
  if (!target) return;
  const { action } = target.dataset;
  if (action === 'reveal') vscode?.postMessage({ type: 'reveal', start: Number(target.dataset.start), end: Number(target.dataset.end) });
  else if (action === 'png') savePng(target.dataset.chart as ReportChartName);
  else if (action === 'export') vscode?.postMessage({ type: 'export', format: target.dataset.format as 'html' });
  else if (action === 'compare') vscode?.postMessage({ type: 'compare' });
  else if (action === 'clearCompare') vscode?.postMessage({ type: 'clearCompare' });
  else if (action === 'settled') vscode?.postMessage({ type: status.settling ? 'cancelSettled' : 'settled' });
});

// Theme switches change the body's class: redraw with the new colours.
new MutationObserver(() => {
  if (current) charts.draw(current.data);
}).observe(document.body, { attributes: true, attributeFilter: ['class'] });

if (vscode) {
  window.addEventListener('message', (event: MessageEvent<ToReportView>) => {
    const message = event.data;
    if (message.type === 'report') show(message.data, message.documentName);
    else if (message.type === 'status') {
      status = { text: message.text, busy: message.busy, settling: message.settling ?? false };
      showStatus();
    } else if (message.type === 'png') savePng(message.chart);
  });
  vscode.postMessage({ type: 'ready' });
} else {
  const embedded = document.getElementById('report-data')?.textContent;
  if (embedded) show(JSON.parse(embedded) as ReportViewData, document.title.replace(/^LM Lens report: /u, ''));
}
