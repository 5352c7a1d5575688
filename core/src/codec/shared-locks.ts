/**
 * SharedLocks, the lock-CF value of a key held by several transactions in shared mode
 * (FORMATS.md 5.3): 'H', an optional 'i' flags byte, then 'h' var_u64(count) and one compact-bytes
 * Lock record (type Lock or Pessimistic) per transaction, keyed by its start_ts.
 */
import { CorruptedError, InvalidArgumentError } from '../errors.js';
import { assertU64, varU64LengthNumber, writeVarU64Number } from './encode-into.js';
import { TYPE_SHARED, decodeLock, encodeLock, type Lock } from './lock.js';
import { compactBytesLength, writeCompactBytes } from './number.js';
import { ByteReader } from './reader.js';

export interface SharedLocks {
  /** Flag bit 0 (SHRINK_ONLY): no new transaction may join the set. */
  readonly shrinkOnly: boolean;
  /** One lock per transaction, keyed by that lock's startTs. */
  readonly locks: ReadonlyMap<bigint, Lock>;
}

const FLAGS_TAG = 0x69; // 'i'
const SEGMENTS_TAG = 0x68; // 'h'
const FLAG_SHRINK_ONLY = 0x01;

/** `SharedLocks::new()`: empty, not shrink-only. Encodes to `48 68 00`. */
export function newSharedLocks(): SharedLocks {
  return { shrinkOnly: false, locks: new Map() };
}

/**
 * `SharedLocks::to_bytes`. Segments are written in the map's iteration order; TiKV writes them in
 * HashMap order, so only 0 or 1 segments have a canonical form (FORMATS.md 7.4).
 */
export function encodeSharedLocks(shared: SharedLocks): Uint8Array {
  if (shared === null || typeof shared !== 'object') throw new TypeError('shared must be a SharedLocks object');
  if (typeof shared.shrinkOnly !== 'boolean') throw new TypeError(`shrinkOnly must be a boolean, got ${typeof shared.shrinkOnly}`);
  if (!(shared.locks instanceof Map)) throw new TypeError('locks must be a Map from startTs to Lock');
  const segments: Uint8Array[] = [];
  let size = 1 + (shared.shrinkOnly ? 2 : 0) + 1 + varU64LengthNumber(shared.locks.size);
  for (const [ts, lock] of shared.locks) {
    assertU64('locks key', ts);
    if (lock === null || typeof lock !== 'object') throw new TypeError(`locks entry ${ts} must be a Lock object`);
    if (lock.lockType !== 'Lock' && lock.lockType !== 'Pessimistic') {
      throw new InvalidArgumentError(`shared lock ${ts} has type ${lock.lockType}; only 'Lock' and 'Pessimistic' can be shared`, {
        field: 'locks',
      });
    }
    if (lock.startTs !== ts) {
      throw new InvalidArgumentError(`shared lock keyed by ${ts} has startTs ${lock.startTs}; segments are keyed by their own startTs`, {
        field: 'locks',
      });
    }
    const seg = encodeLock(lock);
    segments.push(seg);
    size += compactBytesLength(seg.length);
  }
  const out = new Uint8Array(size);
  out[0] = TYPE_SHARED;
  let at = 1;
  if (shared.shrinkOnly) {
    out[at++] = FLAGS_TAG;
    out[at++] = FLAG_SHRINK_ONLY;
  }
  out[at++] = SEGMENTS_TAG;
  at = writeVarU64Number(out, at, segments.length);
  for (const seg of segments) at = writeCompactBytes(out, at, seg);
  return out;
}

/**
 * `SharedLocks::parse`. `48` alone is an empty set; segments may come in any order, each keyed by
 * its own start_ts (a later duplicate replaces an earlier one); an unknown tag ends parsing.
 * Corruption, including flag bits other than SHRINK_ONLY and a segment that is not a valid Lock
 * record of type Lock or Pessimistic, is a CorruptedError.
 */
export function decodeSharedLocks(bytes: Uint8Array): SharedLocks {
  const r: ByteReader = new ByteReader(bytes, 'SharedLocks record');
  if (r.done) r.fail('lock type', 'empty input');
  const t = r.u8('lock type');
  if (t !== TYPE_SHARED) r.fail('lock type', `type byte 0x${t.toString(16).padStart(2, '0')} is not 0x48 ('H')`, 0);
  let shrinkOnly = false;
  let locks = new Map<bigint, Lock>();
  fields: while (!r.done) {
    switch (r.u8('tag')) {
      case FLAGS_TAG: {
        const at = r.pos;
        const flags = r.u8('flags');
        if ((flags & ~FLAG_SHRINK_ONLY) !== 0) r.fail('flags', `unknown flag bits in 0x${flags.toString(16).padStart(2, '0')}`, at);
        shrinkOnly = flags === FLAG_SHRINK_ONLY;
        break;
      }
      case SEGMENTS_TAG: {
        const at = r.pos;
        const count = r.varU64Number('segment count');
        // Every segment takes at least its one-byte length.
        if (count > r.remaining) r.fail('segments', `count ${count} exceeds the ${r.remaining} bytes left`, at);
        locks = new Map();
        for (let i = 0; i < count; i++) {
          const segAt = r.pos;
          const seg = r.compactBytes('segment');
          let lock: Lock;
          try {
            lock = decodeLock(seg);
          } catch (e) {
            if (e instanceof CorruptedError) r.fail(`segment ${i}`, `${e.message} (offsets within the segment)`, segAt);
            throw e;
          }
          if (lock.lockType !== 'Lock' && lock.lockType !== 'Pessimistic') {
            r.fail(`segment ${i}`, `lock type ${lock.lockType} cannot be shared`, segAt);
          }
          locks.set(lock.startTs, lock);
        }
        break;
      }
      default:
        break fields;
    }
  }
  return { shrinkOnly, locks };
}
