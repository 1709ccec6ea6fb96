// The notebook's normalisation across samples, on rows of different lengths (a sample that hit <|endoftext|> early).
import * as assert from 'node:assert/strict';
import { normalizeAcrossRows } from '../../src/core/generation';

describe('normalizeAcrossRows', () => {
  it('divides every step by the sum over the rows that reached it', () => {
    const normed = normalizeAcrossRows([
      [0.5, 0.2, 0.1],
      [0.25, 0.6],
      [0.25],
    ]);
    assert.deepEqual(normed[2], [0.25]);
    assert.ok(Math.abs((normed[0]?.[1] as number) - 0.25) < 1e-12);
    assert.ok(Math.abs((normed[1]?.[1] as number) - 0.75) < 1e-12);
    assert.equal(normed[0]?.[2], 1, 'the only row left at a step gets all of it');
    for (let step = 0; step < 3; step++) {
      const column = normed.reduce((sum, row) => sum + (row[step] ?? 0), 0);
      assert.ok(Math.abs(column - 1) < 1e-12, `step ${step}: ${column}`);
    }
  });

  it('splits evenly when every probability at a step underflowed to 0', () => {
    assert.deepEqual(normalizeAcrossRows([[0], [0]]), [[0.5], [0.5]]);
  });
});
