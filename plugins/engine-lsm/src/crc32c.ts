// @hot-path
/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of the WAL, the
 * manifest and every SST block. Castagnoli rather than the zlib CRC-32 because it is the one
 * LevelDB, RocksDB and Pebble use, and it detects more error patterns at our record sizes
 * (RFC 3720, appendix B.4). Slicing-by-8 tables: eight lookups per 8 input bytes instead of
 * one per byte, with no allocation per call.
 */

const POLY = 0x82f63b78;
const T = new Int32Array(8 * 256);

for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
  T[n] = c;
}
for (let n = 0; n < 256; n++) {
  let c = T[n]!;
  for (let s = 1; s < 8; s++) {
    c = T[c & 0xff]! ^ (c >>> 8);
    T[s * 256 + n] = c;
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
/** Shortest run worth a word view (creating the view costs about as much as ~30 bytes). */
const WORDS_FROM = 128;

/** Continues a CRC over `data[start, end)`; pass the previous result as `crc` (0 to begin). */
export function crc32cUpdate(crc: number, data: Uint8Array, start = 0, end = data.length): number {
  let c = ~crc;
  let i = start;
  if (LITTLE_ENDIAN && end - i >= WORDS_FROM) {
    // Long runs: bytes up to a 4-byte boundary of the buffer, then two aligned 32-bit loads per
    // 8 bytes instead of eight byte loads (blocks and WAL appends are kilobytes).
    while (((data.byteOffset + i) & 3) !== 0) c = T[(c ^ data[i++]!) & 0xff]! ^ (c >>> 8);
    const pairs = (end - i) >>> 3;
    const w = new Int32Array(data.buffer, data.byteOffset + i, pairs * 2);
    for (let j = 0; j < pairs * 2; j += 2) {
      const lo = c ^ w[j]!;
      const hi = w[j + 1]!;
      c =
        T[7 * 256 + (lo & 0xff)]! ^
        T[6 * 256 + ((lo >>> 8) & 0xff)]! ^
        T[5 * 256 + ((lo >>> 16) & 0xff)]! ^
        T[4 * 256 + (lo >>> 24)]! ^
        T[3 * 256 + (hi & 0xff)]! ^
        T[2 * 256 + ((hi >>> 8) & 0xff)]! ^
        T[1 * 256 + ((hi >>> 16) & 0xff)]! ^
        T[hi >>> 24]!;
    }
    i += pairs * 8;
  }
  while (end - i >= 8) {
    const lo = c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
    c =
      T[7 * 256 + (lo & 0xff)]! ^
      T[6 * 256 + ((lo >>> 8) & 0xff)]! ^
      T[5 * 256 + ((lo >>> 16) & 0xff)]! ^
      T[4 * 256 + (lo >>> 24)]! ^
      T[3 * 256 + data[i + 4]!]! ^
      T[2 * 256 + data[i + 5]!]! ^
      T[1 * 256 + data[i + 6]!]! ^
      T[data[i + 7]!]!;
    i += 8;
  }
  while (i < end) c = T[(c ^ data[i++]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** CRC-32C of `data[start, end)` as an unsigned 32-bit number. */
export function crc32c(data: Uint8Array, start = 0, end = data.length): number {
  return crc32cUpdate(0, data, start, end);
}

/**
 * Stored checksums are masked (LevelDB's trick): the CRC of data that itself embeds CRCs is
 * otherwise prone to degenerate values. Rotate right 15 and add a constant.
 */
export function maskCrc(crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

export function unmaskCrc(masked: number): number {
  const rot = (masked - 0xa282ead8) >>> 0;
  return ((rot >>> 17) | (rot << 15)) >>> 0;
}
