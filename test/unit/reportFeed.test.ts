// How the window keeps a report current (src/extension/reportFeed.ts), against a scripted model
// process: bursts of pushes become few requests and the last change is always answered, other
// documents are ignored, and a wanted comparison runs again once a new version is fully scored.
import * as assert from 'node:assert/strict';
import { LmLensError } from '../../src/core/errors';
import { ReportFeed } from '../../src/extension/reportFeed';
import type { ReportFeedHost } from '../../src/extension/reportFeed';
import type { CompareParams, DocumentReportResponse } from '../../src/shared/hostProtocol';
import type { DocumentReport } from '../../src/shared/reportProtocol';

const URI = 'untitled:a.md';
const tick = (ms = 5): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A model process whose document is at `version`, scored completely or not. */
class ScriptedHost implements ReportFeedHost {
  version = 1;
  complete = true;
  comparedVersion: number | undefined;
  reportCalls = 0;
  compareCalls: CompareParams[] = [];
  shown: DocumentReportResponse[] = [];
  failures: Array<[string, unknown]> = [];
  comparingLog: Array<string | undefined> = [];
  /** Resolves the report request in flight. */
  private release: (() => void) | undefined;
  hold = false;
  compareError: unknown;

  async report(): Promise<DocumentReportResponse> {
    this.reportCalls++;
    const version = this.version;
    if (this.hold) await new Promise<void>((resolve) => (this.release = resolve));
    const report = { complete: this.complete, summary: { tokens: version } } as unknown as DocumentReport;
    return { uri: URI, version, data: { report }, comparedVersion: this.comparedVersion };
  }

  finish(): void {
    this.hold = false;
    this.release?.();
  }

  async compare(params: CompareParams): Promise<{ version: number; elapsedMs: number }> {
    this.compareCalls.push(params);
    if (this.compareError) throw this.compareError;
    if (params.model || params.server) this.comparedVersion = this.version;
    return { version: this.version, elapsedMs: 0 };
  }

  show(response: DocumentReportResponse): void {
    this.shown.push(response);
  }

  comparing(model: string | undefined): void {
    this.comparingLog.push(model);
  }

  failed(what: 'report' | 'compare', error: unknown): void {
    this.failures.push([what, error]);
  }
}

async function until(what: string, condition: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !condition(); i++) await tick();
  assert.ok(condition(), `timed out waiting until ${what}`);
}

describe('document report feed (window side)', () => {
  let host: ScriptedHost;
  let feed: ReportFeed;
  beforeEach(() => {
    host = new ScriptedHost();
    feed = new ReportFeed(host, 20);
  });
  afterEach(() => feed.dispose());

  it('turns a burst of pushes into few requests and always shows the last version', async () => {
    feed.watch(URI);
    await until('the first report', () => host.shown.length === 1);
    for (let version = 2; version <= 30; version++) {
      host.version = version;
      feed.update(URI);
    }
    await until('version 30 shown', () => host.shown.at(-1)?.version === 30);
    assert.ok(host.reportCalls <= 3, `${host.reportCalls} requests for 30 updates`);
  });

  it('asks once more after a request that was running when the document changed', async () => {
    host.hold = true;
    feed.watch(URI);
    await until('a request in flight', () => host.reportCalls === 1);
    host.version = 2;
    feed.update(URI, 0);
    feed.update(URI, 0);
    await tick(40);
    assert.equal(host.reportCalls, 1, 'one request at a time');
    host.finish();
    await until('version 2 shown', () => host.shown.at(-1)?.version === 2);
    assert.equal(host.reportCalls, 2);
  });

  it('ignores other documents and stops when it watches none', async () => {
    feed.watch(URI);
    await until('the first report', () => host.shown.length === 1);
    feed.update('untitled:other.md', 0);
    feed.watch(undefined);
    feed.update(URI, 0);
    await tick(60);
    assert.equal(host.reportCalls, 1);
  });

  it('compares again once a newer version is completely scored, and not while it is partial', async () => {
    feed.watch(URI);
    await feed.compareWith({ model: '/models/b', dtype: 'fp32' });
    assert.deepEqual(host.compareCalls, [{ uri: URI, model: '/models/b', dtype: 'fp32' }]);
    host.version = 2;
    host.complete = false;
    feed.update(URI, 0);
    await until('version 2 shown', () => host.shown.at(-1)?.version === 2);
    assert.equal(host.compareCalls.length, 1, 'no comparison of a partial report');
    host.complete = true;
    feed.update(URI, 0);
    await until('a second comparison', () => host.compareCalls.length === 2);
    await until('the compared version shown', () => host.shown.at(-1)?.comparedVersion === 2);
    assert.equal(host.compareCalls.length, 2);
    await feed.stopComparing();
    assert.deepEqual(host.compareCalls.at(-1), { uri: URI });
    assert.equal(feed.comparison, undefined);
  });

  it('reports a failed comparison once and does not retry it on every edit', async () => {
    host.compareError = new LmLensError('folder-missing', 'Model folder /nowhere does not exist.');
    feed.watch(URI);
    await feed.compareWith({ model: '/nowhere', dtype: 'fp32' });
    assert.equal(host.failures.length, 1);
    assert.equal(host.failures[0]?.[0], 'compare');
    assert.equal(feed.comparison, undefined);
    host.version = 2;
    feed.update(URI, 0);
    await until('version 2 shown', () => host.shown.at(-1)?.version === 2);
    assert.equal(host.compareCalls.length, 1);
    assert.deepEqual(host.comparingLog, ['/nowhere', undefined]);
  });

  it('a server to compare with goes to the model process as asked, named "model @ host" while it runs', async () => {
    feed.watch(URI);
    const server = { api: 'openai' as const, url: 'http://10.0.0.5:8000/', model: 'meta-llama/Llama-3.1-8B' };
    await feed.compareWith({ server });
    assert.deepEqual(host.compareCalls, [{ uri: URI, server }]);
    assert.deepEqual(host.comparingLog, ['meta-llama/Llama-3.1-8B @ 10.0.0.5:8000', undefined]);
    await feed.compareWith({ server: { api: 'llama.cpp', url: 'http://gpu-box:8080' } });
    assert.equal(host.comparingLog.at(-2), 'the llama.cpp server @ gpu-box:8080');
  });
});
