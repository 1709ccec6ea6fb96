/**
 * One opening of the "Next token" panel, from the moment it opens (or is restored) until it
 * closes: the webview and editor listeners, the debounce timer, the shown prediction and
 * samples, the Layers view's shading, and the requests in flight. Disposing it (the panel
 * closed) ends all of these together; answers still in flight are dropped. The next opening is
 * a new session (see NextTokenPanelController).
 */
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { LmLensError, errorMessage, isCancelled } from '../core/errors';
import { COMMANDS } from '../shared/commands';
import type { ModelState } from '../shared/hostProtocol';
import { nextTokenRequest, sampleRequest } from '../shared/hostProtocol';
import { DEFAULT_LENS_CONTROLS } from '../shared/layersView';
import type { LensControls } from '../shared/layersView';
import { CONTROL_LIMITS, CONTROL_SETTINGS, SAMPLE_LIMITS, mergeLimited, modelStatus, parseWebviewMessage, predictionView, samplesView, samplingParams } from '../shared/panelProtocol';
import type { ExtensionMessage, ModelStatusView, PanelControls, PanelState } from '../shared/panelProtocol';
import { SETTINGS } from '../shared/settings';
import { onConfigChange, readConfig, updateSetting } from './configuration';
import { LayersController } from './layersController';
import type { ModelController } from './modelController';
import { copyTable, insertRow } from './panelActions';
import { buildPanelHtml } from './panelHtml';
import { isFollowable, keyOf, targetOf } from './panelTarget';
import { Session } from './session';

const TAIL_TOKENS = 12;

const CONTROL_KEYS = Object.keys(CONTROL_LIMITS) as Array<keyof PanelControls>;

export function controlsFromConfig(): PanelControls {
  const { topK, temperature, topP, samplingTopK } = readConfig().nextToken;
  return { k: topK, temperature, topP, samplingTopK };
}

export interface PanelSessionHooks {
  /** A message reached the live webview; `view` is the whole state it now shows. */
  rendered(view: PanelState): void;
  /** The session ended; `view` is its last state (the controller keeps what outlives a panel). */
  ended(view: PanelState): void;
}

export class PanelSession extends Session {
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
  private readonly layers: LayersController;

  constructor(
    readonly panel: vscode.WebviewPanel,
    private readonly model: ModelController,
    extensionUri: vscode.Uri,
    private view: PanelState,
    private readonly hooks: PanelSessionHooks,
  ) {
    super();
    // Disposed newest first: the listeners go, then the requests in flight are cancelled, then the shading.
    this.layers = this.own(new LayersController(model));
    this.own({ dispose: () => model.channel('panel').cancel() });
    this.own({ dispose: () => panel.dispose() });
    this.follow(vscode.window.activeTextEditor);
    this.own(panel.onDidDispose(() => this.dispose()));
    this.own(
      panel.onDidChangeViewState(() => {
        // Without retainContextWhenHidden a hidden webview is unloaded; it says `ready` again when shown.
        if (!panel.visible) this.webviewReady = false;
        else if (this.stale) this.schedule(0);
      }),
    );
    this.own(panel.webview.onDidReceiveMessage((message: unknown) => this.handleMessage(message).catch((error: unknown) => void vscode.window.showErrorMessage(`LM Lens: ${errorMessage(error)}`))));
    this.own(vscode.window.onDidChangeActiveTextEditor((editor) => this.follow(editor)));
    this.own(vscode.window.onDidChangeVisibleTextEditors(() => this.follow(vscode.window.activeTextEditor)));
    this.own(vscode.window.onDidChangeTextEditorSelection((event) => (event.textEditor === this.editor ? this.schedule() : this.follow(event.textEditor))));
    this.own(
      vscode.workspace.onDidChangeTextDocument((event) => {
        if (event.contentChanges.length > 0 && event.document === this.editor?.document) this.schedule();
      }),
    );
    this.own(model.onDidChangeState((state) => this.onModelState(state)));
    this.own(onConfigChange(['nextToken'], () => this.onConfigChanged()));
    const { webview } = panel;
    const uri = (...parts: string[]): string => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, ...parts)).toString();
    webview.html = buildPanelHtml({ cspSource: webview.cspSource, nonce: randomNonce(), scriptUri: uri('dist', 'webview.js'), styleUri: uri('media', 'panel.css') });
    this.schedule(0);
  }

  /** Reveals the panel without taking focus and predicts again. */
  reveal(): void {
    this.panel.reveal(undefined, true);
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
    if (this.disposed) return;
    this.clearTimer(this.timer);
    this.timer = undefined;
    if (!this.panel.visible) {
      this.stale = true;
      return;
    }
    this.stale = false;
    this.setUpdating(true);
    this.timer = this.startTimer(() => {
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
    // A newer request, an edit or cursor move while this one ran, or the panel closed, makes the answer stale.
    const current = (): boolean => !this.disposed && sequence === this.sequence;
    try {
      const response = await this.model.request('panel', nextTokenRequest, { text: target.text, top: controls.k, tailTokens: TAIL_TOKENS, ...samplingParams(controls) });
      if (!current() || !this.editor || keyOf(this.editor) !== target.key) return;
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
      if (layers && current() && this.view.lens?.show) this.update(layers);
    } catch (error) {
      if (!current()) return;
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
    if (this.disposed) return;
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
        return insertRow(message, this.view, this.editor, this.predictionKey);
      case 'sample':
        return this.sample();
      case 'copy':
        return copyTable(message.format, this.view);
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

  async sample(): Promise<void> {
    const target = targetOf(this.editor);
    if (!target || this.view.sampling || this.disposed) return;
    const { controls, sampleOptions } = this.view;
    const id = ++this.sampleRuns;
    this.update({ sampling: true });
    try {
      // Not the panel's channel: a cursor move must not cancel a run the user asked for.
      const response = await this.model.request('command', sampleRequest, { text: target.text, ...sampleOptions, ...samplingParams(controls) });
      if (this.disposed) return;
      this.samplesKey = target.key;
      const stale = !this.editor || keyOf(this.editor) !== target.key;
      this.update({ sampling: false, samples: samplesView(id, response, stale) });
    } catch (error) {
      if (this.disposed) return;
      if (isCancelled(error)) return this.update({ sampling: false });
      this.update({ sampling: false, model: errorView(error) });
      void this.model.reportError(error);
    }
  }

  private setUpdating(updating: boolean): void {
    if (this.view.updating === updating) return;
    this.view = { ...this.view, updating };
    this.post({ type: 'busy', updating });
  }

  private update(changes: Partial<PanelState>): void {
    if (this.disposed) return;
    this.view = { ...this.view, ...changes };
    this.post({ type: 'state', state: this.view });
  }

  private post(message: ExtensionMessage): void {
    // Before `ready` the script is not listening; the handshake sends the whole state then.
    if (this.disposed || !this.webviewReady) return;
    void this.panel.webview.postMessage(message);
    this.hooks.rendered(this.view);
  }

  override dispose(): void {
    if (this.disposed) return;
    super.dispose();
    this.webviewReady = false;
    this.editor = undefined;
    this.hooks.ended(this.view);
  }
}

function randomNonce(): string {
  return randomBytes(16).toString('base64');
}

function errorView(error: unknown): ModelStatusView {
  return { kind: 'error', message: errorMessage(error), ...(error instanceof LmLensError ? { code: error.code } : {}) };
}
