// @hot-path
/**
 * A whole-table Bloom filter over prefixed user keys: `bitsPerKey` bits per key, k = round(
 * bitsPerKey * ln 2) probes by double hashing (Kirsch and Mitzenmacher) from one 32-bit hash,
 * as LevelDB's filter does. 10 bits per key gives about 1% false positives.
 * Encoding: bit array | k u8.
 */
export function bloomHash(key: Uint8Array): number {
  return bloomHashAt(key, 0, key.length);
}

/** bloomHash of the key at buf[o, o + len), without a view of it. */
export function bloomHashAt(buf: Uint8Array, o: number, len: number): number {
  // Murmur-style mixing; any well-mixed 32-bit hash works, but it is part of the format.
  let h = 0x9747b28c ^ len;
  let i = o;
  const end = o + len;
  for (; i + 4 <= end; i += 4) {
    let k = buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const rest = len & 3;
  if (rest > 0) {
    let k = buf[i]!;
    if (rest > 1) k ^= buf[i + 1]! << 8;
    if (rest > 2) k ^= buf[i + 2]! << 16;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function buildBloom(hashes: Uint32Array, count: number, bitsPerKey: number): Uint8Array {
  const k = Math.max(1, Math.min(30, Math.round(bitsPerKey * 0.69)));
  let bits = Math.max(64, count * bitsPerKey);
  const bytes = Math.ceil(bits / 8);
  bits = bytes * 8;
  const out = new Uint8Array(bytes + 1);
  for (let i = 0; i < count; i++) {
    let h = hashes[i]!;
    const delta = ((h >>> 17) | (h << 15)) >>> 0;
    for (let j = 0; j < k; j++) {
      const pos = h % bits;
      out[pos >>> 3]! |= 1 << (pos & 7);
      h = (h + delta) >>> 0;
    }
  }
  out[bytes] = k;
  return out;
}

/** False means the key is certainly absent; true means it may be present. */
export function bloomMayContain(filter: Uint8Array, hash: number): boolean {
  const bytes = filter.length - 1;
  if (bytes <= 0) return true;
  const k = filter[bytes]!;
  const bits = bytes * 8;
  let h = hash;
  const delta = ((h >>> 17) | (h << 15)) >>> 0;
  for (let j = 0; j < k; j++) {
    const pos = h % bits;
    if ((filter[pos >>> 3]! & (1 << (pos & 7))) === 0) return false;
    h = (h + delta) >>> 0;
  }
  return true;
}
