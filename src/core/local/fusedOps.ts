// Fuses the rewritten decode graph's elementwise chains into onnxruntime's CPU contrib ops. A
// decode step of GPT-2's 124M shape runs ≈ 590 kernels, most of them on 768 or 3,072 floats,
// where each costs its dispatch (and, with 2 threads, a thread wake-up) more than its arithmetic.
// onnxruntime's own optimizer does not fuse these exports (its optimised graph keeps every
// LayerNormalization, bias Add and the tanh GELU's 8 ops; bench/README.md), so the rewrite does:
//
// - residual Add [+ the bias Add before it] + LayerNormalization → SkipLayerNormalization, whose
//   optional 4th output is the sum, for the next residual Add;
// - [bias Add +] the tanh GELU (gelu_new) → FastGelu(x, bias).
//
// Both are found by role, not by name, and the GELU by what it computes: the chain of elementwise
// ops around a Tanh with one input is evaluated on sample values and must give gelu_new. The
// arithmetic is the same up to rounding order (float32), well inside the golden tests' 1e-4.
// `unfuseSkipLayerNorm` turns the norms back into Add + LayerNormalization for the lens graph,
// which reads the residual stream as what every LayerNormalization reads (lensGraph.ts).
import { onnx } from 'onnx-proto';

type Node = onnx.INodeProto;

const MS_DOMAIN = 'com.microsoft';
const ELEMENTWISE = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Tanh']);
/** A GELU's chain is 8–10 ops; a bound keeps a mismatch from walking the whole graph. */
const MAX_GELU_NODES = 16;
const DEFAULT_EPSILON = 1e-5;

export interface FusionSummary {
  skipLayerNorms: number;
  fastGelus: number;
  /** Bias Adds folded into the fused ops. */
  biases: number;
}

class Index {
  readonly producers = new Map<string, Node>();
  readonly readers = new Map<string, Node[]>();
  readonly position = new Map<Node, number>();
  readonly initializers: Map<string, onnx.ITensorProto>;
  readonly graphOutputs: Set<string>;

  constructor(readonly graph: onnx.IGraphProto) {
    (graph.node ?? []).forEach((node, i) => {
      this.position.set(node, i);
      for (const output of node.output ?? []) this.producers.set(output, node);
      for (const input of node.input ?? []) this.readers.set(input, [...(this.readers.get(input) ?? []), node]);
    });
    this.initializers = new Map((graph.initializer ?? []).map((t) => [t.name as string, t]));
    this.graphOutputs = new Set((graph.output ?? []).map((v) => v.name as string));
  }

  constant(name: string): onnx.ITensorProto | undefined {
    const producer = this.producers.get(name);
    if (producer?.opType === 'Constant') return producer.attribute?.find((a) => a.name === 'value')?.t ?? undefined;
    return this.initializers.get(name);
  }

  /** The value of a one-element float constant, else undefined. */
  scalar(name: string): number | undefined {
    const tensor = this.constant(name);
    if (!tensor || tensor.dataType !== onnx.TensorProto.DataType.FLOAT || (tensor.dims ?? []).reduce((n, d) => n * Number(d), 1) !== 1) return undefined;
    const raw = tensor.rawData;
    if (raw && raw.byteLength === 4) return new DataView(raw.buffer, raw.byteOffset, 4).getFloat32(0, true);
    return tensor.floatData?.length === 1 ? (tensor.floatData[0] as number) : undefined;
  }

  /** A 1-D float constant (a bias vector). */
  isVector(name: string): boolean {
    const tensor = this.constant(name);
    return tensor?.dataType === onnx.TensorProto.DataType.FLOAT && tensor.dims?.length === 1 && Number(tensor.dims[0]) > 1;
  }

  /** Read only by `readers`' nodes, and no graph output. */
  onlyReadBy(name: string, readers: ReadonlySet<Node>): boolean {
    return !this.graphOutputs.has(name) && (this.readers.get(name) ?? []).every((reader) => readers.has(reader));
  }
}

const attributeOf = (node: Node, name: string): onnx.IAttributeProto | undefined => node.attribute?.find((a) => a.name === name);
const floatAttribute = (name: string, f: number): onnx.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.FLOAT, f });

/** `name` = Add(p, bias) with a 1-D constant bias, read by `readers` alone: [the Add, p, bias]. */
function biasAdd(index: Index, name: string, readers: ReadonlySet<Node>): [Node, string, string] | undefined {
  const add = index.producers.get(name);
  if (add?.opType !== 'Add' || add.input?.length !== 2 || !index.onlyReadBy(name, readers)) return undefined;
  const [a, b] = add.input as [string, string];
  if (index.isVector(b) && !index.constant(a)) return [add, a, b];
  if (index.isVector(a) && !index.constant(b)) return [add, b, a];
  return undefined;
}

/** gelu_new, GPT-2's tanh approximation, in float64. */
export function geluNew(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
}

/** The elementwise chain around `tanh` with one non-constant input x and one output read outside it, if it computes gelu_new(x). */
function matchGelu(index: Index, tanh: Node): { nodes: Node[]; x: string; y: string } | undefined {
  const region = new Set<Node>([tanh]);
  const leaves = new Set<string>();
  const absorbable = (node: Node | undefined): node is Node => node !== undefined && ELEMENTWISE.has(node.opType ?? '') && !node.domain && (node.input ?? []).every((input) => index.scalar(input) !== undefined || !index.constant(input));
  const back = (name: string): void => {
    if (index.scalar(name) !== undefined) return;
    const node = index.producers.get(name);
    if (!absorbable(node) || region.size >= MAX_GELU_NODES) {
      leaves.add(name);
      return;
    }
    if (region.has(node)) return;
    region.add(node);
    for (const input of node.input ?? []) back(input);
  };
  back(tanh.input?.[0] as string);
  if (leaves.size !== 1) return undefined;
  const x = [...leaves][0] as string;
  const known = (): Set<string> => new Set([x, ...[...region].flatMap((node) => node.output ?? [])]);
  for (let grew = true; grew && region.size < MAX_GELU_NODES; ) {
    grew = false;
    const names = known();
    for (const name of names) {
      for (const reader of index.readers.get(name) ?? []) {
        if (region.has(reader) || !absorbable(reader) || !(reader.input ?? []).every((input) => names.has(input) || index.scalar(input) !== undefined)) continue;
        region.add(reader);
        grew = true;
      }
    }
  }
  const nodes = [...region].sort((a, b) => (index.position.get(a) as number) - (index.position.get(b) as number));
  const outside = nodes.flatMap((node) => node.output ?? []).filter((name) => index.graphOutputs.has(name) || (index.readers.get(name) ?? []).some((reader) => !region.has(reader)));
  if (outside.length !== 1) return undefined;
  const y = outside[0] as string;
  for (let v = -8; v <= 8; v += 0.25) {
    const got = evaluate(index, nodes, x, v, y);
    const want = geluNew(v);
    if (got === undefined || !(Math.abs(got - want) <= 1e-6 * (1 + Math.abs(want)))) return undefined;
  }
  return { nodes, x, y };
}

/** `y` of the chain `nodes` (in order) with x = v, in float64; undefined for an op it does not know. */
function evaluate(index: Index, nodes: Node[], x: string, v: number, y: string): number | undefined {
  const values = new Map<string, number>([[x, v]]);
  const value = (name: string): number => values.get(name) ?? (index.scalar(name) as number);
  for (const node of nodes) {
    const [a, b] = (node.input ?? []).map(value) as [number, number];
    const ops: Record<string, () => number> = { Add: () => a + b, Sub: () => a - b, Mul: () => a * b, Div: () => a / b, Pow: () => a ** b, Tanh: () => Math.tanh(a) };
    const op = ops[node.opType ?? ''];
    if (!op) return undefined;
    values.set(node.output?.[0] as string, op());
  }
  return values.get(y);
}

/** Fuses the graph in place (see the file's comment); nodes that match nothing stay as they are. */
export function fuseDecodeOps(model: onnx.IModelProto): FusionSummary {
  const graph = model.graph;
  const summary: FusionSummary = { skipLayerNorms: 0, fastGelus: 0, biases: 0 };
  if (!graph?.node) return summary;
  const index = new Index(graph);
  const removed = new Set<Node>();
  // Each fused node takes the place of the last node it replaces: its inputs are all made earlier.
  const replacing = new Map<Node, Node>();
  let counter = 0;
  const name = (hint: string): string => `lmlens_fused_${hint}_${counter++}`;

  for (const norm of graph.node) {
    if (norm.opType !== 'LayerNormalization' || norm.domain || (norm.output ?? []).slice(1).some((o) => o !== '')) continue;
    const axis = attributeOf(norm, 'axis');
    if (axis && Number(axis.i) !== -1) continue;
    const sum = norm.input?.[0] as string;
    const add = index.producers.get(sum);
    if (add?.opType !== 'Add' || add.input?.length !== 2 || removed.has(add) || add.input.some((input) => index.constant(input))) continue;
    let [input, skip] = add.input as [string, string];
    let bias: string | undefined;
    const folded = biasAdd(index, input, new Set([add])) ?? biasAdd(index, skip, new Set([add]));
    if (folded && !removed.has(folded[0])) {
      const [biasNode, product, vector] = folded;
      if (folded[0].output?.[0] === skip) skip = input;
      input = product;
      bias = vector;
      removed.add(biasNode);
      summary.biases++;
    }
    // The sum goes on to the next residual Add; the last norm's is read by nothing else.
    const sumRead = index.graphOutputs.has(sum) || (index.readers.get(sum) ?? []).some((reader) => reader !== norm);
    const epsilon = attributeOf(norm, 'epsilon')?.f ?? DEFAULT_EPSILON;
    const inputs = [input, skip, norm.input?.[1] as string, norm.input?.[2] ?? '', ...(bias ? [bias] : [])];
    replacing.set(norm, {
      opType: 'SkipLayerNormalization',
      domain: MS_DOMAIN,
      name: name('SkipLayerNormalization'),
      input: inputs,
      output: [norm.output?.[0] as string, ...(sumRead ? ['', '', sum] : [])],
      attribute: [floatAttribute('epsilon', epsilon)],
    });
    removed.add(add);
    summary.skipLayerNorms++;
  }

  for (const tanh of graph.node) {
    if (tanh.opType !== 'Tanh' || removed.has(tanh)) continue;
    const gelu = matchGelu(index, tanh);
    if (!gelu || gelu.nodes.some((node) => removed.has(node))) continue;
    const folded = biasAdd(index, gelu.x, new Set(gelu.nodes));
    if (folded) {
      removed.add(folded[0]);
      summary.biases++;
    }
    const last = gelu.nodes.find((node) => node.output?.includes(gelu.y)) as Node;
    for (const node of gelu.nodes) if (node !== last) removed.add(node);
    replacing.set(last, { opType: 'FastGelu', domain: MS_DOMAIN, name: name('FastGelu'), input: folded ? [folded[1], folded[2]] : [gelu.x], output: [gelu.y] });
    summary.fastGelus++;
  }

  if (summary.skipLayerNorms + summary.fastGelus === 0) return summary;
  graph.node = graph.node.filter((node) => !removed.has(node)).map((node) => replacing.get(node) ?? node);
  if (!(model.opsetImport ?? []).some((o) => o.domain === MS_DOMAIN)) model.opsetImport = [...(model.opsetImport ?? []), { domain: MS_DOMAIN, version: 1 }];
  return summary;
}

/** Turns SkipLayerNormalization back into Add [+ Add bias] + LayerNormalization (in place), as the lens graph reads norms. */
export function unfuseSkipLayerNorm(model: onnx.IModelProto): void {
  const graph = model.graph;
  if (!graph?.node?.some((node) => node.opType === 'SkipLayerNormalization')) return;
  let counter = 0;
  graph.node = graph.node.flatMap((node): Node[] => {
    if (node.opType !== 'SkipLayerNormalization' || node.domain !== MS_DOMAIN) return [node];
    const [input, skip, gamma, beta, bias] = node.input ?? [];
    const fresh = (hint: string): string => `lmlens_unfused_${hint}_${counter++}`;
    const sum = node.output?.[3] || fresh('sum');
    const summed = bias ? fresh('sum') : sum;
    // In SkipLayerNormalization's order: (input + skip) + bias.
    const nodes: Node[] = [{ opType: 'Add', name: fresh('Add'), input: [input as string, skip as string], output: [summed] }];
    if (bias) nodes.push({ opType: 'Add', name: fresh('Add'), input: [summed, bias], output: [sum] });
    const epsilon = attributeOf(node, 'epsilon')?.f ?? DEFAULT_EPSILON;
    nodes.push({ opType: 'LayerNormalization', name: fresh('LayerNormalization'), input: [sum, gamma as string, ...(beta ? [beta] : [])], output: [node.output?.[0] as string], attribute: [floatAttribute('epsilon', epsilon), { name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: -1 }] });
    return nodes;
  });
}
