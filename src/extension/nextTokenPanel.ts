import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { predictionToJson, predictionToMarkdown } from './exportTable';
import { buildPanelHtml } from './panelHtml';
import { isFollowable, keyOf, moveCursorTo, targetOf } from './panelTarget';
import { LayersController } from './layersController';
import { DEFAULT_LENS_CONTROLS } from '../shared/layersView';
import type { LensControls } from '../shared/layersView';
import { LmLensError, errorMessage, isCancelled } from '../core/errors';
import type { ModelState } from '../shared/hostProtocol';
import { nextTokenRequest, sampleRequest } from '../shared/hostProtocol';
import { onConfigChange, readConfig, updateSetting } from './configuration';
import type { ModelController } from './modelController';
import { SETTINGS } from '../shared/settings';
import { CONTROL_LIMITS, CONTROL_SETTINGS, DEFAULT_SAMPLE_OPTIONS, PANEL_VIEW_TYPE, SAMPLE_LIMITS, mergeLimited, modelStatus, parseWebviewMessage, predictionView, samplesView, samplingParams } from '../shared/panelProtocol';
import type { CopyFormat, ExtensionMessage, ModelStatusView, PanelControls, PanelState, WebviewMessage } from '../shared/panelProtocol';
import { COMMANDS } from '../shared/commands';
import { nextWordLength } from './branchEdit';
import type { BranchArgs } from './branchEdit';

const TAIL_TOKENS = 12;

const CONTROL_KEYS = Object.keys(CONTROL_LIMITS) as Array<keyof PanelControls>;

function controlsFromConfig(): PanelControls {
  const { topK, temperature, topP, samplingTopK } = readConfig().nextToken;
  return { k: topK, temperature, topP, samplingTopK };
}

/**
 * The "Next token" webview panel: follows the cursor of the text editor the user writes in and
 * shows the model's next-token distribution there, with sampling controls and a Sample action.
 * One panel at most; editor listeners exist only while it is open.
 */
export class NextTokenPanelController implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  private panelDisposables: vscode.Disposable[] = [];
  private panel: vscode.WebviewPanel | undefined;
  /** The webview's script said `ready` and has not been unloaded since (hidden webviews are). */
  private webviewReady = false;
  private editor: vscode.TextEditor | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Numbers every prediction request; only the newest one's answer may reach the screen. */
  private sequence = 0;
  private sampleRuns = 0;
  /** Target keys the shown prediction and samples were made for. */
  private predictionKey: string | undefined;
  private samplesKey: string | undefined;
  /** Something changed while the panel was hidden: predict when it shows again. */
  private stale = false;
  private debounceMs = readConfig().nextToken.debounceMs;
  private view: PanelState;
  private readonly renderEmitter = new vscode.EventEmitter<PanelState>();
  /** Fires with the panel's whole state each time a message reaches the live webview. */
  readonly onDidRender = this.renderEmitter.event;
  private readonly closeEmitter = new vscode.EventEmitter<void>();
  private readonly layers: LayersController;
  /** The panel was closed: what it showed is gone. */
  readonly onDidClose = this.closeEmitter.event;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly model: ModelController,
  ) {
    this.view = { model: modelStatus(model.state), hasEditor: false, controls: controlsFromConfig(), sampleOptions: { ...DEFAULT_SAMPLE_OPTIONS }, updating: false, sampling: false, lens: { ...DEFAULT_LENS_CONTROLS } };
    this.layers = new LayersController(model);
    this.disposables.push(
      this.layers,
      this.renderEmitter,
      this.closeEmitter,
      vscode.commands.registerCommand(COMMANDS.showNextTokenProbabilities, async (at?: unknown) => {
        await moveCursorTo(at);
        this.show();
      }),
      vscode.commands.registerCommand(COMMANDS.sampleContinuations, async () => {
        this.show();
        await this.sample();
      }),
      vscode.window.registerWebviewPanelSerializer(PANEL_VIEW_TYPE, {
        deserializeWebviewPanel: async (panel, state) => this.adopt(panel, state),
      }),
    );
  }

  get isOpen(): boolean {
    return this.panel !== undefined;
  }

  /** Closes the panel (its listeners go with it); the commands stay. */
  close(): void {
    this.panel?.dispose();
  }

  /** Opens the panel beside the editor without taking focus, or reveals it. */
  show(): void {
    if (this.panel) {
      this.panel.reveal(undefined, true);
      this.schedule(0);
      return;
    }
    const panel = vscode.window.createWebviewPanel(PANEL_VIEW_TYPE, 'Next token', { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, this.webviewOptions());
    this.adopt(panel, undefined);
  }

  private webviewOptions(): vscode.WebviewOptions {
    const root = this.context.extensionUri;
    return { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(root, 'dist'), vscode.Uri.joinPath(root, 'media')] };
  }

  /** Wires a new or restored panel; `saved` is the webview's `setState` value after a reload. */
  private adopt(panel: vscode.WebviewPanel, saved: unknown): void {
    if (this.panel) {
      panel.dispose();
      return;
    }
    this.panel = panel;
    this.webviewReady = false;
    const sampleOptions = parseWebviewMessage({ type: 'setSampleOptions', options: typeof saved === 'object' && saved ? (saved as Record<string, unknown>).sampleOptions : undefined });
    this.view = {
      ...this.view,
      model: modelStatus(this.model.state),
      controls: controlsFromConfig(),
      ...(sampleOptions?.type === 'setSampleOptions' ? { sampleOptions: mergeLimited(SAMPLE_LIMITS, DEFAULT_SAMPLE_OPTIONS, sampleOptions.options) } : {}),
    };
    this.editor = undefined;
    this.follow(vscode.window.activeTextEditor);
    this.panelDisposables = [
      panel.onDidDispose(() => this.closed()),
      panel.onDidChangeViewState(() => {
        // Without retainContextWhenHidden a hidden webview is unloaded; it says `ready` again when shown.
        if (!panel.visible) this.webviewReady = false;
        else if (this.stale) this.schedule(0);
      }),
      panel.webview.onDidReceiveMessage((message: unknown) =>
        this.handleMessage(message).catch((error: unknown) => void vscode.window.showErrorMessage(`LM Lens: ${errorMessage(error)}`)),
      ),
      vscode.window.onDidChangeActiveTextEditor((editor) => this.follow(editor)),
      vscode.window.onDidChangeVisibleTextEditors(() => this.follow(vscode.window.activeTextEditor)),
      vscode.window.onDidChangeTextEditorSelection((event) => (event.textEditor === this.editor ? this.schedule() : this.follow(event.textEditor))),
      vscode.workspace.onDidChangeTextDocument((event) => {
        if (event.contentChanges.length > 0 && event.document === this.editor?.document) this.schedule();
      }),
      this.model.onDidChangeState((state) => this.onModelState(state)),
      onConfigChange(['nextToken'], () => this.onConfigChanged()),
    ];
    const { webview } = panel;
    const uri = (...parts: string[]): string => webview.asWebviewUri(vscode.Uri.joinPath(this.context.extensionUri, ...parts)).toString();
    webview.html = buildPanelHtml({ cspSource: webview.cspSource, nonce: randomBytes(16).toString('base64'), scriptUri: uri('dist', 'webview.js'), styleUri: uri('media', 'panel.css') });
    this.schedule(0);
  }

  /**
   * Follows `candidate` when it is an editor the user writes in. Otherwise (focus moved to the
   * panel, an output view) keeps the current editor while it is visible, else any visible one.
   */
  private follow(candidate: vscode.TextEditor | undefined): void {
    const visible = vscode.window.visibleTextEditors.filter(isFollowable);
    const current = this.editor;
    const next = isFollowable(candidate)
      ? candidate
      : current && visible.includes(current)
        ? current
        : (visible.find((editor) => editor.document === current?.document) ?? visible[0]);
    if (next === this.editor) return;
    this.editor = next;
    if (this.view.hasEditor !== (next !== undefined)) this.update({ hasEditor: next !== undefined });
    this.schedule(0);
  }

  /** Debounces a prediction; the shown one stays, marked as updating. */
  private schedule(delay = this.debounceMs): void {
    if (!this.panel) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.panel.visible) {
      this.stale = true;
      return;
    }
    this.stale = false;
    this.setUpdating(true);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.refresh();
    }, delay);
  }

  private async refresh(): Promise<void> {
    const sequence = ++this.sequence;
    const target = targetOf(this.editor);
    if (!target) {
      this.update({ hasEditor: false, prediction: undefined, updating: false });
      return;
    }
    const { controls } = this.view;
    try {
      const response = await this.model.request('panel', nextTokenRequest, { text: target.text, top: controls.k, tailTokens: TAIL_TOKENS, ...samplingParams(controls) });
      // A newer request, or an edit or cursor move while this one ran, makes the answer stale.
      if (sequence !== this.sequence || !this.editor || keyOf(this.editor) !== target.key) return;
      this.predictionKey = target.key;
      this.update({
        hasEditor: true,
        model: modelStatus(this.model.state),
        prediction: predictionView(sequence, response, {
          emptyContext: target.text.length === 0,
          cut: target.cut,
          fileName: vscode.workspace.asRelativePath(target.document.uri, false),
          line: target.position.line + 1,
          column: target.position.character + 1,
        }),
        samples: this.view.samples && { ...this.view.samples, stale: this.samplesKey !== target.key },
        updating: this.timer !== undefined,
      });
      // The Layers view follows the prediction; a newer prediction, or the view turned off meanwhile, drops its answer.
      const layers = this.view.lens?.show ? await this.layers.refresh(sequence, target, this.view.lens) : undefined;
      if (layers && sequence === this.sequence && this.view.lens?.show) this.update(layers);
    } catch (error) {
      if (sequence !== this.sequence) return;
      // Cancelled from outside (the controller cancels every feature on a settings change): ask again, or the old table stays.
      if (isCancelled(error)) return this.schedule(0);
      this.update({ hasEditor: true, model: errorView(error), updating: false });
      void this.model.reportError(error);
    }
  }

  /** On: predict again (the lens follows it); off: no grid, no shading; a layer or head: re-picked from the kept answer. */
  private setLens(changes: Partial<LensControls>): void {
    const previous = this.view.lens ?? DEFAULT_LENS_CONTROLS;
    const lens = { ...previous, ...changes };
    if (!lens.show) {
      this.layers.clear();
      this.update({ lens, layers: undefined, layersNote: undefined });
    } else if (!previous.show) {
      this.update({ lens });
      this.schedule(0);
    } else {
      this.update({ lens, layers: this.layers.repick(lens) ?? this.view.layers });
    }
  }

  private onModelState(state: ModelState): void {
    this.update({ model: modelStatus(state) });
    // After a restart or a model switch the pending request was cancelled: ask again, which also starts the load.
    if (state.state === 'idle') this.schedule(0);
  }

  private onConfigChanged(): void {
    this.debounceMs = readConfig().nextToken.debounceMs;
    const controls = controlsFromConfig();
    if (CONTROL_KEYS.every((key) => controls[key] === this.view.controls[key])) return;
    this.update({ controls });
    this.schedule(0);
  }

  /** Test hook and the webview's only way in: validates `raw` and acts on it; unknown messages are ignored. */
  async handleMessage(raw: unknown): Promise<void> {
    const message = parseWebviewMessage(raw);
    switch (message?.type) {
      case 'ready':
        this.webviewReady = true;
        this.post({ type: 'state', state: this.view });
        return;
      case 'setControls':
        return this.setControls(message.controls);
      case 'setSampleOptions':
        this.update({ sampleOptions: mergeLimited(SAMPLE_LIMITS, this.view.sampleOptions, message.options) });
        return;
      case 'insert':
        return this.insert(message);
      case 'sample':
        return this.sample();
      case 'copy':
        return this.copy(message.format);
      case 'retry':
        await this.model.retry();
        this.schedule(0);
        return;
      case 'openSettings':
        return this.model.openSettings(this.view.model.kind === 'error' ? this.view.model.code : undefined);
      case 'selectModel':
        await vscode.commands.executeCommand(COMMANDS.selectModel);
        return;
      case 'setLens':
        return this.setLens(message.lens);
    }
  }

  /** Applies at once, then persists to the settings where the value is defined (see updateSetting); a default value is removed. */
  private async setControls(changes: Partial<PanelControls>): Promise<void> {
    const previous = this.view.controls;
    const controls = mergeLimited(CONTROL_LIMITS, previous, changes);
    this.update({ controls });
    this.schedule(0);
    try {
      for (const key of CONTROL_KEYS.filter((name) => controls[name] !== previous[name])) {
        const setting = CONTROL_SETTINGS[key];
        await updateSetting(setting, controls[key] === SETTINGS[setting].default ? undefined : controls[key]);
      }
    } catch (error) {
      void vscode.window.showWarningMessage(`LM Lens: could not save the panel's settings: ${errorMessage(error)}`);
    }
  }

  private async insert(message: Extract<WebviewMessage, { type: 'insert' }>): Promise<void> {
    const { prediction, samples } = this.view;
    const editor = this.editor;
    if (!editor || editor.document.isClosed) return;
    // A row of a table made for an earlier cursor would insert a token predicted for other text.
    const text =
      message.source === 'prediction'
        ? prediction?.id === message.resultId && this.predictionKey === keyOf(editor)
          ? prediction.rows[message.index]?.text
          : undefined
        : samples?.id === message.resultId
          ? samples.sequences[message.index]?.text
          : undefined;
    if (text === undefined) return;
    const position = editor.selection.active;
    if (message.source === 'prediction' && (message.replace || message.continueAfter)) return this.branch(editor, position, text, message.continueAfter === true);
    if (!(await editor.edit((edit) => edit.insert(position, text)))) return;
    // Put the cursor after the insertion, so the next prediction continues from there.
    const end = editor.document.positionAt(editor.document.offsetAt(position) + text.length);
    editor.selection = new vscode.Selection(end, end);
    editor.revealRange(new vscode.Range(end, end));
  }

  /** *Replace* (and *continue*) from a row: through the hover's commands, so the same checks and the one undo apply. */
  private async branch(editor: vscode.TextEditor, position: vscode.Position, token: string, continueAfter: boolean): Promise<void> {
    const { document } = editor;
    const start = document.offsetAt(position);
    const lineRest = document.lineAt(position.line).text.slice(position.character);
    const original = lineRest.slice(0, nextWordLength(lineRest));
    const args: BranchArgs = { uri: document.uri.toString(), version: document.version, start, end: start + original.length, original, replacement: token };
    await vscode.commands.executeCommand(continueAfter ? COMMANDS.replaceTokenAndContinue : COMMANDS.replaceToken, args);
  }

  private async sample(): Promise<void> {
    const target = targetOf(this.editor);
    if (!target || this.view.sampling) return;
    const { controls, sampleOptions } = this.view;
    const id = ++this.sampleRuns;
    this.update({ sampling: true });
    try {
      // Not the panel's channel: a cursor move must not cancel a run the user asked for.
      const response = await this.model.request('command', sampleRequest, { text: target.text, ...sampleOptions, ...samplingParams(controls) });
      this.samplesKey = target.key;
      const stale = !this.editor || keyOf(this.editor) !== target.key;
      this.update({ sampling: false, samples: samplesView(id, response, stale) });
    } catch (error) {
      if (isCancelled(error)) return this.update({ sampling: false });
      this.update({ sampling: false, model: errorView(error) });
      void this.model.reportError(error);
    }
  }

  private async copy(format: CopyFormat): Promise<void> {
    const prediction = this.view.prediction;
    if (!prediction) return;
    const text = format === 'json' ? predictionToJson(prediction, this.view.controls) : predictionToMarkdown(prediction, this.view.controls);
    try {
      await vscode.env.clipboard.writeText(text);
      vscode.window.setStatusBarMessage(`LM Lens: copied the next-token table as ${format === 'json' ? 'JSON' : 'Markdown'}`, 3000);
    } catch (error) {
      void vscode.window.showWarningMessage(`LM Lens: could not copy: ${errorMessage(error)}`);
    }
  }

  private setUpdating(updating: boolean): void {
    if (this.view.updating === updating) return;
    this.view = { ...this.view, updating };
    this.post({ type: 'busy', updating });
  }

  private update(changes: Partial<PanelState>): void {
    this.view = { ...this.view, ...changes };
    this.post({ type: 'state', state: this.view });
  }

  private post(message: ExtensionMessage): void {
    // Before `ready` the script is not listening; the handshake sends the whole state then.
    if (!this.panel || !this.webviewReady) return;
    void this.panel.webview.postMessage(message);
    this.renderEmitter.fire(this.view);
  }

  private closed(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    // Answers still in flight belong to a panel that is gone.
    this.sequence++;
    this.model.channel('panel').cancel();
    for (const disposable of this.panelDisposables.splice(0)) disposable.dispose();
    this.panel = undefined;
    this.webviewReady = false;
    this.editor = undefined;
    this.predictionKey = undefined;
    this.layers.clear();
    this.view = { ...this.view, prediction: undefined, samples: undefined, layers: undefined, layersNote: undefined, updating: false, sampling: false };
    this.closeEmitter.fire();
  }

  dispose(): void {
    this.panel?.dispose();
    for (const disposable of this.disposables.splice(0)) disposable.dispose();
  }
}

function errorView(error: unknown): ModelStatusView {
  return { kind: 'error', message: errorMessage(error), ...(error instanceof LmLensError ? { code: error.code } : {}) };
}
