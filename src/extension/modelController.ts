import * as path from 'node:path';
import * as vscode from 'vscode';
import { LmLensError, isCancelled } from '../core/errors';
import { ModelClient } from '../client/client';
import { FeatureChannel } from './featureChannel';
import type { ChannelStats } from './featureChannel';
import type { ErrorData, HostStats, ModelSettings, ModelState } from '../shared/hostProtocol';
import { loadRequest, statsRequest } from '../shared/hostProtocol';
import { removeCachedModel } from '../core/download/cacheFolder';
import type { RequestType } from 'vscode-jsonrpc';
import type { NetworkSettings } from '../core/download/network';
import { onConfigChange, readConfig } from './configuration';
import type { LmLensConfig } from './configuration';
import { abortOnCancel } from '../shared/cancellation';
import { COMMANDS } from '../shared/commands';

export interface ErrorReport {
  code: string;
  message: string;
  actions: readonly string[];
}

/** The settings that fix a download error, for its "Open settings" action. */
const SETTINGS_FOR_ERROR: Partial<Record<string, string>> = {
  'proxy-auth': 'http.proxy',
  'proxy-refused': 'http.proxy',
  'tls-failed': 'http.proxyStrictSSL',
  'hub-html': 'http.proxy',
  'hub-unreachable': 'lmLens.hubEndpoint',
  'mirror-missing': 'lmLens.hubEndpoint',
  'endpoint-invalid': 'lmLens.hubEndpoint',
  'disk-full': 'lmLens.cacheDir',
  'server-unreachable': 'lmLens.server',
  'server-timeout': 'lmLens.server',
  'server-auth': 'lmLens.server',
  'server-model': 'lmLens.server.model',
  'server-refused': 'lmLens.server',
  'server-error': 'lmLens.server',
  'server-endpoint': 'lmLens.backend',
  'server-response': 'lmLens.backend',
};

/** Where the server's API key lives: VS Code's SecretStorage (the OS keychain), never settings or logs. */
export const API_KEY_SECRET = 'lmLens.server.apiKey';

export type Feature = 'panel' | 'inline' | 'loss' | 'command' | 'report' | 'compare' | 'settled' | 'export';

/** Turns a VS Code CancellationToken into the AbortSignal the host client understands. */
export function toAbortSignal(token: vscode.CancellationToken | undefined, disposables: vscode.Disposable[]): AbortSignal | undefined {
  if (!token) return undefined;
  const controller = new AbortController();
  disposables.push(abortOnCancel(token, controller));
  return controller.signal;
}

/** VS Code's proxy settings: the model process is a plain Node process that VS Code's proxy support does not reach. */
const PROXY_SETTINGS = ['http.proxy', 'http.proxyStrictSSL', 'http.noProxy'];

function networkSettings(config: LmLensConfig): NetworkSettings {
  const http = vscode.workspace.getConfiguration('http');
  const noProxy = http.get<unknown>('noProxy');
  return {
    hubEndpoint: config.hubEndpoint,
    proxy: http.get<string>('proxy') ?? '',
    strictSSL: http.get<boolean>('proxyStrictSSL') ?? true,
    noProxy: Array.isArray(noProxy) ? noProxy.filter((host): host is string => typeof host === 'string') : [],
  };
}

export function modelSettingsFrom(config: LmLensConfig, defaultCacheDir: string, apiKey?: string): ModelSettings {
  const settings: ModelSettings = {
    model: config.model,
    dtype: config.dtype,
    allowDownloads: config.allowDownloads,
    cacheDir: config.cacheDir || defaultCacheDir,
    threads: config.threads,
    network: networkSettings(config),
  };
  if (config.backend === 'local') return settings;
  const { url: serverUrl, model: serverModel, timeoutSeconds } = config.server;
  return { ...settings, backend: config.backend, serverUrl, serverModel, serverTimeoutMs: timeoutSeconds * 1000, ...(apiKey ? { apiKey } : {}) };
}

/**
 * The extension's one handle on the model process: settings → process, one latest-wins
 * channel per feature, model state for the UI, recent latencies, and error messages with
 * actions. Features never talk to the client directly.
 */
export class ModelController implements vscode.Disposable {
  readonly client: ModelClient;
  private readonly channels = new Map<Feature, FeatureChannel>();
  private readonly stateEmitter = new vscode.EventEmitter<ModelState>();
  readonly onDidChangeState = this.stateEmitter.event;
  private readonly latencyEmitter = new vscode.EventEmitter<void>();
  /** A request finished: the status bar shows a server's latency. */
  readonly onDidRecordLatency = this.latencyEmitter.event;
  private readonly errorEmitter = new vscode.EventEmitter<ErrorReport>();
  /** An error was shown to the user, with the actions it offered. */
  readonly onDidReportError = this.errorEmitter.event;
  private readonly secrets: vscode.SecretStorage;
  private apiKey: string | undefined;
  /** Settings go to the model process once the key is read (a server would refuse a request without it). */
  private readonly keyLoaded: Promise<void>;
  private currentState: ModelState = { state: 'idle' };
  private readonly latencies = new Map<Feature, number[]>();
  private readonly disposables: vscode.Disposable[] = [];
  private lastErrorShown = '';
  private appliedSettings = '';
  readonly defaultCacheDir: string;

  constructor(
    context: vscode.ExtensionContext,
    private readonly log: vscode.LogOutputChannel,
  ) {
    // Downloads live in global storage, never inside the extension's install folder.
    this.defaultCacheDir = path.join(context.globalStorageUri.fsPath, 'models');
    this.secrets = context.secrets;
    this.client = new ModelClient({
      hostScript: context.asAbsolutePath(path.join('dist', 'modelHost.js')),
      log: (level, message) => (level === 'error' ? log.error(message) : level === 'warn' ? log.warn(message) : log.info(message)),
      requestTimeoutMs: Number(process.env.LM_LENS_REQUEST_TIMEOUT_MS) || 120_000,
      // One model process per machine (and profile): every window finds its socket and token here.
      serverDir: path.join(context.globalStorageUri.fsPath, 'server'),
      idleShutdownMs: Number(process.env.LM_LENS_SERVER_IDLE_MS) || undefined,
      // F5 "Run LM Lens + model process" (.vscode/launch.json) attaches a debugger here.
      execArgv: process.env.LM_LENS_SERVER_INSPECT ? ['--expose-gc', `--inspect=${process.env.LM_LENS_SERVER_INSPECT}`] : undefined,
      clientName: `window ${process.pid} (${vscode.workspace.name ?? 'no folder'})`,
    });
    this.disposables.push(
      this.stateEmitter,
      this.latencyEmitter,
      this.errorEmitter,
      { dispose: () => this.client.dispose() },
      this.client.onState((state) => {
        this.currentState = state;
        this.stateEmitter.fire(state);
      }),
      this.client.onDown((message) => void this.showDown(message)),
      onConfigChange(['model', 'dtype', 'allowDownloads', 'cacheDir', 'hubEndpoint', 'threads', 'backend', 'server'], (config) => void this.applySettings(config)),
      vscode.workspace.onDidChangeConfiguration((event) => PROXY_SETTINGS.some((key) => event.affectsConfiguration(key)) && void this.applySettings(readConfig())),
      // Another window of this machine may set the key: every window's settings follow.
      this.secrets.onDidChange((event) => event.key === API_KEY_SECRET && void this.loadApiKey().then(() => this.applySettings(readConfig()))),
      vscode.commands.registerCommand(COMMANDS.setServerApiKey, (value?: unknown) => this.setApiKey(typeof value === 'string' ? value : undefined)),
    );
    // The local engine needs no key: its settings go out at once, as before servers existed.
    if (readConfig().backend === 'local') void this.applySettings(readConfig());
    this.keyLoaded = this.loadApiKey().then(() => this.applySettings(readConfig()));
  }

  get state(): ModelState {
    return this.currentState;
  }

  get settings(): ModelSettings {
    return modelSettingsFrom(readConfig(), this.defaultCacheDir, this.apiKey);
  }

  /** The stored server key, for requests that name a server of their own (the report's comparison); once it is read. */
  async serverApiKey(): Promise<string | undefined> {
    await this.keyLoaded;
    return this.apiKey;
  }

  private async loadApiKey(): Promise<void> {
    this.apiKey = (await Promise.resolve(this.secrets.get(API_KEY_SECRET)).catch(() => undefined)) || undefined;
  }

  /** "LM Lens: Set server API key": asked in a password box (or passed by a caller), kept in SecretStorage; empty removes it. */
  async setApiKey(value?: string): Promise<void> {
    const key =
      value ??
      (await vscode.window.showInputBox({
        title: 'LM Lens: Set server API key',
        prompt: 'The key the server was started with (vllm serve --api-key, llama-server --api-key). Empty removes it. It is kept in VS Code\'s secret storage.',
        password: true,
        ignoreFocusOut: true,
      }));
    if (key === undefined) return;
    if (key.trim() === '') await this.secrets.delete(API_KEY_SECRET);
    else await this.secrets.store(API_KEY_SECRET, key.trim());
    this.log.info(key.trim() === '' ? 'Server API key removed' : 'Server API key stored in secret storage');
    await this.loadApiKey();
    await this.applySettings(readConfig());
  }

  private async applySettings(config: LmLensConfig): Promise<void> {
    const settings = modelSettingsFrom(config, this.defaultCacheDir, this.apiKey);
    // Writing a model setting to its current value (e.g. "Select model" saving an unchanged
    // precision) must not cancel the requests of every feature.
    const key = JSON.stringify(settings);
    if (key === this.appliedSettings) return;
    this.appliedSettings = key;
    // Switching models cancels what is running: its answers would be for the old model.
    for (const channel of this.channels.values()) channel.cancel();
    // Latencies of another engine say nothing about this one.
    this.latencies.clear();
    this.lastErrorShown = '';
    try {
      await this.client.configure(settings);
    } catch (error) {
      this.log.error(`Could not apply model settings: ${String(error)}`);
    }
  }

  channel(feature: Feature): FeatureChannel {
    let channel = this.channels.get(feature);
    if (!channel) {
      channel = new FeatureChannel();
      this.channels.set(feature, channel);
    }
    return channel;
  }

  channelStats(): Record<string, ChannelStats> {
    return Object.fromEntries([...this.channels].map(([feature, channel]) => [feature, { ...channel.stats }]));
  }

  /**
   * Sends a request on a feature's channel (cancelling that feature's previous one) and
   * records its latency. Rejects with CancelledError when superseded or cancelled.
   */
  async request<P, R>(feature: Feature, type: RequestType<P, R, ErrorData>, params: P, token?: vscode.CancellationToken, timeoutMs?: number): Promise<R> {
    const disposables: vscode.Disposable[] = [];
    const started = Date.now();
    await this.keyLoaded;
    try {
      const outer = toAbortSignal(token, disposables);
      const result = await this.channel(feature).run((signal) => this.client.request(type, params, signal, timeoutMs), outer);
      this.recordLatency(feature, Date.now() - started);
      return result;
    } finally {
      for (const disposable of disposables) disposable.dispose();
    }
  }

  private recordLatency(feature: Feature, ms: number): void {
    const list = this.latencies.get(feature) ?? [];
    list.push(ms);
    if (list.length > 20) list.shift();
    this.latencies.set(feature, list);
    this.latencyEmitter.fire();
  }

  /** Median of the last requests per feature, in ms. */
  medianLatencies(): Partial<Record<Feature, number>> {
    const medians: Partial<Record<Feature, number>> = {};
    for (const [feature, list] of this.latencies) {
      const sorted = [...list].sort((a, b) => a - b);
      medians[feature] = sorted[Math.floor(sorted.length / 2)] ?? 0;
    }
    return medians;
  }

  /** Median of this window's recent requests over every feature, in ms; undefined before the first. */
  recentLatency(): number | undefined {
    const all = [...this.latencies.values()].flat().sort((a, b) => a - b);
    return all.length ? all[Math.floor(all.length / 2)] : undefined;
  }

  async stats(): Promise<HostStats | undefined> {
    if (this.client.isDown || this.currentState.state !== 'ready') return undefined;
    return this.client.request(statsRequest, null).catch(() => undefined);
  }

  async restart(): Promise<void> {
    this.log.info('Restarting the model process');
    for (const channel of this.channels.values()) channel.cancel();
    this.lastErrorShown = '';
    await this.client.restart();
  }

  /** "Retry": a server is asked again (connecting anew if it failed); the local engine's process is restarted. */
  async retry(): Promise<void> {
    if (readConfig().backend === 'local') return this.restart();
    this.log.info(`Asking the server at ${readConfig().server.url} again`);
    this.lastErrorShown = '';
    await this.client.request(loadRequest, null).then(undefined, (error: unknown) => this.reportError(error));
  }

  /**
   * Shows a model error once (features calling on every keystroke must not spam), with the
   * actions that fix it. Cancellations are silent.
   */
  async reportError(error: unknown): Promise<void> {
    if (isCancelled(error)) return;
    const message = error instanceof Error ? error.message : String(error);
    this.log.error(message);
    if (message === this.lastErrorShown) return;
    this.lastErrorShown = message;
    const code = error instanceof LmLensError ? error.code : 'internal';
    const actions: string[] = [];
    if (code === 'cache-corrupt') actions.push('Re-download');
    if (['downloads-disabled', 'hub-unreachable', 'hub-not-found', 'folder-missing', 'file-missing', 'config-invalid', 'not-causal-lm', 'onnx-invalid', 'vocab-mismatch', 'dtype-unavailable', 'unknown-dtype', 'download-cancelled'].includes(code)) {
      actions.push('Choose a local folder…', 'Select model');
    }
    const settingsQuery = SETTINGS_FOR_ERROR[code];
    if (code === 'server-auth') actions.push('Set API key');
    if (settingsQuery) actions.push('Open settings');
    actions.push('Retry', 'Show log');
    this.errorEmitter.fire({ code, message, actions });
    const choice = await vscode.window.showErrorMessage(`LM Lens: ${message}`, ...actions);
    if (choice === 'Choose a local folder…') await vscode.commands.executeCommand(COMMANDS.selectModel, 'folder');
    else if (choice === 'Select model') await vscode.commands.executeCommand(COMMANDS.selectModel);
    else if (choice === 'Retry') await this.retry();
    else if (choice === 'Set API key') await this.setApiKey();
    else if (choice === 'Show log') this.log.show(true);
    else if (choice === 'Open settings') await this.openSettings(code);
    else if (choice === 'Re-download') await this.redownload();
  }

  /** The settings editor, filtered to what fixes an error of this code (LM Lens's settings when none is known). */
  async openSettings(code: string | undefined): Promise<void> {
    await vscode.commands.executeCommand('workbench.action.openSettings', (code && SETTINGS_FOR_ERROR[code]) || 'lmLens');
  }

  /** Deletes the damaged cached copy (under the download lock) and loads again, which downloads it. */
  async redownload(): Promise<void> {
    const settings = this.settings;
    this.lastErrorShown = '';
    await removeCachedModel(settings.cacheDir, settings.model);
    this.log.info(`Deleted the cached copy of ${settings.model}; downloading it again`);
    await this.client.request(loadRequest, null).catch((error: unknown) => this.reportError(error));
  }

  private async showDown(message: string): Promise<void> {
    const choice = await vscode.window.showErrorMessage(`LM Lens: ${message}`, 'Restart model', 'Show log');
    if (choice === 'Restart model') await this.restart();
    else if (choice === 'Show log') this.log.show(true);
  }

  dispose(): void {
    for (const channel of this.channels.values()) channel.cancel();
    for (const disposable of this.disposables.splice(0)) disposable.dispose();
  }
}
