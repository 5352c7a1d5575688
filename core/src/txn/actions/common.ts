import { decodeBytes } from '../../codec/index.js';
import type { EncodedKey, RawKey } from '../../codec/index.js';
import { InvalidArgumentError } from '../../errors.js';

/** The raw key for an error message or a primary-key comparison. */
export function rawOf(key: EncodedKey): RawKey {
  return decodeBytes(key).raw;
}

/** `TimeStamp::physical`: the milliseconds part of a TSO timestamp (FORMATS.md 3.2). */
export function physicalOf(ts: bigint): bigint {
  return ts >> 18n;
}

export function maxTs(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function assertTs(field: string, v: unknown): asserts v is bigint {
  if (typeof v !== 'bigint') throw new TypeError(`${field} must be a bigint, got ${typeof v}`);
  if (v < 0n || v > 0xffff_ffff_ffff_ffffn) throw new InvalidArgumentError(`${field} out of u64 range: ${v}`, { field });
}

export function assertKey(key: unknown): asserts key is EncodedKey {
  if (!(key instanceof Uint8Array)) throw new TypeError(`key must be an encoded key (Uint8Array), got ${typeof key}`);
}
