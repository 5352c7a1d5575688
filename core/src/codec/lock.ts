/**
 * The Lock record, the value of the lock CF (FORMATS.md section 5, TiKV `txn_types::Lock`):
 * type byte, compact-bytes primary (raw), var_u64 start_ts, var_u64 ttl, then optional tagged
 * fields. Shared locks (type 'H') have their own layout in shared-locks.ts.
 */
import { InvalidArgumentError } from '../errors.js';
import { assertBoolean, assertBytes, assertRoom, assertU64, varU64Length, varU64LengthNumber, writeU64, writeVarU64, writeVarU64Number } from './encode-into.js';
import {
  LAST_CHANGE_TAG,
  LAST_CHANGE_UNKNOWN,
  assertLastChange,
  lastChangeSize,
  readLastChange,
  writeLastChange,
  type LastChange,
} from './last-change.js';
import { compactBytesLength, writeCompactBytes } from './number.js';
import { ByteReader } from './reader.js';
import { SHORT_VALUE_TAG, assertShortValue, readShortValue, shortValueSize, writeShortValue } from './short-value.js';
import type { WriteType } from './write.js';

/** The lock types a Lock record can hold; 'Shared' ('H') is only ever a SharedLocks record. */
export type LockType = 'Put' | 'Delete' | 'Lock' | 'Pessimistic';

/**
 * A decoded or to-be-encoded Lock. u64 fields are bigints. From `decodeLock`, `primary`,
 * `shortValue` and `secondaries` are views into the input bytes.
 */
export interface Lock {
  readonly lockType: LockType;
  /** The transaction's primary key, raw (not memcomparable). */
  readonly primary: Uint8Array;
  readonly startTs: bigint;
  /** Milliseconds. Optional on parse (FORMATS.md 5.2 [INFERRED]): absent reads as 0n. */
  readonly ttl: bigint;
  readonly shortValue?: Uint8Array | undefined;
  /** Non-zero means the lock belongs to a pessimistic transaction. */
  readonly forUpdateTs: bigint;
  readonly txnSize: bigint;
  readonly minCommitTs: bigint;
  readonly useAsyncCommit: boolean;
  /** Raw keys; only stored when useAsyncCommit (an encoder given them otherwise throws). */
  readonly secondaries: readonly Uint8Array[];
  readonly rollbackTs: readonly bigint[];
  readonly lastChange: LastChange;
  readonly txnSource: bigint;
  readonly isLockedWithConflict: boolean;
  /** Pipelined-DML generation; 0n when not pipelined. */
  readonly generation: bigint;
}

/** Fields `newLock` requires; everything else defaults as an absent tag would decode. */
export type LockInit = Pick<Lock, 'lockType' | 'primary' | 'startTs'> & Partial<Lock>;

const TYPE_PUT = 0x50; // 'P'
const TYPE_DELETE = 0x44; // 'D'
const TYPE_LOCK = 0x4c; // 'L'
const TYPE_PESSIMISTIC = 0x53; // 'S'
export const TYPE_SHARED = 0x48; // 'H'

const FOR_UPDATE_TS_TAG = 0x66; // 'f'
const TXN_SIZE_TAG = 0x74; // 't'
const MIN_COMMIT_TS_TAG = 0x63; // 'c'
const ASYNC_COMMIT_TAG = 0x61; // 'a'
const ROLLBACK_TS_TAG = 0x72; // 'r'
const TXN_SOURCE_TAG = 0x73; // 's' (lower-case here; Write uses 'S')
const LOCKED_WITH_CONFLICT_TAG = 0x46; // 'F'
const GENERATION_TAG = 0x67; // 'g'

// Shared by every decoded lock without secondaries / rollback ts, so decoding allocates no
// arrays for them; frozen so a caller cannot mutate what other locks share.
const NO_KEYS: readonly Uint8Array[] = Object.freeze([]);
const NO_TS: readonly bigint[] = Object.freeze([]);

function lockTypeByte(t: LockType): number {
  switch (t) {
    case 'Put':
      return TYPE_PUT;
    case 'Delete':
      return TYPE_DELETE;
    case 'Lock':
      return TYPE_LOCK;
    case 'Pessimistic':
      return TYPE_PESSIMISTIC;
    default:
      if ((t as string) === 'Shared') throw new TypeError("lockType 'Shared' has no Lock record; use encodeSharedLocks");
      throw new TypeError(`lockType must be 'Put', 'Delete', 'Lock' or 'Pessimistic', got ${JSON.stringify(t)}`);
  }
}

/** The lock type for a type byte, 'Shared' for 'H', undefined for anything else. */
function lockTypeOfByte(b: number): LockType | 'Shared' | undefined {
  switch (b) {
    case TYPE_PUT:
      return 'Put';
    case TYPE_DELETE:
      return 'Delete';
    case TYPE_LOCK:
      return 'Lock';
    case TYPE_PESSIMISTIC:
      return 'Pessimistic';
    case TYPE_SHARED:
      return 'Shared';
    default:
      return undefined;
  }
}

/** `Lock::new` plus builders: a Lock with every unspecified field at its default. */
export function newLock(init: LockInit): Lock {
  return {
    lockType: init.lockType,
    primary: init.primary,
    startTs: init.startTs,
    ttl: init.ttl ?? 0n,
    shortValue: init.shortValue,
    forUpdateTs: init.forUpdateTs ?? 0n,
    txnSize: init.txnSize ?? 0n,
    minCommitTs: init.minCommitTs ?? 0n,
    useAsyncCommit: init.useAsyncCommit ?? false,
    secondaries: init.secondaries ?? NO_KEYS,
    rollbackTs: init.rollbackTs ?? NO_TS,
    lastChange: init.lastChange ?? LAST_CHANGE_UNKNOWN,
    txnSource: init.txnSource ?? 0n,
    isLockedWithConflict: init.isLockedWithConflict ?? false,
    generation: init.generation ?? 0n,
  };
}

/**
 * The write type a committed lock turns into (FORMATS.md 3.4): Put, Delete and Lock map to
 * themselves; Pessimistic has none (it must be upgraded by prewrite before commit).
 */
export function writeTypeOfLock(lockType: LockType): WriteType | undefined {
  return lockType === 'Pessimistic' ? undefined : lockType;
}

/**
 * Validates `lock` and returns its encoded size. Throws TypeError / InvalidArgumentError for
 * fields that cannot be stored.
 */
export function encodedLockLength(lock: Lock): number {
  if (lock === null || typeof lock !== 'object') throw new TypeError('lock must be a Lock object');
  lockTypeByte(lock.lockType);
  const { primary, startTs, ttl, shortValue, forUpdateTs, txnSize, minCommitTs, useAsyncCommit } = lock;
  const { secondaries, rollbackTs, lastChange, txnSource, isLockedWithConflict, generation } = lock;
  assertBytes('primary', primary);
  assertU64('startTs', startTs);
  assertU64('ttl', ttl);
  assertShortValue(shortValue);
  assertU64('forUpdateTs', forUpdateTs);
  assertU64('txnSize', txnSize);
  assertU64('minCommitTs', minCommitTs);
  assertBoolean('useAsyncCommit', useAsyncCommit);
  if (!Array.isArray(secondaries)) throw new TypeError('secondaries must be an array of Uint8Array');
  if (!Array.isArray(rollbackTs)) throw new TypeError('rollbackTs must be an array of bigint');
  assertLastChange(lastChange);
  assertU64('txnSource', txnSource);
  assertBoolean('isLockedWithConflict', isLockedWithConflict);
  assertU64('generation', generation);
  // TiKV writes secondaries only under the async-commit tag; storing a lock that has them
  // without the flag would drop them silently.
  if (!useAsyncCommit && secondaries.length > 0) {
    throw new InvalidArgumentError(`${secondaries.length} secondaries given without useAsyncCommit; they would not be stored`, {
      field: 'secondaries',
    });
  }

  let size = 1 + compactBytesLength(primary.length) + varU64Length(startTs) + varU64Length(ttl) + shortValueSize(shortValue);
  if (forUpdateTs !== 0n) size += 9;
  if (txnSize !== 0n) size += 9;
  if (minCommitTs !== 0n) size += 9;
  if (useAsyncCommit) {
    size += 1 + varU64LengthNumber(secondaries.length);
    for (const k of secondaries) {
      assertBytes('secondaries[i]', k);
      size += compactBytesLength(k.length);
    }
  }
  if (rollbackTs.length > 0) {
    size += 1 + varU64LengthNumber(rollbackTs.length) + 8 * rollbackTs.length;
    for (const ts of rollbackTs) assertU64('rollbackTs[i]', ts);
  }
  size += lastChangeSize(lastChange);
  if (txnSource !== 0n) size += 1 + varU64Length(txnSource);
  if (isLockedWithConflict) size += 1;
  if (generation !== 0n) size += 9;
  return size;
}

/** Writes a Lock already validated by encodedLockLength, in TiKV's field order. */
function writeLockFields(lock: Lock, out: Uint8Array, at: number): number {
  const { primary, startTs, ttl, shortValue, forUpdateTs, txnSize, minCommitTs, useAsyncCommit } = lock;
  const { secondaries, rollbackTs, lastChange, txnSource, isLockedWithConflict, generation } = lock;
  out[at++] = lockTypeByte(lock.lockType);
  at = writeCompactBytes(out, at, primary);
  at = writeVarU64(out, at, startTs);
  at = writeVarU64(out, at, ttl);
  at = writeShortValue(out, at, shortValue);
  if (forUpdateTs !== 0n) {
    out[at++] = FOR_UPDATE_TS_TAG;
    at = writeU64(out, at, forUpdateTs);
  }
  if (txnSize !== 0n) {
    out[at++] = TXN_SIZE_TAG;
    at = writeU64(out, at, txnSize);
  }
  if (minCommitTs !== 0n) {
    out[at++] = MIN_COMMIT_TS_TAG;
    at = writeU64(out, at, minCommitTs);
  }
  if (useAsyncCommit) {
    out[at++] = ASYNC_COMMIT_TAG;
    at = writeVarU64Number(out, at, secondaries.length);
    for (const k of secondaries) at = writeCompactBytes(out, at, k);
  }
  if (rollbackTs.length > 0) {
    out[at++] = ROLLBACK_TS_TAG;
    at = writeVarU64Number(out, at, rollbackTs.length);
    for (const ts of rollbackTs) at = writeU64(out, at, ts);
  }
  at = writeLastChange(out, at, lastChange);
  if (txnSource !== 0n) {
    out[at++] = TXN_SOURCE_TAG;
    at = writeVarU64(out, at, txnSource);
  }
  if (isLockedWithConflict) out[at++] = LOCKED_WITH_CONFLICT_TAG;
  if (generation !== 0n) {
    out[at++] = GENERATION_TAG;
    at = writeU64(out, at, generation);
  }
  return at;
}

/** `Lock::to_bytes`. Throws TypeError / InvalidArgumentError for fields that cannot be stored. */
export function encodeLock(lock: Lock): Uint8Array {
  const out = new Uint8Array(encodedLockLength(lock));
  writeLockFields(lock, out, 0);
  return out;
}

/** `Lock::to_bytes` into `out` at `at`; returns the end offset (see encodeWriteInto for why). */
export function encodeLockInto(lock: Lock, out: Uint8Array, at: number): number {
  const n = encodedLockLength(lock);
  assertRoom(out, at, n);
  return writeLockFields(lock, out, at);
}

function readLockType(r: ByteReader): LockType {
  if (r.done) r.fail('lock type', 'empty input');
  const b = r.u8('lock type');
  const t = lockTypeOfByte(b);
  if (t === 'Shared') r.fail('lock type', "type 0x48 ('H') is a SharedLocks record; decode it with decodeSharedLocks", 0);
  if (t === undefined) r.fail('lock type', `unknown type byte 0x${b.toString(16).padStart(2, '0')}`, 0);
  return t;
}

/**
 * `Lock::parse`. ttl may be missing (then 0n); tags are accepted in any order (a repeated tag
 * overwrites); an unknown tag ends parsing and keeps what was read. Everything TiKV rejects or
 * panics on (empty input, unknown type, truncated primary/start_ts/field, a 'v' length past the
 * end, varint overflow) is a CorruptedError, as is type 'H' (use decodeSharedLocks).
 */
export function decodeLock(bytes: Uint8Array): Lock {
  const r: ByteReader = new ByteReader(bytes, 'Lock record');
  const lockType = readLockType(r);
  const primary = r.compactBytes('primary');
  const startTs = r.varU64('start_ts');
  const ttl = r.done ? 0n : r.varU64('ttl');
  let shortValue: Uint8Array | undefined;
  let forUpdateTs = 0n;
  let txnSize = 0n;
  let minCommitTs = 0n;
  let useAsyncCommit = false;
  let secondaries = NO_KEYS;
  let rollbackTs = NO_TS;
  let lastChange = LAST_CHANGE_UNKNOWN;
  let txnSource = 0n;
  let isLockedWithConflict = false;
  let generation = 0n;
  fields: while (!r.done) {
    switch (r.u8('tag')) {
      case SHORT_VALUE_TAG:
        shortValue = readShortValue(r);
        break;
      case FOR_UPDATE_TS_TAG:
        forUpdateTs = r.u64('for_update_ts');
        break;
      case TXN_SIZE_TAG:
        txnSize = r.u64('txn_size');
        break;
      case MIN_COMMIT_TS_TAG:
        minCommitTs = r.u64('min_commit_ts');
        break;
      case ASYNC_COMMIT_TAG: {
        useAsyncCommit = true;
        const at = r.pos;
        const count = r.varU64Number('secondaries count');
        // Each secondary takes at least its one-byte length: a larger count cannot fit, and
        // checking first keeps a corrupt count from sizing a huge array.
        if (count > r.remaining) r.fail('secondaries', `count ${count} exceeds the ${r.remaining} bytes left`, at);
        const keys = new Array<Uint8Array>(count);
        for (let i = 0; i < count; i++) keys[i] = r.compactBytes('secondary');
        secondaries = keys;
        break;
      }
      case ROLLBACK_TS_TAG: {
        const at = r.pos;
        const count = r.varU64Number('rollback_ts count');
        if (count * 8 > r.remaining) r.fail('rollback_ts', `${count} timestamps need ${count * 8} bytes, ${r.remaining} left`, at);
        const list = new Array<bigint>(count);
        for (let i = 0; i < count; i++) list[i] = r.u64('rollback_ts');
        rollbackTs = list;
        break;
      }
      case LAST_CHANGE_TAG:
        lastChange = readLastChange(r);
        break;
      case TXN_SOURCE_TAG:
        txnSource = r.varU64('txn_source');
        break;
      case LOCKED_WITH_CONFLICT_TAG:
        isLockedWithConflict = true;
        break;
      case GENERATION_TAG:
        generation = r.u64('generation');
        break;
      default:
        break fields;
    }
  }
  return {
    lockType,
    primary,
    startTs,
    ttl,
    shortValue,
    forUpdateTs,
    txnSize,
    minCommitTs,
    useAsyncCommit,
    secondaries,
    rollbackTs,
    lastChange,
    txnSource,
    isLockedWithConflict,
    generation,
  };
}

/** `Lock::detect_lock_type`: the type from the first byte alone, 'Shared' for a SharedLocks record. */
export function decodeLockType(bytes: Uint8Array): LockType | 'Shared' {
  const r: ByteReader = new ByteReader(bytes, 'Lock record');
  if (r.done) r.fail('lock type', 'empty input');
  const b = r.u8('lock type');
  const t = lockTypeOfByte(b);
  if (t === undefined) r.fail('lock type', `unknown type byte 0x${b.toString(16).padStart(2, '0')}`, 0);
  return t;
}

/** `Lock::detect_lock_ts`: start_ts without decoding the rest; fails for a SharedLocks record. */
export function decodeLockStartTs(bytes: Uint8Array): bigint {
  const r: ByteReader = new ByteReader(bytes, 'Lock record');
  readLockType(r);
  r.compactBytes('primary');
  return r.varU64('start_ts');
}
