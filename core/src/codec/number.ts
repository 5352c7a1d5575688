/**
 * Integer encodings of FORMATS.md section 2: fixed-width memcomparable u64/i64 and the varints
 * (LEB128, zigzag) and compact bytes used inside Lock and Write records.
 */
import { InvalidArgumentError } from '../errors.js';
import {
  U64_MAX,
  assertBytes,
  assertRoom,
  assertU64,
  varU64Length,
  varU64LengthNumber,
  writeU64,
  writeU64Desc,
  writeVarU64,
  writeVarU64Number,
} from './encode-into.js';
import { ByteReader } from './reader.js';

export { U64_MAX, varU64Length, varU64LengthNumber } from './encode-into.js';
export { ByteReader } from './reader.js';

export const I64_MIN = -0x8000_0000_0000_0000n;
export const I64_MAX = 0x7fff_ffff_ffff_ffffn;
/** `encode_i64` flips the sign bit, i.e. adds 2^63 modulo 2^64. */
const SIGN_BIT = 0x8000_0000_0000_0000n;

/** Longest var_u64 (`MAX_VAR_U64_LEN`). */
export const MAX_VAR_U64_LEN = 10;

function assertI64(field: string, v: bigint): void {
  if (typeof v !== 'bigint') throw new TypeError(`${field} must be a bigint, got ${typeof v}`);
  if (v < I64_MIN || v > I64_MAX) throw new InvalidArgumentError(`${field} out of i64 range: ${v}`, { field });
}

/** `encode_u64`: 8 bytes big-endian; memcomparable ascending. */
export function encodeU64(v: bigint): Uint8Array {
  assertU64('value', v);
  const out = new Uint8Array(8);
  writeU64(out, 0, v);
  return out;
}

/** Reads the 8-byte big-endian u64 at `offset`. */
export function decodeU64(bytes: Uint8Array, offset = 0): bigint {
  return new ByteReader(bytes, 'u64', offset).u64('value');
}

/** `encode_u64_desc`: big-endian of !v; memcomparable descending. */
export function encodeU64Desc(v: bigint): Uint8Array {
  assertU64('value', v);
  const out = new Uint8Array(8);
  writeU64Desc(out, 0, v);
  return out;
}

export function decodeU64Desc(bytes: Uint8Array, offset = 0): bigint {
  // !v is U64_MAX - v.
  return U64_MAX - new ByteReader(bytes, 'u64 desc', offset).u64('value');
}

/** `encode_i64`: big-endian of (v as u64) XOR 2^63, so i64::MIN is 00..00. */
export function encodeI64(v: bigint): Uint8Array {
  assertI64('value', v);
  const out = new Uint8Array(8);
  writeU64(out, 0, v + SIGN_BIT);
  return out;
}

export function decodeI64(bytes: Uint8Array, offset = 0): bigint {
  return new ByteReader(bytes, 'i64', offset).u64('value') - SIGN_BIT;
}

/** `encode_var_u64`: unsigned LEB128, 1 to 10 bytes. */
export function encodeVarU64(v: bigint): Uint8Array {
  assertU64('value', v);
  const out = new Uint8Array(varU64Length(v));
  writeVarU64(out, 0, v);
  return out;
}

/**
 * `encode_var_u64` into `out` at `at`; returns the end offset. A `number` (a safe non-negative
 * integer, e.g. a length) takes the cheaper path that never touches bigints.
 */
export function encodeVarU64Into(v: bigint | number, out: Uint8Array, at: number): number {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw new InvalidArgumentError(`value must be a safe non-negative integer, got ${v}`, { field: 'value' });
    assertRoom(out, at, varU64LengthNumber(v));
    return writeVarU64Number(out, at, v);
  }
  assertU64('value', v);
  assertRoom(out, at, varU64Length(v));
  return writeVarU64(out, at, v);
}

/** tikv_util `decode_var_u64` at `offset` (strict: 10th byte 0/1, EOF is an error). */
export function decodeVarU64(bytes: Uint8Array, offset = 0): { value: bigint; next: number } {
  const r = new ByteReader(bytes, 'var_u64', offset);
  const value = r.varU64('value');
  return { value, next: r.pos };
}

/** `decodeVarU64` for lengths and counts: a number, CorruptedError if above 2^53 - 1. */
export function decodeVarU64Number(bytes: Uint8Array, offset = 0): { value: number; next: number } {
  const r = new ByteReader(bytes, 'var_u64', offset);
  const value = r.varU64Number('value');
  return { value, next: r.pos };
}

/** Zigzag of an i64 as a u64: (v << 1) XOR (v >> 63). */
function zigzag(v: bigint): bigint {
  return v >= 0n ? v << 1n : ((-v) << 1n) - 1n;
}

/** `encode_var_i64`: zigzag, then LEB128. */
export function encodeVarI64(v: bigint): Uint8Array {
  assertI64('value', v);
  const z = zigzag(v);
  const out = new Uint8Array(varU64Length(z));
  writeVarU64(out, 0, z);
  return out;
}

export function decodeVarI64(bytes: Uint8Array, offset = 0): { value: bigint; next: number } {
  const r = new ByteReader(bytes, 'var_i64', offset);
  const z = r.varU64('value');
  const value = (z & 1n) === 0n ? z >> 1n : -((z + 1n) >> 1n);
  return { value, next: r.pos };
}

/** Size of `compact_bytes(b)` for a byte string of length `len`. */
export function compactBytesLength(len: number): number {
  return varU64LengthNumber(len * 2) + len;
}

/** Writes `var_i64(len) ++ bytes` into `out` at `at` (unchecked); returns the end offset. */
export function writeCompactBytes(out: Uint8Array, at: number, bytes: Uint8Array): number {
  at = writeVarU64Number(out, at, bytes.length * 2);
  out.set(bytes, at);
  return at + bytes.length;
}

/** `encode_compact_bytes`: var_i64(len) ++ bytes. Not memcomparable. */
export function encodeCompactBytes(bytes: Uint8Array): Uint8Array {
  assertBytes('bytes', bytes);
  const out = new Uint8Array(compactBytesLength(bytes.length));
  writeCompactBytes(out, 0, bytes);
  return out;
}

/** `decode_compact_bytes` at `offset`; `value` is a view into `bytes`. */
export function decodeCompactBytes(bytes: Uint8Array, offset = 0): { value: Uint8Array; next: number } {
  const r = new ByteReader(bytes, 'compact bytes', offset);
  const value = r.compactBytes('value');
  return { value, next: r.pos };
}
