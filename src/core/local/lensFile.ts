// The lens graph, made in memory from the decode graph's bytes: its large initializers stay
// external data with the same relative locations, so the session opens with the decode graph's
// data folder and nothing is written to disk. It is made each time a lens session opens (the
// decode graph is a few hundred KB of nodes), so it can never be stale.
import { onnx } from 'onnx-proto';
import { unfuseSkipLayerNorm } from './fusedOps';
import { addLensOutputs } from './lensGraph';

/** The lens graph for a decode graph; throws UnrecognisedExport when a role is not found. */
export function lensGraphBytes(decodeGraph: Uint8Array, layers: number, hiddenSize: number): Uint8Array {
  const model = onnx.ModelProto.decode(decodeGraph);
  // The lens finds the residual stream as what each LayerNormalization reads.
  unfuseSkipLayerNorm(model);
  addLensOutputs(model, layers, hiddenSize);
  return onnx.ModelProto.encode(model).finish();
}
