/**
 * The extension's half of text-document sync (as a language client does it): the documents
 * LM Lens scores are opened in the model process once, whole, then only their edits travel.
 * After a reconnect (a new or restarted server knows no documents) every one is opened again
 * from the editor's current text. No `vscode` import: the benchmark drives it as the editor would.
 */
import type { NotificationType } from 'vscode-jsonrpc';
import { didChangeNotification, didCloseNotification, didOpenNotification, focusNotification } from '../shared/hostProtocol';
import type { DidChangeParams, TextChange } from '../shared/hostProtocol';

/** What the sync reads of an editor document (a `vscode.TextDocument` fits). */
export interface SyncedDocument {
  readonly uri: { toString(): string };
  readonly languageId: string;
  readonly version: number;
  getText(): string;
}

/** What the sync needs of the connection (ModelClient fits). */
export interface SyncTransport {
  /** Number of the current connection; undefined while there is none. */
  readonly connection: number | undefined;
  connect(): Promise<void>;
  notify<P>(type: NotificationType<P>, params: P): void;
}

export interface SyncStats {
  opened: number;
  changes: number;
  /** JSON bytes of every didChange sent: what typing costs on the wire. */
  changeBytes: number;
}

interface Entry {
  document: SyncedDocument;
  /** The connection this document was opened on; another one means it must be opened again. */
  openedOn: number | undefined;
  /** This window's number for the didOpen last sent; pushes for any other are stale. */
  opening: number | undefined;
}

export class DocumentSync {
  private readonly entries = new Map<string, Entry>();
  private visible: string[] = [];
  private openings = 0;
  readonly stats: SyncStats = { opened: 0, changes: 0, changeBytes: 0 };

  constructor(private readonly transport: SyncTransport) {}

  has(uri: string): boolean {
    return this.entries.has(uri);
  }

  /** Whether a push for `uri` computed under `opening` is for the document open now. */
  isCurrent(uri: string, opening: number): boolean {
    return this.entries.get(uri)?.opening === opening;
  }

  get uris(): string[] {
    return [...this.entries.keys()];
  }

  open(document: SyncedDocument): void {
    const uri = document.uri.toString();
    if (this.entries.has(uri)) return;
    this.entries.set(uri, { document, openedOn: undefined, opening: undefined });
    this.flush();
  }

  /** VS Code's `contentChanges` of one event, in order, for the version they produce. */
  change(document: SyncedDocument, changes: readonly TextChange[]): void {
    const entry = this.entries.get(document.uri.toString());
    if (!entry || changes.length === 0) return;
    entry.document = document;
    const connection = this.transport.connection;
    if (connection === undefined || entry.openedOn !== connection) {
      // Not open on this connection yet: the open will carry the current text.
      this.flush();
      return;
    }
    const params: DidChangeParams = {
      uri: document.uri.toString(),
      version: document.version,
      changes: changes.map(({ rangeOffset, rangeLength, text }) => ({ rangeOffset, rangeLength, text })),
    };
    this.stats.changes++;
    this.stats.changeBytes += Buffer.byteLength(JSON.stringify(params));
    this.transport.notify(didChangeNotification, params);
  }

  close(uri: string): void {
    const entry = this.entries.get(uri);
    if (!entry) return;
    this.entries.delete(uri);
    if (entry.openedOn !== undefined && entry.openedOn === this.transport.connection) this.transport.notify(didCloseNotification, { uri });
  }

  /** The documents on screen, most wanted first; the model process scores only these. */
  focus(visible: readonly string[]): void {
    this.visible = visible.filter((uri) => this.entries.has(uri));
    if (this.transport.connection === undefined) this.flush();
    else this.transport.notify(focusNotification, { visible: this.visible });
  }

  /** Opens, on the current connection, whatever is not open there yet (connecting first if need be). */
  flush(): void {
    const connection = this.transport.connection;
    if (connection === undefined) {
      if (this.entries.size > 0) void this.transport.connect().catch(() => undefined);
      return;
    }
    let opened = false;
    for (const [uri, entry] of this.entries) {
      if (entry.openedOn === connection) continue;
      const { document } = entry;
      entry.openedOn = connection;
      entry.opening = ++this.openings;
      this.stats.opened++;
      this.transport.notify(didOpenNotification, { uri, languageId: document.languageId, version: document.version, opening: entry.opening, text: document.getText() });
      opened = true;
    }
    if (opened) this.transport.notify(focusNotification, { visible: this.visible.filter((uri) => this.entries.has(uri)) });
  }

  dispose(): void {
    for (const uri of [...this.entries.keys()]) this.close(uri);
  }
}
