// Rewrites a GPT-2 decoder export (Optimum / transformers.js layout) into a graph whose KV cache
// the engine owns. The export concatenates past + new K/V in every layer and returns the whole
// `present.*` tensors, which onnxruntime-node copies into fresh JS buffers on every step
// (≈ 37.7 MB at 512 tokens for the 124M shape). The rewritten graph reads the engine's
// fixed-capacity buffers as `past_key_values.*` (unused slots masked by `attention_mask`), attends
// to past and new keys separately (no Concat of the cache), and returns only the new tokens' K/V
// as `new.N.key` / `new.N.value` ([batch, heads, new, headDim]), which the engine writes in place.
// In front of the past it also reads `shared.N.*`, batch-1 K/V that every row attends to (the
// prompt of N samples: read once per step, not copied N times); the attention mask covers
// [shared | past | new].
//
// It is keyed on what every GPT-2 export shares: the input/output names, that `present.N.*` is
// Concat(past, new) on the sequence axis, and that attention reads it as
// MatMul(q, Transpose(present.key)) and MatMul(probs, present.value) (plus Shape reads of it),
// never on node names. The onnxruntime-genai builder's form, where present.N.* are outputs of
// a GroupQueryAttention op that reads past_key_values.N.*, gets that op replaced by plain ops over
// the same buffers (gqaAttention.ts). Anything else is reported as unrecognised and the caller
// keeps the original graph.
import { onnx } from 'onnx-proto';
import { GQA_OP, replaceGroupQueryAttention } from './gqaAttention';
import type { AttentionContext } from './gqaAttention';
import { cacheReads, splitProduct } from './splitAttention';
import { GraphEdit, INT64_MAX, attributeInt, axisAttribute, fail } from './graphEdit';
import type { Node } from './graphEdit';

export { UnrecognisedExport } from './graphEdit';

export const NEW_KV_PREFIX = 'new';
/**
 * `shared.N.key` / `shared.N.value`: K/V that every row of the batch attends to, batch 1
 * ([1, heads, slots, headDim], broadcast over the rows), in front of the rows' own past. N
 * samples of one prompt read the prompt's K/V once from here instead of from N copies; a step
 * without one feeds zero slots.
 */
export const SHARED_KV_PREFIX = 'shared';

export interface DecodeGraphInfo {
  layers: number;
  /** The export had no position_ids input; the rewrite added one in front of the position embedding. */
  addedPositionIds: boolean;
  hasLogitsToKeep: boolean;
  /** Set when the weight matrices were quantised to MatMulNBits int8 (int8Weights.ts). */
  int8?: { matrices: number; quantizedBytes: number; floatBytesReplaced: number };
}

export interface ModelDims {
  contextSize: number;
  hiddenSize: number;
  vocabSize: number;
  /** config.json's head size, for exports whose past_key_values do not declare it (GroupQueryAttention needs it). */
  headDim?: number;
  /** config.json's query and KV head counts: with both, attention behind repeat_kv is split per KV head (splitAttention.ts). */
  heads?: number;
  kvHeads?: number;
}

function isSequenceAxis(axis: number | undefined): boolean {
  return axis === 2 || axis === -2;
}

/** Rewrites `model.graph` in place; throws UnrecognisedExport (the graph is then unusable, so callers pass a copy they can drop). */
export function rewriteForOwnedKv(model: onnx.IModelProto, dims: ModelDims): DecodeGraphInfo {
  const graph = model.graph ?? fail('no graph');
  const inputs = new Set((graph.input ?? []).map((v) => v.name));
  const outputs = new Set((graph.output ?? []).map((v) => v.name));
  for (const name of ['input_ids', 'attention_mask']) if (!inputs.has(name)) fail(`no ${name} input`);
  if (!outputs.has('logits')) fail('no logits output');
  let layers = 0;
  while (inputs.has(`past_key_values.${layers}.key`)) layers++;
  if (layers === 0) fail('no past_key_values.N.key inputs');
  if (inputs.has('use_cache_branch')) fail('merged decoder (use_cache_branch) export');
  const edit = new GraphEdit(graph);
  const removed = new Set<Node>();

  // Shared and past lengths as 1-D tensors, for slicing attention probabilities into shared, past and new parts.
  const sequenceLength = (input: string): string => edit.op('Slice', [edit.op('Shape', [input]), edit.int64([2]), edit.int64([3]), edit.int64([0])]);
  const sharedLength = sequenceLength(`${SHARED_KV_PREFIX}.0.key`);
  const pastEnd = edit.op('Add', [sharedLength, sequenceLength('past_key_values.0.key')]);
  const sharedInputs: onnx.IValueInfoProto[] = [];
  let sequenceOnly: string | undefined;
  const newOutputs: onnx.IValueInfoProto[] = [];

  // Position ids the engine feeds: the export's input, else one added for the graph's own position reads.
  let addedPositionIds = false;
  const positionIds = (): string => {
    if (!inputs.has('position_ids') && !addedPositionIds) {
      graph.input = [...(graph.input ?? []), { name: 'position_ids', type: { tensorType: { elemType: onnx.TensorProto.DataType.INT64, shape: { dim: [{ dimParam: 'batch_size' }, { dimParam: 'sequence_length' }] } } } }];
      addedPositionIds = true;
    }
    return 'position_ids';
  };
  const groups = dims.heads && dims.kvHeads && dims.heads % dims.kvHeads === 0 ? { heads: dims.heads, kvHeads: dims.kvHeads } : undefined;
  const attention: AttentionContext = { edit, sharedLength, pastEnd, positionIds, headDim: declaredHeadDim(graph) ?? dims.headDim, shared: (layer, part) => `${SHARED_KV_PREFIX}.${layer}.${part}` };

  for (let layer = 0; layer < layers; layer++) {
    const newNames: Record<string, string> = {};
    const gqa = edit.producer(`present.${layer}.key`);
    const isGqa = gqa?.opType === GQA_OP;
    if (isGqa) {
      const replaced = replaceGroupQueryAttention(attention, gqa, layer);
      Object.assign(newNames, { key: replaced.newKey, value: replaced.newValue });
      removed.add(gqa);
    }
    for (const part of ['key', 'value'] as const) {
      const past = `past_key_values.${layer}.${part}`;
      const present = `present.${layer}.${part}`;
      if (!outputs.has(present)) fail(`no ${present} output`);
      if (isGqa) {
        const reader = [...edit.consumers(present), ...edit.consumers(past).filter((node) => node !== gqa && node.opType !== 'Shape')][0];
        if (reader) fail(`layer ${layer}: ${reader.opType} reads ${reader.input?.includes(past) ? past : present} beside ${GQA_OP}`);
        continue;
      }
      const concat = edit.producer(present);
      if (concat?.opType !== 'Concat' || concat.input?.length !== 2 || concat.input[0] !== past || !isSequenceAxis(attributeInt(concat, 'axis'))) {
        fail(`${present} is not Concat(${past}, new) on the sequence axis`);
      }
      removed.add(concat);
      newNames[part] = concat.input[1] as string;
    }
    const newKey = newNames.key as string;
    const newValue = newNames.value as string;
    // Attention that reads the cache in a way the split does not know gets it whole, concatenated inside the graph.
    const reads = { key: cacheReads(edit, `present.${layer}.key`, 'key', groups), value: cacheReads(edit, `present.${layer}.value`, 'value', groups) };
    const inGraphConcat = !reads.key || !reads.value;

    for (const part of ['key', 'value'] as const) {
      const present = `present.${layer}.${part}`;
      const past = `past_key_values.${layer}.${part}`;
      const shared = `${SHARED_KV_PREFIX}.${layer}.${part}`;
      const pastType = (graph.input ?? []).find((v) => v.name === past)?.type;
      sharedInputs.push({ name: shared, type: pastType ? withDims(pastType, { 0: 1, 2: 'shared_sequence_length' }) : undefined });
      const fresh = part === 'key' ? newKey : newValue;
      const alongSequence = (sequenceOnly ??= edit.int64([0, 0, 1, 0]));
      // The past's shape with the shared positions added on the sequence axis: they sit in front
      // of the past in every row's attention. Built once per input, on first use.
      let pastWithShared: string | undefined;
      const pastWithSharedShape = (): string => (pastWithShared ??= edit.op('Add', [edit.op('Shape', [past]), edit.op('Mul', [edit.op('Shape', [shared]), alongSequence])]));
      // The export's own reads of the past's shape (e.g. the past length for the causal mask) count them too.
      for (const consumer of edit.consumers(past)) {
        if (consumer.opType !== 'Shape') continue;
        edit.op('Identity', [sliceShape(edit, pastWithSharedShape(), consumer)], [], consumer.output?.[0] as string);
        removed.add(consumer);
      }
      if (isGqa) continue;
      if (inGraphConcat) {
        // [shared (broadcast over the rows) | past | new] on the sequence axis: what present was, plus the shared positions.
        const rows = edit.op('Concat', [edit.op('Slice', [edit.op('Shape', [past]), edit.int64([0]), edit.int64([1]), edit.int64([0])]), edit.int64([1, 1, 1])], [axisAttribute(0)]);
        const whole = edit.op('Concat', [edit.op('Expand', [shared, rows]), past, fresh], [axisAttribute(2)]);
        for (const reader of edit.consumers(present)) reader.input = (reader.input ?? []).map((name) => (name === present ? whole : name));
        continue;
      }
      for (const read of reads[part] ?? []) {
        if (read.kind === 'shape') {
          // present's shape = that, with the new tokens added on the sequence axis.
          const full = edit.op('Add', [pastWithSharedShape(), edit.op('Mul', [edit.op('Shape', [fresh]), alongSequence])]);
          edit.op('Identity', [sliceShape(edit, full, read.node)], [], read.node.output?.[0] as string);
          removed.add(read.node);
        } else {
          for (const node of splitProduct(edit, read, { shared, past, fresh, sharedLength, pastEnd })) removed.add(node);
        }
      }
    }
    const declared = (name: string): onnx.IValueInfoProto | undefined => graph.output?.find((v) => v.name === name);
    for (const part of ['key', 'value'] as const) {
      const output = `${NEW_KV_PREFIX}.${layer}.${part}`;
      edit.op('Identity', [part === 'key' ? newKey : newValue], [], output);
      const type = declared(`present.${layer}.${part}`)?.type;
      newOutputs.push({ name: output, type: type ? withSequenceDim(type, 'new_sequence_length') : undefined });
    }
  }

  if (!inputs.has('position_ids') && !addedPositionIds) {
    // Exports without position_ids compute arange(past, past + new) from the past's shape, which a
    // capacity-sized buffer would get wrong: feed the ids to the position-embedding Gather instead.
    const gathers = edit.nodes.filter((node) => node.opType === 'Gather' && node.input?.[0] !== undefined && isPositionTable(graph, node.input[0] as string, dims));
    if (gathers.length !== 1) fail('no position_ids input and no single position-embedding Gather');
    (gathers[0] as Node).input = [(gathers[0] as Node).input?.[0] as string, positionIds()];
  }

  const hasLogitsToKeep = inputs.has('num_logits_to_keep') || addLogitsToKeep(edit, dims);
  graph.node = [...edit.nodes.filter((node) => !removed.has(node)), ...edit.added];
  graph.input = [...(graph.input ?? []), ...sharedInputs];
  graph.output = [...(graph.output ?? []).filter((v) => !v.name?.startsWith('present.')), ...newOutputs];
  graph.valueInfo = (graph.valueInfo ?? []).filter((v) => !v.name?.startsWith('present.'));
  dropUnread(graph);
  sortTopologically(graph);
  return { layers, addedPositionIds, hasLogitsToKeep };
}

/** `shape` cut as the Shape node `reader` would cut its own output (its start/end attributes). */
function sliceShape(edit: GraphEdit, shape: string, reader: Node): string {
  const start = attributeInt(reader, 'start');
  const end = attributeInt(reader, 'end');
  return start === undefined && end === undefined ? shape : edit.op('Slice', [shape, edit.int64([start ?? 0]), edit.int64([end ?? INT64_MAX]), edit.int64([0])]);
}

const RESHAPES = new Set(['Reshape', 'Flatten', 'Identity', 'Squeeze', 'Unsqueeze']);

/**
 * Gives an export without `num_logits_to_keep` that input (0 = every position, k = the last k),
 * as transformers' own exports have it: the final hidden states are sliced before the output
 * projection, so a prefill whose caller reads only the last logits skips the largest matrix
 * product for every other position (its [vocab, hidden] weight makes it ≈ 1/4 of GPT-2's work).
 * Found by role, not by name: the MatMul/Gemm that reads the vocabulary-sized weight, and the
 * tensor it projects before any reshaping. Returns false (graph untouched) when not found.
 */
function addLogitsToKeep(edit: GraphEdit, dims: ModelDims): boolean {
  const graph = edit.graph;
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name as string, t]));
  const isVocabMatrix = (name: string | undefined): boolean => {
    const producer = name === undefined ? undefined : edit.producer(name);
    const tensor = initializers.get(producer?.opType === 'Transpose' ? (producer.input?.[0] as string) : (name ?? ''));
    return tensor?.dims?.length === 2 && tensor.dims.map(Number).includes(dims.vocabSize) && tensor.dims.map(Number).includes(dims.hiddenSize);
  };
  const heads = edit.nodes.filter((node) => (node.opType === 'MatMul' || node.opType === 'Gemm') && isVocabMatrix(node.input?.[1] ?? undefined));
  if (heads.length !== 1) return false;
  let hidden = (heads[0] as Node).input?.[0] as string;
  for (let producer = edit.producer(hidden); producer && RESHAPES.has(producer.opType ?? ''); producer = edit.producer(hidden)) hidden = producer.input?.[0] as string;
  if ((graph.output ?? []).some((v) => v.name === hidden) || !edit.producer(hidden)) return false;
  const consumers = edit.consumers(hidden);
  const start = edit.op('Neg', [edit.op('Reshape', ['num_logits_to_keep', edit.int64([1])])]);
  const kept = edit.op('Slice', [hidden, start, edit.int64([INT64_MAX]), edit.int64([1])]);
  for (const node of consumers) node.input = (node.input ?? []).map((input) => (input === hidden ? kept : input));
  graph.input = [...(graph.input ?? []), { name: 'num_logits_to_keep', type: { tensorType: { elemType: onnx.TensorProto.DataType.INT64, shape: { dim: [] } } } }];
  return true;
}

function withSequenceDim(type: onnx.ITypeProto, dimParam: string): onnx.ITypeProto {
  return withDims(type, { 2: dimParam });
}

/** `type` with the given axes replaced: a number fixes the size, a string names it. */
function withDims(type: onnx.ITypeProto, replace: Record<number, number | string>): onnx.ITypeProto {
  const dims = type.tensorType?.shape?.dim ?? [];
  const dim = (value: number | string): onnx.TensorShapeProto.IDimension => (typeof value === 'number' ? { dimValue: value } : { dimParam: value });
  return { tensorType: { elemType: type.tensorType?.elemType, shape: { dim: dims.map((d, i) => (replace[i] === undefined ? d : dim(replace[i] as number | string))) } } };
}

/** The head size the export declares on past_key_values.0.key ([batch, heads, past, headDim]), if it is a number. */
function declaredHeadDim(graph: onnx.IGraphProto): number | undefined {
  const dim = graph.input?.find((v) => v.name === 'past_key_values.0.key')?.type?.tensorType?.shape?.dim?.[3];
  return dim?.dimValue ? Number(dim.dimValue) : undefined;
}

/** The position embedding: the float [n_positions, n_embd] initializer. */
function isPositionTable(graph: onnx.IGraphProto, name: string, dims: ModelDims): boolean {
  const tensor = graph.initializer?.find((t) => t.name === name);
  return tensor?.dataType === onnx.TensorProto.DataType.FLOAT && tensor.dims?.length === 2 && Number(tensor.dims[0]) === dims.contextSize && Number(tensor.dims[1]) === dims.hiddenSize;
}

/**
 * Removes nodes none of whose outputs is read (by a node or as a graph output), until none is
 * left: what only the replaced nodes read (GroupQueryAttention's seqlens_k from the mask).
 */
function dropUnread(graph: onnx.IGraphProto): void {
  // Names read by nodes, also inside subgraphs (an If branch may read an outer tensor).
  const addReads = (nodes: Node[], read: Set<string>): void => {
    for (const node of nodes) {
      for (const input of node.input ?? []) read.add(input);
      for (const attribute of node.attribute ?? []) for (const sub of [attribute.g, ...(attribute.graphs ?? [])]) if (sub) addReads(sub.node ?? [], read);
    }
  };
  for (;;) {
    const read = new Set<string>((graph.output ?? []).map((v) => v.name as string));
    addReads(graph.node ?? [], read);
    const kept = (graph.node ?? []).filter((node) => (node.output ?? []).some((output) => read.has(output)));
    if (kept.length === graph.node?.length) return;
    graph.node = kept;
  }
}

/** ONNX requires nodes in topological order; the added nodes went to the end. */
function sortTopologically(graph: onnx.IGraphProto): void {
  const nodes = graph.node ?? [];
  const available = new Set<string>([...(graph.input ?? []).map((v) => v.name as string), ...(graph.initializer ?? []).map((t) => t.name as string), '']);
  const ordered: Node[] = [];
  const pending = new Set(nodes);
  let progress = true;
  while (pending.size > 0 && progress) {
    progress = false;
    for (const node of pending) {
      if ((node.input ?? []).every((input) => available.has(input))) {
        ordered.push(node);
        for (const output of node.output ?? []) available.add(output);
        pending.delete(node);
        progress = true;
      }
    }
  }
  if (pending.size > 0) fail('rewritten graph has a cycle or a dangling input');
  graph.node = ordered;
}
