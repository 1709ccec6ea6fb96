// How one layer's attention reads the whole cache (`present.N.key` / `present.N.value` =
// Concat(past, new)) and the split reads that replace them in the owned-KV rewrite
// (decodeGraph.ts): the same products taken against [shared | past | new] separately, so the
// cache is never concatenated.
//
// Two forms are known:
// - GPT-2: MatMul(q, Transpose(present.key)) and MatMul(probs, present.value);
// - the Llama family's Optimum export, where repeat_kv widens the cache to every query head first:
//   present → Unsqueeze(axis 2) → Expand → Reshape, then the same two products. There the split
//   groups each KV head's g query heads into one block of g·new rows ([batch, kvHeads, g·new, ·],
//   a free reshape, since query head h reads KV head ⌊h / g⌋), so every step reads the cache once
//   per KV head instead of concatenating it and copying it g times (which grew Qwen's step with
//   the past while llama.cpp's stayed flat).
// Anything else is not splittable and the caller concatenates the cache in the graph instead.
import { INT64_MAX, attributeInts, axisAttribute, ints } from './graphEdit';
import type { GraphEdit, Node } from './graphEdit';

/** Query heads and KV heads (config.json's), needed to regroup under repeat_kv. */
export interface HeadCounts {
  heads: number;
  kvHeads: number;
}

/** repeat_kv's nodes in front of a product, and the head counts its split regroups by. */
export interface RepeatKv {
  nodes: Node[];
  groups: HeadCounts;
}

/** One read of present.N.*: its Shape, the key product, or the value product, each maybe behind repeat_kv. */
export type CacheRead =
  | { kind: 'shape'; node: Node }
  | { kind: 'keys'; transpose: Node; matmul: Node; repeat?: RepeatKv }
  | { kind: 'values'; matmul: Node; repeat?: RepeatKv };

/** The three parts of the attention's columns, each [batch or 1, kvHeads, slots, headDim]. */
export interface CacheParts {
  shared: string;
  past: string;
  fresh: string;
  /** 1-D lengths: shared slots, and shared + past slots (where the new tokens' columns start). */
  sharedLength: string;
  pastEnd: string;
}

const TRANSPOSE_LAST_TWO = [0, 1, 3, 2];

function onlyConsumer(edit: GraphEdit, name: string): Node | undefined {
  const readers = edit.consumers(name);
  return readers.length === 1 ? readers[0] : undefined;
}

/** repeat_kv's Unsqueeze(axis 2) → Expand → Reshape starting at `unsqueeze`, or undefined. */
function repeatKvChain(edit: GraphEdit, unsqueeze: Node): Node[] | undefined {
  const axes = attributeInts(unsqueeze, 'axes') ?? edit.int64Values(unsqueeze.input?.[1] ?? '');
  if (unsqueeze.opType !== 'Unsqueeze' || axes?.length !== 1 || (axes[0] !== 2 && axes[0] !== -3)) return undefined;
  const expand = onlyConsumer(edit, unsqueeze.output?.[0] as string);
  if (expand?.opType !== 'Expand' || expand.input?.[0] !== unsqueeze.output?.[0]) return undefined;
  const reshape = onlyConsumer(edit, expand.output?.[0] as string);
  if (reshape?.opType !== 'Reshape' || reshape.input?.[0] !== expand.output?.[0]) return undefined;
  return [unsqueeze, expand, reshape];
}

/** The product that reads `cache` (present, or what repeat_kv made of it), as a CacheRead. */
function productRead(edit: GraphEdit, cache: string, reader: Node, part: 'key' | 'value', repeat: RepeatKv | undefined): CacheRead | undefined {
  if (part === 'value') return reader.opType === 'MatMul' && reader.input?.[1] === cache ? { kind: 'values', matmul: reader, repeat } : undefined;
  if (reader.opType !== 'Transpose' || (attributeInts(reader, 'perm') ?? []).join() !== TRANSPOSE_LAST_TWO.join()) return undefined;
  const transposed = reader.output?.[0] as string;
  const matmul = onlyConsumer(edit, transposed);
  return matmul?.opType === 'MatMul' && matmul.input?.[1] === transposed ? { kind: 'keys', transpose: reader, matmul, repeat } : undefined;
}

/** Every read of `present`, or undefined when one is of a form the split does not know (or repeat_kv without head counts). */
export function cacheReads(edit: GraphEdit, present: string, part: 'key' | 'value', groups: HeadCounts | undefined): CacheRead[] | undefined {
  const reads: CacheRead[] = [];
  for (const reader of edit.consumers(present)) {
    if (reader.opType === 'Shape') {
      reads.push({ kind: 'shape', node: reader });
      continue;
    }
    const chain = reader.opType === 'Unsqueeze' && groups ? repeatKvChain(edit, reader) : undefined;
    const repeat = chain && groups ? { nodes: chain, groups } : undefined;
    const repeated = chain?.[2]?.output?.[0];
    const read = repeated ? onlyConsumer(edit, repeated) : reader;
    const product = read && productRead(edit, repeated ?? present, read, part, repeat);
    if (!product) return undefined;
    reads.push(product);
  }
  return reads;
}

/**
 * Replaces a key or value product by the split one, writing the product's output; returns the
 * nodes the caller removes (the repeat_kv nodes, then unread, go with the unread-node sweep).
 */
export function splitProduct(edit: GraphEdit, read: Extract<CacheRead, { kind: 'keys' | 'values' }>, parts: CacheParts): Node[] {
  const groups = read.repeat?.groups;
  // [batch, heads, rows, ·] ⇄ [batch, kvHeads, g·rows, ·]: only heads and rows regroup (the lens
  // finds the per-head softmax under exactly this constant shape, lensGraph.ts's beforeRegrouping).
  const regroup = (x: string, heads: number, output?: string): string => edit.op('Reshape', [x, edit.int64([0, heads, -1, 0])], [], output);
  const output = read.matmul.output?.[0] as string;
  /** The product's operand per KV head group (as is without repeat_kv). */
  const grouped = (x: string): string => (groups ? regroup(x, groups.kvHeads) : x);
  /** The last node of the split product, written as the product's output, back per query head. */
  const finish = (opType: string, inputs: string[], attributes: Parameters<GraphEdit['op']>[2] = []): void => {
    if (groups) regroup(edit.op(opType, inputs, attributes), groups.heads, output);
    else edit.op(opType, inputs, attributes, output);
  };
  if (read.kind === 'keys') {
    const query = grouped(read.matmul.input?.[0] as string);
    const against = (keys: string): string => edit.op('MatMul', [query, edit.op('Transpose', [keys], [ints('perm', TRANSPOSE_LAST_TWO)])]);
    finish('Concat', [against(parts.shared), against(parts.past), against(parts.fresh)], [axisAttribute(-1)]);
    return [read.transpose, read.matmul];
  }
  // Grouped before slicing: a part can hold no slots (no shared K/V), which a Reshape with -1 cannot take.
  const probs = grouped(read.matmul.input?.[0] as string);
  const axis = edit.int64([-1]);
  const from = (start: string, end: string, values: string): string => edit.op('MatMul', [edit.op('Slice', [probs, start, end, axis]), values]);
  finish('Add', [edit.op('Add', [from(edit.int64([0]), parts.sharedLength, parts.shared), from(parts.sharedLength, parts.pastEnd, parts.past)]), from(parts.pastEnd, edit.int64([INT64_MAX]), parts.fresh)]);
  return [read.matmul];
}
