/**
 * Sentence loss as editor decorations with a hover (Error Lens style). The adapter only wires
 * VS Code events to the pure pieces: lossState (what is valid, where to re-score from),
 * lossRanges (what to draw), lossHover (what to say), lossStyles (how it looks).
 *
 * One document is scored at a time (the model process serves one 'loss' request at a time
 * anyway, and a second request would cancel the first): visible documents only, the active
 * one first, each re-scored from the first sentence an edit touched.
 */
import * as vscode from 'vscode';
import { isCancelled } from '../core/errors';
import { LineIndex, splitSentences } from '../core/sentences';
import type { TextRange } from '../core/sentences';
import { scoreSentencesRequest } from '../shared/hostProtocol';
import { onConfigChange, readConfig } from './configuration';
import type { LmLensConfig } from './configuration';
import { bandOf } from './lossBands';
import { LossCommands, scoringTimeoutMs } from './lossCommands';
import { buildSentenceHover } from './lossHover';
import { planDecorations, tokenAt, tokenRange } from './lossRanges';
import type { DecorationPlan, LossMode } from './lossRanges';
import { DocumentLossState } from './lossState';
import type { LossResultsSnapshot } from './lossState';
import { LossDecorationTypes, isHighContrast, sameStyle } from './lossStyles';
import type { ModelController } from './modelController';
import { STATUS_ITEMS } from '../shared/commands';

type LossConfig = LmLensConfig['loss'];

/** Pause after the last keystroke before a document is re-scored. */
export const LOSS_DEBOUNCE_MS = 400;

/** Test hook: what was last drawn for a document, as offsets. */
export interface LossDecorationSnapshot {
  mode: LossMode;
  /** Per band (sentence mode) or GLTR bucket (token mode). */
  groups: TextRange[][];
  annotations: Array<{ offset: number; text: string }>;
}

export class SentenceLossFeature implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  /** Listeners, hover provider, progress item: they exist only while the feature is enabled. */
  private session: vscode.Disposable[] = [];
  private hoverRegistration: vscode.Disposable | undefined;
  private config: LossConfig;
  private enabled = false;
  private types: LossDecorationTypes | undefined;
  private progress: vscode.StatusBarItem | undefined;
  private readonly states = new Map<string, DocumentLossState>();
  private readonly rendered = new Map<string, DecorationPlan>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private draining: Promise<void> | undefined;
  private kickAgain = false;
  private inflight: { uri: string; cancel: vscode.CancellationTokenSource } | undefined;
  /** Model id + dtype of the last ready model: results of another model are dropped. */
  private readyModel: string | undefined;
  private readonly waiters = new Set<() => void>();

  /** Test hook: sentences the model process returned, over all requests. */
  scoredSentenceCount = 0;
  /** Test hook: the last request sent. */
  lastRequest: { uri: string; version: number; fromOffset: number } | undefined;

  constructor(
    readonly context: vscode.ExtensionContext,
    readonly model: ModelController,
  ) {
    this.config = readConfig().loss;
    this.disposables.push(new LossCommands(model), onConfigChange(['loss'], (config) => this.applyConfig(config.loss)));
    if (this.config.enabled) this.enable();
  }

  // -------------------------------------------------------------------------------------------
  // Test hooks (read-only views)

  get isEnabled(): boolean {
    return this.enabled;
  }

  resultsFor(uri: vscode.Uri | string): LossResultsSnapshot | undefined {
    return this.states.get(uri.toString())?.snapshot(this.config.thresholds);
  }

  decorationsFor(uri: vscode.Uri | string): LossDecorationSnapshot | undefined {
    const plan = this.rendered.get(uri.toString());
    return plan && { mode: plan.mode, groups: plan.groups.map((ranges) => ranges.map(({ start, end }) => ({ start, end }))), annotations: [...plan.annotations] };
  }

  /** Resolves once the document's results are complete for its current version (or cannot be). */
  waitForIdle(uri: vscode.Uri | string, timeoutMs = 60_000): Promise<void> {
    const key = uri.toString();
    return new Promise<void>((resolve, reject) => {
      const finish = (error?: Error): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        if (error) reject(error);
        else resolve();
      };
      const check = (): void => {
        if (this.isIdle(key)) finish();
      };
      const timer = setTimeout(() => finish(new Error(`sentence loss still busy with ${key} after ${timeoutMs} ms`)), timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  private isIdle(uri: string): boolean {
    if (!this.enabled) return true;
    const document = vscode.workspace.textDocuments.find((candidate) => candidate.uri.toString() === uri);
    const state = this.states.get(uri);
    if (!document || !state || this.timers.has(uri) || this.inflight?.uri === uri || state.version !== document.version) return false;
    return state.complete || state.failedVersion === document.version || state.consent === 'declined' || state.consent === 'asking';
  }

  private notifyWaiters(): void {
    for (const check of [...this.waiters]) check();
  }

  // -------------------------------------------------------------------------------------------
  // Enabling, settings

  private applyConfig(next: LossConfig): void {
    const languagesChanged = next.languages.join('\n') !== this.config.languages.join('\n');
    this.config = next;
    if (next.enabled !== this.enabled) {
      if (next.enabled) this.enable();
      else this.disable();
      return;
    }
    if (!this.enabled) return;
    if (languagesChanged) {
      this.registerHover();
      for (const uri of [...this.states.keys()]) {
        const document = vscode.workspace.textDocuments.find((candidate) => candidate.uri.toString() === uri);
        if (!document || !this.tracked(document)) this.forget(uri);
      }
    }
    this.refreshTypes();
    this.renderAll();
    this.kick();
  }

  private enable(): void {
    this.enabled = true;
    this.progress = vscode.window.createStatusBarItem(STATUS_ITEMS.lossProgress, vscode.StatusBarAlignment.Left, 0);
    this.progress.name = 'LM Lens sentence loss';
    this.progress.text = '$(sync~spin) LM Lens: scoring…';
    this.session.push(
      this.progress,
      vscode.workspace.onDidChangeTextDocument((event) => this.onDidChange(event)),
      vscode.workspace.onDidCloseTextDocument((document) => this.forget(document.uri.toString())),
      vscode.window.onDidChangeVisibleTextEditors(() => {
        this.renderAll();
        this.kick();
      }),
      // The active document goes first: a switch re-orders the queue.
      vscode.window.onDidChangeActiveTextEditor(() => this.kick()),
      vscode.window.onDidChangeActiveColorTheme(() => {
        if (this.refreshTypes()) this.renderAll();
      }),
      this.model.onDidChangeState((state) => {
        if (state.state === 'ready') this.onModelReady(`${state.info.id}|${state.info.dtype}`);
      }),
    );
    this.registerHover();
    this.refreshTypes();
    this.renderAll();
    this.kick();
  }

  private disable(): void {
    this.enabled = false;
    this.inflight?.cancel.cancel();
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const disposable of this.session.splice(0)) disposable.dispose();
    this.hoverRegistration?.dispose();
    this.hoverRegistration = undefined;
    // Disposing the types removes their decorations from every editor.
    this.types?.dispose();
    this.types = undefined;
    this.progress = undefined;
    // Edits are not tracked while off, so nothing held now could be trusted later.
    this.states.clear();
    this.rendered.clear();
    this.notifyWaiters();
  }

  private registerHover(): void {
    this.hoverRegistration?.dispose();
    const selector = this.config.languages.map((language) => ({ language }));
    this.hoverRegistration = vscode.languages.registerHoverProvider(selector, { provideHover: (document, position) => this.provideHover(document, position) });
  }

  /** Recreates the decoration types when their look changed; true when it did. */
  private refreshTypes(): boolean {
    const key = { mode: this.config.mode, annotations: this.config.showAnnotation, highContrast: isHighContrast(vscode.window.activeColorTheme.kind) };
    if (this.types && sameStyle(this.types.key, key)) return false;
    this.types?.dispose();
    this.types = new LossDecorationTypes(key);
    this.rendered.clear();
    return true;
  }

  private onModelReady(key: string): void {
    const switched = this.readyModel !== undefined && this.readyModel !== key;
    this.readyModel = key;
    for (const state of this.states.values()) {
      if (switched) state.invalidate(state.version);
      state.failedVersion = undefined;
    }
    if (switched) this.renderAll();
    this.kick();
  }

  private tracked(document: vscode.TextDocument): boolean {
    return this.config.languages.includes(document.languageId);
  }

  // -------------------------------------------------------------------------------------------
  // Edits and the scoring queue

  private onDidChange(event: vscode.TextDocumentChangeEvent): void {
    const uri = event.document.uri.toString();
    const state = this.states.get(uri);
    if (!state || event.contentChanges.length === 0) return;
    state.noteChange(
      event.document.version,
      event.contentChanges.map((change) => change.rangeOffset),
    );
    if (this.inflight?.uri === uri) this.inflight.cancel.cancel();
    // Decorations are left alone while typing: VS Code moves them with the text.
    clearTimeout(this.timers.get(uri));
    this.timers.set(
      uri,
      setTimeout(() => {
        this.timers.delete(uri);
        this.kick();
        this.notifyWaiters();
      }, LOSS_DEBOUNCE_MS),
    );
  }

  /** Closed (or no longer tracked) documents: cancel their work and drop everything about them. */
  private forget(uri: string): void {
    if (this.inflight?.uri === uri) this.inflight.cancel.cancel();
    clearTimeout(this.timers.get(uri));
    this.timers.delete(uri);
    this.states.delete(uri);
    if (this.rendered.delete(uri)) {
      for (const editor of this.editorsOf(uri)) this.types?.clear(editor);
    }
    this.notifyWaiters();
  }

  private kick(): void {
    if (!this.enabled) return;
    if (this.draining) {
      // The running loop may already have looked for work: make it look again when done.
      this.kickAgain = true;
      return;
    }
    this.kickAgain = false;
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
      if (this.kickAgain) {
        this.kick();
        return;
      }
      this.progress?.hide();
      this.notifyWaiters();
    });
  }

  private async drain(): Promise<void> {
    for (let next = this.nextDocument(); next; next = this.nextDocument()) {
      await this.scoreOne(next.document, next.state);
      this.notifyWaiters();
    }
  }

  /** The next visible document that needs scoring, the active editor's first. */
  private nextDocument(): { document: vscode.TextDocument; state: DocumentLossState } | undefined {
    if (!this.enabled) return undefined;
    const active = vscode.window.activeTextEditor;
    const editors = active ? [active, ...vscode.window.visibleTextEditors] : vscode.window.visibleTextEditors;
    for (const { document } of editors) {
      const uri = document.uri.toString();
      if (!this.tracked(document) || document.isClosed || this.timers.has(uri)) continue;
      let state = this.states.get(uri);
      if (!state) {
        state = new DocumentLossState(document.version);
        this.states.set(uri, state);
      }
      if (state.needsScoring(document.version) && this.consented(document, state)) return { document, state };
    }
    return undefined;
  }

  /** Long documents wait for a yes, asked once per document while it stays open. */
  private consented(document: vscode.TextDocument, state: DocumentLossState): boolean {
    if (state.consent === 'accepted') return true;
    const length = document.offsetAt(document.lineAt(document.lineCount - 1).range.end);
    if (length <= this.config.maxDocumentChars) return true;
    if (state.consent === 'unasked') void this.askConsent(document, state, length);
    return false;
  }

  private async askConsent(document: vscode.TextDocument, state: DocumentLossState, length: number): Promise<void> {
    state.consent = 'asking';
    const name = vscode.workspace.asRelativePath(document.uri);
    const choice = await vscode.window.showInformationMessage(`LM Lens: Score this long document? It has ${length.toLocaleString('en-US')} characters (${name}).`, 'Score', 'Not now');
    if (this.states.get(document.uri.toString()) !== state) return;
    state.consent = choice === 'Score' ? 'accepted' : 'declined';
    this.notifyWaiters();
    this.kick();
  }

  private async scoreOne(document: vscode.TextDocument, state: DocumentLossState): Promise<void> {
    const uri = document.uri.toString();
    const text = document.getText();
    const version = document.version;
    const plan = state.plan(splitSentences(text, { languageId: document.languageId }), version);
    if (!plan) return;
    if (plan.fromOffset === undefined) {
      // The edit removed every sentence after the kept ones: nothing to ask the model.
      state.apply(plan, version, []);
      this.render(uri);
      return;
    }
    const cancel = new vscode.CancellationTokenSource();
    this.inflight = { uri, cancel };
    this.lastRequest = { uri, version, fromOffset: plan.fromOffset };
    if (this.progress) {
      this.progress.tooltip = `LM Lens is scoring the sentences of ${vscode.workspace.asRelativePath(document.uri)}`;
      this.progress.show();
    }
    try {
      const params = { text, languageId: document.languageId, fromOffset: plan.fromOffset };
      const response = await this.model.request('loss', scoreSentencesRequest, params, cancel.token, scoringTimeoutMs(text.length));
      this.scoredSentenceCount += response.sentences.length;
      if (this.states.get(uri) === state && state.apply(plan, document.version, response.sentences)) this.render(uri);
    } catch (error) {
      if (isCancelled(error)) return;
      // Not retried until the text (or the model) changes; the message is shown once.
      state.failedVersion = version;
      void this.model.reportError(error);
    } finally {
      if (this.inflight?.cancel === cancel) this.inflight = undefined;
      cancel.dispose();
    }
  }

  // -------------------------------------------------------------------------------------------
  // Drawing

  private editorsOf(uri: string): vscode.TextEditor[] {
    return vscode.window.visibleTextEditors.filter((editor) => editor.document.uri.toString() === uri);
  }

  private renderAll(): void {
    const uris = new Set(vscode.window.visibleTextEditors.map((editor) => editor.document.uri.toString()));
    for (const uri of uris) this.render(uri);
  }

  private render(uri: string): void {
    const state = this.states.get(uri);
    const types = this.types;
    const editors = this.editorsOf(uri);
    if (!state || !types || editors.length === 0) return;
    const document = editors[0]?.document as vscode.TextDocument;
    // Held results describe this exact text; anything else would put colours on the wrong words.
    if (state.version !== document.version) return;
    const text = document.getText();
    const plan = planDecorations(text, state.sentences, { mode: types.key.mode, thresholds: this.config.thresholds, annotations: types.annotation !== undefined });
    types.draw(editors, plan, new LineIndex(text));
    this.rendered.set(uri, plan);
  }

  // -------------------------------------------------------------------------------------------
  // Hover

  private provideHover(document: vscode.TextDocument, position: vscode.Position): vscode.Hover | undefined {
    const state = this.states.get(document.uri.toString());
    if (!state || state.version !== document.version) return undefined;
    const offset = document.offsetAt(position);
    const sentence = state.sentenceAt(offset);
    if (!sentence) return undefined;
    const mode = this.config.mode;
    const text = mode === 'token' ? document.getText() : '';
    const token = mode === 'token' ? tokenAt(text, sentence.tokens, offset) : undefined;
    const thresholds = this.config.thresholds;
    const content = buildSentenceHover({ sentence, band: bandOf(sentence.loss, thresholds), thresholds, mode, token, uri: document.uri.toString() });
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
