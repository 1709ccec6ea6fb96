// Decode steps near the end of the window (src/core/local/decodeSession.ts): a prefill that ends
// within one step of the window leaves free slots, so the one-token steps after it append in
// place instead of compacting the whole KV buffer into a new one at every step (a 74 MB copy per
// step at past 1,000 for GPT-2's 124M shape), and still give the export graph's logits.
import * as assert from 'node:assert/strict';
import { loadEngine } from '../../src/core/engine';
import type { Engine } from '../../src/core/engine';
import type { KvState } from '../../src/core/model';
import { ensureTestModel } from '../support/testModel';

const WINDOW = 64;
const IDS = Array.from({ length: 62 }, (_, i) => 1000 + ((i * 37) % 500));

describe('owned-KV decode steps at the end of the window', function () {
  let owned: Engine;
  let exported: Engine;

  before(async () => {
    const folder = await ensureTestModel({ layers: 3, dim: 48, heads: 3, contextSize: WINDOW, seed: 2 });
    owned = await loadEngine({ model: folder, allowDownloads: false, threads: 1 });
    exported = await loadEngine({ model: folder, allowDownloads: false, threads: 1, decodePath: 'export' });
  });
  after(async () => {
    await owned?.dispose();
    await exported?.dispose();
  });

  it('one-token steps after a 60-token prefill append to its buffer, with the export graph’s logits', async () => {
    const prefill = IDS.slice(0, 60);
    let mine = await owned.forward([prefill], undefined);
    let theirs = await exported.forward([prefill], undefined);
    const buffer = mine.present.owned?.buffer;
    assert.ok(buffer, 'the owned-KV path holds its own buffer');
    assert.ok(buffer.capacity > 60 && buffer.capacity < WINDOW, `capacity ${buffer.capacity}: free slots, and room for one new token in the window`);
    for (const id of IDS.slice(60)) {
      const before: KvState = mine.present;
      mine = await owned.forward([[id]], before);
      theirs = await exported.forward([[id]], theirs.present);
      assert.equal(mine.present.owned?.buffer, buffer, 'appended in place');
      const worst = mine.logits.reduce((max, v, i) => Math.max(max, Math.abs(v - (theirs.logits[i] as number))), 0);
      assert.ok(worst < 1e-4, `max |Δ| ${worst}`);
    }
  });
});
