// @hot-path
/**
 * Allocation-free writers behind every codec encoder (FORMATS.md sections 1.1, 2 and 3).
 * Each writes into a caller-supplied buffer at `at` and returns the offset after what it wrote,
 * so a caller computes the total size first and fills one Uint8Array. Nothing here allocates
 * except to throw: bigints are split into two uint32 halves through a module-level DataView
 * instead of bigint arithmetic (every `>>` or `&` on a bigint allocates a new bigint).
 */
import { InvalidArgumentError } from '../errors.js';

export const U64_MAX = 0xffff_ffff_ffff_ffffn;

/** Full-group marker of the ascending encoding; final markers are 0xFF - pad (FORMATS.md 1.1). */
export const GROUP_MARKER = 0xff;
export const GROUP_SIZE = 8;
/** Group bytes plus marker. */
export const CHUNK_SIZE = 9;

// One scratch word for the whole module: JS is single-threaded and none of these functions
// re-enter, so the word is free again when each returns. DataView is big-endian by default,
// which is exactly the on-disk byte order, so no endianness branch is needed.
const scratchView = new DataView(new ArrayBuffer(8));

export function assertBytes(what: string, v: unknown): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array, got ${v === null ? 'null' : typeof v}`);
}

export function assertBoolean(field: string, v: boolean): void {
  if (typeof v !== 'boolean') throw new TypeError(`${field} must be a boolean, got ${typeof v}`);
}

/** Throws unless `out` is a Uint8Array with `n` bytes from `at` (a caller's buffer for an `*Into` writer). */
export function assertRoom(out: Uint8Array, at: number, n: number): void {
  assertBytes('out', out);
  if (!Number.isInteger(at) || at < 0 || at + n > out.length) {
    throw new RangeError(`need ${n} bytes at offset ${at} of a ${out.length}-byte buffer`);
  }
}

/** Throws unless `v` is a bigint in [0, 2^64). Never truncates (FORMATS.md section 7 item 5). */
export function assertU64(field: string, v: bigint): void {
  if (typeof v !== 'bigint') throw new TypeError(`${field} must be a bigint, got ${typeof v}`);
  if (v < 0n || v > U64_MAX) throw new InvalidArgumentError(`${field} out of u64 range: ${v}`, { field });
}

/** `max_encoded_bytes_size`: (floor(n/8) + 1) * 9. */
export function encodedLength(rawLength: number): number {
  return (Math.floor(rawLength / GROUP_SIZE) + 1) * CHUNK_SIZE;
}

/**
 * Ascending memcomparable encoding of `raw` into `out` at `at`; `out` needs `encodedLength(raw.length)`
 * bytes from `at` (unchecked). Padding is written explicitly because `out` may be a reused buffer.
 */
export function writeEncodedBytes(out: Uint8Array, at: number, raw: Uint8Array): number {
  const n = raw.length;
  const full = n - (n % GROUP_SIZE);
  let i = 0;
  while (i < full) {
    out[at] = raw[i]!;
    out[at + 1] = raw[i + 1]!;
    out[at + 2] = raw[i + 2]!;
    out[at + 3] = raw[i + 3]!;
    out[at + 4] = raw[i + 4]!;
    out[at + 5] = raw[i + 5]!;
    out[at + 6] = raw[i + 6]!;
    out[at + 7] = raw[i + 7]!;
    out[at + 8] = GROUP_MARKER;
    at += CHUNK_SIZE;
    i += GROUP_SIZE;
  }
  const r = n - full;
  for (let j = 0; j < r; j++) out[at + j] = raw[full + j]!;
  for (let j = r; j < GROUP_SIZE; j++) out[at + j] = 0;
  out[at + GROUP_SIZE] = GROUP_MARKER - (GROUP_SIZE - r);
  return at + CHUNK_SIZE;
}

/** Writes the 32-bit `word` big-endian at `at`. */
function writeU32(out: Uint8Array, at: number, word: number): void {
  out[at] = word >>> 24;
  out[at + 1] = word >>> 16;
  out[at + 2] = word >>> 8;
  out[at + 3] = word;
}

/** `encode_u64`: 8 bytes big-endian. `v` must already be checked with assertU64. */
export function writeU64(out: Uint8Array, at: number, v: bigint): number {
  scratchView.setBigUint64(0, v);
  writeU32(out, at, scratchView.getUint32(0));
  writeU32(out, at + 4, scratchView.getUint32(4));
  return at + 8;
}

/** `encode_u64_desc`: big-endian of !v, the timestamp suffix of a key (FORMATS.md section 3). */
export function writeU64Desc(out: Uint8Array, at: number, v: bigint): number {
  scratchView.setBigUint64(0, v);
  writeU32(out, at, ~scratchView.getUint32(0));
  writeU32(out, at + 4, ~scratchView.getUint32(4));
  return at + 8;
}

/** LEB128 length of a safe non-negative integer (at most 8 bytes below 2^53). */
export function varU64LengthNumber(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
}

/** LEB128 length of a u64: 1 to 10 bytes. */
export function varU64Length(v: bigint): number {
  if (v <= 0x1f_ffff_ffff_ffffn) return varU64LengthNumber(Number(v));
  if (v < 0x100_0000_0000_0000n) return 8;
  if (v < 0x8000_0000_0000_0000n) return 9;
  return 10;
}

/** `encode_var_u64` of a safe non-negative integer (lengths, counts). */
export function writeVarU64Number(out: Uint8Array, at: number, v: number): number {
  while (v >= 0x80) {
    // `v & 0x7f` is exact for any integer below 2^53: ToInt32 keeps the low 32 bits.
    out[at++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 0x80);
  }
  out[at++] = v;
  return at;
}

/** `encode_var_u64` of a u64 already checked with assertU64. */
export function writeVarU64(out: Uint8Array, at: number, v: bigint): number {
  if (v <= 0x1f_ffff_ffff_ffffn) return writeVarU64Number(out, at, Number(v));
  scratchView.setBigUint64(0, v);
  let hi = scratchView.getUint32(0);
  let lo = scratchView.getUint32(4);
  while (hi !== 0 || lo >= 0x80) {
    out[at++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | ((hi & 0x7f) << 25)) >>> 0;
    hi >>>= 7;
  }
  out[at++] = lo;
  return at;
}
