// Opens the owned-KV decode path for a model file, or says in one line why not: a model that
// loads today must keep loading, so every failure here falls back to the export's own graph.
import { existsSync, readFileSync } from 'node:fs';
import type * as ort from 'onnxruntime-node';
import type { ModelConfig } from '../modelSource';
import { prepareDecodeGraph } from './decodeFile';
import type { DecodeWeights } from './decodeFile';
import { UnrecognisedExport } from './decodeGraph';
import { DecodeSession } from './decodeSession';

/** `cacheDir`: LM Lens's cache folder, which holds the rewritten graphs (see decodeFile.ts). */
export async function openDecodePath(
  onnxFile: string | undefined,
  config: ModelConfig,
  sessionOptions: ort.InferenceSession.SessionOptions,
  log: (line: string) => void,
  cacheDir: string,
  weights: DecodeWeights = 'float',
): Promise<DecodeSession | undefined> {
  if (!onnxFile || !existsSync(onnxFile)) {
    // Hub files are downloaded before this, so only an unusual cache layout gets here.
    log(`LM Lens: ${onnxFile ?? 'the model file'} is not where the owned-KV decode path looks for it; using the export's graph.`);
    return undefined;
  }
  try {
    const prepare = (): ReturnType<typeof prepareDecodeGraph> => prepareDecodeGraph(onnxFile, { contextSize: config.contextSize, hiddenSize: config.hiddenSize, vocabSize: config.vocabSize, headDim: config.headDim, heads: config.heads, kvHeads: config.kvHeads }, cacheDir, weights);
    const prepared = prepare();
    const shape = { layers: prepared.info.layers, heads: config.kvHeads, headDim: config.headDim, contextSize: config.contextSize, hiddenSize: config.hiddenSize };
    if (shape.layers !== config.layers) throw new Error(`the graph has ${shape.layers} layers of KV cache, config.json says ${config.layers}`);
    return await DecodeSession.create(prepared.bytes, prepared.dataFolder, shape, { ...prepared.info, int8: prepared.int8 }, { ...sessionOptions, executionProviders: ['cpu'] }, graphReloader(prepared, prepare));
  } catch (error) {
    // A file that does not parse is reported by the export path, in its own words: no second line for it here.
    const explained = error instanceof UnrecognisedExport || (error instanceof Error && 'code' in error);
    if (explained) log(`LM Lens: ${onnxFile} does not fit the owned-KV decode path (${error.message}); using the export's graph.`);
    return undefined;
  }
}

/** The graph's bytes for a later lens session: re-read from the cache file, so the session does not hold them (an int8 graph carries its weights inline). */
function graphReloader(prepared: { file?: string; bytes: Uint8Array }, prepare: () => { bytes: Uint8Array }): () => Uint8Array {
  // Two functions, so the file's reader does not share a closure context that keeps the bytes alive.
  return prepared.file ? rereader(prepared.file, prepare) : keeper(prepared.bytes);
}

/**
 * The cache file, or the graph rewritten again when it is gone: the cache is bounded and shared
 * with other LM Lens processes (another version prunes entries not its own), so a file read at
 * load time may be deleted before the first lens request (that was "ENOENT … .decode-graphs").
 */
const rereader = (file: string, prepare: () => { bytes: Uint8Array }) => (): Uint8Array => {
  try {
    return readFileSync(file);
  } catch {
    return prepare().bytes;
  }
};
const keeper = (bytes: Uint8Array) => (): Uint8Array => bytes;
