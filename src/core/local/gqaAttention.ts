// The onnxruntime-genai builder's attention (com.microsoft GroupQueryAttention) replaced by plain
// ops over the engine-owned KV buffers, for the owned-KV rewrite (decodeGraph.ts).
//
// The op reads past_key_values.N.* as a cache whose valid length it takes from `seqlens_k` (the
// positions counted from the left) and returns the whole present.N.*: neither fits buffers of a
// fixed capacity whose free or padded slots the attention mask hides. The replacement keeps the
// op's inputs and output and changes only how the cache is read:
// - Q, K, V from the op's inputs (packed in `query`, or three), as [batch, heads, new, headDim];
// - with do_rotary, RoPE (rotate_half) from the op's own cos/sin caches, gathered at the engine's
//   position_ids (the op would count positions from seqlens_k instead);
// - each KV head's query heads as one [g·new] block of rows, so the cache is read once per KV
//   head (no repeat_kv copy): scores against [shared | past | new] keys, the causal and
//   attention-mask visibility applied, softmax, and the weighted sum of the same three values;
// - the new tokens' K (after RoPE) and V as `new.N.*`, which the engine writes into its buffers.
// Because masks decide which slots count, a left-padded batch is exact here, unlike on the op.
import { onnx } from 'onnx-proto';
import { INT64_MAX, attributeFloat, attributeInt, axisAttribute, fail, ints, intAttribute } from './graphEdit';
import type { GraphEdit, Node } from './graphEdit';

export const GQA_OP = 'GroupQueryAttention';

/** What the replacement reads from the rest of the rewrite. */
export interface AttentionContext {
  edit: GraphEdit;
  /** 1-D lengths: shared slots, and shared + past slots (where the new tokens' columns start). */
  sharedLength: string;
  pastEnd: string;
  /** The new tokens' position ids [batch, new] (the graph's input, added when the export had none). */
  positionIds: () => string;
  /** Size of a head, from the export's past_key_values declaration or config.json. */
  headDim: number | undefined;
  /** The batch-1 K/V every row attends to in front of its past (decodeGraph.ts's shared.N.*). */
  shared: (layer: number, part: 'key' | 'value') => string;
}

/** Float32's lowest: a masked score, as transformers' exports use (a fully masked row of padding stays finite). */
const MASKED_SCORE = -3.4028234663852886e38;

const visibleMasks = new WeakMap<GraphEdit, string>();

/**
 * [batch, 1, new, width] booleans: new token i (of S) sees column c of [shared | past | new] when
 * the attention mask has 1 there and c ≤ width − S + i (nothing after itself). Built once a graph.
 */
function visibility(edit: GraphEdit): string {
  const known = visibleMasks.get(edit);
  if (known) return known;
  const scalarAt = (input: string, axis: number): string => edit.op('Gather', [edit.op('Shape', [input]), edit.int64([axis], [])], [axisAttribute(0)]);
  const width = scalarAt('attention_mask', 1);
  const count = scalarAt('input_ids', 1);
  const zero = edit.int64([0], []);
  const one = edit.int64([1], []);
  const columns = edit.op('Range', [zero, width, one]);
  const rows = edit.op('Reshape', [edit.op('Range', [edit.op('Sub', [width, count]), width, one]), edit.int64([-1, 1])]);
  const causal = edit.op('Not', [edit.op('Greater', [columns, rows])]);
  const attended = edit.op('Cast', [edit.op('Reshape', ['attention_mask', edit.int64([0, 1, 1, -1])])], [intAttribute('to', onnx.TensorProto.DataType.BOOL)]);
  const visible = edit.op('And', [causal, attended]);
  visibleMasks.set(edit, visible);
  return visible;
}

function isAbsent(name: string | null | undefined): boolean {
  return name === undefined || name === null || name === '';
}

/** The float initializer `name`'s dims, if it is one. */
function initializerDims(edit: GraphEdit, name: string): number[] | undefined {
  const tensor = edit.graph.initializer?.find((t) => t.name === name);
  return tensor?.dims?.map(Number);
}

/** `x` [batch, heads, new, headDim] rotated by rotate_half RoPE with cos/sin [batch, 1, new, headDim/2]. */
function rotate(edit: GraphEdit, x: string, cos: string, sin: string, half: number): string {
  const halves = edit.int64([half, half]);
  const first = edit.name('rope_first');
  const second = edit.name('rope_second');
  edit.added.push({ opType: 'Split', input: [x, halves], output: [first, second], name: edit.name('Split_node'), attribute: [axisAttribute(-1)] });
  const mul = (a: string, b: string): string => edit.op('Mul', [a, b]);
  const rotatedFirst = edit.op('Sub', [mul(first, cos), mul(second, sin)]);
  const rotatedSecond = edit.op('Add', [mul(second, cos), mul(first, sin)]);
  return edit.op('Concat', [rotatedFirst, rotatedSecond], [axisAttribute(-1)]);
}

/**
 * Replaces `node` (layer `layer`'s GroupQueryAttention, reading past_key_values.N.* and making
 * present.N.*) by plain ops writing its output; returns the new tokens' K and V, [batch, kvHeads,
 * new, headDim]. The caller removes the node. Throws UnrecognisedExport for variants it does not
 * reproduce exactly (interleaved or partial rotary, a sliding window, softcap, extra biases).
 */
export function replaceGroupQueryAttention(context: AttentionContext, node: Node, layer: number): { newKey: string; newValue: string } {
  const { edit, sharedLength, pastEnd } = context;
  const inputs = node.input ?? [];
  const [past, pastValue] = [`past_key_values.${layer}.key`, `past_key_values.${layer}.value`];
  if (inputs[3] !== past || inputs[4] !== pastValue) fail(`layer ${layer}: ${GQA_OP} does not read ${past} and ${pastValue}`);
  if (node.output?.[1] !== `present.${layer}.key` || node.output?.[2] !== `present.${layer}.value`) fail(`layer ${layer}: present.${layer}.* are not ${GQA_OP}'s outputs`);
  const heads = attributeInt(node, 'num_heads');
  const kvHeads = attributeInt(node, 'kv_num_heads');
  const headDim = context.headDim;
  if (!heads || !kvHeads || heads % kvHeads !== 0) fail(`layer ${layer}: ${GQA_OP} has num_heads ${heads} over kv_num_heads ${kvHeads}`);
  if (!headDim) fail(`layer ${layer}: the head size is neither declared on ${past} nor in config.json`);
  // The engine's buffers and the constants below are float32 (a q4f16 export's cache is float16).
  const cacheType = edit.graph.input?.find((v) => v.name === past)?.type?.tensorType?.elemType;
  if (cacheType !== onnx.TensorProto.DataType.FLOAT) fail(`layer ${layer}: ${past} is not float32 (data type ${cacheType})`);
  const unsupported = [
    (attributeInt(node, 'local_window_size') ?? -1) !== -1 && 'a sliding window (local_window_size)',
    (attributeFloat(node, 'softcap') ?? 0) !== 0 && 'softcap',
    (attributeInt(node, 'smooth_softmax') ?? 0) !== 0 && 'smooth_softmax',
    (attributeInt(node, 'rotary_interleaved') ?? 0) !== 0 && 'interleaved rotary',
    !isAbsent(inputs[10]) && 'an attention_bias input',
    !isAbsent(inputs[11]) && 'a head_sink input',
  ].filter(Boolean);
  if (unsupported.length > 0) fail(`layer ${layer}: ${GQA_OP} with ${unsupported.join(', ')}`);

  // Q, K, V as [batch, heads, new, headDim]; packed QKV is split on its last axis.
  let [query, key, value] = [inputs[0] as string, inputs[1], inputs[2]];
  if (isAbsent(key) || isAbsent(value)) {
    const [q, k, v] = [edit.name('packed_q'), edit.name('packed_k'), edit.name('packed_v')];
    const sizes = edit.int64([heads * headDim, kvHeads * headDim, kvHeads * headDim]);
    edit.added.push({ opType: 'Split', input: [query, sizes], output: [q, k, v], name: edit.name('Split_node'), attribute: [axisAttribute(-1)] });
    [query, key, value] = [q, k, v];
  }
  const toHeads = (rows: string, count: number): string => edit.op('Transpose', [edit.op('Reshape', [rows, edit.int64([0, 0, count, headDim])])], [ints('perm', [0, 2, 1, 3])]);
  let q = toHeads(query, heads);
  let newKey = toHeads(key as string, kvHeads);
  const newValue = toHeads(value as string, kvHeads);

  if (attributeInt(node, 'do_rotary') === 1) {
    const [cosCache, sinCache] = [inputs[7], inputs[8]];
    if (isAbsent(cosCache) || isAbsent(sinCache)) fail(`layer ${layer}: ${GQA_OP} with do_rotary but no cos/sin cache`);
    const half = initializerDims(edit, cosCache as string)?.[1];
    if (half === undefined || 2 * half !== headDim) fail(`layer ${layer}: ${GQA_OP}'s cos_cache is not a [positions, ${headDim / 2}] initializer (partial rotary is not reproduced)`);
    const table = (cache: string): string => edit.op('Unsqueeze', [edit.op('Gather', [cache, context.positionIds()], [axisAttribute(0)]), edit.int64([1])]);
    const [cos, sin] = [table(cosCache as string), table(sinCache as string)];
    q = rotate(edit, q, cos, sin, half);
    newKey = rotate(edit, newKey, cos, sin, half);
  }

  // Each KV head's g query heads as one block of g·new rows: [batch, kvHeads, g·new, headDim].
  const scale = attributeFloat(node, 'scale') || 1 / Math.sqrt(headDim);
  const grouped = edit.op('Reshape', [edit.op('Mul', [q, edit.float32([scale], [])]), edit.int64([0, kvHeads, -1, headDim])]);
  const [shared, sharedValue] = [context.shared(layer, 'key'), context.shared(layer, 'value')];
  const perm = [ints('perm', [0, 1, 3, 2])];
  const scoresAgainst = (keys: string): string => edit.op('MatMul', [grouped, edit.op('Transpose', [keys], perm)]);
  const scores = edit.op('Concat', [scoresAgainst(shared), scoresAgainst(past), scoresAgainst(newKey)], [axisAttribute(-1)]);
  // Masked per query head ([batch, heads, new, width]), then grouped again for the values.
  const perHead = edit.op('Reshape', [scores, edit.int64([0, heads, -1, 0])]);
  const probs = edit.op('Softmax', [edit.op('Where', [visibility(edit), perHead, edit.float32([MASKED_SCORE], [])])], [axisAttribute(-1)]);
  // Grouped before slicing: a slice of a part can hold no slots (no shared K/V), which a Reshape with -1 cannot take.
  // The lens (lensGraph.ts) reads per-head weights as the Softmax under this Reshape: keep its shape [0, ·, ·, 0].
  const groupedProbs = edit.op('Reshape', [probs, edit.int64([0, kvHeads, -1, 0])]);
  const axis = edit.int64([-1]);
  const part = (start: string, end: string, values: string): string => edit.op('MatMul', [edit.op('Slice', [groupedProbs, start, end, axis]), values]);
  const zero = edit.int64([0]);
  const weighted = edit.op('Add', [edit.op('Add', [part(zero, sharedLength, sharedValue), part(sharedLength, pastEnd, pastValue)]), part(pastEnd, edit.int64([INT64_MAX]), newValue)]);
  // [batch, kvHeads, g·new, headDim] → [batch, new, heads·headDim], the op's output layout.
  const perQueryHead = edit.op('Reshape', [weighted, edit.int64([0, heads, -1, headDim])]);
  edit.op('Reshape', [edit.op('Transpose', [perQueryHead], [ints('perm', [0, 2, 1, 3])]), edit.int64([0, 0, heads * headDim])], [], node.output?.[0] as string);
  return { newKey, newValue };
}
