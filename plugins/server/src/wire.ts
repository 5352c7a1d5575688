import { InvalidArgumentError } from '@flashkv/core';

/**
 * Request fields as proto-loader hands them over (longs as decimal strings, bytes as Buffers,
 * absent fields as zero values), checked into the Storage API's types. Anything else is
 * INVALID_ARGUMENT: a hand-made client can send any shape.
 */
const U64_MAX = 0xffff_ffff_ffff_ffffn;

export function u64(what: string, v: unknown): bigint {
  if (typeof v === 'string' && /^[0-9]{1,20}$/.test(v)) {
    const n = BigInt(v);
    if (n <= U64_MAX) return n;
  }
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  throw new InvalidArgumentError(`${what} must be a uint64, got ${JSON.stringify(String(v)).slice(0, 40)}`);
}

export function bytes(what: string, v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return v;
  throw new InvalidArgumentError(`${what} must be bytes`);
}

export function bytesList(what: string, v: unknown): Uint8Array[] {
  if (!Array.isArray(v)) throw new InvalidArgumentError(`${what} must be a list of bytes`);
  return v.map((x, i) => bytes(`${what}[${i}]`, x));
}

export function list(what: string, v: unknown): unknown[] {
  if (!Array.isArray(v)) throw new InvalidArgumentError(`${what} must be a list`);
  return v;
}

export function obj(what: string, v: unknown): Record<string, unknown> {
  if (v === null || typeof v !== 'object') throw new InvalidArgumentError(`${what} must be a message`);
  return v as Record<string, unknown>;
}

export function u32(v: unknown): number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : 0;
}

/** A wall time or the empty string turned into the bytes proto3 wants for an absent key. */
export function optionalKey(v: unknown, what: string): Uint8Array | undefined {
  const b = bytes(what, v ?? new Uint8Array(0));
  return b.length === 0 ? undefined : b;
}
