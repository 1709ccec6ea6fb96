// Features as sessions: the panel's session ends with the panel (no listener, timer, request or
// shading left; a late answer reaches nothing), sentence loss keeps one session per document
// (ending one leaves the others), and a new session starts clean. The real extension classes
// run against the `vscode` stand-in in test/support/fakeVscode.ts and a recording model.
import { FakeDocument, EventEmitter, closeDocument, fakeState, liveListeners, resetFake, setSetting, showEditors } from '../support/fakeVscode';
import * as assert from 'node:assert/strict';
import type * as vscode from 'vscode';
import { NextTokenPanelController } from '../../src/extension/nextTokenPanel';
import { SentenceLossFeature } from '../../src/extension/lossDecorations';
import type { ModelController } from '../../src/extension/modelController';
import { Session, SessionMap } from '../../src/extension/session';
import { didCloseNotification, didOpenNotification, documentStatusNotification, lensRequest, nextTokenRequest, sampleRequest, sentenceScoresNotification } from '../../src/shared/hostProtocol';
import type { TextDocumentItem, DocumentStatusParams, NextTokenResponse, SentenceScoresParams } from '../../src/shared/hostProtocol';
import type { PanelState } from '../../src/shared/panelProtocol';
import { splitSentences } from '../../src/core/sentences';

interface Pending {
  method: string;
  params: unknown;
  resolve(value: unknown): void;
}

/** A ModelController that records requests (answered by the test) and what the window told the model process. */
class RecordingModel {
  readonly pending: Pending[] = [];
  readonly cancelled: string[] = [];
  readonly notified: Array<{ method: string; params: unknown }> = [];
  readonly handlers = new Map<string, (params: unknown) => void>();
  readonly state = { state: 'ready' } as const;
  private readonly stateEmitter = new EventEmitter<unknown>();
  readonly onDidChangeState = this.stateEmitter.event;
  readonly client = {
    connection: 1 as number | undefined,
    connect: async (): Promise<void> => undefined,
    notify: (type: { method: string }, params: unknown): void => void this.notified.push({ method: type.method, params }),
    onNotification: (type: { method: string }, handler: (params: unknown) => void): { dispose(): void } => {
      this.handlers.set(type.method, handler);
      return { dispose: () => void (this.handlers.get(type.method) === handler && this.handlers.delete(type.method)) };
    },
    onConnected: (): { dispose(): void } => ({ dispose: () => undefined }),
    request: async (): Promise<unknown> => ({}),
  };
  request(_feature: string, type: { method: string }, params: unknown): Promise<unknown> {
    return new Promise((resolve) => this.pending.push({ method: type.method, params, resolve }));
  }
  channel(feature: string): { cancel(): void } {
    return { cancel: () => void this.cancelled.push(feature) };
  }
  async reportError(): Promise<void> {}
  async retry(): Promise<void> {}
  async openSettings(): Promise<void> {}
  push(method: string, params: SentenceScoresParams | DocumentStatusParams): void {
    this.handlers.get(method)?.(params);
  }
  opened(uri: string): TextDocumentItem[] {
    return this.notified.filter((sent) => sent.method === didOpenNotification.method && (sent.params as TextDocumentItem).uri === uri).map((sent) => sent.params as TextDocumentItem);
  }
  closed(): string[] {
    return this.notified.filter((sent) => sent.method === didCloseNotification.method).map((sent) => (sent.params as { uri: string }).uri);
  }
  asController(): ModelController {
    return this as unknown as ModelController;
  }
}

const context = { extensionUri: { toString: () => 'file:///ext' } } as unknown as vscode.ExtensionContext;
const tick = (ms = 5): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function answer(text: string): NextTokenResponse {
  return { top: [{ id: 1, text, prob: 0.5, logprob: Math.log(0.5), logit: 1 }], entropy: 1, contextTokens: 2, truncated: false, tail: [], elapsedMs: 1 };
}

describe('sessions: lifetime', () => {
  class Probe extends Session {
    timer(ms: number, callback: () => void): void {
      this.startTimer(callback, ms);
    }
  }

  it('disposes what it owns once, newest first, and clears its timers; one owned later is disposed at once', async () => {
    const order: string[] = [];
    const session = new Probe();
    session.own({ dispose: () => order.push('first') });
    session.own({ dispose: () => order.push('second') });
    let fired = false;
    session.timer(1, () => (fired = true));
    assert.equal(session.pendingTimers, 1);
    session.dispose();
    session.dispose();
    assert.deepEqual(order, ['second', 'first']);
    assert.equal(session.pendingTimers, 0);
    await tick();
    assert.equal(fired, false, 'a timer of an ended session never fires');
    session.own({ dispose: () => order.push('late') });
    assert.deepEqual(order, ['second', 'first', 'late']);
  });

  it('a session map ends only the session it is asked to, and makes a new one on the next open', () => {
    const map = new SessionMap<Probe>();
    const a = map.open('a', () => new Probe());
    const b = map.open('b', () => new Probe());
    assert.equal(map.open('a', () => new Probe()), a);
    assert.equal(map.close('a'), true);
    assert.equal(a.disposed, true);
    assert.equal(b.disposed, false);
    const again = map.open('a', () => new Probe());
    assert.notEqual(again, a);
    map.dispose();
    assert.equal(b.disposed && again.disposed, true);
    assert.deepEqual(map.keys, []);
  });
});

describe('sessions: the next-token panel', () => {
  let model: RecordingModel;
  let controller: NextTokenPanelController;
  let rendered: PanelState[];

  beforeEach(() => {
    resetFake();
    model = new RecordingModel();
    showEditors(new FakeDocument('file:///notes.md', 'Alice was'));
    controller = new NextTokenPanelController(context, model.asController());
    rendered = [];
    controller.onDidRender((state) => rendered.push(state));
  });

  afterEach(() => controller.dispose());

  it('closing the panel ends its session: no listener or timer left, the request cancelled, a late answer dropped', async () => {
    const before = liveListeners();
    controller.show();
    const panel = fakeState.window.panels[0];
    assert.ok(panel);
    await controller.handleMessage({ type: 'ready' });
    await tick();
    const session = controller.current;
    assert.ok(session);
    const first = model.pending.shift();
    assert.equal(first?.method, nextTokenRequest.method);
    // A cursor move starts the debounce, and its answer is still due when the panel closes.
    const editor = fakeState.window.activeTextEditor;
    assert.ok(editor);
    fakeState.window.selection.fire({ textEditor: editor });
    assert.equal(session.pendingTimers, 1);
    assert.ok(liveListeners() > before);
    let closes = 0;
    controller.onDidClose(() => closes++);
    const posted = panel.posted.length;

    panel.dispose();

    assert.equal(controller.isOpen, false);
    assert.equal(session.disposed, true);
    assert.equal(closes, 1);
    assert.equal(session.pendingTimers, 0);
    assert.equal(liveListeners(), before + 1, 'only the test’s own onDidClose listener is left');
    assert.ok(model.cancelled.includes('panel'), 'the request in flight is cancelled');
    first?.resolve(answer(' late'));
    await tick(200);
    assert.equal(panel.posted.length, posted, 'the late answer reached no webview');
    assert.equal(rendered.some((state) => state.prediction !== undefined), false);
    assert.equal(model.pending.length, 0, 'the debounced request never went out');
    assert.equal(fakeState.window.liveDecorationTypes, 0);
  });

  it('reopening starts a clean session that keeps only the sample options', async () => {
    controller.show();
    await controller.handleMessage({ type: 'ready' });
    await controller.handleMessage({ type: 'setSampleOptions', options: { n: 5 } });
    await tick();
    model.pending.shift()?.resolve(answer(' was'));
    await tick();
    const old = controller.current;
    assert.equal(rendered.at(-1)?.prediction?.rows[0]?.text, ' was');
    controller.close();
    assert.equal(old?.disposed, true);

    controller.show();
    const reopened = controller.current;
    assert.ok(reopened && reopened !== old);
    await controller.handleMessage({ type: 'ready' });
    const clean = rendered.at(-1);
    assert.equal(clean?.prediction, undefined, 'the old table is not shown again');
    assert.equal(clean?.samples, undefined);
    assert.equal(clean?.sampleOptions.n, 5);
    await tick();
    model.pending.shift()?.resolve(answer(' tired'));
    await tick();
    assert.equal(rendered.at(-1)?.prediction?.rows[0]?.text, ' tired');
    assert.equal(rendered.at(-1)?.prediction?.id, 1, 'the new session numbers its requests from the start');
  });

  it('closing the panel removes the Layers view’s attention shading from the editor', async () => {
    controller.show();
    await controller.handleMessage({ type: 'ready' });
    await controller.handleMessage({ type: 'setLens', lens: { show: true } });
    await tick();
    model.pending.splice(0).forEach((request) => request.resolve(answer(' tired')));
    await tick();
    const lens = model.pending.find((request) => request.method === lensRequest.method);
    assert.ok(lens, 'the lens was asked for after the prediction');
    const layer = { top: [{ id: 1, text: ' tired', prob: 0.5 }], entropy: 1, klToFinal: 0, final: { id: 1, prob: 0.5, rank: 1 } };
    // 'Alice was' is two tokens; the second gets most of the attention.
    lens.resolve({ model: 'tiny', contextTokens: 2, truncated: false, tokens: [{ id: 1, text: 'Alice' }, { id: 2, text: ' was' }], layers: [{ ...layer, layer: 0 }, { ...layer, layer: 1 }], attention: [[[0.25, 0.75]]], spans: [[0, 5], [5, 9]], elapsedMs: 1 });
    await tick();
    assert.ok(rendered.at(-1)?.layers, 'the Layers view is shown');
    const editor = fakeState.window.activeTextEditor;
    const shaded = (): number => [...(editor?.decorations.values() ?? [])].flat().length;
    assert.equal(shaded(), 2, 'both context tokens are shaded');
    assert.ok(fakeState.window.liveDecorationTypes > 0);
    controller.close();
    assert.equal(fakeState.window.liveDecorationTypes, 0, 'the shading’s decoration types are gone (VS Code removes their ranges with them)');
  });

  it('samples answered after the panel closed do not appear when it is reopened', async () => {
    controller.show();
    await controller.handleMessage({ type: 'ready' });
    await tick();
    const asked = controller.handleMessage({ type: 'sample' });
    const sampling = model.pending.find((request) => request.method === sampleRequest.method);
    assert.ok(sampling, 'the sample request went out');
    controller.close();
    sampling.resolve({ sequences: [{ text: ' late', tokens: [], prob: 0.1, sampledProb: 0.1, logprob: -2.3, share: 1, normedProd: 1 }], elapsedMs: 1 });
    await asked;
    controller.show();
    await controller.handleMessage({ type: 'ready' });
    assert.equal(rendered.at(-1)?.samples, undefined);
    assert.equal(rendered.at(-1)?.sampling, false);
  });
});

describe('sessions: sentence loss per document', () => {
  const PROSE = 'Alice was tired. She had nothing to do.';
  let model: RecordingModel;
  let feature: SentenceLossFeature;

  function scores(uri: string, opening: number, version = 1): SentenceScoresParams {
    const sentences = splitSentences(PROSE).map((span, i) => ({ start: span.start, end: span.end, text: span.text, loss: 2 + 3 * i, perplexity: Math.exp(2 + 3 * i), tokenCount: 4, tokens: [], leastLikely: [] }));
    return { uri, opening, version, keep: 0, sentences, computedTokens: null };
  }

  function openingOf(uri: string): number {
    const opening = model.opened(uri).at(-1)?.opening;
    assert.ok(opening !== undefined, `${uri} was opened in the model process`);
    return opening;
  }

  beforeEach(() => {
    resetFake();
    model = new RecordingModel();
    setSetting('loss.languages', ['markdown', 'plaintext']);
    setSetting('loss.enabled', true);
  });

  afterEach(() => feature.dispose());

  it('a document leaving the feature ends its session only; taken up again it starts clean', () => {
    const a = new FakeDocument('file:///a.md', PROSE, 'markdown');
    const b = new FakeDocument('file:///b.txt', PROSE, 'plaintext');
    const [editorA, editorB] = showEditors(a, b);
    feature = new SentenceLossFeature(context, model.asController());
    const [openA, openB] = [openingOf(a.uri.toString()), openingOf(b.uri.toString())];
    model.push(sentenceScoresNotification.method, scores('file:///a.md', openA));
    model.push(sentenceScoresNotification.method, scores('file:///b.txt', openB));
    assert.equal(feature.probe.resultsFor('file:///b.txt')?.sentences.length, 2);
    assert.ok(feature.probe.decorationsFor('file:///b.txt'));
    const drawnB = [...(editorB?.decorations.values() ?? [])].flat().length;
    assert.equal(drawnB, 2, 'both sentences of b were drawn');

    // Sentence loss off for b only (its language left the setting).
    setSetting('loss.languages', ['markdown']);
    assert.deepEqual(model.closed(), ['file:///b.txt']);
    assert.equal(feature.probe.resultsFor('file:///b.txt'), undefined);
    assert.equal(feature.probe.decorationsFor('file:///b.txt'), undefined);
    assert.equal([...(editorB?.decorations.values() ?? [])].flat().length, 0, 'b lost its colours');
    assert.equal(feature.probe.resultsFor('file:///a.md')?.sentences.length, 2, 'a keeps its scores');
    assert.equal([...(editorA?.decorations.values() ?? [])].flat().length, 2, 'and its colours');
    model.push(sentenceScoresNotification.method, scores('file:///b.txt', openB));
    assert.equal(feature.probe.resultsFor('file:///b.txt'), undefined, 'a late push for the ended session is dropped');

    setSetting('loss.languages', ['markdown', 'plaintext']);
    const reopened = openingOf('file:///b.txt');
    assert.notEqual(reopened, openB);
    assert.equal(feature.probe.resultsFor('file:///b.txt'), undefined, 'the new session holds nothing from the old one');
    model.push(sentenceScoresNotification.method, scores('file:///b.txt', openB));
    assert.equal(feature.probe.resultsFor('file:///b.txt'), undefined, 'a push for the earlier opening is still dropped');
    model.push(documentStatusNotification.method, { uri: 'file:///b.txt', opening: reopened, version: 1, state: 'done' });
    model.push(sentenceScoresNotification.method, scores('file:///b.txt', reopened));
    assert.equal(feature.probe.resultsFor('file:///b.txt')?.complete, true);
  });

  it('closing a document ends its session; turning the feature off ends them all with their listeners', () => {
    const before = liveListeners();
    const a = new FakeDocument('file:///a.md', PROSE, 'markdown');
    const b = new FakeDocument('file:///b.txt', PROSE, 'plaintext');
    showEditors(a, b);
    feature = new SentenceLossFeature(context, model.asController());
    model.push(sentenceScoresNotification.method, scores('file:///a.md', openingOf('file:///a.md')));
    assert.ok(fakeState.window.liveDecorationTypes > 0);

    closeDocument(b);
    assert.deepEqual(model.closed(), ['file:///b.txt']);
    assert.equal(feature.probe.resultsFor('file:///a.md')?.sentences.length, 2);

    setSetting('loss.enabled', false);
    assert.deepEqual(model.closed(), ['file:///b.txt', 'file:///a.md']);
    assert.equal(feature.probe.resultsFor('file:///a.md'), undefined);
    assert.equal(fakeState.window.liveDecorationTypes, 0, 'no decoration type left');
    assert.equal(fakeState.window.statusItems.find((item) => item.name === 'LM Lens sentence loss')?.disposed, true, 'the progress item went with it');
    assert.equal(liveListeners(), before + 1, 'only the feature’s own settings listener is left');
  });

  it('an answer to "score this long document?" given after the document closed is dropped', async () => {
    setSetting('loss.maxDocumentChars', 1000);
    let say: (choice: string) => void = () => undefined;
    fakeState.window.answer = () => new Promise((resolve) => (say = resolve));
    const long = new FakeDocument('file:///long.md', 'Word. '.repeat(300), 'markdown');
    showEditors(long);
    feature = new SentenceLossFeature(context, model.asController());
    assert.deepEqual(model.opened('file:///long.md'), [], 'not sent before the user agrees');
    closeDocument(long);
    say('Score');
    await tick();
    assert.deepEqual(model.opened('file:///long.md'), [], 'never sent to the model process');
  });
});
