// The ways a model.onnx is broken that a user meets (an interrupted copy, a file of another kind),
// and an export the owned-KV rewrite does not recognise; shared by the engine's fault tests, the
// decode path's and the CLI's one-line contract tests.
import { readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { onnx } from 'onnx-proto';

/** Deterministic bytes that are no protobuf message (an LCG's high bytes). */
export function seededBytes(length: number, seed: number): Buffer {
  const bytes = Buffer.alloc(length);
  let state = seed;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    bytes[i] = state >>> 24;
  }
  return bytes;
}

export const BROKEN_ONNX: ReadonlyArray<readonly [name: string, breakIt: (file: string) => void]> = [
  ['zero-byte', (file) => writeFileSync(file, '')],
  ['random-bytes', (file) => writeFileSync(file, seededBytes(4096, 7))],
  ['truncated', (file) => truncateSync(file, Math.floor(statSync(file).size / 2))],
];

/**
 * Rewrites a test model's export so that it still runs but no longer has the pattern the owned-KV
 * rewrite recognises: present.0.key comes from an Identity after the Concat.
 */
export function unrecognisedExport(file: string): void {
  const model = onnx.ModelProto.decode(readFileSync(file));
  const concat = model.graph?.node?.find((node) => node.output?.[0] === 'present.0.key');
  if (!concat) throw new Error(`${file} has no node writing present.0.key`);
  concat.output = ['concat_before_identity'];
  model.graph?.node?.push({ opType: 'Identity', input: ['concat_before_identity'], output: ['present.0.key'] });
  writeFileSync(file, onnx.ModelProto.encode(model).finish());
}
