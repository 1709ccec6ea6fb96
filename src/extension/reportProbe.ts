/**
 * What the tests may see and do of the document report, behind one object (the report's only
 * test-facing member): what was sent to the webview, the status line, the files saved, and
 * doors that stand in for the user (a message as if the webview sent it, the answer of the next
 * save dialog, a second model picked). Nothing here changes what the report does.
 */
import type { CompareServer, DocumentReportResponse } from '../shared/hostProtocol';
import type { ReportChartName, ReportViewData } from '../shared/reportProtocol';

/** What the probe drives of the report panel. */
export interface ReportControls {
  isOpen(): boolean;
  close(): void;
  /** Handles a message as if the webview had sent it; resolves when it is handled. */
  receive(message: unknown): Promise<void>;
  compareWith(model: string, dtype?: string): Promise<void>;
  /** As if the user picked a server in "Compare with a second model" (the stored API key is added). */
  compareWithServer(server: CompareServer): Promise<void>;
  /** Asks the webview for a chart's picture, which it sends back as its PNG button does. */
  requestPng(chart: ReportChartName): void;
}

type Listener = () => void;

export class ReportProbe {
  /** The last report sent to the webview, with the version it describes. */
  lastPosted: ReportViewData | undefined;
  lastVersion: number | undefined;
  /** The status line as the webview shows it. */
  status = { text: '', busy: false };
  /** The last error shown for the report (one line). */
  lastError: string | undefined;
  /** Files written by exports, in order (as strings, e.g. `file:///…`). */
  readonly saved: string[] = [];
  private readonly answers: Array<{ toString(): string }> = [];
  private readonly listeners = new Set<Listener>();

  constructor(private readonly controls: ReportControls) {}

  get isOpen(): boolean {
    return this.controls.isOpen();
  }

  close(): void {
    this.controls.close();
  }

  receive(message: unknown): Promise<void> {
    return this.controls.receive(message);
  }

  compareWith(model: string, dtype?: string): Promise<void> {
    return this.controls.compareWith(model, dtype);
  }

  compareWithServer(server: CompareServer): Promise<void> {
    return this.controls.compareWithServer(server);
  }

  requestPng(chart: ReportChartName): void {
    this.controls.requestPng(chart);
  }

  /** The next save dialog answers `uri` (a `vscode.Uri`) without asking. */
  answerSaveDialog<U extends { toString(): string }>(uri: U): void {
    this.answers.push(uri);
  }

  /** Called by the panel before it shows a save dialog. */
  takeAnswer<U>(): U | undefined {
    return this.answers.shift() as U | undefined;
  }

  /** Called by the panel for everything it posts or records. */
  posted(response: DocumentReportResponse): void {
    this.lastPosted = response.data;
    this.lastVersion = response.version;
    this.changed();
  }

  statusShown(text: string, busy: boolean): void {
    this.status = { text, busy };
    this.changed();
  }

  errorShown(message: string): void {
    this.lastError = message;
    this.changed();
  }

  savedFile(uri: { toString(): string }): void {
    this.saved.push(uri.toString());
    this.changed();
  }

  private changed(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** Resolves with the first truthy value `check` gives, checked now and after every change. */
  waitFor<T>(what: string, check: () => T | undefined | false, timeoutMs = 60_000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const finish = (error?: Error, value?: T): void => {
        clearTimeout(timer);
        this.listeners.delete(listener);
        if (error) reject(error);
        else resolve(value as T);
      };
      const listener = (): void => {
        const value = check();
        if (value) finish(undefined, value);
      };
      const timer = setTimeout(() => finish(new Error(`document report: no ${what} within ${timeoutMs} ms (status: ${JSON.stringify(this.status.text)}, error: ${this.lastError ?? 'none'})`)), timeoutMs);
      this.listeners.add(listener);
      listener();
    });
  }

  /** The first report sent (the current one included) that satisfies `predicate`. */
  waitForReport(predicate: (data: ReportViewData) => boolean, timeoutMs?: number): Promise<ReportViewData> {
    return this.waitFor('report as expected', () => (this.lastPosted && predicate(this.lastPosted) ? this.lastPosted : undefined), timeoutMs);
  }
}
