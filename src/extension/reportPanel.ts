/**
 * "LM Lens: Show document report": a webview beside the editor with the report of one document.
 * The model process aggregates it from the sentence scores it already holds (no model work of
 * its own) and this side only passes the aggregate to the webview, again after every re-score
 * (see reportFeed.ts). Compare with a second model, settled layers on demand, reveal a sentence, and the exports (written
 * by the model process for local files, so a per-token CSV never crosses the extension host).
 */
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { LmLensError, errorMessage, isCancelled } from '../core/errors';
import { COMMANDS } from '../shared/commands';
import { compareRequest, documentReportRequest, reportExportRequest, settledLayersRequest, settledProgressNotification } from '../shared/hostProtocol';
import type { DocumentReportResponse, DocumentStatusParams } from '../shared/hostProtocol';
import { isFromReportView } from '../shared/reportProtocol';
import type { ExportFormat, FromReportView, ToReportView } from '../shared/reportProtocol';
import { readConfig } from './configuration';
import { scoringTimeoutMs } from './lossCommands';
import type { ModelController } from './modelController';
import { buildPanelHtml } from './panelHtml';
import { pickComparisonModel } from './reportCompare';
import { ReportFeed } from './reportFeed';
import { ReportProbe } from './reportProbe';

export const REPORT_VIEW_TYPE = 'lmLens.report';

/** What the report reads of the sentence-loss feature (SentenceLossFeature fits). */
export interface LossFeed {
  readonly onDidUpdate: vscode.Event<string>;
  covers(document: vscode.TextDocument): boolean;
  statusOf(uri: string): DocumentStatusParams | undefined;
}

/** File name suffix and save-dialog filter of each export. */
const EXPORTS: Record<ExportFormat, [suffix: string, filters: Record<string, string[]>]> = {
  html: ['.report.html', { 'HTML page': ['html'] }],
  'tokens-csv': ['.tokens.csv', { CSV: ['csv'] }],
  'sentences-csv': ['.sentences.csv', { CSV: ['csv'] }],
  json: ['.report.json', { JSON: ['json'] }],
};

/** What a comparison may spend loading its model before the request counts as hung. */
const COMPARE_LOAD_MS = 30 * 60_000;

/** A settled layer costs about six times a token's scoring (one lens step per token). */
const SETTLED_COST = 6;

const documentLength = (document: vscode.TextDocument): number => document.offsetAt(document.lineAt(document.lineCount - 1).range.end);
const percent = (share: number): string => `${(share * 100).toFixed(share < 0.1 ? 1 : 0)}%`;

export class ReportPanel implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  private panelDisposables: vscode.Disposable[] = [];
  private panel: vscode.WebviewPanel | undefined;
  private document: vscode.TextDocument | undefined;
  private last: DocumentReportResponse | undefined;
  private comparingWith: string | undefined;
  /** The settled-layers request in flight (cancelled from the page) and how far it has got. */
  private settling: { source: vscode.CancellationTokenSource; line: string } | undefined;
  private problem: string | undefined;
  private readonly feed: ReportFeed;
  /** The tests' view (see the test API in extension.ts). */
  readonly probe: ReportProbe;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly model: ModelController,
    private readonly loss: LossFeed,
  ) {
    this.feed = new ReportFeed({
      report: (params) => model.request('report', documentReportRequest, params),
      // The second model may download first (hundreds of MB), then two models run over the whole text.
      compare: async (params) => {
        // A server's key travels as the main server's does: read from SecretStorage, sent to the model process, never logged.
        const apiKey = params.server ? await model.serverApiKey() : undefined;
        const sent = params.server && apiKey ? { ...params, server: { ...params.server, apiKey } } : params;
        return model.request('compare', compareRequest, sent, undefined, COMPARE_LOAD_MS + scoringTimeoutMs(2 * (this.document ? documentLength(this.document) : 0)));
      },
      show: (response) => this.show(response),
      comparing: (name) => {
        this.comparingWith = name;
        this.showStatus();
      },
      failed: (what, error) => this.failed(what, error),
    });
    this.probe = new ReportProbe({
      isOpen: () => this.panel !== undefined,
      close: () => this.panel?.dispose(),
      receive: (message) => (isFromReportView(message) ? this.handle(message) : Promise.resolve()),
      compareWith: (name, dtype) => this.feed.compareWith({ model: name, dtype: dtype ?? readConfig().dtype }),
      compareWithServer: (server) => this.feed.compareWith({ server }),
      requestPng: (chart) => this.post({ type: 'png', chart }),
    });
    this.disposables.push(
      vscode.commands.registerCommand(COMMANDS.showDocumentReport, (arg?: unknown) => this.open(arg)),
      loss.onDidUpdate((uri) => {
        if (this.panel?.visible) this.feed.update(uri);
      }),
      vscode.workspace.onDidCloseTextDocument((document) => {
        if (document !== this.document) return;
        this.feed.watch(undefined);
        this.problem = 'The document was closed.';
        this.showStatus();
      }),
    );
  }

  private async open(arg: unknown): Promise<void> {
    const document = await documentOf(arg);
    if (!document) {
      void vscode.window.showInformationMessage('LM Lens: Open a text document first; the report describes the active document.');
      return;
    }
    if (document !== this.document) this.last = undefined;
    this.document = document;
    this.problem = undefined;
    const name = vscode.workspace.asRelativePath(document.uri);
    if (!this.panel) {
      const root = vscode.Uri.joinPath(this.context.extensionUri, 'dist');
      this.panel = vscode.window.createWebviewPanel(REPORT_VIEW_TYPE, `Report: ${name}`, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, { enableScripts: true, localResourceRoots: [root] });
      this.wire(this.panel);
    } else {
      this.panel.title = `Report: ${name}`;
      this.panel.reveal(undefined, true);
    }
    if (!this.loss.covers(document)) {
      this.problem = `The report uses the sentence-loss scores, which are off for this document: turn on lmLens.loss.enabled and list "${document.languageId}" in lmLens.loss.languages.`;
    }
    this.showStatus();
    this.feed.watch(document.uri.toString());
  }

  private wire(panel: vscode.WebviewPanel): void {
    const { webview } = panel;
    const asset = (file: string): string => webview.asWebviewUri(vscode.Uri.joinPath(this.context.extensionUri, 'dist', file)).toString();
    webview.html = buildPanelHtml({
      cspSource: webview.cspSource,
      nonce: randomBytes(16).toString('base64'),
      scriptUri: asset('report.js'),
      styleUri: asset('report.css'),
      title: 'LM Lens report',
      body: '<main id="app"><p>Waiting for the sentence scores…</p></main>',
    });
    this.panelDisposables = [
      panel.onDidDispose(() => this.closed()),
      panel.onDidChangeViewState(() => {
        if (panel.visible && this.feed.watched) this.feed.update(this.feed.watched, 0);
      }),
      webview.onDidReceiveMessage((message: unknown) => {
        if (isFromReportView(message)) void this.handle(message);
      }),
    ];
  }

  private closed(): void {
    for (const disposable of this.panelDisposables.splice(0)) disposable.dispose();
    const uri = this.feed.watched;
    if (uri && this.feed.comparison) void this.feed.stopComparing();
    this.feed.watch(undefined);
    this.panel = undefined;
    this.document = undefined;
    this.last = undefined;
    this.problem = undefined;
    this.settling?.source.cancel();
  }

  private async handle(message: FromReportView): Promise<void> {
    try {
      switch (message.type) {
        case 'ready':
          // A webview hidden and shown again starts over: give it what it showed.
          if (this.last) this.post({ type: 'report', documentName: this.documentName(), data: this.last.data });
          this.showStatus();
          if (this.feed.watched) this.feed.update(this.feed.watched, 0);
          return;
        case 'reveal':
          return await this.reveal(message.start, message.end);
        case 'export':
          return await this.export(message.format);
        case 'png':
          return await this.savePng(message.chart, message.dataUrl);
        case 'compare': {
          const choice = await pickComparisonModel(readConfig().dtype);
          if (choice) await this.feed.compareWith(choice);
          return;
        }
        case 'clearCompare':
          return await this.feed.stopComparing();
        case 'settled':
          return await this.settle();
        case 'cancelSettled':
          return this.settling?.source.cancel();
      }
    } catch (error) {
      this.showError(errorMessage(error));
    }
  }

  /**
   * Every token's settled layer: one lens step per token (several times the scoring's cost), so on
   * demand, as background work in the model process, with progress in the status line; the page's
   * button cancels it. A server backend answers in one line (lens-unavailable), shown as an error.
   */
  private async settle(): Promise<void> {
    const document = this.document;
    if (!document || this.settling) return;
    const uri = document.uri.toString();
    const settling = { source: new vscode.CancellationTokenSource(), line: 'Settled layers: waiting for the model…' };
    this.settling = settling;
    this.showStatus();
    const progress = this.model.client.onNotification(settledProgressNotification, ({ uri: of, done, total }) => {
      if (of !== uri || this.settling !== settling) return;
      settling.line = `Settled layers… ${percent(total > 0 ? done / total : 0)} (${done.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} tokens).`;
      this.showStatus();
    });
    try {
      await this.model.request('settled', settledLayersRequest, { uri }, settling.source.token, scoringTimeoutMs(SETTLED_COST * documentLength(document)));
      if (this.feed.watched === uri) this.feed.update(uri, 0);
    } catch (error) {
      if (!settling.source.token.isCancellationRequested && !isCancelled(error)) this.showError(`Settled layers: ${errorMessage(error)}`, error instanceof LmLensError ? error.code : undefined);
    } finally {
      progress.dispose();
      settling.source.dispose();
      if (this.settling === settling) this.settling = undefined;
      this.showStatus();
    }
  }

  private show(response: DocumentReportResponse): void {
    this.last = response;
    this.problem = undefined;
    this.post({ type: 'report', documentName: this.documentName(), data: response.data });
    this.probe.posted(response);
    this.showStatus();
  }

  private failed(what: 'report' | 'compare', error: unknown): void {
    const message = errorMessage(error);
    if (what === 'compare') {
      this.showError(`The comparison failed: ${message}`, error instanceof LmLensError ? error.code : undefined);
      return;
    }
    this.problem = message;
    this.showStatus();
  }

  /** One line; a server's error offers what fixes it, as the main server's errors do (a comparison has nothing to retry: the user picks again). */
  private showError(message: string, code?: string): void {
    this.probe.errorShown(message);
    const actions = code?.startsWith('server-') ? [...(code === 'server-auth' ? ['Set API key'] : []), 'Open settings'] : [];
    void vscode.window.showErrorMessage(`LM Lens: ${message}`, ...actions).then((choice) => {
      if (choice === 'Set API key') void vscode.commands.executeCommand(COMMANDS.setServerApiKey);
      else if (choice === 'Open settings') void this.model.openSettings(code);
    });
  }

  private showStatus(): void {
    const [text, busy] = this.statusLine();
    this.post({ type: 'status', text, busy, settling: this.settling !== undefined });
    this.probe.statusShown(text, busy);
  }

  /** One line: what is wrong, what runs, or how much of the document is scored so far. */
  private statusLine(): [text: string, busy: boolean] {
    const report = this.last?.data.report;
    const status = this.feed.watched ? this.loss.statusOf(this.feed.watched) : undefined;
    if (this.problem) return [this.problem, false];
    if (status?.state === 'failed' && status.version === this.document?.version) return [`Scoring failed: ${status.message ?? 'see the log'}`, false];
    if (this.comparingWith) return [`Comparing with ${this.comparingWith}…`, true];
    if (this.settling) return [this.settling.line, true];
    if (report && !report.complete) return [`Scoring… ${percent(report.documentChars > 0 ? report.scoredChars / report.documentChars : 0)} of the document scored so far.`, true];
    if (!report && this.feed.watched) return ['Waiting for the sentence scores…', true];
    return ['', false];
  }

  private post(message: ToReportView): void {
    void this.panel?.webview.postMessage(message);
  }

  private documentName(): string {
    return this.document ? vscode.workspace.asRelativePath(this.document.uri) : '';
  }

  private async reveal(start: number, end: number): Promise<void> {
    const document = this.document;
    if (!document || document.isClosed) return;
    const length = documentLength(document);
    const range = new vscode.Range(document.positionAt(Math.min(start, length)), document.positionAt(Math.min(end, length)));
    const visible = vscode.window.visibleTextEditors.find((editor) => editor.document === document);
    const editor = await vscode.window.showTextDocument(document, { viewColumn: visible?.viewColumn ?? vscode.ViewColumn.One, selection: range, preserveFocus: false });
    editor.revealRange(range, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
  }

  /** Where to save: the probe's answer in tests, else the save dialog (beside the workspace's first folder). */
  private async saveTarget(name: string, filters: Record<string, string[]>): Promise<vscode.Uri | undefined> {
    const answer = this.probe.takeAnswer<vscode.Uri>();
    if (answer) return answer;
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    return vscode.window.showSaveDialog({ defaultUri: folder ? vscode.Uri.joinPath(folder, name) : undefined, filters });
  }

  private async export(format: ExportFormat): Promise<void> {
    const document = this.document;
    if (!document) return;
    const base = vscode.workspace.asRelativePath(document.uri).replace(/[\\/:]/gu, '_');
    const [suffix, filters] = EXPORTS[format];
    const target = await this.saveTarget(`${base}${suffix}`, filters);
    if (!target) return;
    const params = { uri: document.uri.toString(), format, title: `LM Lens report: ${base}` };
    if (target.scheme === 'file') {
      await this.model.request('export', reportExportRequest, { ...params, path: target.fsPath });
    } else {
      const { content } = await this.model.request('export', reportExportRequest, params);
      await this.write(target, new TextEncoder().encode(content ?? ''));
    }
    this.probe.savedFile(target);
  }

  private async savePng(chart: string, dataUrl: string): Promise<void> {
    const base = this.document ? vscode.workspace.asRelativePath(this.document.uri).replace(/[\\/:]/gu, '_') : 'report';
    const target = await this.saveTarget(`${base}.${chart}.png`, { 'PNG image': ['png'] });
    if (!target) return;
    await this.write(target, Buffer.from(dataUrl.slice(dataUrl.indexOf(',') + 1), 'base64'));
    this.probe.savedFile(target);
  }

  private async write(target: vscode.Uri, content: Uint8Array): Promise<void> {
    try {
      await vscode.workspace.fs.writeFile(target, content);
    } catch (error) {
      throw new Error(`Could not write ${target.scheme === 'file' ? target.fsPath : target.toString()}: ${errorMessage(error)}. Choose another folder.`, { cause: error });
    }
  }

  dispose(): void {
    this.panel?.dispose();
    this.feed.dispose();
    for (const disposable of this.disposables.splice(0)) disposable.dispose();
  }
}

/** The document a command argument names (a URI, or `{ uri }` from the hover), else the active editor's. */
async function documentOf(arg: unknown): Promise<vscode.TextDocument | undefined> {
  const named = arg instanceof vscode.Uri ? arg : typeof arg === 'object' && arg !== null && typeof (arg as { uri?: unknown }).uri === 'string' ? vscode.Uri.parse((arg as { uri: string }).uri) : undefined;
  if (named) return vscode.workspace.textDocuments.find((document) => document.uri.toString() === named.toString()) ?? vscode.workspace.openTextDocument(named);
  return vscode.window.activeTextEditor?.document ?? vscode.window.visibleTextEditors[0]?.document;
}
