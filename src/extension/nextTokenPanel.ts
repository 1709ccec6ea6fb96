import * as vscode from 'vscode';
import { DEFAULT_LENS_CONTROLS } from '../shared/layersView';
import { DEFAULT_SAMPLE_OPTIONS, PANEL_VIEW_TYPE, SAMPLE_LIMITS, mergeLimited, modelStatus, parseWebviewMessage } from '../shared/panelProtocol';
import type { PanelState } from '../shared/panelProtocol';
import { COMMANDS } from '../shared/commands';
import type { ModelController } from './modelController';
import { PanelSession, controlsFromConfig } from './panelSession';
import { moveCursorTo } from './panelTarget';

/** What the user set in one opening of the panel and finds again in the next one of this window. */
type Carried = Pick<PanelState, 'sampleOptions' | 'lens'>;

/**
 * The "Next token" webview panel: follows the cursor of the text editor the user writes in and
 * shows the model's next-token distribution there, with sampling controls and a Sample action.
 * One panel at most. This object lives as long as the extension and holds the commands; each
 * opening of the panel is a PanelSession that owns everything else and is disposed on close.
 */
export class NextTokenPanelController implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  private session: PanelSession | undefined;
  private carried: Carried = { sampleOptions: { ...DEFAULT_SAMPLE_OPTIONS }, lens: { ...DEFAULT_LENS_CONTROLS } };
  private readonly renderEmitter = new vscode.EventEmitter<PanelState>();
  /** Fires with the panel's whole state each time a message reaches the live webview. */
  readonly onDidRender = this.renderEmitter.event;
  private readonly closeEmitter = new vscode.EventEmitter<void>();
  /** The panel was closed: what it showed is gone. */
  readonly onDidClose = this.closeEmitter.event;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly model: ModelController,
  ) {
    this.disposables.push(
      this.renderEmitter,
      this.closeEmitter,
      vscode.commands.registerCommand(COMMANDS.showNextTokenProbabilities, async (at?: unknown) => {
        await moveCursorTo(at);
        this.show();
      }),
      vscode.commands.registerCommand(COMMANDS.sampleContinuations, async () => {
        this.show();
        await this.session?.sample();
      }),
      vscode.window.registerWebviewPanelSerializer(PANEL_VIEW_TYPE, {
        deserializeWebviewPanel: async (panel, state) => this.adopt(panel, state),
      }),
    );
  }

  get isOpen(): boolean {
    return this.session !== undefined;
  }

  /** The open panel's session (the unit tests' view of it). */
  get current(): PanelSession | undefined {
    return this.session;
  }

  /** Closes the panel (its session and listeners go with it); the commands stay. */
  close(): void {
    this.session?.dispose();
  }

  /** Opens the panel beside the editor without taking focus, or reveals it. */
  show(): void {
    if (this.session) return this.session.reveal();
    const root = this.context.extensionUri;
    const options = { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(root, 'dist'), vscode.Uri.joinPath(root, 'media')] };
    const panel = vscode.window.createWebviewPanel(PANEL_VIEW_TYPE, 'Next token', { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, options);
    this.adopt(panel, undefined);
  }

  /** Starts a session for a new or restored panel; `saved` is the webview's `setState` value after a reload. */
  private adopt(panel: vscode.WebviewPanel, saved: unknown): void {
    if (this.session) {
      panel.dispose();
      return;
    }
    const restored = parseWebviewMessage({ type: 'setSampleOptions', options: typeof saved === 'object' && saved ? (saved as Record<string, unknown>).sampleOptions : undefined });
    const sampleOptions = restored?.type === 'setSampleOptions' ? mergeLimited(SAMPLE_LIMITS, DEFAULT_SAMPLE_OPTIONS, restored.options) : this.carried.sampleOptions;
    const view: PanelState = { model: modelStatus(this.model.state), hasEditor: false, controls: controlsFromConfig(), sampleOptions, updating: false, sampling: false, lens: this.carried.lens };
    const session: PanelSession = new PanelSession(panel, this.model, this.context.extensionUri, view, {
      rendered: (state) => this.renderEmitter.fire(state),
      ended: (last) => {
        if (this.session !== session) return;
        this.session = undefined;
        this.carried = { sampleOptions: last.sampleOptions, lens: last.lens };
        this.closeEmitter.fire();
      },
    });
    // A panel disposed while it was being wired has already ended its session.
    if (!session.disposed) this.session = session;
  }

  /** Test hook and the webview's only way in (see PanelSession.handleMessage); nothing happens while closed. */
  async handleMessage(raw: unknown): Promise<void> {
    await this.session?.handleMessage(raw);
  }

  dispose(): void {
    this.session?.dispose();
    for (const disposable of this.disposables.splice(0)) disposable.dispose();
  }
}
