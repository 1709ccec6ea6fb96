/**
 * A small stand-in for the `vscode` module, so extension-side classes (the panel and sentence
 * loss) run in plain Node: it keeps what they subscribe to, the webview panels, status items
 * and decoration types they make, and lets a test fire editor events and count what is left
 * subscribed. Only what those classes use is here. Import it before any module that imports
 * `vscode` (it installs itself into Node's module resolution on first import).
 */
import Module from 'node:module';
import { LineIndex } from '../../src/core/sentences';

type Listener<T> = (value: T) => unknown;

export class Disposable {
  constructor(private readonly callback: () => void) {}
  static from(...items: Array<{ dispose(): unknown }>): Disposable {
    return new Disposable(() => items.forEach((item) => item.dispose()));
  }
  dispose(): void {
    this.callback();
  }
}

/** Every emitter made, so a test can count the listeners still subscribed anywhere. */
const emitters = new Set<EventEmitter<never>>();

export class EventEmitter<T> {
  readonly listeners = new Set<Listener<T>>();
  constructor() {
    emitters.add(this as unknown as EventEmitter<never>);
  }
  readonly event = (listener: Listener<T>): Disposable => {
    const wrapped: Listener<T> = (value) => listener(value);
    this.listeners.add(wrapped);
    return new Disposable(() => this.listeners.delete(wrapped));
  };
  fire(value: T): void {
    for (const listener of [...this.listeners]) listener(value);
  }
  dispose(): void {
    this.listeners.clear();
    emitters.delete(this as unknown as EventEmitter<never>);
  }
}

export class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
}
export class Range {
  constructor(
    readonly start: Position,
    readonly end: Position,
  ) {}
}
export class Selection extends Range {
  constructor(
    readonly anchor: Position,
    readonly active: Position,
  ) {
    super(anchor, active);
  }
}
export class ThemeColor {
  constructor(readonly id: string) {}
}
export class MarkdownString {
  isTrusted: unknown;
  supportHtml = false;
  constructor(readonly value: string) {}
}
export class Hover {
  constructor(
    readonly contents: unknown,
    readonly range?: Range,
  ) {}
}

export const Uri = {
  parse: (text: string) => ({ scheme: text.slice(0, text.indexOf(':')), toString: () => text, fsPath: text.replace(/^file:\/\//, '') }),
  joinPath: (base: { toString(): string }, ...parts: string[]) => Uri.parse([base.toString(), ...parts].join('/')),
};

/** A text document whose text the test sets; versions count edits. */
export class FakeDocument {
  version = 1;
  isClosed = false;
  readonly uri: ReturnType<typeof Uri.parse>;
  constructor(
    uri: string,
    private text: string,
    readonly languageId = 'markdown',
  ) {
    this.uri = Uri.parse(uri);
  }
  private get index(): LineIndex {
    return new LineIndex(this.text);
  }
  getText(range?: Range): string {
    return range ? this.text.slice(this.offsetAt(range.start), this.offsetAt(range.end)) : this.text;
  }
  offsetAt(position: Position): number {
    return this.index.offsetAt(position);
  }
  positionAt(offset: number): Position {
    const { line, character } = this.index.positionAt(offset);
    return new Position(line, character);
  }
  get lineCount(): number {
    return this.text.split('\n').length;
  }
  lineAt(line: number): { text: string; range: Range } {
    const text = this.text.split('\n')[line] ?? '';
    return { text, range: new Range(new Position(line, 0), new Position(line, text.length)) };
  }
  /** Replaces the text as an edit would, and tells the listeners. */
  edit(text: string): void {
    const rangeLength = this.text.length;
    this.text = text;
    this.version++;
    fake.workspace.changeText.fire({ document: this, contentChanges: [{ rangeOffset: 0, rangeLength, text, range: new Range(new Position(0, 0), new Position(0, 0)) }] });
  }
}

export class FakeEditor {
  selection: Selection;
  readonly decorations = new Map<unknown, unknown[]>();
  constructor(readonly document: FakeDocument) {
    const end = document.positionAt(document.getText().length);
    this.selection = new Selection(end, end);
  }
  setDecorations(type: unknown, ranges: unknown[]): void {
    this.decorations.set(type, ranges);
  }
  revealRange(): void {}
  async edit(): Promise<boolean> {
    return false;
  }
}

export class FakeWebviewPanel {
  visible = true;
  disposed = false;
  readonly posted: unknown[] = [];
  readonly disposeEmitter = new EventEmitter<void>();
  readonly viewStateEmitter = new EventEmitter<unknown>();
  readonly messageEmitter = new EventEmitter<unknown>();
  readonly onDidDispose = this.disposeEmitter.event;
  readonly onDidChangeViewState = this.viewStateEmitter.event;
  readonly webview = {
    html: '',
    cspSource: 'fake-csp',
    asWebviewUri: (uri: { toString(): string }) => uri,
    onDidReceiveMessage: this.messageEmitter.event,
    postMessage: async (message: unknown): Promise<boolean> => {
      this.posted.push(message);
      return true;
    },
  };
  reveal(): void {}
  /** As VS Code does: fires onDidDispose once, when closed by the user or by code. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.disposeEmitter.fire();
  }
}

function statusItem(): { text: string; tooltip?: string; name?: string; command?: string; shown: boolean; disposed: boolean; show(): void; hide(): void; dispose(): void } {
  return {
    text: '',
    shown: false,
    disposed: false,
    show() {
      this.shown = true;
    },
    hide() {
      this.shown = false;
    },
    dispose() {
      this.disposed = true;
    },
  };
}

const fake = {
  window: {
    activeTextEditor: undefined as FakeEditor | undefined,
    visibleTextEditors: [] as FakeEditor[],
    activeColorTheme: { kind: 2 },
    activeEditor: new EventEmitter<FakeEditor | undefined>(),
    visibleEditors: new EventEmitter<FakeEditor[]>(),
    selection: new EventEmitter<{ textEditor: FakeEditor }>(),
    theme: new EventEmitter<unknown>(),
    panels: [] as FakeWebviewPanel[],
    /** Decoration types made and not yet disposed. */
    liveDecorationTypes: 0,
    statusItems: [] as Array<ReturnType<typeof statusItem>>,
    /** What the next showInformationMessage resolves to (a pending promise keeps it open). */
    answer: (): Promise<string | undefined> => Promise.resolve(undefined),
  },
  workspace: {
    textDocuments: [] as FakeDocument[],
    changeText: new EventEmitter<unknown>(),
    closeDocument: new EventEmitter<FakeDocument>(),
    configuration: new EventEmitter<unknown>(),
    settings: new Map<string, unknown>(),
  },
};

/** Shows `documents` in editors, the first active, as VS Code would announce it. */
export function showEditors(...documents: FakeDocument[]): FakeEditor[] {
  const editors = documents.map((document) => new FakeEditor(document));
  for (const document of documents) if (!fake.workspace.textDocuments.includes(document)) fake.workspace.textDocuments.push(document);
  fake.window.visibleTextEditors = editors;
  fake.window.activeTextEditor = editors[0];
  fake.window.visibleEditors.fire(editors);
  fake.window.activeEditor.fire(editors[0]);
  return editors;
}

/** Closes the document: its editors go, then VS Code says it closed. */
export function closeDocument(document: FakeDocument): void {
  fake.window.visibleTextEditors = fake.window.visibleTextEditors.filter((editor) => editor.document !== document);
  if (fake.window.activeTextEditor?.document === document) fake.window.activeTextEditor = fake.window.visibleTextEditors[0];
  fake.window.visibleEditors.fire(fake.window.visibleTextEditors);
  document.isClosed = true;
  fake.workspace.textDocuments = fake.workspace.textDocuments.filter((candidate) => candidate !== document);
  fake.workspace.closeDocument.fire(document);
}

/** Sets `lmLens.<key>` and tells the configuration listeners. */
export function setSetting(key: string, value: unknown): void {
  fake.workspace.settings.set(key, value);
  fake.workspace.configuration.fire({ affectsConfiguration: (section: string) => `lmLens.${key}`.startsWith(section) });
}

/** Listeners subscribed to any emitter (editor events, panels, configuration) and not yet disposed. */
export function liveListeners(): number {
  let count = 0;
  for (const emitter of emitters) count += emitter.listeners.size;
  return count;
}

export function resetFake(): void {
  for (const emitter of [...emitters]) emitter.listeners.clear();
  Object.assign(fake.window, { activeTextEditor: undefined, visibleTextEditors: [], panels: [], liveDecorationTypes: 0, statusItems: [], answer: () => Promise.resolve(undefined) });
  fake.workspace.textDocuments = [];
  fake.workspace.settings.clear();
}

export const fakeState = fake;

const vscode = {
  Disposable,
  EventEmitter,
  Position,
  Range,
  Selection,
  ThemeColor,
  MarkdownString,
  Hover,
  Uri,
  ViewColumn: { Beside: -2 },
  StatusBarAlignment: { Left: 1, Right: 2 },
  ColorThemeKind: { Light: 1, Dark: 2, HighContrast: 3, HighContrastLight: 4 },
  DecorationRangeBehavior: { ClosedClosed: 1 },
  OverviewRulerLane: { Right: 4 },
  ConfigurationTarget: { Global: 1, Workspace: 2, WorkspaceFolder: 3 },
  ProgressLocation: { Window: 10 },
  env: { clipboard: { writeText: async () => undefined } },
  commands: {
    registerCommand: () => new Disposable(() => undefined),
    executeCommand: async () => undefined,
  },
  languages: {
    registerHoverProvider: () => {
      const registration = new EventEmitter<void>();
      const unregister = registration.event(() => undefined);
      return new Disposable(() => {
        unregister.dispose();
        registration.dispose();
      });
    },
  },
  window: {
    get activeTextEditor() {
      return fake.window.activeTextEditor;
    },
    get visibleTextEditors() {
      return fake.window.visibleTextEditors;
    },
    get activeColorTheme() {
      return fake.window.activeColorTheme;
    },
    onDidChangeActiveTextEditor: fake.window.activeEditor.event,
    onDidChangeVisibleTextEditors: fake.window.visibleEditors.event,
    onDidChangeTextEditorSelection: fake.window.selection.event,
    onDidChangeActiveColorTheme: fake.window.theme.event,
    createWebviewPanel: () => {
      const panel = new FakeWebviewPanel();
      fake.window.panels.push(panel);
      return panel;
    },
    registerWebviewPanelSerializer: () => new Disposable(() => undefined),
    createStatusBarItem: () => {
      const item = statusItem();
      fake.window.statusItems.push(item);
      return item;
    },
    createTextEditorDecorationType: () => {
      fake.window.liveDecorationTypes++;
      let disposed = false;
      return {
        dispose: () => {
          if (!disposed) fake.window.liveDecorationTypes--;
          disposed = true;
        },
      };
    },
    showErrorMessage: async () => undefined,
    showWarningMessage: async () => undefined,
    showInformationMessage: () => fake.window.answer(),
    setStatusBarMessage: () => new Disposable(() => undefined),
  },
  workspace: {
    get textDocuments() {
      return fake.workspace.textDocuments;
    },
    onDidChangeTextDocument: fake.workspace.changeText.event,
    onDidCloseTextDocument: fake.workspace.closeDocument.event,
    onDidChangeConfiguration: fake.workspace.configuration.event,
    asRelativePath: (uri: { toString(): string }) => uri.toString(),
    getConfiguration: () => ({
      get: (key: string) => fake.workspace.settings.get(key),
      inspect: () => undefined,
      update: async (key: string, value: unknown) => void fake.workspace.settings.set(key, value),
    }),
  },
};

// Resolve `vscode` to this object, for every module loaded after this one.
const FAKE_PATH = '\0fake-vscode';
const moduleInternals = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string; _cache: Record<string, unknown> };
const resolve = moduleInternals._resolveFilename;
moduleInternals._resolveFilename = function (request: string, ...rest: unknown[]): string {
  return request === 'vscode' ? FAKE_PATH : resolve.call(this, request, ...rest);
};
const cached = new Module(FAKE_PATH);
cached.exports = vscode;
cached.loaded = true;
moduleInternals._cache[FAKE_PATH] = cached;
