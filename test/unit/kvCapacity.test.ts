// A context that ends near the window's end leaves its KV buffer room for the single-token steps
// after it: a step then appends in place instead of copying the whole cache into a new buffer
// (which made every decode step at past 1,000 of a 1,024 window 2-4× slower), and its logits
// still equal the export's own graph.
import * as assert from 'node:assert/strict';
import { loadEngine } from '../../src/core/engine';
import type { Engine } from '../../src/core/engine';
import { ensureTestModel } from '../support/testModel';

const TOLERANCE = 1e-4;
const WINDOW = 64;
const IDS = [44484, 373, 3726, 284, 651, 845, 10032, 286, 5586, 416, 607, 6621, 319, 262, 3331, 11, 290];
/** A prompt a few tokens short of the window, so its one prefill chunk takes the near-the-end path. */
const PROMPT = Array.from({ length: WINDOW - 4 }, (_, i) => IDS[i % IDS.length] as number);

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}

describe('KV buffer near the end of the window', function () {
  let owned: Engine;
  let exported: Engine;

  before(async () => {
    const folder = await ensureTestModel({ layers: 3, dim: 48, heads: 3, contextSize: WINDOW, seed: 2, numLogitsToKeep: true });
    owned = await loadEngine({ model: folder, allowDownloads: false, threads: 1 });
    exported = await loadEngine({ model: folder, allowDownloads: false, threads: 1, decodePath: 'export' });
  });
  after(async () => {
    await owned?.dispose();
    await exported?.dispose();
  });

  it('decode steps after a prompt that nearly fills the window append in place, with the export graph’s logits', async () => {
    const prompt = await owned.run(PROMPT, { noCache: true });
    const buffer = prompt.kv.owned?.buffer;
    assert.ok(buffer, 'the owned-KV path holds the prompt');
    assert.ok(buffer.capacity > PROMPT.length, `capacity ${buffer.capacity} leaves no slot after ${PROMPT.length} positions`);
    let past = prompt.kv;
    const ids = [...PROMPT];
    for (let step = 0; step < WINDOW - 1 - PROMPT.length; step++) {
      const next = IDS[step] as number;
      const result = await owned.forward([[next]], past, { logitsToKeep: 1 });
      assert.equal(result.present.owned?.buffer, buffer, `step ${step} copied the cache into a new buffer`);
      ids.push(next);
      const reference = await exported.forward([ids], undefined);
      const vocab = result.logits.length;
      assert.ok(maxDiff(result.logits, reference.logits.subarray(reference.logits.length - vocab)) < TOLERANCE, `step ${step}`);
      past = result.present;
    }
  });
});
