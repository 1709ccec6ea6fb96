// The extension's half of document sync, with a recording transport: a document is sent whole
// once per connection, then only its edits, whose size follows the edit, not the document.
import * as assert from 'node:assert/strict';
import { DocumentSync } from '../../src/extension/documentSync';
import type { SyncTransport, SyncedDocument } from '../../src/extension/documentSync';
import { didChangeNotification, didCloseNotification, didOpenNotification, focusNotification } from '../../src/shared/hostProtocol';

class Recorder implements SyncTransport {
  connection: number | undefined = 1;
  connects = 0;
  readonly sent: Array<{ method: string; params: unknown }> = [];
  async connect(): Promise<void> {
    this.connects++;
  }
  notify<P>(type: { method: string }, params: P): void {
    this.sent.push({ method: type.method, params });
  }
  methods(): string[] {
    return this.sent.map((message) => message.method);
  }
}

function doc(text: string, version = 1, uri = 'file:///a.md'): SyncedDocument {
  return { uri: { toString: () => uri }, languageId: 'markdown', version, getText: () => text };
}

describe('document sync (extension side)', () => {
  const big = 'A sentence of prose. '.repeat(50_000);

  it('opens a document whole once, then sends only edits, each the size of the edit', () => {
    const transport = new Recorder();
    const sync = new DocumentSync(transport);
    sync.open(doc(big));
    sync.open(doc(big));
    assert.deepEqual(transport.methods(), [didOpenNotification.method, focusNotification.method]);
    for (let version = 2; version < 12; version++) sync.change(doc(big, version), [{ rangeOffset: 500_000 + version, rangeLength: 0, text: 'x' }]);
    assert.equal(sync.stats.changes, 10);
    assert.ok(sync.stats.changeBytes / sync.stats.changes < 200, `${sync.stats.changeBytes / sync.stats.changes} bytes per keystroke`);
    const last = transport.sent.at(-1);
    assert.equal(last?.method, didChangeNotification.method);
    assert.deepEqual(last?.params, { uri: 'file:///a.md', version: 11, changes: [{ rangeOffset: 500_011, rangeLength: 0, text: 'x' }] });
  });

  it('opens everything again, with the current text, on a new connection', () => {
    const transport = new Recorder();
    const sync = new DocumentSync(transport);
    sync.open(doc('First text.'));
    sync.focus(['file:///a.md']);
    transport.connection = undefined;
    sync.change(doc('First text. More.', 2), [{ rangeOffset: 11, rangeLength: 0, text: ' More.' }]);
    assert.equal(transport.connects, 1, 'an edit without a connection connects');
    transport.connection = 2;
    transport.sent.length = 0;
    sync.flush();
    assert.deepEqual(transport.sent, [
      { method: didOpenNotification.method, params: { uri: 'file:///a.md', languageId: 'markdown', version: 2, opening: 2, text: 'First text. More.' } },
      { method: focusNotification.method, params: { visible: ['file:///a.md'] } },
    ]);
  });

  it('closes only what it opened, and forgets it', () => {
    const transport = new Recorder();
    const sync = new DocumentSync(transport);
    sync.close('file:///never.md');
    sync.open(doc('Text.'));
    sync.close('file:///a.md');
    assert.equal(sync.has('file:///a.md'), false);
    assert.deepEqual(transport.methods(), [didOpenNotification.method, focusNotification.method, didCloseNotification.method]);
    sync.change(doc('Text!', 2), [{ rangeOffset: 4, rangeLength: 1, text: '!' }]);
    assert.equal(transport.sent.length, 3, 'no edits for a closed document');
  });

  it('numbers each opening, so pushes for a closed document are not taken for its reopened namesake', () => {
    // VS Code reuses untitled:Untitled-1 with version 1 after a close: only the opening tells them apart.
    const transport = new Recorder();
    const sync = new DocumentSync(transport);
    const uri = 'untitled:Untitled-1';
    sync.open(doc('First life.', 1, uri));
    const first = (transport.sent[0]?.params as { opening: number }).opening;
    assert.equal(sync.isCurrent(uri, first), true);
    sync.close(uri);
    assert.equal(sync.isCurrent(uri, first), false, 'nothing is current for a closed document');
    sync.open(doc('Second life.', 1, uri));
    const second = (transport.sent.filter((message) => message.method === didOpenNotification.method)[1]?.params as { opening: number }).opening;
    assert.notEqual(second, first);
    assert.equal(sync.isCurrent(uri, first), false, 'a push from the first opening is stale');
    assert.equal(sync.isCurrent(uri, second), true);
  });
});
