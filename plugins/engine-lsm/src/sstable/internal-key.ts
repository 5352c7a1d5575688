// @hot-path
import { KEY_TRAILER } from './format.js';

/** Writes the 8-byte trailer (kind, then the sequence number as 7 little-endian bytes). */
export function putTrailer(buf: Uint8Array, at: number, seq: number, kind: number): void {
  buf[at] = kind;
  let lo = seq >>> 0;
  let hi = Math.floor(seq / 0x100000000);
  buf[at + 1] = lo & 0xff;
  buf[at + 2] = (lo >>>= 8) & 0xff;
  buf[at + 3] = (lo >>>= 8) & 0xff;
  buf[at + 4] = (lo >>> 8) & 0xff;
  buf[at + 5] = hi & 0xff;
  buf[at + 6] = (hi >>>= 8) & 0xff;
  buf[at + 7] = (hi >>> 8) & 0xff;
}

export function trailerSeq(buf: Uint8Array, keyEnd: number): number {
  const at = keyEnd - KEY_TRAILER;
  const lo = (buf[at + 1]! | (buf[at + 2]! << 8) | (buf[at + 3]! << 16) | (buf[at + 4]! << 24)) >>> 0;
  const hi = buf[at + 5]! | (buf[at + 6]! << 8) | (buf[at + 7]! << 16);
  return hi * 0x100000000 + lo;
}

export function trailerKind(buf: Uint8Array, keyEnd: number): number {
  return buf[keyEnd - KEY_TRAILER]!;
}

/**
 * Compares the encoded internal key buf[0, len) with (pk, seq) in internal order without
 * allocating: user part bytewise, then sequence number descending.
 */
export function compareEncoded(buf: Uint8Array, len: number, pk: Uint8Array, seq: number): number {
  return compareEncodedAt(buf, 0, len, pk, seq);
}

/** compareEncoded for a key stored at buf[start, start + len). */
export function compareEncodedAt(buf: Uint8Array, start: number, len: number, pk: Uint8Array, seq: number): number {
  const ulen = len - KEY_TRAILER;
  const n = ulen < pk.length ? ulen : pk.length;
  for (let i = 0; i < n; i++) {
    const d = buf[start + i]! - pk[i]!;
    if (d !== 0) return d;
  }
  if (ulen !== pk.length) return ulen - pk.length;
  return seq - trailerSeq(buf, start + len);
}
