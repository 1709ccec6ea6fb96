// LineIndex maps offsets to positions exactly as VS Code's TextDocument does (CRLF, lone CR,
// surrogate pairs), checked against a naive reference on random text.
import assert from 'node:assert/strict';
import { seededRandom } from '../../src/core/distribution';
import { LineIndex, lineColumnToOffset, offsetToLineColumn } from '../../src/core/sentences';
import type { LinePosition } from '../../src/core/sentences';

const rng = seededRandom;
const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)];

/** Independent reference: split into lines first, then walk them. */
function naiveLines(text: string): Array<{ start: number; contentEnd: number; next: number }> {
  const lines: Array<{ start: number; contentEnd: number; next: number }> = [];
  let start = 0;
  for (const content of text.split(/\r\n|\r|\n/)) {
    const contentEnd = start + content.length;
    const breakLength = text.startsWith('\r\n', contentEnd) ? 2 : contentEnd < text.length ? 1 : 0;
    lines.push({ start, contentEnd, next: contentEnd + breakLength });
    start = contentEnd + breakLength;
  }
  return lines;
}

function naivePositionAt(text: string, offset: number): LinePosition {
  const lines = naiveLines(text);
  const o = Math.max(0, Math.min(offset, text.length));
  const line = lines.findIndex((l, i) => o < l.next || i === lines.length - 1);
  return { line, character: Math.min(o, lines[line].contentEnd) - lines[line].start };
}

describe('LineIndex', () => {
  it('matches VS Code on a known text', () => {
    const text = 'ab\r\ncd\ref\n\n😀g';
    const index = new LineIndex(text);
    assert.equal(index.lineCount, 5);
    assert.deepEqual(index.positionAt(0), { line: 0, character: 0 });
    assert.deepEqual(index.positionAt(3), { line: 0, character: 2 }); // between "\r" and "\n"
    assert.deepEqual(index.positionAt(4), { line: 1, character: 0 });
    assert.deepEqual(index.positionAt(7), { line: 2, character: 0 });
    assert.deepEqual(index.positionAt(10), { line: 3, character: 0 });
    assert.deepEqual(index.positionAt(13), { line: 4, character: 2 });
    assert.deepEqual(index.positionAt(99), { line: 4, character: 3 });
    assert.deepEqual(index.positionAt(-5), { line: 0, character: 0 });
    assert.equal(index.offsetAt({ line: 1, character: 1 }), 5);
    assert.equal(index.offsetAt({ line: 0, character: 99 }), 2);
    assert.equal(index.offsetAt({ line: 99, character: 0 }), text.length);
    assert.equal(index.offsetAt({ line: -1, character: 4 }), 0);
    assert.equal(index.offsetAt({ line: 2, character: -3 }), 7);
  });

  it('handles empty text and trailing line breaks', () => {
    assert.deepEqual(new LineIndex('').positionAt(0), { line: 0, character: 0 });
    assert.equal(new LineIndex('').offsetAt({ line: 3, character: 3 }), 0);
    const trailing = new LineIndex('a\r\n');
    assert.equal(trailing.lineCount, 2);
    assert.deepEqual(trailing.positionAt(3), { line: 1, character: 0 });
  });

  it('round-trips against a naive implementation on random mixed line breaks', () => {
    const random = rng(99);
    const pieces = ['a', 'bc', ' ', '\n', '\r', '\r\n', '\n\r', '😀', 'e\u0301', '\u2028', 'ש'];
    for (let round = 0; round < 200; round++) {
      let text = '';
      const n = Math.floor(random() * 60);
      for (let i = 0; i < n; i++) text += pick(random, pieces);
      const index = new LineIndex(text);
      const lines = naiveLines(text);
      assert.equal(index.lineCount, lines.length);
      for (let offset = -1; offset <= text.length + 1; offset++) {
        const pos = index.positionAt(offset);
        assert.deepEqual(pos, naivePositionAt(text, offset), `offset ${offset} in ${JSON.stringify(text)}`);
        const back = index.offsetAt(pos);
        const clamped = Math.max(0, Math.min(offset, text.length));
        const midCrlf = text[clamped - 1] === '\r' && text[clamped] === '\n';
        assert.equal(back, midCrlf ? clamped - 1 : clamped);
      }
      lines.forEach((line, i) => {
        for (let character = 0; character <= line.contentEnd - line.start; character++) {
          const offset = index.offsetAt({ line: i, character });
          assert.equal(offset, line.start + character);
          assert.deepEqual(index.positionAt(offset), { line: i, character });
        }
      });
    }
  });

  it('offers one-off helpers', () => {
    const text = 'one\r\ntwo\rthree';
    assert.deepEqual(offsetToLineColumn(text, 10), { line: 2, character: 1 });
    assert.equal(lineColumnToOffset(text, { line: 1, character: 2 }), 7);
  });
});
