import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { LmLensError } from '../core/errors';
import { DTYPE_SUFFIXES, inspectModelFolder } from '../core/modelSource';
import type { Dtype } from '../core/modelSource';
import { formatMegabytes } from '../shared/format';
import { describeDownload, fileFraction } from '../core/download/progressText';
import { cancelDownloadRequest, loadRequest } from '../shared/hostProtocol';
import { CATALOG_MODELS, FAMILY_LABELS, describeSizes } from '../shared/modelCatalog';
import { DEFAULT_MODEL, SETTINGS } from '../shared/settings';
import type { RemoteApi } from '../core/remote';
import type { ModelState } from '../shared/hostProtocol';
import { SECTION, readConfig } from './configuration';
import type { ModelController } from './modelController';
import { describeServerState, describeState, engineDescription, hostOf, statusTooltip } from './statusText';
import { COMMANDS, STATUS_ITEMS } from '../shared/commands';

const PRECISIONS: Array<{ dtype: Dtype; detail: string }> = [
  { dtype: 'fp32', detail: 'exact: matches the Python (HF transformers) numbers' },
  { dtype: 'q8-fast', detail: 'fastest on CPU: fp32 weights quantised to 8 bits at load; close to fp32, not exact' },
  { dtype: 'q8', detail: "the hub's 8-bit quantized file, about 4× smaller to download" },
  { dtype: 'fp16', detail: 'half-precision weights' },
  { dtype: 'int8', detail: '8-bit integer weights' },
  { dtype: 'q4', detail: '4-bit weights, smallest' },
];

/**
 * Bytes under a folder (0 if it does not exist). Asynchronous: a cache holds hundreds of MB in
 * many files, and the extension host must not stall while they are counted.
 */
export async function folderSize(folder: string): Promise<number> {
  const entries = await readdir(folder, { withFileTypes: true }).catch(() => []);
  const sizes = await Promise.all(
    entries.map(async (entry) => {
      const full = path.join(folder, entry.name);
      if (entry.isDirectory()) return folderSize(full);
      return entry.isFile() ? (await stat(full)).size : 0;
    }),
  );
  return sizes.reduce((sum, size) => sum + size, 0);
}

/**
 * Choosing, downloading, caching and restarting the model, and the status bar item that
 * tells which model is in what state.
 */
export class ModelManagement implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  private readonly statusItem: vscode.StatusBarItem;
  private download: { report: (message: string, increment: number) => void; percent: number; done: () => void } | undefined;

  constructor(
    readonly context: vscode.ExtensionContext,
    private readonly model: ModelController,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.statusItem = vscode.window.createStatusBarItem(STATUS_ITEMS.model, vscode.StatusBarAlignment.Right, 100);
    this.statusItem.name = 'LM Lens model';
    this.statusItem.command = COMMANDS.statusMenu;
    this.disposables.push(
      this.statusItem,
      vscode.commands.registerCommand(COMMANDS.selectModel, (mode?: string) => this.selectModel(mode)),
      vscode.commands.registerCommand(COMMANDS.restartModel, () => this.model.restart()),
      vscode.commands.registerCommand(COMMANDS.clearModelCache, (options?: { confirm?: boolean }) => this.clearCache(options?.confirm !== false)),
      vscode.commands.registerCommand(COMMANDS.revealModelCache, () => this.revealCache()),
      vscode.commands.registerCommand(COMMANDS.showOutput, () => this.log.show(true)),
      vscode.commands.registerCommand(COMMANDS.statusMenu, () => this.statusMenu()),
      model.onDidChangeState((state) => this.onState(state)),
      model.onDidRecordLatency(() => this.renderStatus(model.state)),
    );
    this.onState(model.state);
    this.statusItem.show();
  }

  get cacheDir(): string {
    return this.model.settings.cacheDir;
  }

  private onState(state: ModelState): void {
    this.renderStatus(state);
    if (state.state === 'loading' && state.progress?.phase === 'download') this.showDownload(state);
    else if (this.download && state.state !== 'loading') this.finishDownload();
    if (state.state === 'error') void this.model.reportError(new LmLensError(state.code, state.message));
    void this.refreshTooltip();
  }

  /** A server shows as "model · host · latency"; the local engine as "model · precision". */
  private renderStatus(state: ModelState): void {
    const config = readConfig();
    const { text, severity } =
      config.backend === 'local' ? describeState(state, config.model, config.dtype) : describeServerState(state, { backend: config.backend, ...config.server }, this.model.recentLatency());
    if (text === this.statusItem.text) return;
    this.statusItem.text = text;
    this.statusItem.backgroundColor = severity === 'error' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
    this.statusItem.accessibilityInformation = { label: text.replace(/\$\([^)]+\)\s*/g, '') };
  }

  private showDownload(state: Extract<ModelState, { state: 'loading' }>): void {
    const progress = state.progress;
    if (!progress) return;
    const message = describeDownload(progress);
    if (!this.download) {
      let resolveDone!: () => void;
      const done = new Promise<void>((resolve) => (resolveDone = resolve));
      const entry = { report: (_m: string, _i: number) => undefined as void, percent: 0, done: resolveDone };
      this.download = entry;
      void vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `LM Lens: downloading ${readConfig().model}`, cancellable: true },
        async (reporter, token) => {
          entry.report = (text, increment) => reporter.report({ message: text, increment });
          token.onCancellationRequested(() => {
            this.log.warn('Download cancelled by the user');
            // The model process stops the download and removes its partial files.
            void this.model.client.request(cancelDownloadRequest, null).catch((error: unknown) => this.log.error(`Could not cancel the download: ${String(error)}`));
          });
          await done;
        },
      );
    }
    const download = this.download;
    // The bar follows the weights file (hundreds of MB); the JSON files before it take a moment.
    const percent = progress.file?.endsWith('.onnx') ? Math.floor(100 * fileFraction(progress)) : download.percent;
    download.report(message, Math.max(0, percent - download.percent));
    download.percent = Math.max(download.percent, percent);
  }

  private finishDownload(): void {
    this.download?.done();
    this.download = undefined;
  }

  private async refreshTooltip(): Promise<void> {
    const stats = await this.model.stats();
    this.statusItem.tooltip = new vscode.MarkdownString(
      statusTooltip({ state: this.model.state, latencies: this.model.medianLatencies(), stats, cacheDir: this.cacheDir }),
    );
  }

  private async statusMenu(): Promise<void> {
    const config = readConfig();
    const items: Array<vscode.QuickPickItem & { command: string }> = [
      { label: '$(graph) Show next-token probabilities', command: COMMANDS.showNextTokenProbabilities },
      { label: '$(graph-line) Show document report', command: COMMANDS.showDocumentReport },
      { label: '$(symbol-class) Select model…', description: engineDescription(config), command: COMMANDS.selectModel },
      { label: '$(debug-restart) Restart model', command: COMMANDS.restartModel },
      { label: `$(sparkle) ${config.inline.enabled ? 'Turn off' : 'Turn on'} ghost text`, command: COMMANDS.toggleInlineCompletions },
      { label: `$(symbol-color) ${config.loss.enabled ? 'Turn off' : 'Turn on'} sentence loss`, command: COMMANDS.toggleSentenceLoss },
      { label: '$(output) Show log', command: COMMANDS.showOutput },
    ];
    const choice = await vscode.window.showQuickPick(items, { title: 'LM Lens', placeHolder: 'Choose an action' });
    if (choice) await vscode.commands.executeCommand(choice.command);
  }

  /** `mode` 'folder' jumps straight to the folder dialog (used by error actions). */
  async selectModel(mode?: string): Promise<void> {
    const config = readConfig();
    let model: string | undefined;
    let offered: Dtype[] | undefined;
    if (mode === 'folder') {
      ({ model, offered } = (await this.pickFolder()) ?? {});
    } else {
      const current = (id: string): string | undefined => (config.backend === 'local' && config.model === id ? 'current' : undefined);
      const items: Array<vscode.QuickPickItem & { value: string }> = [
        { label: 'GPT-2', description: `${DEFAULT_MODEL} · 124M parameters (default)`, detail: current(DEFAULT_MODEL), value: DEFAULT_MODEL },
        { label: 'DistilGPT-2', description: 'Xenova/distilgpt2 · 82M, faster', detail: current('Xenova/distilgpt2'), value: 'Xenova/distilgpt2' },
        ...CATALOG_MODELS.map((entry) => ({
          label: entry.label,
          description: `${entry.id} · ${entry.parameters} · ${FAMILY_LABELS[entry.family]} family`,
          detail: `${current(entry.id) ? 'current · ' : ''}${describeSizes(entry)}`,
          value: entry.id,
        })),
        { label: '$(edit) Enter a hub id…', value: 'hub' },
        { label: '$(folder-opened) Choose a local folder…', value: 'folder' },
        { label: '$(remote) Use a server…', description: 'vLLM, SGLang or llama-server', detail: config.backend === 'local' ? undefined : `current: ${config.backend} at ${config.server.url}`, value: 'server' },
      ];
      const answering = config.backend === 'local' ? config.model : `${config.backend} server at ${hostOf(config.server.url)}`;
      const choice = await vscode.window.showQuickPick(items, { title: 'LM Lens: Select model', placeHolder: `Current: ${answering}` });
      if (!choice) return;
      if (choice.value === 'server') return this.pickServer();
      if (choice.value === 'folder') ({ model, offered } = (await this.pickFolder()) ?? {});
      else if (choice.value === 'hub') {
        model = await vscode.window.showInputBox({
          title: 'Hugging Face hub id of a transformers.js GPT-2 export',
          value: config.model.includes('/') && !path.isAbsolute(config.model) ? config.model : DEFAULT_MODEL,
          validateInput: (value) => (/^[\w.-]+\/[\w.-]+$/.test(value.trim()) ? undefined : `Expected owner/name, e.g. ${DEFAULT_MODEL}`),
        });
        model = model?.trim();
      } else {
        model = choice.value;
        // Only the precisions the hub has as a single file LM Lens loads.
        const entry = CATALOG_MODELS.find((candidate) => candidate.id === model);
        if (entry) offered = Object.keys(entry.sizesMb) as Dtype[];
      }
    }
    if (!model) return;
    const dtype = await this.pickPrecision(offered, config.dtype);
    if (!dtype) return;
    const settings = vscode.workspace.getConfiguration(SECTION);
    // A local model is answered by the local engine: leave any server.
    if (config.backend !== 'local') await settings.update('backend', 'local', vscode.ConfigurationTarget.Global);
    await settings.update('model', model, vscode.ConfigurationTarget.Global);
    await settings.update('dtype', dtype, vscode.ConfigurationTarget.Global);
    this.log.info(`Model set to ${model} (${dtype})`);
    await this.loadNow();
  }

  /** Loads (or connects) now rather than on the next keystroke, so progress and errors show right away. */
  private async loadNow(): Promise<void> {
    await this.model.client.configure(this.model.settings);
    this.model.client.request(loadRequest, null).catch((error: unknown) => void this.model.reportError(error));
  }

  /** "Use a server…": the API, the URL and the served model, saved to the (machine-scoped) user settings. */
  private async pickServer(): Promise<void> {
    const server = await askServer('LM Lens');
    if (!server) return;
    await vscode.workspace.getConfiguration(SECTION).update('backend', server.api, vscode.ConfigurationTarget.Global);
    this.log.info(`Engine set to the ${server.api} server at ${server.url}`);
    await this.loadNow();
  }

  private async pickFolder(): Promise<{ model: string; offered: Dtype[] } | undefined> {
    const [uri] =
      (await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, canSelectMany: false, openLabel: 'Use this model folder', title: 'LM Lens: choose a model folder (GPT-2, Llama, Qwen2, Qwen3)' })) ?? [];
    if (!uri) return undefined;
    const folder = uri.fsPath;
    const check = inspectModelFolder(folder, 'fp32');
    const missing = check.availableDtypes.length > 0 ? check.missing.filter((file) => !file.startsWith('onnx/')) : check.missing;
    if (missing.length > 0) {
      void vscode.window.showErrorMessage(`LM Lens: ${folder} is missing ${missing.join(', ')}. A transformers.js export (e.g. Xenova/gpt2) has config.json, tokenizer.json, tokenizer_config.json and onnx/model.onnx.`);
      return undefined;
    }
    return { model: folder, offered: check.availableDtypes };
  }

  private async pickPrecision(offered: Dtype[] | undefined, current: string): Promise<Dtype | undefined> {
    const choices = PRECISIONS.filter((precision) => !offered || offered.includes(precision.dtype));
    if (choices.length === 1) return choices[0]?.dtype;
    const picked = await vscode.window.showQuickPick(
      choices.map((precision) => ({ label: precision.dtype, description: precision.dtype === current ? 'current' : undefined, detail: precision.detail, dtype: precision.dtype })),
      { title: 'LM Lens: precision', placeHolder: offered ? 'Precisions this model offers' : 'Precision to download' },
    );
    return picked && Object.hasOwn(DTYPE_SUFFIXES, picked.dtype) ? picked.dtype : undefined;
  }

  /** `confirm` false (tests, automation: `{ confirm: false }` as the command's argument) skips the modal question. */
  private async clearCache(confirm: boolean): Promise<void> {
    const folder = this.cacheDir;
    const size = await folderSize(folder);
    if (size === 0) {
      void vscode.window.showInformationMessage(`LM Lens: the model cache ${folder} is already empty.`);
      return;
    }
    if (confirm && (await vscode.window.showWarningMessage(`Delete ${formatMegabytes(size)} of downloaded models in ${folder}?`, { modal: true }, 'Delete')) !== 'Delete') return;
    await this.model.restart();
    await Promise.all((await readdir(folder)).map((entry) => rm(path.join(folder, entry), { recursive: true, force: true })));
    this.log.info(`Cleared the model cache ${folder} (${formatMegabytes(size)})`);
    void vscode.window.showInformationMessage(`LM Lens: cleared ${formatMegabytes(size)} from ${folder}.`);
  }

  private async revealCache(): Promise<void> {
    await mkdir(this.cacheDir, { recursive: true });
    await vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(this.cacheDir));
  }

  dispose(): void {
    this.finishDownload();
    for (const disposable of this.disposables.splice(0)) disposable.dispose();
  }
}

/**
 * Asks which server (API, URL, served model), as "Use a server…" and the report's comparison do,
 * and saves the URL and model to the (machine-scoped) user settings, where the one-line server
 * errors point. The URL starts from lmLens.server.url unless that is another API's default.
 */
export async function askServer(title: string): Promise<{ api: RemoteApi; url: string; model: string } | undefined> {
  const config = readConfig();
  const api = await vscode.window.showQuickPick(
    [
      { label: 'vLLM or SGLang', description: 'OpenAI-compatible completions API', value: 'openai' as const },
      { label: 'llama-server', description: "llama.cpp's native API", value: 'llama.cpp' as const },
    ],
    { title: `${title}: which server?` },
  );
  if (!api) return undefined;
  const defaultUrl = api.value === 'openai' ? 'http://127.0.0.1:8000' : 'http://127.0.0.1:8080';
  const keepUrl = config.backend === api.value || (config.backend === 'local' && config.server.url !== '' && config.server.url !== SETTINGS['server.url'].default);
  const url = await vscode.window.showInputBox({
    title: `${title}: server URL`,
    value: keepUrl ? config.server.url : defaultUrl,
    validateInput: (value) => (/^https?:\/\/\S+$/.test(value.trim()) ? undefined : 'Expected http://host:port or https://host:port'),
  });
  if (!url) return undefined;
  const served = await vscode.window.showInputBox({ title: `${title}: served model (empty: the server’s first)`, value: config.server.model });
  if (served === undefined) return undefined;
  const settings = vscode.workspace.getConfiguration(SECTION);
  await settings.update('server.url', url.trim(), vscode.ConfigurationTarget.Global);
  await settings.update('server.model', served.trim() || undefined, vscode.ConfigurationTarget.Global);
  return { api: api.value, url: url.trim(), model: served.trim() };
}
