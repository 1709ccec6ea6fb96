import * as ort from 'onnxruntime-node';
import { FLOAT, INT64, createCpuSession, encodeModel, graphNodes, intAttr, intsAttr, valueInfo } from './ortGraph';

/**
 * Per-row statistics of logits rows, computed by onnxruntime instead of JavaScript.
 *
 * Scoring needs, for every token of a document, a log-softmax over 50,257 logits, the
 * entropy, the rank of the observed token and the top alternatives. In plain JS that is
 * ~1–2 ms per token (Math.exp dominates), as much as the model's own forward pass; ORT's
 * vectorised kernels do it in a fraction. No library offers these fused statistics, so the
 * tiny graph below is written here, once, with onnx-proto.
 */
export interface RowStats {
  /** log p(target) per row. */
  logprob: Float32Array;
  /** Entropy (nats) per row. */
  entropy: Float32Array;
  /** How many logits are strictly greater than the target's (rank = this + 1). */
  greater: Float32Array;
  /** log-sum-exp per row. */
  logZ: Float32Array;
  /** Top-k logits and their ids per row, `[rows, k]`. */
  topLogits: Float32Array;
  topIds: BigInt64Array;
}

function buildGraph(): Uint8Array {
  const { nodes, node } = graphNodes();
  node('ReduceMax', ['logits'], ['max'], [intsAttr('axes', [1]), intAttr('keepdims', 1)]);
  node('Sub', ['logits', 'max'], ['shifted']);
  node('Exp', ['shifted'], ['exps']);
  node('ReduceSum', ['exps', 'axis1'], ['sumExp'], [intAttr('keepdims', 1)]);
  node('Log', ['sumExp'], ['logSum']);
  node('Add', ['max', 'logSum'], ['logZ']);
  node('GatherElements', ['logits', 'targets'], ['targetLogit'], [intAttr('axis', 1)]);
  node('Sub', ['targetLogit', 'logZ'], ['logprob']);
  // H = log S − Σ e·d / S, with d = x − max and e = exp(d), S = Σ e.
  node('Mul', ['exps', 'shifted'], ['weighted']);
  node('ReduceSum', ['weighted', 'axis1'], ['sumWeighted'], [intAttr('keepdims', 1)]);
  node('Div', ['sumWeighted', 'sumExp'], ['meanShift']);
  node('Sub', ['logSum', 'meanShift'], ['entropy']);
  node('Greater', ['logits', 'targetLogit'], ['isGreater']);
  node('Cast', ['isGreater'], ['greaterFloat'], [intAttr('to', FLOAT)]);
  node('ReduceSum', ['greaterFloat', 'axis1'], ['greater'], [intAttr('keepdims', 1)]);
  node('TopK', ['logits', 'k'], ['topLogits', 'topIds'], [intAttr('axis', 1), intAttr('largest', 1), intAttr('sorted', 1)]);

  return encodeModel({
    name: 'lm_lens_row_stats',
    node: nodes,
    initializer: [{ name: 'axis1', dims: [1], dataType: INT64, int64Data: [1] }],
    input: [valueInfo('logits', FLOAT, ['rows', 'vocab']), valueInfo('targets', INT64, ['rows', 1]), valueInfo('k', INT64, [1])],
    output: [
      valueInfo('logprob', FLOAT, ['rows', 1]),
      valueInfo('entropy', FLOAT, ['rows', 1]),
      valueInfo('greater', FLOAT, ['rows', 1]),
      valueInfo('logZ', FLOAT, ['rows', 1]),
      valueInfo('topLogits', FLOAT, ['rows', 'k']),
      valueInfo('topIds', INT64, ['rows', 'k']),
    ],
  });
}

export class ScoringHead {
  private constructor(private readonly session: ort.InferenceSession) {}

  static async create(threads: number): Promise<ScoringHead> {
    return new ScoringHead(await createCpuSession(buildGraph(), threads));
  }

  /** Statistics of `rows` logits rows (`[rows, vocab]`) against one target id per row. */
  async analyze(logits: Float32Array, rows: number, vocab: number, targets: ArrayLike<number>, k: number): Promise<RowStats> {
    const topK = Math.max(1, Math.min(k, vocab));
    const outputs = await this.session.run({
      logits: new ort.Tensor('float32', logits.length === rows * vocab ? logits : logits.subarray(0, rows * vocab), [rows, vocab]),
      targets: new ort.Tensor('int64', BigInt64Array.from(Array.from(targets, (id) => BigInt(id))), [rows, 1]),
      k: new ort.Tensor('int64', BigInt64Array.of(BigInt(topK)), [1]),
    });
    const data = <T>(name: string): T => (outputs[name] as ort.Tensor).data as T;
    return {
      logprob: data<Float32Array>('logprob'),
      entropy: data<Float32Array>('entropy'),
      greater: data<Float32Array>('greater'),
      logZ: data<Float32Array>('logZ'),
      topLogits: data<Float32Array>('topLogits'),
      topIds: data<BigInt64Array>('topIds'),
    };
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
