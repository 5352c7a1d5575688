/**
 * Input checks of the Storage API, all run before anything is routed or written: a wrong type
 * is a TypeError (a programmer mistake), a value that cannot be stored is a KvError
 * (KEY_TOO_LARGE, INVALID_ARGUMENT).
 */
import { InvalidArgumentError, KvError } from '../../errors.js';
import { assertTs } from '../actions/common.js';

/** TiKV's default `max-key-size` would be 8 KiB of raw user key. */
export const MAX_KEY_SIZE = 8 * 1024;
/** TiKV's `raft-entry-max-size` default bounds one value at 8 MiB. */
export const MAX_VALUE_SIZE = 8 * 1024 * 1024;

export { assertTs };

export function assertRequest(method: string, req: unknown): asserts req is Record<string, unknown> {
  if (req === null || typeof req !== 'object' || Array.isArray(req)) throw new TypeError(`Storage.${method} expects one object argument`);
}

export function assertRawKey(what: string, key: unknown): asserts key is Uint8Array {
  if (!(key instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array, got ${key === null ? 'null' : typeof key}`);
  if (key.length > MAX_KEY_SIZE) throw new KvError('KEY_TOO_LARGE', `${what} is ${key.length} bytes; the limit is ${MAX_KEY_SIZE}`, { size: key.length, limit: MAX_KEY_SIZE });
}

export function assertValue(what: string, value: unknown): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array, got ${value === null ? 'null' : typeof value}`);
  if (value.length > MAX_VALUE_SIZE) throw new KvError('KEY_TOO_LARGE', `${what} is ${value.length} bytes; the limit is ${MAX_VALUE_SIZE}`, { size: value.length, limit: MAX_VALUE_SIZE });
}

export function assertKeys(what: string, keys: unknown, nonEmpty = false): asserts keys is Uint8Array[] {
  if (!Array.isArray(keys)) throw new TypeError(`${what} must be an array of Uint8Array keys`);
  if (nonEmpty && keys.length === 0) throw new InvalidArgumentError(`${what} must not be empty`, {});
  keys.forEach((k, i) => assertRawKey(`${what}[${i}]`, k));
}

export function assertOptionalTs(what: string, v: unknown): asserts v is bigint | undefined {
  if (v !== undefined) assertTs(what, v);
}

export function assertOptionalBool(what: string, v: unknown): void {
  if (v !== undefined && typeof v !== 'boolean') throw new TypeError(`${what} must be a boolean`);
}

export function assertLimit(what: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new TypeError(`${what} must be a non-negative integer`);
  return v;
}

/** A string identity of a key for duplicate checks. */
export function keyId(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

export function assertDistinct(what: string, keys: readonly Uint8Array[]): void {
  if (keys.length < 2) return;
  const seen = new Set<string>();
  for (const k of keys) {
    const id = keyId(k);
    if (seen.has(id)) throw new InvalidArgumentError(`${what} names the same key twice`, { key: k });
    seen.add(id);
  }
}
