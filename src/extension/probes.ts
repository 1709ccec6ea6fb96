/**
 * What the integration tests may see beyond the features' public behaviour, recorded from the
 * events the features already fire. The probes only listen: production classes carry no test
 * members, and nothing here changes what a feature does.
 */
import * as vscode from 'vscode';
import { describeDownload } from '../core/download/progressText';
import type { ModelState } from '../shared/hostProtocol';
import type { ErrorReport } from './modelController';
import type { PanelState } from '../shared/panelProtocol';

/** What the next-token panel sent to its webview. */
export class PanelProbe implements vscode.Disposable {
  private last: PanelState | undefined;
  private posted = 0;
  private readonly rendered = new vscode.EventEmitter<PanelState>();
  private readonly subscription: vscode.Disposable;

  constructor(onDidRender: vscode.Event<PanelState>, onDidClose: vscode.Event<void>) {
    this.subscription = vscode.Disposable.from(
      onDidRender((state) => {
        this.posted++;
        this.last = state;
        this.rendered.fire(state);
      }),
      // A waiter must see the next panel's states, not what a closed one showed.
      onDidClose(() => (this.last = undefined)),
    );
  }

  /** The last state sent to the webview. */
  get lastRendered(): PanelState | undefined {
    return this.last;
  }

  /** How many messages were sent to the webview. */
  get postedMessages(): number {
    return this.posted;
  }

  /** Resolves with the first sent state (the current one included) that satisfies `predicate`. */
  waitForRender(predicate: (state: PanelState) => boolean, timeoutMs = 30_000): Promise<PanelState> {
    return new Promise((resolve, reject) => {
      if (this.last && predicate(this.last)) return resolve(this.last);
      const timer = setTimeout(() => {
        listener.dispose();
        reject(new Error(`The next-token panel did not render the expected state within ${timeoutMs} ms.`));
      }, timeoutMs);
      const listener = this.rendered.event((state) => {
        if (!predicate(state)) return;
        clearTimeout(timer);
        listener.dispose();
        resolve(state);
      });
    });
  }

  dispose(): void {
    this.subscription.dispose();
    this.rendered.dispose();
  }
}

/** The model's states as the window saw them, and what the download notification said. */
export class ModelProbe implements vscode.Disposable {
  /** States seen, oldest first, repeats collapsed (tests assert loading → ready). */
  readonly stateHistory: string[] = [];
  /** Every message the download notification showed (the same text, from the same function). */
  readonly downloadReports: string[] = [];
  /** The last error shown to the user, with the actions it offered; tests reset it to undefined. */
  lastErrorReport: ErrorReport | undefined;
  private readonly subscriptions: vscode.Disposable[];

  constructor(initial: ModelState, model: { onDidChangeState: vscode.Event<ModelState>; onDidReportError: vscode.Event<ErrorReport> }) {
    this.record(initial);
    this.subscriptions = [model.onDidChangeState((state) => this.record(state)), model.onDidReportError((report) => (this.lastErrorReport = report))];
  }

  private record(state: ModelState): void {
    if (this.stateHistory.at(-1) !== state.state) this.stateHistory.push(state.state);
    if (state.state === 'loading' && state.progress?.phase === 'download') this.downloadReports.push(describeDownload(state.progress));
  }

  dispose(): void {
    for (const subscription of this.subscriptions) subscription.dispose();
  }
}
