/**
 * TSO timestamp arithmetic (FORMATS.md section 3.2): `ts = (physical_ms << 18) | logical`.
 * The same layout as PD's TSO and TiDB's `oracle.ComposeTS`, so a time given to
 * `flashback --to '<time>'` maps to a ts the way TiDB's `GoTimeToTS` maps it.
 */
import { InvalidArgumentError } from '../errors.js';

export const LOGICAL_BITS = 18;
/** Logical values per millisecond: 0 .. LOGICAL_LIMIT - 1. */
export const LOGICAL_LIMIT = 1 << LOGICAL_BITS;
/** The physical part has the remaining 46 bits of a u64. */
export const MAX_PHYSICAL_MS = 2 ** (64 - LOGICAL_BITS) - 1;

const U64_MAX = (1n << 64n) - 1n;
const LOGICAL_MASK = BigInt(LOGICAL_LIMIT - 1);
const SHIFT = BigInt(LOGICAL_BITS);

function assertTs(ts: unknown): asserts ts is bigint {
  if (typeof ts !== 'bigint') throw new TypeError(`a timestamp must be a bigint, got ${typeof ts}`);
  if (ts < 0n || ts > U64_MAX) throw new InvalidArgumentError(`timestamp ${ts} is outside the u64 range`, { ts: ts.toString() });
}

/** `(physicalMs << 18) | logical`; both parts are range-checked. */
export function composeTs(physicalMs: number, logical = 0): bigint {
  if (typeof physicalMs !== 'number' || typeof logical !== 'number') throw new TypeError('composeTs takes two numbers');
  if (!Number.isSafeInteger(physicalMs) || physicalMs < 0 || physicalMs > MAX_PHYSICAL_MS) {
    throw new InvalidArgumentError(`physical time ${physicalMs} ms does not fit the 46-bit physical part of a timestamp`, { physicalMs });
  }
  if (!Number.isSafeInteger(logical) || logical < 0 || logical >= LOGICAL_LIMIT) {
    throw new InvalidArgumentError(`logical ${logical} does not fit the 18-bit logical part of a timestamp`, { logical });
  }
  return (BigInt(physicalMs) << SHIFT) | BigInt(logical);
}

/** The physical part, in milliseconds since the Unix epoch. */
export function physicalOf(ts: bigint): number {
  assertTs(ts);
  return Number(ts >> SHIFT);
}

export function logicalOf(ts: bigint): number {
  assertTs(ts);
  return Number(ts & LOGICAL_MASK);
}

function timeMs(time: Date | number): number {
  if (time instanceof Date) return time.getTime();
  if (typeof time === 'number') return time;
  throw new TypeError(`a time must be a Date or milliseconds since the epoch, got ${typeof time}`);
}

/**
 * The ts of a wall time: logical 0 at that millisecond, as TiDB's `GoTimeToTS`. Every ts handed
 * out strictly before `time` is smaller than it, so a read or flashback "as of `time`" at this ts
 * sees exactly the commits that TSO stamped before that millisecond.
 */
export function tsFromTime(time: Date | number): bigint {
  const ms = timeMs(time);
  if (!Number.isFinite(ms)) throw new InvalidArgumentError('the time is not a valid date', { time: String(time) });
  return composeTs(Math.floor(ms), 0);
}

/** The wall time a ts was stamped at, to the millisecond. */
export function timeOfTs(ts: bigint): Date {
  return new Date(physicalOf(ts));
}
