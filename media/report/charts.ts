// Chart.js drawings of the report, coloured from the theme's --vscode-* variables (with
// fallbacks for the exported page). Charts are updated in place on every new report, without
// animation, so a re-score redraws only what changed and costs one frame.
import { BarController, BarElement, CategoryScale, Chart, Legend, LineController, LineElement, LinearScale, PointElement, ScatterController, Tooltip } from 'chart.js';
import type { ChartConfiguration, ChartEvent, ActiveElement } from 'chart.js';
import type { ReportChartName, ReportViewData, ScatterPoint, SentencePoint } from '../../src/shared/reportProtocol';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LineController, LineElement, PointElement, ScatterController, Tooltip, Legend);

interface Palette {
  foreground: string;
  grid: string;
  buckets: string[];
  primary: string;
  secondary: string;
  font: string;
}

function cssVariable(name: string, fallback: string): string {
  const value = getComputedStyle(document.body).getPropertyValue(name).trim();
  return value || fallback;
}

/** Colours of the active theme; GLTR's bucket colours are the token-mode decoration colours. */
export function themePalette(): Palette {
  return {
    foreground: cssVariable('--vscode-foreground', '#333333'),
    grid: cssVariable('--vscode-editorWidget-border', cssVariable('--vscode-panel-border', 'rgba(128,128,128,0.35)')),
    buckets: [cssVariable('--vscode-charts-green', '#2ea043'), cssVariable('--vscode-charts-yellow', '#d29922'), cssVariable('--vscode-charts-red', '#f85149'), cssVariable('--vscode-charts-purple', '#a371f7')],
    primary: cssVariable('--vscode-charts-blue', '#388bfd'),
    secondary: cssVariable('--vscode-charts-orange', '#db6d28'),
    font: cssVariable('--vscode-font-family', 'system-ui, sans-serif'),
  };
}

export type RevealHandler = (start: number, end: number) => void;

function axes(palette: Palette, x: string, y: string): ChartConfiguration['options'] {
  const scale = (title: string) => ({ title: { display: true, text: title, color: palette.foreground }, ticks: { color: palette.foreground }, grid: { color: palette.grid } });
  return {
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    plugins: { legend: { labels: { color: palette.foreground } } },
    scales: { x: scale(x), y: { ...scale(y), beginAtZero: true } },
  };
}

function configs(data: ReportViewData, palette: Palette, reveal: RevealHandler): Partial<Record<ReportChartName, ChartConfiguration>> {
  const { report, comparison, settled } = data;
  const bars = (labels: string[], counts: number[], colours: string | string[], x: string): ChartConfiguration => ({
    type: 'bar',
    data: { labels, datasets: [{ label: 'tokens', data: counts, backgroundColor: colours, borderWidth: 0 }] },
    options: { ...axes(palette, x, 'tokens'), plugins: { legend: { display: false } } },
  });
  const sentences = report.sentences;
  const onSentenceClick = (_event: ChartEvent, elements: ActiveElement[]): void => {
    const point = sentences[elements[0]?.index ?? -1] as SentencePoint | undefined;
    if (point) reveal(point.start, point.end);
  };
  const points = report.scatter.points;
  const onTokenClick = (_event: ChartEvent, elements: ActiveElement[]): void => {
    const point = points[elements[0]?.index ?? -1] as ScatterPoint | undefined;
    if (point) reveal(point.start, point.end);
  };
  const lossDatasets = [{ label: report.model, data: sentences.map((point) => ({ x: point.index + 1, y: Number.isFinite(point.loss) ? point.loss : null })), borderColor: palette.primary, backgroundColor: palette.primary, pointRadius: sentences.length > 300 ? 0 : 3, borderWidth: 1.5 }];
  if (comparison) {
    lossDatasets.push({ label: comparison.modelB, data: sentences.map((point) => ({ x: point.index + 1, y: comparison.sentences[point.index]?.lossB ?? null })), borderColor: palette.secondary, backgroundColor: palette.secondary, pointRadius: sentences.length > 300 ? 0 : 3, borderWidth: 1.5 });
  }
  // The mean settled layer per sentence on its own axis at the right (layers, not nats).
  const lossScales: Record<string, unknown> = { ...axes(palette, 'sentence', 'mean loss (nats)')?.scales, x: { type: 'linear', title: { display: true, text: 'sentence', color: palette.foreground }, ticks: { color: palette.foreground, precision: 0 }, grid: { color: palette.grid } } };
  if (settled) {
    lossDatasets.push({ label: 'mean settled layer', data: sentences.map((point) => ({ x: point.index + 1, y: Number.isFinite(settled.sentenceMeans[point.index]) ? (settled.sentenceMeans[point.index] as number) : null })), borderColor: palette.buckets[3] as string, backgroundColor: palette.buckets[3] as string, pointRadius: sentences.length > 300 ? 0 : 3, borderWidth: 1.5, yAxisID: 'settled' } as (typeof lossDatasets)[number]);
    lossScales.settled = { position: 'right', beginAtZero: true, max: settled.histogram.counts.length - 1, title: { display: true, text: 'mean settled layer', color: palette.foreground }, ticks: { color: palette.foreground, precision: 0 }, grid: { drawOnChartArea: false } };
  }
  return {
    ...(settled ? { 'settled-layers': bars(settled.histogram.labels, settled.histogram.counts, palette.buckets[3] as string, 'settled at layer (logit lens)') } : {}),
    'rank-buckets': bars(report.rankBuckets.labels, report.rankBuckets.counts, palette.buckets, 'rank of the actual token'),
    frac: bars(report.fracHistogram.labels, report.fracHistogram.counts, palette.primary, 'p(token) ÷ p(top 1)'),
    'top10-entropy': bars(report.top10EntropyHistogram.labels, report.top10EntropyHistogram.counts, palette.primary, 'entropy of the top 10 (nats)'),
    'sentence-loss': {
      type: 'line',
      data: { datasets: lossDatasets as never },
      options: { ...axes(palette, 'sentence', 'mean loss (nats)'), parsing: false, spanGaps: false, onClick: onSentenceClick, interaction: { mode: 'nearest', intersect: false, axis: 'x' }, scales: lossScales },
    } as ChartConfiguration,
    'surprisal-entropy': {
      type: 'scatter',
      data: { datasets: [{ label: 'tokens', data: points.map((point) => ({ x: point.entropy, y: point.surprisal })), backgroundColor: palette.primary, pointRadius: points.length > 500 ? 1.5 : 3 }] },
      options: { ...axes(palette, 'entropy of the prediction (nats)', 'surprisal −log p (nats)'), parsing: false, onClick: onTokenClick, plugins: { legend: { display: false } } },
    } as ChartConfiguration,
  };
}

/** Live charts by name; `draw` replaces their data (or creates them) for a new report. */
export class ReportCharts {
  private readonly charts = new Map<ReportChartName, Chart>();

  constructor(private readonly reveal: RevealHandler) {}

  draw(data: ReportViewData): void {
    const palette = themePalette();
    Chart.defaults.font.family = palette.font;
    Chart.defaults.color = palette.foreground;
    const all = configs(data, palette, this.reveal);
    // A chart whose data went away (settled layers of an older version) goes with it.
    for (const [name, chart] of this.charts) {
      if (all[name]) continue;
      chart.destroy();
      this.charts.delete(name);
    }
    for (const [name, config] of Object.entries(all) as Array<[ReportChartName, ChartConfiguration]>) {
      const canvas = document.getElementById(`chart-${name}`) as HTMLCanvasElement | null;
      const existing = this.charts.get(name);
      if (existing && existing.canvas === canvas) {
        existing.data = config.data;
        existing.options = config.options ?? {};
        existing.update('none');
      } else {
        existing?.destroy();
        if (canvas) this.charts.set(name, new Chart(canvas, config));
      }
    }
  }

  /** The chart's picture as a PNG data URL, on the theme's background so it reads outside VS Code. */
  png(name: ReportChartName): string | undefined {
    const chart = this.charts.get(name);
    if (!chart) return undefined;
    const source = chart.canvas;
    const copy = document.createElement('canvas');
    copy.width = source.width;
    copy.height = source.height;
    const context = copy.getContext('2d');
    if (!context) return undefined;
    context.fillStyle = cssVariable('--vscode-editor-background', '#ffffff');
    context.fillRect(0, 0, copy.width, copy.height);
    context.drawImage(source, 0, 0);
    return copy.toDataURL('image/png');
  }

  destroy(): void {
    for (const chart of this.charts.values()) chart.destroy();
    this.charts.clear();
  }
}
