/**
 * The memcomparable byte-string encoding ("encode_bytes", FORMATS.md section 1): 8-byte groups,
 * each followed by a marker, so that byte order of encodings equals byte order of raw strings and
 * no encoding is a prefix of another.
 */
import { CorruptedError } from '../errors.js';
import { CHUNK_SIZE, GROUP_MARKER, GROUP_SIZE, assertBytes, assertRoom, encodedLength, writeEncodedBytes } from './encode-into.js';
import type { EncodedKey, RawKey } from './types.js';

export { encodedLength } from './encode-into.js';

/** `encode_bytes` ascending; this is `Key::from_raw`. */
export function encodeBytes(raw: Uint8Array): EncodedKey {
  assertBytes('raw', raw);
  const out = new Uint8Array(encodedLength(raw.length));
  writeEncodedBytes(out, 0, raw);
  return out as EncodedKey;
}

/**
 * `encode_bytes` into `out` at `at` (which needs `encodedLength(raw.length)` bytes); returns the end
 * offset. Padding is written, so `out` may be a reused buffer.
 */
export function encodeBytesInto(raw: Uint8Array, out: Uint8Array, at: number): number {
  assertBytes('raw', raw);
  assertRoom(out, at, encodedLength(raw.length));
  return writeEncodedBytes(out, at, raw);
}

/** `encode_bytes_desc`: the bitwise NOT of every byte of the ascending encoding, markers included. */
export function encodeBytesDesc(raw: Uint8Array): Uint8Array {
  assertBytes('raw', raw);
  const out = new Uint8Array(encodedLength(raw.length));
  writeEncodedBytes(out, 0, raw);
  for (let i = 0; i < out.length; i++) out[i] = ~out[i]! & 0xff;
  return out;
}

function corrupt(reason: 'EOF' | 'KeyPadding', problem: string, offset: number): never {
  throw new CorruptedError(`decodeBytes: ${problem} at offset ${offset} (${reason})`, { reason, offset });
}

/**
 * `decode_bytes(data, desc)` (FORMATS.md 1.3). Returns the raw bytes (a new array) and `rest`, a view
 * of whatever follows the final group (usually the 8-byte timestamp), which is not inspected.
 * Fails with CorruptedError, `details.reason` 'EOF' (a chunk shorter than 9 bytes before the final
 * group) or 'KeyPadding' (a marker meaning pad > 8, or a padding byte that is not the pad byte).
 */
export function decodeBytes(encoded: Uint8Array, desc = false): { raw: RawKey; rest: Uint8Array } {
  assertBytes('encoded', encoded);
  const len = encoded.length;
  const padByte = desc ? 0xff : 0x00;
  // First pass reads only markers and the final group's padding, so the output is allocated
  // once at its exact size.
  let at = 0;
  let pad: number;
  for (;;) {
    if (len - at < CHUNK_SIZE) corrupt('EOF', `need a ${CHUNK_SIZE}-byte group, ${len - at} bytes left`, at);
    const marker = encoded[at + GROUP_SIZE]!;
    pad = desc ? marker : GROUP_MARKER - marker;
    if (pad === 0) {
      at += CHUNK_SIZE;
      continue;
    }
    if (pad > GROUP_SIZE) corrupt('KeyPadding', `invalid group marker 0x${marker.toString(16).padStart(2, '0')}`, at + GROUP_SIZE);
    for (let j = GROUP_SIZE - pad; j < GROUP_SIZE; j++) {
      if (encoded[at + j] !== padByte) {
        corrupt('KeyPadding', `padding byte is 0x${encoded[at + j]!.toString(16).padStart(2, '0')}, expected 0x${padByte.toString(16).padStart(2, '0')}`, at + j);
      }
    }
    break;
  }
  const fullGroups = at / CHUNK_SIZE;
  const raw = new Uint8Array(fullGroups * GROUP_SIZE + GROUP_SIZE - pad);
  let o = 0;
  for (let g = 0; g < fullGroups; g++) {
    const base = g * CHUNK_SIZE;
    for (let j = 0; j < GROUP_SIZE; j++) raw[o++] = encoded[base + j]!;
  }
  for (let j = 0; j < GROUP_SIZE - pad; j++) raw[o++] = encoded[at + j]!;
  if (desc) for (let i = 0; i < raw.length; i++) raw[i] = ~raw[i]! & 0xff;
  return { raw: raw as RawKey, rest: encoded.subarray(at + CHUNK_SIZE) };
}

/**
 * `is_encoded_from`: true iff `encoded` is exactly the ascending encoding of `raw` (length a
 * multiple of 9, same group count, every group and marker equal). Allocates nothing.
 */
export function isEncodedFrom(encoded: Uint8Array, raw: Uint8Array): boolean {
  assertBytes('encoded', encoded);
  assertBytes('raw', raw);
  if (encoded.length !== encodedLength(raw.length)) return false;
  const n = raw.length;
  let at = 0;
  for (let i = 0; i <= n; i += GROUP_SIZE) {
    const r = Math.min(GROUP_SIZE, n - i);
    for (let j = 0; j < GROUP_SIZE; j++) {
      if (encoded[at + j] !== (j < r ? raw[i + j] : 0)) return false;
    }
    // Every group but the last is full; the last always exists and has fewer than 8 real bytes.
    const marker = i + GROUP_SIZE <= n ? GROUP_MARKER : GROUP_MARKER - (GROUP_SIZE - r);
    if (encoded[at + GROUP_SIZE] !== marker) return false;
    at += CHUNK_SIZE;
  }
  return true;
}
