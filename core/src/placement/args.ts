// Argument checks of the Placement contract, shared by every Placement (local placement here,
// raft's meta-group placement), so each refuses the same inputs with the same errors.
import { InvalidArgumentError } from '../errors.js';
import { utf8Length } from './keys.js';

const U64_MAX = (1n << 64n) - 1n;

/** Bound on job ids and pause owner names, in UTF-8 bytes: they become key suffixes. */
export const MAX_NAME_BYTES = 256;

/** A job id or pause owner: a non-empty string of at most MAX_NAME_BYTES UTF-8 bytes. */
export function assertName(what: string, name: unknown): asserts name is string {
  if (typeof name !== 'string') throw new TypeError(`${what} must be a string, got ${typeof name}`);
  if (name.length === 0) throw new InvalidArgumentError(`${what} must not be empty`, {});
  const n = utf8Length(name);
  if (n > MAX_NAME_BYTES) throw new InvalidArgumentError(`${what} is ${n} bytes; the limit is ${MAX_NAME_BYTES}`, { length: n });
}

export function assertU64(what: string, v: unknown): asserts v is bigint {
  if (typeof v !== 'bigint') throw new TypeError(`${what} must be a bigint, got ${typeof v}`);
  if (v < 0n || v > U64_MAX) throw new InvalidArgumentError(`${what} ${v} is outside the u64 range`, { [what]: v });
}

export function assertKey(what: string, key: unknown): asserts key is Uint8Array {
  if (!(key instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array, got ${key === null ? 'null' : typeof key}`);
}
