// The rewritten decode graph, cached in LM Lens's own cache folder (`<cacheDir>/.decode-graphs`),
// never beside the model: the model's folder may be read-only, shared or under version control.
// Its weights are not copied: every large initializer points at its bytes inside the original
// .onnx (ONNX external data: location + offset + length, read relative to the model's folder,
// which the session is told), so a cached graph is a few hundred KB and later loads skip the
// rewrite. An entry is keyed by the model file's identity (real path, size, modification time)
// and the rewrite's version: a changed model file gets a new rewrite, and the old entry goes.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, realpathSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { onnx } from 'onnx-proto';
import { rewriteForOwnedKv } from './decodeGraph';
import type { DecodeGraphInfo, ModelDims } from './decodeGraph';
import { fuseDecodeOps } from './fusedOps';
import { quantizeMatMuls } from './int8Weights';
import type { Int8Summary } from './int8Weights';

/** Bump when the rewrite's output changes, so graphs cached by an older version are rebuilt. */
export const DECODE_GRAPH_VERSION = 10;
/** Initializers smaller than this stay inline: shape constants are not worth a file read each. */
const EXTERNAL_MIN_BYTES = 1024;
/** Entries kept at most (a few hundred KB each, an int8 one the size of its int8 weights): least recently used go first. */
export const MAX_DECODE_GRAPHS = 16;
export const MAX_DECODE_BYTES = 1024 ** 3;
const FOLDER = '.decode-graphs';

/** `int8`: the weight matrices quantised to MatMulNBits (int8Weights.ts), stored in the cached graph. */
export type DecodeWeights = 'float' | 'int8';

export interface PreparedDecodeGraph {
  /** The rewritten graph; its external data lies in `dataFolder` (the model file's folder). */
  bytes: Uint8Array;
  dataFolder: string;
  info: DecodeGraphInfo;
  int8?: Int8Summary;
  /** Whether this load rewrote the graph (false: the cached one was still valid). */
  rebuilt: boolean;
  /** The cached graph, or undefined when the cache folder could not hold it (the graph then lives in memory only). */
  file?: string;
}

interface Stamp {
  version: number;
  weights: DecodeWeights;
  /** Present (false) only on a graph left unfused (bench A/B timing); the product's graphs are fused. */
  fused?: false;
  source: string;
  sourceSize: number;
  sourceMtimeMs: number;
  info: DecodeGraphInfo;
  int8?: Int8Summary;
}

/** Where decode graphs of models loaded with this cache folder are kept (a hub id never starts with a dot). */
export function decodeGraphFolder(cacheDir: string): string {
  return join(cacheDir, FOLDER);
}

function identityOf(onnxFile: string, weights: DecodeWeights, fuse = true): Omit<Stamp, 'info' | 'int8'> {
  let source = resolve(onnxFile);
  try {
    source = realpathSync(source);
  } catch {
    // statSync below reports a missing file.
  }
  const stat = statSync(source);
  return { version: DECODE_GRAPH_VERSION, weights, ...(fuse ? {} : { fused: false as const }), source, sourceSize: stat.size, sourceMtimeMs: Math.floor(stat.mtimeMs) };
}

/** The cached graph of `onnxFile` as it is now (path, size, mtime) under this rewrite version. */
export function decodeGraphPath(cacheDir: string, onnxFile: string, weights: DecodeWeights = 'float'): string {
  return entryPath(cacheDir, identityOf(onnxFile, weights));
}

function entryPath(cacheDir: string, identity: Omit<Stamp, 'info' | 'int8'>): string {
  const key = createHash('sha256').update(JSON.stringify(identity)).digest('hex').slice(0, 24);
  return join(decodeGraphFolder(cacheDir), `${key}.onnx`);
}

function readStamp(file: string): Stamp | undefined {
  try {
    return JSON.parse(readFileSync(`${file}.json`, 'utf8')) as Stamp;
  } catch {
    return undefined;
  }
}

/** Reads a whole file into one Buffer; protobufjs then hands out `bytes` fields as views into it. */
function readWhole(file: string): Buffer {
  const size = statSync(file).size;
  const buffer = Buffer.allocUnsafe(size);
  const fd = openSync(file, 'r');
  try {
    let offset = 0;
    while (offset < size) {
      const read = readSync(fd, buffer, offset, size - offset, offset);
      if (read === 0) throw new Error(`${file} ended early`);
      offset += read;
    }
  } finally {
    closeSync(fd);
  }
  return buffer;
}

/** Points large inline initializers at their bytes in `source` instead of copying them. */
function externalise(model: onnx.IModelProto, bytes: Buffer, location: string): void {
  for (const tensor of model.graph?.initializer ?? []) {
    const raw = tensor.rawData;
    if (!raw || raw.byteLength < EXTERNAL_MIN_BYTES || raw.buffer !== bytes.buffer) continue;
    const offset = raw.byteOffset - bytes.byteOffset;
    tensor.rawData = null;
    tensor.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    tensor.externalData = [
      { key: 'location', value: location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(raw.byteLength) },
    ];
  }
}

/**
 * Gives each Gather its own initializer entry for an external weight that other nodes read too
 * (GPT-2's token embeddings: the input Gather and the tied output Gemm). Both entries point at
 * the same bytes of the model file, which onnxruntime maps once per entry; the Gemm's mapping is
 * released once its weights are prepacked, and the Gather's brings in only the rows looked up.
 * One shared entry kept the whole matrix resident beside its packed copy (≈ 154 MB for GPT-2).
 */
function separateGatherWeights(model: onnx.IModelProto): void {
  const graph = model.graph;
  if (!graph?.node || !graph.initializer) return;
  const external = new Map(graph.initializer.filter((t) => t.name && t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL).map((t) => [t.name as string, t]));
  for (const [name, tensor] of external) {
    const gathers = graph.node.filter((node) => node.opType === 'Gather' && node.input?.[0] === name);
    const others = graph.node.some((node) => node.opType !== 'Gather' && node.input?.includes(name));
    if (gathers.length === 0 || !others) continue;
    const copy = onnx.TensorProto.create({ ...tensor, name: `${name}.gather`, externalData: tensor.externalData?.map((entry) => ({ ...entry })) });
    graph.initializer.push(copy);
    for (const node of gathers) if (node.input) node.input[0] = copy.name;
  }
}

function readIfPresent(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch {
    return undefined;
  }
}

/** The stamp's mtime orders entries for pruning; a read-only cache folder just keeps its order. */
function markUsed(file: string): void {
  try {
    const now = new Date();
    utimesSync(file, now, now);
  } catch {
    // Nothing to keep in order where nothing is written.
  }
}

/** Removes the entry (its stamp first, so a reader never takes a stamp without its graph). */
function removeEntry(file: string): void {
  rmSync(`${file}.json`, { force: true });
  rmSync(file, { force: true });
}

/**
 * Bounds the folder: entries of a model file that has changed since (size or mtime) or is gone,
 * of another rewrite version, and beyond the MAX_DECODE_GRAPHS (or MAX_DECODE_BYTES) most recently used are removed,
 * as are graphs without a stamp and temporaries left by a killed process an hour on. Runs after a
 * rewrite only, so an unchanged model's load reads no directory.
 */
function pruneEntries(folder: string, kept: string): void {
  const names = readdirSync(folder);
  const entries = names
    .filter((name) => name.endsWith('.onnx.json'))
    .map((name) => join(folder, name.slice(0, -'.json'.length)))
    .filter((file) => file !== kept)
    .map((file) => ({ file, stamp: readStamp(file), stat: statSync(file, { throwIfNoEntry: false }), usedMs: statSync(`${file}.json`, { throwIfNoEntry: false })?.mtimeMs ?? 0 }));
  const live = entries.filter(({ file, stamp, stat }) => {
    const source = stamp && statSync(stamp.source, { throwIfNoEntry: false });
    const stale = !stamp || !stat || !source || stamp.version !== DECODE_GRAPH_VERSION || source.size !== stamp.sourceSize || Math.floor(source.mtimeMs) !== stamp.sourceMtimeMs;
    if (stale) removeEntry(file);
    return !stale;
  });
  live.sort((a, b) => b.usedMs - a.usedMs);
  let bytes = statSync(kept).size;
  live.forEach(({ file, stat }, index) => {
    bytes += stat?.size ?? 0;
    if (index + 1 >= MAX_DECODE_GRAPHS || bytes > MAX_DECODE_BYTES) removeEntry(file);
  });
  const anHourAgo = Date.now() - 3_600_000;
  for (const name of names) {
    const file = join(folder, name);
    const orphan = name.includes('.tmp-') || (name.endsWith('.onnx') && !names.includes(`${name}.json`));
    if (orphan && (statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? Infinity) < anHourAgo) rmSync(file, { force: true });
  }
}

/** Writes the entry (graph, then stamp) and prunes the folder; false when the cache folder cannot hold it. */
function storeEntry(file: string, encoded: Uint8Array, stamp: Stamp): boolean {
  const folder = dirname(file);
  const temporary = join(folder, `.${basename(file)}.tmp-${process.pid}-${Date.now()}`);
  try {
    mkdirSync(folder, { recursive: true });
    writeFileSync(temporary, encoded);
    renameSync(temporary, file);
    writeFileSync(`${file}.json`, `${JSON.stringify(stamp)}\n`);
    pruneEntries(folder, file);
    return true;
  } catch {
    // A read-only or full cache folder costs the rewrite at every load, not the decode path; a
    // failed prune (another process pruning at once) is retried by the next rewrite.
    return existsSync(`${file}.json`);
  } finally {
    try {
      rmSync(temporary, { force: true });
    } catch {
      // No folder to write in, so no temporary either.
    }
  }
}

/**
 * The decode graph for `onnxFile`: the cached one when an entry for the file as it is now
 * exists, else a fresh rewrite (cached when the folder allows). Throws UnrecognisedExport when
 * the export does not have the shape the rewrite needs. `fuse` false leaves out fusedOps.ts (for
 * timing the difference; cached under its own key).
 */
export function prepareDecodeGraph(onnxFile: string, dims: ModelDims, cacheDir: string, weights: DecodeWeights = 'float', fuse = true): PreparedDecodeGraph {
  const identity = identityOf(onnxFile, weights, fuse);
  const dataFolder = dirname(identity.source);
  const file = entryPath(cacheDir, identity);
  const cached = readStamp(file);
  if (cached && cached.source === identity.source) {
    // Absent when another process pruned it between the two reads: then it is rewritten.
    const bytes = readIfPresent(file);
    if (bytes) {
      markUsed(`${file}.json`);
      return { bytes, dataFolder, info: cached.info, int8: cached.int8, rebuilt: false, file };
    }
  }
  const bytes = readWhole(identity.source);
  const model = onnx.ModelProto.decode(bytes);
  // An empty file decodes as an empty model: it is no export at all, and the export path says so
  // in its own words (a notice that it "does not fit" would be a second, misleading line).
  if (!model.graph?.node?.length) throw new Error(`${identity.source} holds no ONNX graph`);
  const info = rewriteForOwnedKv(model, dims);
  if (fuse) fuseDecodeOps(model);
  const int8 = weights === 'int8' ? quantizeMatMuls(model) : undefined;
  externalise(model, bytes, basename(identity.source));
  separateGatherWeights(model);
  const encoded = onnx.ModelProto.encode(model).finish();
  const stored = storeEntry(file, encoded, { ...identity, info, int8 });
  return { bytes: encoded, dataFolder, info, int8, rebuilt: true, file: stored ? file : undefined };
}
