import * as vscode from 'vscode';
import type { CompleteParams, CompleteResponse } from '../shared/hostProtocol';
import { completeRequest } from '../shared/hostProtocol';
import { onConfigChange, readConfig, updateSetting } from './configuration';
import type { LmLensConfig } from './configuration';
import { statusView } from './inlineRules';
import type { DocumentPoint, SuggestionStatus } from './inlineRules';
import { InlineSuggester } from './inlineSuggester';
import type { SuggestOutcome, SuggesterStats } from './inlineSuggester';
import { toAbortSignal } from './modelController';
import type { ModelController } from './modelController';
import { COMMANDS, STATUS_ITEMS } from '../shared/commands';

type InlineConfig = LmLensConfig['inline'];

/** Read-only snapshot for the integration tests. */
export interface InlineCompletionsStats extends SuggesterStats {
  /** Whether the provider is registered right now (enabled, with at least one language). */
  registered: boolean;
  /** Insert texts of the last items returned to VS Code, first = greedy. */
  lastItems: readonly string[];
  lastSource: 'model' | 'cache' | undefined;
  statusText: string;
}

/**
 * Ghost text for prose: GPT-2's greedy continuation first, sampled alternatives behind it
 * (Alt+] / Alt+[), reused from a cache while the user types through it, and a status bar item
 * with the shown suggestion's confidence. The decisions live in InlineSuggester; this class
 * only adapts them to VS Code.
 */
export class InlineCompletionsFeature implements vscode.Disposable, vscode.InlineCompletionItemProvider {
  private readonly disposables: vscode.Disposable[] = [];
  private readonly suggester: InlineSuggester;
  private readonly statusBar: vscode.StatusBarItem;
  private config: InlineConfig;
  private registration: vscode.Disposable | undefined;
  private lastItems: readonly string[] = [];
  private lastSource: 'model' | 'cache' | undefined;

  constructor(
    readonly context: vscode.ExtensionContext,
    readonly model: ModelController,
  ) {
    this.config = readConfig().inline;
    this.suggester = new InlineSuggester(
      (params, signal) => this.send(params, signal),
      () => this.config,
    );
    this.statusBar = vscode.window.createStatusBarItem(STATUS_ITEMS.inline, vscode.StatusBarAlignment.Right, 10);
    this.statusBar.name = 'LM Lens ghost text';
    this.statusBar.command = COMMANDS.toggleInlineCompletions;
    this.disposables.push(
      this.statusBar,
      { dispose: () => this.registration?.dispose() },
      vscode.commands.registerCommand(COMMANDS.toggleInlineCompletions, () => this.toggle()),
      onConfigChange(['inline'], (config) => this.apply(config.inline)),
      vscode.window.onDidChangeActiveTextEditor(() => this.showStatus(undefined)),
      // Answers of another model (or a restarted one) must not be served from the cache.
      model.onDidChangeState((state) => {
        if (state.state !== 'ready') this.suggester.cache.clear();
      }),
    );
    this.register();
    this.showStatus(undefined);
  }

  get stats(): InlineCompletionsStats {
    return {
      ...this.suggester.stats,
      registered: this.registration !== undefined,
      lastItems: this.lastItems,
      lastSource: this.lastSource,
      statusText: this.statusBar.text,
    };
  }

  async provideInlineCompletionItems(
    document: vscode.TextDocument,
    position: vscode.Position,
    context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
  ): Promise<vscode.InlineCompletionItem[] | undefined> {
    // With the suggest widget open VS Code shows only items extending its selection: prose has none.
    if (!this.config.enabled || context.selectedCompletionInfo) return undefined;
    const disposables: vscode.Disposable[] = [];
    try {
      const signal = toAbortSignal(token, disposables) ?? new AbortController().signal;
      const offset = document.offsetAt(position);
      const from = document.positionAt(Math.max(0, offset - this.suggester.lookbehind));
      const outcome = await this.suggester.suggest(
        {
          prefix: document.getText(new vscode.Range(from, position)),
          lineSuffix: document.lineAt(position.line).text.slice(position.character),
          automatic: context.triggerKind === vscode.InlineCompletionTriggerKind.Automatic,
          at: { version: document.version, offset },
        },
        signal,
        () => this.pointNow(document, offset),
      );
      return this.render(outcome, position);
    } finally {
      for (const disposable of disposables) disposable.dispose();
    }
  }

  private render(outcome: SuggestOutcome, position: vscode.Position): vscode.InlineCompletionItem[] | undefined {
    if (outcome.kind === 'none') {
      if (outcome.reason === 'error') void this.model.reportError(outcome.error);
      // Cancelled and stale requests say nothing about what is on screen now.
      if (outcome.reason === 'blocked' || outcome.reason === 'empty') this.showStatus(undefined);
      return undefined;
    }
    const [first] = outcome.items;
    this.lastItems = outcome.items.map((item) => item.text);
    this.lastSource = outcome.source;
    if (first) {
      this.showStatus({ meanProb: first.meanProb, jointProb: first.jointProb, latencyMs: outcome.source === 'model' ? outcome.latencyMs : undefined, count: outcome.items.length });
    }
    const here = new vscode.Range(position, position);
    return outcome.items.map((item) => new vscode.InlineCompletionItem(item.text, here));
  }

  /** Where the user is now in `document`; an editor that does not show it cannot have moved its cursor. */
  private pointNow(document: vscode.TextDocument, requestedOffset: number): DocumentPoint | undefined {
    if (document.isClosed) return undefined;
    const active = vscode.window.activeTextEditor;
    const editor = active?.document === document ? active : vscode.window.visibleTextEditors.find((candidate) => candidate.document === document);
    return { version: document.version, offset: editor ? document.offsetAt(editor.selection.active) : requestedOffset };
  }

  /** The suggester speaks AbortSignal (it is vscode-free); the controller takes a CancellationToken. */
  private async send(params: CompleteParams, signal: AbortSignal): Promise<CompleteResponse> {
    const source = new vscode.CancellationTokenSource();
    const cancel = (): void => source.cancel();
    if (signal.aborted) cancel();
    else signal.addEventListener('abort', cancel, { once: true });
    try {
      return await this.model.request('inline', completeRequest, params, source.token);
    } finally {
      signal.removeEventListener('abort', cancel);
      source.dispose();
    }
  }

  private apply(config: InlineConfig): void {
    const reRegister = config.enabled !== this.config.enabled || config.languages.join('\n') !== this.config.languages.join('\n');
    this.config = config;
    // Answers computed with other lengths or alternative counts must not be reused.
    this.suggester.cache.clear();
    if (reRegister) this.register();
    this.showStatus(undefined);
  }

  private register(): void {
    this.registration?.dispose();
    this.registration = undefined;
    if (!this.config.enabled || this.config.languages.length === 0) return;
    this.registration = vscode.languages.registerInlineCompletionItemProvider(
      this.config.languages.map((language) => ({ language })),
      this,
    );
  }

  private async toggle(): Promise<void> {
    await updateSetting('inline.enabled', !this.config.enabled);
  }

  private showStatus(status: SuggestionStatus | undefined): void {
    const view = statusView(this.config.enabled, status);
    this.statusBar.text = view.text;
    this.statusBar.tooltip = view.tooltip;
    const language = vscode.window.activeTextEditor?.document.languageId;
    if (language !== undefined && this.config.languages.includes(language)) this.statusBar.show();
    else this.statusBar.hide();
  }

  dispose(): void {
    for (const disposable of this.disposables.splice(0)) disposable.dispose();
    this.registration = undefined;
  }
}
