// Writes the PWA icons (PNG) with node:zlib only: a rounded speech bubble on
// the brand colour. Run once; the PNGs are committed. `npx tsx scripts/make-icons.mjs`
import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (buf) => {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};
const chunk = (type, data) => {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
};

function png(size, pixel) {
  const raw = Buffer.alloc((size * 4 + 1) * size);
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0;
    for (let x = 0; x < size; x++) {
      const [r, g, b, a] = pixel(x / size, y / size);
      const o = y * (size * 4 + 1) + 1 + x * 4;
      raw[o] = r;
      raw[o + 1] = g;
      raw[o + 2] = b;
      raw[o + 3] = a;
    }
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8;
  header[9] = 6;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const BRAND = [31, 95, 209, 255];
const WHITE = [255, 255, 255, 255];
const CLEAR = [0, 0, 0, 0];

/** A speech bubble inside a box of `inset` margin; `full` fills the whole square (maskable safe zone). */
function icon(inset, full) {
  return (u, v) => {
    const inRoundedSquare = (() => {
      const r = 0.18;
      const x = Math.min(u, 1 - u);
      const y = Math.min(v, 1 - v);
      if (x >= r || y >= r) return true;
      return (x - r) ** 2 + (y - r) ** 2 <= r * r;
    })();
    if (!full && !inRoundedSquare) return CLEAR;
    const s = 1 - 2 * inset;
    const x = (u - inset) / s;
    const y = (v - inset) / s;
    const inBubble = ((x - 0.5) / 0.36) ** 2 + ((y - 0.45) / 0.28) ** 2 <= 1;
    const inTail = y > 0.6 && y < 0.82 && x > 0.3 && x < 0.45 && x - 0.3 > (y - 0.6) * 0.6;
    const dots = [0.36, 0.5, 0.64].some((cx) => (x - cx) ** 2 + (y - 0.45) ** 2 < 0.045 ** 2);
    if (dots) return BRAND;
    if (inBubble || inTail) return WHITE;
    return BRAND;
  };
}

writeFileSync('public/icons/icon-192.png', png(192, icon(0.12, false)));
writeFileSync('public/icons/icon-512.png', png(512, icon(0.12, false)));
writeFileSync('public/icons/maskable-512.png', png(512, icon(0.22, true)));
console.log('icons written');
