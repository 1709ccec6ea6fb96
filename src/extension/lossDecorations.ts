/**
 * Sentence loss as editor decorations with a hover (Error Lens style), drawn from what the model
 * process pushes. The documents live there (see src/host/documentStore.ts): this adapter opens
 * the on-screen documents of the enabled languages, forwards their edits, says which are on
 * screen, and draws each push for the version it was computed for. It splits no sentence and
 * plans no re-score.
 */
import * as vscode from 'vscode';
import { LmLensError } from '../core/errors';
import { STATUS_ITEMS } from '../shared/commands';
import { documentStatusNotification, sentenceScoresNotification, statsRequest } from '../shared/hostProtocol';
import type { DocumentStatusParams, SentenceScoresParams } from '../shared/hostProtocol';
import { onConfigChange, readConfig } from './configuration';
import type { LmLensConfig } from './configuration';
import { DocumentSync } from './documentSync';
import { bandOf } from './lossBands';
import { LossCommands } from './lossCommands';
import { buildSentenceHover } from './lossHover';
import { scoringNote } from '../shared/engineNotes';
import { planDecorations, tokenAt, tokenRange } from './lossRanges';
import { DocumentLossSession } from './lossDocument';
import { Session, SessionMap } from './session';
import { LossProbe } from './lossProbe';
import { LossDecorationTypes, isHighContrast, sameStyle } from './lossStyles';
import type { ModelController } from './modelController';
import { LIVENESS_TIMEOUT_MS, PushWatchdog } from './pushWatchdog';

type LossConfig = LmLensConfig['loss'];

const documentLength = (document: vscode.TextDocument): number => document.offsetAt(document.lineAt(document.lineCount - 1).range.end);

/** What exists while sentence loss is on: listeners, hover provider, progress item, decoration types. */
class LossOn extends Session {
  hover: vscode.Disposable | undefined;
  types: LossDecorationTypes | undefined;
  constructor(readonly progress: vscode.StatusBarItem) {
    super();
    this.own(progress);
    this.own({
      dispose: () => {
        this.hover?.dispose();
        // Disposing the types removes their decorations from every editor.
        this.types?.dispose();
      },
    });
  }
}

/**
 * The long-lived feature: it turns sentence loss on and off (a LossOn session), starts a
 * DocumentLossSession for each document it takes up and ends it when the document goes, and
 * routes editor events and pushes to them.
 */
export class SentenceLossFeature implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  private on: LossOn | undefined;
  private config: LossConfig;
  private readonly sync: DocumentSync;
  /** Notices a model process that hangs while it scores (no request is outstanding then). */
  private readonly watchdog: PushWatchdog;
  private readonly documents = new SessionMap<DocumentLossSession>();
  private readonly updates = new vscode.EventEmitter<string>();
  /** A document's pushed scores or scoring status changed, or it was forgotten (the document report follows it). */
  readonly onDidUpdate = this.updates.event;
  /** The tests' view (see the test API in extension.ts). */
  readonly probe = new LossProbe({
    enabled: () => this.enabled,
    results: (uri) => this.documents.get(uri)?.results.snapshot(uri, this.config.thresholds),
    decorations: (uri) => {
      const plan = this.documents.get(uri)?.drawn;
      return plan && { mode: plan.mode, groups: plan.groups.map((ranges) => ranges.map(({ start, end }) => ({ start, end }))), annotations: [...plan.annotations] };
    },
    idle: (uri) => this.isIdle(uri),
    status: (uri) => this.statusOf(uri),
  });

  private get enabled(): boolean {
    return this.on !== undefined;
  }

  constructor(
    readonly context: vscode.ExtensionContext,
    readonly model: ModelController,
  ) {
    this.config = readConfig().loss;
    this.sync = new DocumentSync(model.client);
    this.watchdog = new PushWatchdog(() => model.client.request(statsRequest, null, undefined, LIVENESS_TIMEOUT_MS));
    this.disposables.push(
      model.client.onNotification(sentenceScoresNotification, (push) => this.onScores(push)),
      model.client.onNotification(documentStatusNotification, (status) => this.onStatus(status)),
      this.watchdog,
      this.updates,
      new LossCommands(model, { sentenceAt: (uri, version, offset) => this.documents.get(uri)?.results.sentenceAt(uri, version, offset) }),
      onConfigChange(['loss'], (config) => this.applyConfig(config.loss)),
      // A new server knows no documents: open them again from the editor's text.
      model.client.onConnected(() => this.sync.flush()),
    );
    if (this.config.enabled) this.enable();
  }

  private isIdle(uri: string): boolean {
    if (!this.enabled) return true;
    const session = this.documents.get(uri);
    if (session?.consent === 'asking' || session?.consent === 'declined') return true;
    const document = vscode.workspace.textDocuments.find((candidate) => candidate.uri.toString() === uri);
    return document !== undefined && session?.opened === true && session.results.settled(uri, document.version);
  }

  private notifyWaiters(): void {
    this.probe.changed();
  }

  /** Whether the model process holds this document's scores, or will once it is on screen. */
  covers(document: vscode.TextDocument): boolean {
    return this.enabled && this.tracked(document) && this.documents.get(document.uri.toString())?.consent !== 'declined';
  }

  /** What the model process last said about scoring the document. */
  statusOf(uri: string): DocumentStatusParams | undefined {
    return this.documents.get(uri)?.status;
  }

  // -------------------------------------------------------------------------------------------
  // Enabling, settings

  private applyConfig(next: LossConfig): void {
    const languagesChanged = next.languages.join('\n') !== this.config.languages.join('\n');
    const capChanged = next.maxDocumentChars !== this.config.maxDocumentChars;
    this.config = next;
    if (next.enabled !== this.enabled) {
      if (next.enabled) this.enable();
      else this.disable();
      return;
    }
    if (!this.enabled) return;
    if (languagesChanged || capChanged) {
      if (languagesChanged) this.registerHover();
      for (const document of vscode.workspace.textDocuments) if (!this.tracked(document)) this.forget(document.uri.toString());
      this.syncVisible();
    }
    this.refreshTypes();
    this.renderAll();
  }

  private enable(): void {
    const progress = vscode.window.createStatusBarItem(STATUS_ITEMS.lossProgress, vscode.StatusBarAlignment.Left, 0);
    progress.name = 'LM Lens sentence loss';
    progress.text = '$(sync~spin) LM Lens: scoring…';
    const on = new LossOn(progress);
    this.on = on;
    for (const listener of [
      vscode.workspace.onDidChangeTextDocument((event) => this.onDidChange(event)),
      vscode.workspace.onDidCloseTextDocument((document) => this.forget(document.uri.toString())),
      vscode.window.onDidChangeVisibleTextEditors(() => {
        this.syncVisible();
        this.renderAll();
      }),
      // The active document goes first.
      vscode.window.onDidChangeActiveTextEditor(() => this.syncVisible()),
      vscode.window.onDidChangeActiveColorTheme(() => {
        if (this.refreshTypes()) this.renderAll();
      }),
    ])
      on.own(listener);
    this.registerHover();
    this.refreshTypes();
    this.syncVisible();
  }

  private disable(): void {
    const uris = this.documents.keys;
    // Edits are not forwarded while off: the model process must not keep a text that goes stale.
    this.documents.dispose();
    this.on?.dispose();
    this.on = undefined;
    this.notifyWaiters();
    for (const uri of uris) this.updates.fire(uri);
  }

  private registerHover(): void {
    if (!this.on) return;
    this.on.hover?.dispose();
    const selector = this.config.languages.map((language) => ({ language }));
    this.on.hover = vscode.languages.registerHoverProvider(selector, { provideHover: (document, position) => this.provideHover(document, position) });
  }

  /** Recreates the decoration types when their look changed; true when it did. */
  private refreshTypes(): boolean {
    const key = { mode: this.config.mode, annotations: this.config.showAnnotation, highContrast: isHighContrast(vscode.window.activeColorTheme.kind) };
    const on = this.on;
    if (!on || (on.types && sameStyle(on.types.key, key))) return false;
    on.types?.dispose();
    on.types = new LossDecorationTypes(key);
    for (const session of this.documents.values()) session.drawn = undefined;
    return true;
  }

  private tracked(document: vscode.TextDocument): boolean {
    return this.config.languages.includes(document.languageId);
  }

  // -------------------------------------------------------------------------------------------
  // Documents → model process

  /** Opens the on-screen documents (asking first for long ones) and tells which are on screen. */
  private syncVisible(): void {
    if (!this.enabled) return;
    const active = vscode.window.activeTextEditor;
    const editors = active ? [active, ...vscode.window.visibleTextEditors] : vscode.window.visibleTextEditors;
    const visible: string[] = [];
    for (const { document } of editors) {
      const uri = document.uri.toString();
      if (!this.tracked(document) || document.isClosed || visible.includes(uri)) continue;
      const session = this.documents.open(uri, () => new DocumentLossSession(uri, { sync: this.sync, undraw: (gone) => this.undraw(gone) }));
      if (!session.opened && this.consented(session, document)) session.open(document);
      visible.push(uri);
    }
    this.sync.focus(visible);
    this.notifyWaiters();
  }

  private consented(session: DocumentLossSession, document: vscode.TextDocument): boolean {
    if (session.consent === 'accepted') return true;
    const length = documentLength(document);
    if (length <= this.config.maxDocumentChars) return true;
    if (session.consent === undefined) void this.askConsent(session, document, length);
    return false;
  }

  private async askConsent(session: DocumentLossSession, document: vscode.TextDocument, length: number): Promise<void> {
    session.consent = 'asking';
    const name = vscode.workspace.asRelativePath(document.uri);
    const choice = await vscode.window.showInformationMessage(`LM Lens: Score this long document? It has ${length.toLocaleString('en-US')} characters (${name}).`, 'Score', 'Not now');
    // The document closed or the feature went off meanwhile: the answer belongs to no one.
    if (session.disposed || session.consent !== 'asking') return;
    session.consent = choice === 'Score' ? 'accepted' : 'declined';
    this.syncVisible();
  }

  private onDidChange(event: vscode.TextDocumentChangeEvent): void {
    const { document } = event;
    const uri = document.uri.toString();
    const session = this.documents.get(uri);
    if (!session?.opened || event.contentChanges.length === 0) return;
    // Grown past the limit while open: stop scoring it until the user agrees.
    const lengthAfter = event.contentChanges.some((change) => change.text.length > change.rangeLength) ? documentLength(document) : 0;
    if (lengthAfter > this.config.maxDocumentChars && session.consent !== 'accepted') {
      this.forget(uri);
      this.syncVisible();
      return;
    }
    // Decorations are left alone while typing: VS Code moves them with the text.
    this.sync.change(document, event.contentChanges);
    this.notifyWaiters();
  }

  /** Closed (or no longer tracked) documents: the model process frees them, and so does this side. */
  private forget(uri: string): void {
    this.documents.close(uri);
    this.notifyWaiters();
    this.updates.fire(uri);
  }

  // -------------------------------------------------------------------------------------------
  // Model process → screen

  private onScores(push: SentenceScoresParams): void {
    // A push for a document no session holds, or for an earlier opening of it, is dropped.
    if (!this.documents.get(push.uri)?.applyScores(push)) return;
    this.watchdog.heard(this.scoringAny());
    this.probe.pushed(push);
    this.render(push.uri);
    this.notifyWaiters();
    this.updates.fire(push.uri);
  }

  private onStatus(status: DocumentStatusParams): void {
    if (!this.documents.get(status.uri)?.applyStatus(status)) return;
    this.watchdog.heard(this.scoringAny());
    this.probe.statused(status);
    const document = vscode.workspace.textDocuments.find((candidate) => candidate.uri.toString() === status.uri);
    const current = document?.version === status.version;
    if (status.state === 'failed' && current) void this.model.reportError(new LmLensError(status.code ?? 'internal', status.message ?? 'Scoring failed.'));
    this.showProgress();
    this.notifyWaiters();
    this.updates.fire(status.uri);
  }

  private scoringAny(): boolean {
    return this.documents.values().some((session) => session.opened && session.status?.state === 'scoring');
  }

  private showProgress(): void {
    const busy = vscode.window.visibleTextEditors.find(({ document }) => {
      const status = this.statusOf(document.uri.toString());
      return status?.state === 'scoring' && status.version === document.version;
    });
    const progress = this.on?.progress;
    if (!progress) return;
    if (busy) {
      progress.tooltip = `LM Lens is scoring the sentences of ${vscode.workspace.asRelativePath(busy.document.uri)}`;
      progress.show();
    } else progress.hide();
  }

  private editorsOf(uri: string): vscode.TextEditor[] {
    return vscode.window.visibleTextEditors.filter((editor) => editor.document.uri.toString() === uri);
  }

  private undraw(uri: string): void {
    for (const editor of this.editorsOf(uri)) this.on?.types?.clear(editor);
  }

  private renderAll(): void {
    const uris = new Set(vscode.window.visibleTextEditors.map((editor) => editor.document.uri.toString()));
    for (const uri of uris) this.render(uri);
  }

  private render(uri: string): void {
    const types = this.on?.types;
    const session = this.documents.get(uri);
    const editors = this.editorsOf(uri);
    const document = editors[0]?.document;
    if (!types || !session || !document) return;
    // Only results for this exact text: anything else would put colours on the wrong words.
    const held = session.results.current(uri, document.version);
    if (!held) return;
    const mode = types.key.mode;
    const lines = types.annotation ? { lineAt: (offset: number) => document.positionAt(offset).line, lineEnd: (line: number) => document.offsetAt(document.lineAt(line).range.end) } : undefined;
    const plan = planDecorations(mode === 'token' ? document.getText() : '', held.sentences, { mode, thresholds: this.config.thresholds, lines });
    types.draw(editors, plan, document);
    session.drawn = plan;
  }

  private provideHover(document: vscode.TextDocument, position: vscode.Position): vscode.Hover | undefined {
    const offset = document.offsetAt(position);
    const sentence = this.documents.get(document.uri.toString())?.results.sentenceAt(document.uri.toString(), document.version, offset);
    if (!sentence) return undefined;
    const mode = this.config.mode;
    const text = mode === 'token' ? document.getText() : '';
    const token = mode === 'token' ? tokenAt(text, sentence.tokens, offset) : undefined;
    const thresholds = this.config.thresholds;
    const engineNote = scoringNote(this.model.state);
    const content = buildSentenceHover({ sentence, band: bandOf(sentence.loss, thresholds), thresholds, mode, token, uri: document.uri.toString(), engineNote, version: document.version });
    const markdown = new vscode.MarkdownString(content.markdown);
    markdown.isTrusted = { enabledCommands: content.enabledCommands };
    // For the theme-coloured swatches only (see swatchHtml).
    markdown.supportHtml = true;
    const range = (token && tokenRange(text, token)) ?? sentence;
    return new vscode.Hover(markdown, new vscode.Range(document.positionAt(range.start), document.positionAt(range.end)));
  }

  dispose(): void {
    this.disable();
    for (const disposable of this.disposables.splice(0)) disposable.dispose();
  }
}
