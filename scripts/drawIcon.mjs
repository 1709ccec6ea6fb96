// node scripts/drawIcon.mjs → media/icon.png (256×256, the Marketplace and Open VSX icon).
// A lens over a next-token distribution: bars falling off like a language model's top-k. Drawn
// from shapes (4×4 supersampled) and written as a PNG with zlib, so no image tool is needed.
import { Buffer } from 'node:buffer';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

const SIZE = 256;
const SAMPLES = 4;
const hex = (value) => [1, 3, 5].map((i) => parseInt(value.slice(i, i + 2), 16));
const BACKGROUND = hex('#1b2a41');
const LENS = hex('#e8eef7');
const BARS = ['#4ec9b0', '#4fa3e0', '#8d7cf0', '#c586c0', '#d7a64a'].map(hex);

/** Rounded square of the background: inside when the distance to the inner rectangle is ≤ radius. */
const inRoundedSquare = (x, y, margin, radius) => {
  const dx = Math.max(margin + radius - x, 0, x - (SIZE - margin - radius));
  const dy = Math.max(margin + radius - y, 0, y - (SIZE - margin - radius));
  return dx * dx + dy * dy <= radius * radius;
};
const lens = { x: 112, y: 110, r: 74, ring: 13 };
const bars = [0.92, 0.58, 0.38, 0.24, 0.15].map((height, i) => ({ x0: 66 + i * 19, x1: 66 + i * 19 + 14, top: 160 - height * 90 }));

/** The colour at a point, or undefined outside the icon (transparent). */
function colour(x, y) {
  if (!inRoundedSquare(x, y, 8, 44)) return undefined;
  const d = Math.hypot(x - lens.x, y - lens.y);
  if (Math.abs(d - lens.r) <= lens.ring / 2) return LENS;
  // The handle: a thick segment from the ring towards the lower right.
  const [ax, ay, bx, by] = [lens.x + 0.72 * lens.r, lens.y + 0.72 * lens.r, 214, 212];
  const t = Math.max(0, Math.min(1, ((x - ax) * (bx - ax) + (y - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2)));
  if (Math.hypot(x - (ax + t * (bx - ax)), y - (ay + t * (by - ay))) <= 12) return LENS;
  if (d < lens.r - lens.ring / 2) {
    const bar = bars.findIndex((b) => x >= b.x0 && x < b.x1 && y >= b.top && y <= 160);
    if (bar !== -1) return BARS[bar];
  }
  return BACKGROUND;
}

const pixels = Buffer.alloc(SIZE * (SIZE * 4 + 1));
for (let y = 0; y < SIZE; y++) {
  pixels[y * (SIZE * 4 + 1)] = 0; // filter: none
  for (let x = 0; x < SIZE; x++) {
    const sum = [0, 0, 0, 0];
    for (let sy = 0; sy < SAMPLES; sy++) {
      for (let sx = 0; sx < SAMPLES; sx++) {
        const c = colour(x + (sx + 0.5) / SAMPLES, y + (sy + 0.5) / SAMPLES);
        if (!c) continue;
        sum[0] += c[0];
        sum[1] += c[1];
        sum[2] += c[2];
        sum[3] += 255;
      }
    }
    const covered = sum[3] / 255;
    const at = y * (SIZE * 4 + 1) + 1 + x * 4;
    // Straight (not premultiplied) alpha, as PNG stores it.
    for (let i = 0; i < 3; i++) pixels[at + i] = covered ? Math.round(sum[i] / covered) : 0;
    pixels[at + 3] = Math.round(sum[3] / SAMPLES / SAMPLES);
  }
}

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (buffer) => {
  let c = 0xffffffff;
  for (const byte of buffer) c = crcTable[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};
const chunk = (type, data) => {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
};
const header = Buffer.alloc(13);
header.writeUInt32BE(SIZE, 0);
header.writeUInt32BE(SIZE, 4);
header[8] = 8; // bit depth
header[9] = 6; // RGBA
const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', header), chunk('IDAT', deflateSync(pixels, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'media', 'icon.png');
writeFileSync(out, png);
console.log(`wrote ${out} (${png.length} bytes)`);
