/**
 * Keeps one document's report current. After every push or status the model process sends for
 * the document, it asks for the report again: at most every REDRAW_MS, one request at a time,
 * and the last change is always answered. The model process aggregates; this side only passes
 * the aggregate on. When a second model is wanted, the document is compared again once its
 * scores are complete for a version the last comparison was not of. No `vscode` import: the
 * benchmark drives it as the panel does.
 */
import { isCancelled } from '../core/errors';
import { hostOf } from './statusText';
import type { CompareParams, CompareResponse, CompareServer, DocumentReportParams, DocumentReportResponse } from '../shared/hostProtocol';

/** Re-scores come in bursts while typing: ask for the report at most this often. */
export const REDRAW_MS = 250;

export interface ReportFeedHost {
  report(params: DocumentReportParams): Promise<DocumentReportResponse>;
  compare(params: CompareParams): Promise<CompareResponse>;
  /** A new report of the watched document. */
  show(response: DocumentReportResponse): void;
  /** The comparison with `model` started (undefined: it ended). */
  comparing(model: string | undefined): void;
  /** A request failed (cancellations are not reported). */
  failed(what: 'report' | 'compare', error: unknown): void;
}

/** A local model (hub id or folder) with its precision, or a server's model. */
export type ComparisonChoice = { model: string; dtype: string } | { server: CompareServer };

/** How the status line names the second model while it compares. */
export function choiceName(choice: ComparisonChoice): string {
  if ('model' in choice) return choice.model;
  const { server } = choice;
  return `${server.model || `the ${server.api} server`} @ ${hostOf(server.url)}`;
}

export class ReportFeed {
  private uri: string | undefined;
  private wanted: ComparisonChoice | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private due = 0;
  private running = false;
  private again = false;
  /** The choice being compared now. */
  private comparing: ComparisonChoice | undefined;
  private disposed = false;

  constructor(
    private readonly host: ReportFeedHost,
    private readonly redrawMs = REDRAW_MS,
  ) {}

  get watched(): string | undefined {
    return this.uri;
  }

  get comparison(): ComparisonChoice | undefined {
    return this.wanted;
  }

  /** Follows another document (undefined: none); a comparison belongs to the document it was asked for. */
  watch(uri: string | undefined): void {
    if (uri !== this.uri) this.wanted = undefined;
    this.uri = uri;
    if (uri !== undefined) this.update(uri, 0);
  }

  /** Something changed for `uri` (a push, a status, the view became visible): report it soon. */
  update(uri: string, delayMs = this.redrawMs): void {
    if (this.disposed || uri !== this.uri) return;
    const due = Date.now() + delayMs;
    if (this.timer !== undefined && this.due <= due) return;
    clearTimeout(this.timer);
    this.due = due;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, delayMs);
  }

  private async run(): Promise<void> {
    const uri = this.uri;
    if (uri === undefined) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.again = false;
    try {
      const response = await this.host.report({ uri });
      if (this.uri !== uri || this.disposed) return;
      this.host.show(response);
      const { report } = response.data;
      if (this.wanted && report.complete && response.comparedVersion !== response.version) void this.compareNow();
    } catch (error) {
      if (!isCancelled(error) && this.uri === uri) this.host.failed('report', error);
    } finally {
      this.running = false;
      if (this.again) this.update(uri);
    }
  }

  /** Compares the watched document with `choice` from now on (again after each edit). */
  async compareWith(choice: ComparisonChoice): Promise<void> {
    this.wanted = choice;
    await this.compareNow();
  }

  async stopComparing(): Promise<void> {
    const uri = this.uri;
    this.wanted = undefined;
    if (uri === undefined) return;
    await this.host.compare({ uri }).catch(() => undefined);
    this.update(uri, 0);
  }

  /** Starts comparing unless this very choice is being compared (a new one supersedes the running one on its channel). */
  private async compareNow(): Promise<void> {
    const uri = this.uri;
    const choice = this.wanted;
    if (uri === undefined || !choice || this.comparing === choice) return;
    this.comparing = choice;
    this.host.comparing(choiceName(choice));
    try {
      await this.host.compare({ uri, ...choice });
    } catch (error) {
      if (isCancelled(error)) return;
      // Not retried on every edit: the user picks again.
      if (this.wanted === choice) this.wanted = undefined;
      if (this.uri === uri) this.host.failed('compare', error);
    } finally {
      if (this.comparing === choice) {
        this.comparing = undefined;
        this.host.comparing(undefined);
        this.update(uri, 0);
      }
    }
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
    this.uri = undefined;
    this.wanted = undefined;
  }
}
