// The lens graph on disk, beside the decode graph it is made from: its large initializers stay
// external data with the same relative locations, so it must live in the same folder. It is
// rewritten each time a lens session opens (the decode graph is a few hundred KB of nodes), so
// it can never be stale.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { onnx } from 'onnx-proto';
import { addLensOutputs } from './lensGraph';

export function lensGraphPath(decodeFile: string): string {
  return `${decodeFile.replace(/\.onnx$/u, '')}.lens.onnx`;
}

/** Writes the lens graph for `decodeFile` and returns its path; throws UnrecognisedExport when a role is not found. */
export function writeLensGraph(decodeFile: string, layers: number, hiddenSize: number): string {
  const model = onnx.ModelProto.decode(readFileSync(decodeFile));
  addLensOutputs(model, layers, hiddenSize);
  const file = lensGraphPath(decodeFile);
  const temporary = join(dirname(file), `.${basename(file)}.tmp-${process.pid}-${Date.now()}`);
  try {
    writeFileSync(temporary, onnx.ModelProto.encode(model).finish());
    renameSync(temporary, file);
  } finally {
    rmSync(temporary, { force: true });
  }
  return file;
}
