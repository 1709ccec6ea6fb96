// The lens graph: the owned-KV decode graph (decodeGraph.ts) with two more outputs, built only
// when a lens is asked for, so the normal decode graph and its session stay exactly as they are.
//
// - `lens.logits` [L+1, vocab]: the last position's residual stream after the embeddings and
//   after every block, stacked into L+1 rows and sent through a copy of the model's own final
//   norm and output projection in ONE product, so the vocabulary-sized matrix is read once.
// - `lens.attention` [batch, L·heads, 1, slots]: every layer's softmax weights of the last
//   position over the attention's columns ([shared | past slots | new]), layers in order.
//
// The export's own `logits` output and the nodes only it needed are dropped: they would read the
// output matrix a second time for a row that `lens.logits` already holds (its last).
//
// Found by role, as decodeGraph.ts does: the residual stream is what every norm reads (ln_1 of
// each block, then ln_f: 2L+1 norms in topological order, the even ones), a norm being a
// LayerNormalization node or its decomposition (ReduceMean(x) read with x by one Sub); the
// final norm is the path from the last of those inputs to the projection; the projection is the
// node that makes `logits` (through reshapes and the logits-to-keep slice); attention weights
// are what the rewrite slices before multiplying them with `past_key_values.N.value` (per query
// head: before the GroupQueryAttention rewrite regroups them per KV head).
import { onnx } from 'onnx-proto';
import { UnrecognisedExport } from './decodeGraph';
import { constantInt64s } from './graphEdit';

/** The lens outputs, all per row (layer 0..L) unless said otherwise; see addLensStatistics. */
export const LENS = {
  /** Input: top tokens per row, int64 [1]. */
  topK: 'lens.top_k',
  /** The last row's logits, [1, vocab]: the model's own distribution, described in float64 by the caller. */
  finalLogits: 'lens.final_logits',
  topIds: 'lens.top_ids',
  topLogprobs: 'lens.top_logprobs',
  entropy: 'lens.entropy',
  klToFinal: 'lens.kl_to_final',
  /** How many logits of the row exceed the final top-1's (its rank − 1). */
  aboveFinal: 'lens.above_final',
  finalLogprob: 'lens.final_logprob',
  attention: 'lens.attention',
} as const;

type Node = onnx.INodeProto;

const INT64_MAX = Number.MAX_SAFE_INTEGER;
/** Ops between the projection's input and the final norm's output that only reshape or slice rows. */
const PASS_THROUGH = new Set(['Reshape', 'Flatten', 'Identity', 'Squeeze', 'Unsqueeze', 'Slice']);

function fail(reason: string): never {
  throw new UnrecognisedExport(`lens: ${reason}`);
}

class Edit {
  private counter = 0;
  readonly added: Node[] = [];
  readonly constants: onnx.ITensorProto[] = [];
  private readonly producers = new Map<string, Node>();
  private readonly readers = new Map<string, Node[]>();

  constructor(
    readonly nodes: Node[],
    private readonly initializers: onnx.ITensorProto[] = [],
  ) {
    for (const node of nodes) {
      for (const output of node.output ?? []) this.producers.set(output, node);
      for (const input of node.input ?? []) this.readers.set(input, [...(this.readers.get(input) ?? []), node]);
    }
  }

  producer(name: string): Node | undefined {
    return this.producers.get(name);
  }

  consumers(name: string): Node[] {
    return this.readers.get(name) ?? [];
  }

  /** The values of the int64 initializer `name`, if it is one. */
  int64Values(name: string): number[] | undefined {
    return constantInt64s(this.initializers, this.nodes, name);
  }

  name(hint: string): string {
    return `lmlens_lens_${hint}_${this.counter++}`;
  }

  op(opType: string, input: string[], attribute: onnx.IAttributeProto[] = [], output = this.name(opType)): string {
    this.added.push({ opType, input, output: [output], name: this.name(`${opType}_node`), attribute });
    return output;
  }

  int64(values: number[]): string {
    const name = this.name('const');
    const data = BigInt64Array.from(values.map(BigInt));
    this.constants.push({ name, dims: [values.length], dataType: onnx.TensorProto.DataType.INT64, rawData: new Uint8Array(data.buffer) });
    return name;
  }
}

/**
 * Tensors every norm reads, in the graph's (topological) order. A norm is a LayerNormalization
 * or SimplifiedLayerNormalization node, LayerNorm's decomposition (ReduceMean(x) read with x by
 * one Sub), or RMSNorm's (ReduceMean(Pow(x, 2)), x then divided or multiplied: no Sub).
 */
function normInputs(edit: Edit): string[] {
  const found: string[] = [];
  for (const node of edit.nodes) {
    const x = node.input?.[0];
    if (!x) continue;
    if (node.opType === 'LayerNormalization' || node.opType === 'SimplifiedLayerNormalization') found.push(x);
    else if (node.opType === 'ReduceMean' && edit.consumers(x).some((sub) => sub.opType === 'Sub' && sub.input?.[0] === x && sub.input?.[1] === node.output?.[0])) found.push(x);
    else if (node.opType === 'ReduceMean' && isRmsMeanSquare(edit, x)) found.push(edit.producer(x)?.input?.[0] as string);
  }
  return found;
}

/**
 * Whether `squared` is Pow(x, ·) of an x that is also divided or multiplied (RMSNorm's mean of
 * squares), x not being LayerNorm's centred input (Sub(y, ReduceMean(y)): that norm reads y).
 */
function isRmsMeanSquare(edit: Edit, squared: string): boolean {
  const pow = edit.producer(squared);
  const x = pow?.input?.[0];
  if (pow?.opType !== 'Pow' || x === undefined) return false;
  const centring = edit.producer(x);
  if (centring?.opType === 'Sub' && edit.producer(centring.input?.[1] as string)?.opType === 'ReduceMean') return false;
  // x / rms, or x · (1 / rms) as torch writes rsqrt (Reciprocal or Pow(·, −0.5)), in either order.
  return edit.consumers(x).some((reader) => reader !== pow && ((reader.opType === 'Div' && reader.input?.[0] === x) || reader.opType === 'Mul'));
}

/**
 * The residual stream among the norms' inputs: from the last (the final norm's), back through
 * the residual Adds to the embeddings. Per-head norms that are not on it (Qwen3's q/k norms) drop
 * out; for GPT-2 and Llama this is every norm input, L·2 + 1 of them.
 */
function residualStream(edit: Edit, inputs: string[]): string[] {
  const known = new Set(inputs);
  const last = inputs.at(-1);
  if (last === undefined) return [];
  const chain = [last];
  for (let add = edit.producer(last); add?.opType === 'Add'; add = edit.producer(chain[0] as string)) {
    const previous = residualInput(edit, add, known);
    if (previous === undefined || chain.includes(previous)) break;
    chain.unshift(previous);
  }
  return chain;
}

/**
 * The norm input a residual Add adds to: one of its inputs, or one of an inner Add's when the
 * sum is written (x + branch) + bias, as the lens's unfused SkipLayerNormalization is
 * (fusedOps.ts keeps that op's summation order).
 */
function residualInput(edit: Edit, add: Node, known: ReadonlySet<string>): string | undefined {
  const inputs = add.input ?? [];
  const direct = inputs.find((input) => known.has(input));
  if (direct !== undefined) return direct;
  for (const input of inputs) {
    const inner = edit.producer(input);
    if (inner?.opType === 'Add') {
      const found = (inner.input ?? []).find((name) => known.has(name));
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** Nodes on a path from `from` to `to` (both tensors), in graph order. */
function nodesBetween(edit: Edit, from: string, to: string): Node[] {
  const ancestors = new Set<Node>();
  const stack = [to];
  while (stack.length > 0) {
    const node = edit.producer(stack.pop() as string);
    if (!node || ancestors.has(node)) continue;
    ancestors.add(node);
    for (const input of node.input ?? []) if (input !== from) stack.push(input);
  }
  const reached = new Set<string>([from]);
  const path: Node[] = [];
  for (const node of edit.nodes) {
    if (ancestors.has(node) && (node.input ?? []).some((input) => reached.has(input))) {
      path.push(node);
      for (const output of node.output ?? []) reached.add(output);
    }
  }
  return path;
}

/** Copies `nodes` with fresh output names, reading `replacement` where they read `from`; returns the copy's name for `result`. */
function cloneNodes(edit: Edit, nodes: Node[], from: string, replacement: string, result: string): string {
  const renamed = new Map<string, string>([[from, replacement]]);
  for (const node of nodes) {
    const outputs = (node.output ?? []).map((output) => (output === '' ? '' : edit.name('copy')));
    (node.output ?? []).forEach((output, i) => renamed.set(output, outputs[i] as string));
    edit.added.push({ ...node, name: edit.name('copy_node'), input: (node.input ?? []).map((input) => renamed.get(input) ?? input), output: outputs });
  }
  return renamed.get(result) ?? fail('the final norm does not reach the projection');
}

/** Ops that repeat_kv puts between the whole [shared | past | new] values and the attention's MatMul. */
const REPEAT_KV = new Set(['Unsqueeze', 'Expand', 'Reshape', 'Identity']);

/**
 * Layer `layer`'s softmax weights over all the attention's columns ([shared | past | new]). The
 * rewrite either splits them and multiplies Slice(probs, past part) with the past values (GPT-2),
 * or concatenates the whole values in the graph, which the Llama family's repeat_kv
 * (Unsqueeze, Expand, Reshape) then widens to every query head before MatMul(probs, values).
 */
function attentionWeights(edit: Edit, layer: number): string {
  const past = `past_key_values.${layer}.value`;
  const split = edit.consumers(past).find((node) => node.opType === 'MatMul' && node.input?.[1] === past);
  const slice = split ? edit.producer(split.input?.[0] as string) : undefined;
  if (slice?.opType === 'Slice') return beforeRegrouping(edit, slice.input?.[0] as string);
  let values = edit.consumers(past).find((node) => node.opType === 'Concat')?.output?.[0];
  for (let hops = 0; values !== undefined && hops < 8; hops++) {
    const readers = edit.consumers(values).filter((node) => node.opType !== 'Shape');
    const matmul = readers.find((node) => node.opType === 'MatMul' && node.input?.[1] === values);
    if (matmul) return matmul.input?.[0] as string;
    values = readers.length === 1 && REPEAT_KV.has(readers[0]?.opType ?? '') ? readers[0]?.output?.[0] : undefined;
  }
  return fail(`layer ${layer}: no attention weights before the past values`);
}

/**
 * The per-query-head weights under a regrouping. The GroupQueryAttention rewrite (gqaAttention.ts)
 * takes the softmax per query head ([batch, heads, new, width]) and slices the same probabilities
 * reshaped into each KV head's block of g·new rows ([batch, kvHeads, g·new, width]), whose last
 * row is only the group's last head: the lens reads the Softmax before that Reshape. Only a Reshape
 * that keeps batch and columns (constant shape [0, ·, ·, 0], so only heads and rows regroup) of a
 * Softmax over the columns counts; describeLens checks that L·heads rows came out.
 */
function beforeRegrouping(edit: Edit, probs: string): string {
  const reshape = edit.producer(probs);
  if (reshape?.opType !== 'Reshape') return probs;
  const softmax = edit.producer(reshape.input?.[0] as string);
  const axis = Number(softmax?.attribute?.find((a) => a.name === 'axis')?.i ?? -1);
  const shape = edit.int64Values(reshape.input?.[1] as string);
  const keepsBatchAndColumns = shape?.length === 4 && shape[0] === 0 && shape[3] === 0;
  return softmax?.opType === 'Softmax' && (axis === -1 || axis === 3) && keepsBatchAndColumns ? (softmax.output?.[0] as string) : probs;
}

/** Adds the lens outputs to a rewritten decode graph (in place); throws UnrecognisedExport when a role is not found. */
export function addLensOutputs(model: onnx.IModelProto, layers: number, hiddenSize: number): void {
  const graph = model.graph ?? fail('no graph');
  // ReduceSum takes its axes as an input from opset 13 on; older exports are not worth a second form.
  const opset = Number((model.opsetImport ?? []).find((o) => !o.domain)?.version ?? 0);
  if (opset < 13) fail(`opset ${opset} (the lens graph needs 13 or later)`);
  const edit = new Edit(graph.node ?? [], graph.initializer ?? []);
  if (edit.nodes.some((node) => node.opType === 'GroupQueryAttention')) fail('attention is a fused GroupQueryAttention op, whose weights cannot be read');

  // The projection: the node that makes `logits`, under any reshapes.
  let head = edit.producer('logits');
  while (head && PASS_THROUGH.has(head.opType ?? '') && head.opType !== 'Slice') head = edit.producer(head.input?.[0] as string);
  if (!head || !['MatMul', 'Gemm', 'MatMulNBits'].includes(head.opType ?? '')) fail(`the output projection is ${head?.opType ?? 'missing'}, not MatMul/Gemm/MatMulNBits`);
  let normed = head.input?.[0] as string;
  for (let node = edit.producer(normed); node && PASS_THROUGH.has(node.opType ?? ''); node = edit.producer(normed)) normed = node.input?.[0] as string;

  const residuals = residualStream(edit, normInputs(edit));
  if (residuals.length !== 2 * layers + 1) fail(`found ${residuals.length} norms on the residual stream, expected ${2 * layers + 1} for ${layers} layers`);
  const stream = residuals.filter((_, i) => i % 2 === 0);
  const last = stream[layers] as string;
  const finalNorm = nodesBetween(edit, last, normed);
  if (finalNorm.length === 0) fail('the last norm does not lead to the output projection');

  // [batch, sequence, hidden] each → the last position's row, [1, hidden] (the lens runs batch 1) → [L+1, hidden].
  const rowShape = edit.int64([-1, hiddenSize]);
  const lastStart = edit.int64([-1]);
  const end = edit.int64([INT64_MAX]);
  const rows = stream.map((h) => edit.op('Reshape', [edit.op('Slice', [h, lastStart, end, edit.int64([1])]), rowShape]));
  const stacked = edit.op('Concat', rows, [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 }]);
  const stackedNormed = cloneNodes(edit, finalNorm, last, stacked, normed);
  const logits = edit.name('lens_logits');
  edit.added.push({ ...head, name: edit.name('head'), input: [stackedNormed, ...(head.input ?? []).slice(1)], output: [logits] });
  addLensStatistics(edit, logits);

  const lastRows: string[] = [];
  for (let layer = 0; layer < layers; layer++) lastRows.push(edit.op('Slice', [attentionWeights(edit, layer), lastStart, end, edit.int64([2])]));
  edit.op('Concat', lastRows, [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }], LENS.attention);

  const keptOutputs = (graph.output ?? []).filter((v) => v.name !== 'logits');
  const { FLOAT: float, INT64: int64 } = onnx.TensorProto.DataType;
  const declare = (name: string, elemType: number, dims: Array<string | number>): onnx.IValueInfoProto => ({
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  });
  graph.input = [...(graph.input ?? []), declare(LENS.topK, int64, [1])];
  graph.output = [
    ...keptOutputs,
    declare(LENS.finalLogits, float, [1, 'vocab']),
    declare(LENS.topIds, int64, ['lens_rows', 'lens_top']),
    declare(LENS.topLogprobs, float, ['lens_rows', 'lens_top']),
    ...[LENS.entropy, LENS.klToFinal, LENS.aboveFinal, LENS.finalLogprob].map((name) => declare(name, float, ['lens_rows', 1])),
    declare(LENS.attention, float, ['batch', 'layer_heads', 1, 'slots']),
  ];
  graph.initializer = [...(graph.initializer ?? []), ...edit.constants];
  graph.node = [...edit.nodes, ...edit.added];
  pruneToOutputs(graph);
}

/**
 * Each row's statistics from the [L+1, vocab] lens logits, in the graph: only a few hundred
 * numbers leave it instead of 13 × 50,257 logits (copied out, then reduced in JS or a second
 * session, 5–10 ms at GPT-2's size). Float32 with log-softmax, as ORT's scoring head does, except
 * the two sums over the vocabulary (entropy, KL), which run in float64: a float32 ReduceSum of
 * Qwen's 151,936 terms was 1.6e-4 off a KL of 12, past the lens's 1e-4. Only the sums: float64
 * throughout made a lens request 1.20× slower at GPT-2 124M, the sums alone 1.006× (bench/README).
 * The last row also goes out whole, so the model's own distribution is described in float64 by the caller.
 */
function addLensStatistics(edit: Edit, logits: string): void {
  const axis = (i: number): onnx.IAttributeProto => ({ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i });
  const to = (type: number): onnx.IAttributeProto => ({ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: type });
  const { FLOAT: float, DOUBLE: double } = onnx.TensorProto.DataType;
  const keepdims = { name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 1 };
  const rowAxis = edit.int64([1]);
  const sum64 = (x: string): string => edit.op('ReduceSum', [edit.op('Cast', [x], [to(double)]), rowAxis], [keepdims]);
  const sumRow = (x: string, output?: string): string => edit.op('Cast', [sum64(x)], [to(float)], output);
  const logProbs = edit.op('LogSoftmax', [logits], [axis(1)]);
  edit.op('Neg', [sumRow(edit.op('Mul', [edit.op('Exp', [logProbs]), logProbs]))], [], LENS.entropy);
  const last = (x: string, output?: string): string => edit.op('Slice', [x, edit.int64([-1]), edit.int64([INT64_MAX]), edit.int64([0])], [], output);
  edit.op('Identity', [last(logits)], [], LENS.finalLogits);
  const finalLogProbs = last(logProbs);
  // KL(final ‖ row) = Σ p_final · (log p_final − log p_row), [1, vocab] against [rows, vocab], over
  // Σ p_final: float32 LogSoftmax's normaliser is off by δ ≈ 1e-5, so those p_final sum to 1 − δ and
  // the sum came out δ·KL low (2.5e-4 of 16.8 on the genai Llama test model, past the lens's 1e-4).
  const finalProbs = edit.op('Exp', [finalLogProbs]);
  const weighted = sum64(edit.op('Mul', [finalProbs, edit.op('Sub', [finalLogProbs, logProbs])]));
  edit.op('Cast', [edit.op('Div', [weighted, sum64(finalProbs)])], [to(float)], LENS.klToFinal);
  // The final top-1 (first of equals, as top-k breaks ties), its logit in every row, and how many beat it there.
  const finalId = edit.op('ArgMax', [last(logits)], [axis(1), keepdims]);
  const everyRow = edit.op('Expand', [finalId, edit.op('Shape', [LENS.klToFinal])]);
  const finalLogit = edit.op('GatherElements', [logits, everyRow], [axis(1)]);
  edit.op('ReduceSum', [edit.op('Cast', [edit.op('Greater', [logits, finalLogit])], [to(float)]), rowAxis], [keepdims], LENS.aboveFinal);
  edit.op('GatherElements', [logProbs, everyRow], [axis(1)], LENS.finalLogprob);
  const topIds = edit.name('top_ids');
  edit.added.push({ opType: 'TopK', input: [logits, LENS.topK], output: [edit.name('top_values'), topIds], name: edit.name('TopK_node'), attribute: [axis(1), { name: 'largest', type: onnx.AttributeProto.AttributeType.INT, i: 1 }, { name: 'sorted', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] });
  edit.op('Identity', [topIds], [], LENS.topIds);
  edit.op('GatherElements', [logProbs, topIds], [axis(1)], LENS.topLogprobs);
}

/** Drops the nodes and initializers no output needs (the export's own projection, its shape reads). */
function pruneToOutputs(graph: onnx.IGraphProto): void {
  const nodes = graph.node ?? [];
  const edit = new Edit(nodes);
  const needed = new Set<Node>();
  const stack = (graph.output ?? []).map((v) => v.name as string);
  while (stack.length > 0) {
    const node = edit.producer(stack.pop() as string);
    if (!node || needed.has(node)) continue;
    needed.add(node);
    stack.push(...(node.input ?? []));
  }
  graph.node = nodes.filter((node) => needed.has(node));
  const read = new Set(graph.node.flatMap((node) => node.input ?? []));
  graph.initializer = (graph.initializer ?? []).filter((t) => read.has(t.name as string));
}
