import * as ort from 'onnxruntime-node';
import type { Engine } from './engine';
import { LmLensError } from './errors';
import { FLOAT, INT64, createCpuSession, encodeModel, graphNodes, intAttr, intsAttr, valueInfo } from './ortGraph';
import { forEachLogitChunk, scoreWindows } from './scoring';
import type { ReportSentenceInput } from './report';
import type { ComparisonSummary } from '../shared/reportProtocol';
export type { ComparisonSentence, ComparisonSummary } from '../shared/reportProtocol';

/**
 * Binoculars' statistic (Hans et al., 2024) for two models over one text:
 * log-perplexity under A ÷ cross-perplexity, the mean over positions of the cross-entropy
 * H(p_A, p_B) = −Σ_v p_A(v) · log p_B(v). Both full distributions at the same position are
 * needed, so the two models run in lockstep over the same token ids, chunk by chunk, and ORT
 * reduces each pair of logits rows to one number.
 */
export interface ComparedToken {
  /** Index in the scored id sequence (after `<|endoftext|>`). */
  index: number;
  id: number;
  logprobA: number;
  logprobB: number;
  /** H(p_A, p_B) at the position that predicts this token, in nats. */
  crossEntropy: number;
}

function crossEntropyGraph(): Uint8Array {
  const { nodes, node } = graphNodes();
  const keep = [intAttr('keepdims', 1)];
  node('ReduceMax', ['a'], ['maxA'], [intsAttr('axes', [1]), intAttr('keepdims', 1)]);
  node('Sub', ['a', 'maxA'], ['shiftedA']);
  node('Exp', ['shiftedA'], ['expA']);
  node('ReduceSum', ['expA', 'axis1'], ['sumA'], keep);
  node('Div', ['expA', 'sumA'], ['pA']);
  node('ReduceMax', ['b'], ['maxB'], [intsAttr('axes', [1]), intAttr('keepdims', 1)]);
  node('Sub', ['b', 'maxB'], ['shiftedB']);
  node('Exp', ['shiftedB'], ['expB']);
  node('ReduceSum', ['expB', 'axis1'], ['sumB'], keep);
  node('Log', ['sumB'], ['logSumB']);
  // −Σ p_A · (b − logZ_B) = logZ_B − Σ p_A·b, with logZ_B = max_B + log Σ exp(b − max_B); shifting b keeps it small.
  node('Mul', ['pA', 'shiftedB'], ['weighted']);
  node('ReduceSum', ['weighted', 'axis1'], ['dot'], keep);
  node('Sub', ['logSumB', 'dot'], ['crossEntropy']);
  return encodeModel({
    name: 'lm_lens_cross_entropy',
    node: nodes,
    initializer: [{ name: 'axis1', dims: [1], dataType: INT64, int64Data: [1] }],
    input: [valueInfo('a', FLOAT, ['rows', 'vocab']), valueInfo('b', FLOAT, ['rows', 'vocab'])],
    output: [valueInfo('crossEntropy', FLOAT, ['rows', 1])],
  });
}

async function crossEntropyRows(session: ort.InferenceSession, a: Float32Array, b: Float32Array, rows: number, vocab: number): Promise<Float32Array> {
  const size = rows * vocab;
  const outputs = await session.run({
    a: new ort.Tensor('float32', a.length === size ? a : a.subarray(0, size), [rows, vocab]),
    b: new ort.Tensor('float32', b.length === size ? b : b.subarray(0, size), [rows, vocab]),
  });
  return (outputs.crossEntropy as ort.Tensor).data as Float32Array;
}

export interface CompareOptions {
  fromToken?: number;
  signal?: AbortSignal;
  onProgress?: (scored: number, total: number) => void;
}

/** Per-token log-probabilities under both models and the cross-entropy, for `ids[fromToken..]`. */
export async function compareIds(a: Engine, b: Engine, ids: number[], options: CompareOptions = {}): Promise<ComparedToken[]> {
  if (a.vocabSize !== b.vocabSize) {
    throw new LmLensError('text-invalid', `The comparison model has ${b.vocabSize} tokens, ${a.model.info.id} ${a.vocabSize}: cross-perplexity needs two models with the same tokenizer.`);
  }
  const vocab = a.vocabSize;
  const fromToken = Math.max(1, options.fromToken ?? 1);
  // Both models must see the same context at every position: the smaller window decides.
  const windows = scoreWindows(ids.length, Math.min(a.contextSize, b.contextSize)).filter((window) => window.end > fromToken);
  const session = await createCpuSession(crossEntropyGraph(), a.model.info.threads);
  const tokens: ComparedToken[] = [];
  try {
    await forEachLogitChunk(a, ids, windows, {
      fromToken,
      signal: options.signal,
      onChunk: async ({ index, rows: rowsA, count, targets, windowIds, first }) => {
        // B's prefix cache holds this window up to `first`, so B computes only this chunk.
        const rowsB = new Float32Array(count * vocab);
        await b.run(windowIds.slice(0, first + count), {
          signal: options.signal,
          logitsFrom: first,
          onLogits: (firstB, rows, countB) => rowsB.set(rows.subarray(0, countB * vocab), (firstB - first) * vocab),
        });
        const statsA = await a.rowStats(rowsA, count, targets, 1, options.signal);
        const statsB = await b.rowStats(rowsB, count, targets, 1, options.signal);
        const cross = await crossEntropyRows(session, rowsA, rowsB, count, vocab);
        for (let row = 0; row < count; row++) {
          tokens.push({
            index: index + row,
            id: targets[row] as number,
            logprobA: statsA.logprob[row] as number,
            logprobB: statsB.logprob[row] as number,
            crossEntropy: cross[row] as number,
          });
        }
      },
      onWindow: () => options.onProgress?.(tokens.length, Math.max(0, ids.length - fromToken)),
    });
  } finally {
    await session.release();
  }
  return tokens;
}

export interface ComparedTextToken extends ComparedToken {
  start: number;
  end: number;
}

/** A document after its start token (as the sentence-loss feature scores it), with each token's offsets. */
export async function compareText(a: Engine, b: Engine, text: string, options: Omit<CompareOptions, 'fromToken'> = {}): Promise<ComparedTextToken[]> {
  const textIds = a.model.tokenizer.encode(text);
  const spans = a.model.tokenizer.spans(text, textIds);
  // One start token in front either way: the tokenizer's own (Llama 3) or the model's.
  const tokens = await compareIds(a, b, a.model.tokenizer.contextIds(text, a.model.info.startTokenId, true), options);
  return tokens.map((token) => {
    const span = spans[token.index - 1] ?? { start: text.length, end: text.length };
    return { ...token, start: span.start, end: span.end };
  });
}

const mean = (values: readonly number[]): number => (values.length > 0 ? values.reduce((sum, value) => sum + value, 0) / values.length : Number.NaN);

/**
 * The comparison per sentence of a report. Both runs use A's token ids, so the sentences'
 * tokens are a subsequence of the compared ones, in order: matched by walking both by offset.
 */
export function summarizeComparison(modelB: string, compared: readonly ComparedTextToken[], sentences: readonly ReportSentenceInput[]): ComparisonSummary & { crossEntropy: number; ratio: number } {
  const lossA = mean(compared.map((token) => -token.logprobA));
  const crossEntropy = mean(compared.map((token) => token.crossEntropy));
  let cursor = 0;
  const perSentence = sentences.map((sentence, index) => {
    const matched: ComparedTextToken[] = [];
    for (const token of sentence.tokens) {
      while (cursor < compared.length && (compared[cursor] as ComparedTextToken).start < token.start) cursor++;
      const candidate = compared[cursor];
      if (candidate && candidate.start === token.start) {
        matched.push(candidate);
        cursor++;
      }
    }
    return { index, lossA: mean(matched.map((token) => -token.logprobA)), lossB: mean(matched.map((token) => -token.logprobB)) };
  });
  return { modelB, tokens: compared.length, lossA, lossB: mean(compared.map((token) => -token.logprobB)), crossEntropy, ratio: lossA / crossEntropy, sentences: perSentence };
}
