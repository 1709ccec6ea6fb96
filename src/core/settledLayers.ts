// "Settled at layer k" for every token of a document (issue 23): the first layer from which the
// model's final top-1 prediction for that position stays the top-1 of every later layer's logit
// lens (0 = already after the embeddings, L = only the last block gets there). One lens step per
// position, chained through the KV state, in the scoring windows of scoreIds (HF's strided
// recipe), so each token sees the context its loss was scored with.
import { LENS_NEEDS_LOCAL } from './backend';
import type { Backend } from './backend';
import type { Engine } from './engine';
import { LmLensError, throwIfAborted } from './errors';
import { LocalBackend } from './local/localBackend';
import type { Histogram, ReportSentenceInput } from './report';
import type { ReportData } from '../shared/reportProtocol';
import { scoreWindows } from './scoring';
import type { KvState } from './model';

export interface SettledOptions {
  signal?: AbortSignal;
  stride?: number;
  onProgress?: (done: number, total: number) => void;
}

/** The first row from which every later row's top-1 equals the last row's. */
export function settledRow(topIds: ArrayLike<bigint>, rows: number): number {
  const final = topIds[rows - 1];
  let settled = rows - 1;
  while (settled > 0 && topIds[settled - 1] === final) settled--;
  return settled;
}

/** Index i of the result: the settled layer of ids[i] as predicted from ids[<i]; null for index 0 (nothing predicts it). */
export async function settledLayers(engine: Engine, ids: number[], options: SettledOptions = {}): Promise<Array<number | null>> {
  const settled: Array<number | null> = ids.map(() => null);
  const rows = engine.model.info.layers + 1;
  const windows = scoreWindows(ids.length, engine.contextSize, options.stride);
  const total = windows.reduce((sum, window) => sum + window.end - window.scoreFrom, 0);
  let done = 0;
  for (const window of windows) {
    let past: KvState | undefined;
    // Position p predicts token p + 1; the window's earlier positions only build the context.
    for (let position = window.begin; position < window.end - 1; position++) {
      throwIfAborted(options.signal);
      const step = await engine.lensForward([ids[position] as number], past, 1, options.signal);
      past = step.present;
      if (position + 1 < window.scoreFrom) continue;
      settled[position + 1] = settledRow(step.topIds, rows);
      options.onProgress?.(++done, total);
    }
  }
  return settled;
}

/** Tokens per settled layer (labels "embeddings", "block 1" …) and the mean layer, over the known ones. */
export function settledHistogram(layers: ReadonlyArray<number | null | undefined>, layerCount: number): { histogram: Histogram; mean: number } {
  const counts = new Array<number>(layerCount + 1).fill(0);
  let sum = 0;
  let known = 0;
  for (const layer of layers) {
    if (layer === null || layer === undefined) continue;
    counts[layer] = (counts[layer] as number) + 1;
    sum += layer;
    known++;
  }
  const labels = counts.map((_, layer) => (layer === 0 ? 'embeddings' : `block ${layer}`));
  return { histogram: { edges: [], labels, counts }, mean: known > 0 ? sum / known : Number.NaN };
}

/** Every token's settled layer in a text, keyed by the token's start offset, and the model's layer count. */
export interface SettledText {
  byStart: Map<number, number>;
  layerCount: number;
}

/**
 * The settled layers of `text` as sentence loss scores it (after <|endoftext|>, one window chain),
 * keyed by start offset so the report's tokens find theirs. Only the in-process engine has the lens
 * inside the model: any other backend (a server) is refused in one line.
 */
export async function settledLayersOfText(backend: Backend, text: string, options: SettledOptions = {}): Promise<SettledText> {
  if (!backend.capabilities.lens || !(backend instanceof LocalBackend)) throw new LmLensError('lens-unavailable', LENS_NEEDS_LOCAL);
  const engine = backend.engine;
  const tokenized = await backend.tokenize(text);
  const layers = await settledLayers(engine, [engine.model.info.eosTokenId, ...tokenized.ids], options);
  const byStart = new Map<number, number>();
  tokenized.spans.forEach((span, i) => {
    const layer = layers[i + 1];
    if (layer !== null && layer !== undefined && !byStart.has(span.start)) byStart.set(span.start, layer);
  });
  return { byStart, layerCount: engine.model.info.layers };
}

/** The sentences with each token's settled layer, and the histogram, mean and per-sentence means (ReportData.settled). */
export function withSettled<S extends ReportSentenceInput>(sentences: readonly S[], settled: SettledText): { sentences: S[]; settled: NonNullable<ReportData['settled']> } {
  const withLayers = sentences.map((sentence): S => ({ ...sentence, tokens: sentence.tokens.map((token) => ({ ...token, settledLayer: settled.byStart.get(token.start) })) }));
  const { layerCount } = settled;
  const sentenceMeans = withLayers.map((sentence) => settledHistogram(sentence.tokens.map((token) => token.settledLayer), layerCount).mean);
  return { sentences: withLayers, settled: { ...settledHistogram(withLayers.flatMap((sentence) => sentence.tokens.map((token) => token.settledLayer)), layerCount), sentenceMeans } };
}
