/**
 * The Write record, the value of the write CF (FORMATS.md section 4, TiKV `txn_types::Write`):
 * type byte, var_u64 start_ts, then optional tagged fields in a fixed order on write and any
 * order on read.
 */
import { assertBoolean, assertRoom, assertU64, varU64Length, writeU64, writeVarU64 } from './encode-into.js';
import {
  LAST_CHANGE_TAG,
  LAST_CHANGE_UNKNOWN,
  assertLastChange,
  lastChangeSize,
  readLastChange,
  writeLastChange,
  type LastChange,
} from './last-change.js';
import { ByteReader } from './reader.js';
import { SHORT_VALUE_TAG, assertShortValue, readShortValue, shortValueSize, writeShortValue } from './short-value.js';

export type WriteType = 'Put' | 'Delete' | 'Lock' | 'Rollback';

/**
 * A decoded Write. Absent optional fields decode to: shortValue undefined, hasOverlappedRollback
 * false, gcFence undefined (distinct from 0n, which is written as `46 00x8`), lastChange Unknown,
 * txnSource 0n. From `decodeWrite`, `shortValue` is a view into the input bytes.
 */
export interface Write {
  readonly writeType: WriteType;
  readonly startTs: bigint;
  /** At most 255 bytes (`SHORT_VALUE_MAX_LEN`); longer values live in the default CF. */
  readonly shortValue?: Uint8Array | undefined;
  readonly hasOverlappedRollback: boolean;
  readonly gcFence?: bigint | undefined;
  readonly lastChange: LastChange;
  readonly txnSource: bigint;
}

/** A protected rollback's short value is exactly "p" (`PROTECTED_ROLLBACK_SHORT_VALUE`). */
const PROTECTED_ROLLBACK_BYTE = 0x70;
const PROTECTED_ROLLBACK_VALUE = Uint8Array.of(PROTECTED_ROLLBACK_BYTE);

const TYPE_PUT = 0x50; // 'P'
const TYPE_DELETE = 0x44; // 'D'
const TYPE_LOCK = 0x4c; // 'L'
const TYPE_ROLLBACK = 0x52; // 'R'

const OVERLAPPED_ROLLBACK_TAG = 0x52; // 'R'
const GC_FENCE_TAG = 0x46; // 'F'
const TXN_SOURCE_TAG = 0x53; // 'S'

function writeTypeByte(t: WriteType): number {
  switch (t) {
    case 'Put':
      return TYPE_PUT;
    case 'Delete':
      return TYPE_DELETE;
    case 'Lock':
      return TYPE_LOCK;
    case 'Rollback':
      return TYPE_ROLLBACK;
    default:
      throw new TypeError(`writeType must be 'Put', 'Delete', 'Lock' or 'Rollback', got ${JSON.stringify(t)}`);
  }
}

/** `Write::new`: a record with every optional field at its default. */
export function newWrite(writeType: WriteType, startTs: bigint, shortValue?: Uint8Array): Write {
  return {
    writeType,
    startTs,
    shortValue,
    hasOverlappedRollback: false,
    gcFence: undefined,
    lastChange: LAST_CHANGE_UNKNOWN,
    txnSource: 0n,
  };
}

/** `Write::new_rollback`: a protected rollback carries the short value "p" and must not be collapsed. */
export function newRollback(startTs: bigint, protectedRollback: boolean): Write {
  return newWrite('Rollback', startTs, protectedRollback ? PROTECTED_ROLLBACK_VALUE.slice() : undefined);
}

/** `Write::is_protected`: a Rollback whose short value is exactly "p". */
export function isProtectedRollback(write: Write): boolean {
  const v = write.shortValue;
  return write.writeType === 'Rollback' && v !== undefined && v.length === 1 && v[0] === PROTECTED_ROLLBACK_BYTE;
}

/**
 * `Write::check_gc_fence_as_latest_version`: false iff gcFence is Some(t) with t != 0 and
 * t <= readTs: a newer version committed at t existed (GC may since have removed it), so at
 * readTs this record is not the latest version.
 */
export function checkGcFenceAsLatestVersion(write: Write, readTs: bigint): boolean {
  const fence = write.gcFence;
  return !(fence !== undefined && fence !== 0n && fence <= readTs);
}

/**
 * Validates `write` and returns its encoded size. Throws TypeError / InvalidArgumentError for
 * fields that cannot be stored.
 */
export function encodedWriteLength(write: Write): number {
  if (write === null || typeof write !== 'object') throw new TypeError('write must be a Write object');
  writeTypeByte(write.writeType);
  const { startTs, shortValue, hasOverlappedRollback, gcFence, lastChange, txnSource } = write;
  assertU64('startTs', startTs);
  assertShortValue(shortValue);
  assertBoolean('hasOverlappedRollback', hasOverlappedRollback);
  if (gcFence !== undefined) assertU64('gcFence', gcFence);
  assertLastChange(lastChange);
  assertU64('txnSource', txnSource);

  let size = 1 + varU64Length(startTs) + shortValueSize(shortValue);
  if (hasOverlappedRollback) size += 1;
  if (gcFence !== undefined) size += 9;
  size += lastChangeSize(lastChange);
  if (txnSource !== 0n) size += 1 + varU64Length(txnSource);
  return size;
}

/** Writes a Write already validated by encodedWriteLength, in TiKV's field order. */
function writeWriteFields(write: Write, out: Uint8Array, at: number): number {
  const { startTs, shortValue, hasOverlappedRollback, gcFence, lastChange, txnSource } = write;
  out[at++] = writeTypeByte(write.writeType);
  at = writeVarU64(out, at, startTs);
  at = writeShortValue(out, at, shortValue);
  if (hasOverlappedRollback) out[at++] = OVERLAPPED_ROLLBACK_TAG;
  if (gcFence !== undefined) {
    out[at++] = GC_FENCE_TAG;
    at = writeU64(out, at, gcFence);
  }
  at = writeLastChange(out, at, lastChange);
  if (txnSource !== 0n) {
    out[at++] = TXN_SOURCE_TAG;
    at = writeVarU64(out, at, txnSource);
  }
  return at;
}

/** `Write::to_bytes`. Throws TypeError / InvalidArgumentError for fields that cannot be stored. */
export function encodeWrite(write: Write): Uint8Array {
  const out = new Uint8Array(encodedWriteLength(write));
  writeWriteFields(write, out, 0);
  return out;
}

/**
 * `Write::to_bytes` into `out` at `at`; returns the end offset. Lets a caller pack many records
 * into one buffer: V8 allocates each Uint8Array over 64 bytes off-heap, at several times the cost.
 */
export function encodeWriteInto(write: Write, out: Uint8Array, at: number): number {
  const n = encodedWriteLength(write);
  assertRoom(out, at, n);
  return writeWriteFields(write, out, at);
}

/**
 * `WriteRef::parse`. Tags are accepted in any order (a repeated tag overwrites); an unknown tag
 * ends parsing and keeps what was read (forward compatibility). Where TiKV panics (a 'v' length
 * past the end, LastChange with ts > 0 and 0 versions) this throws CorruptedError, as it does for
 * empty input, an unknown type byte, a truncated field or a varint overflow.
 */
export function decodeWrite(bytes: Uint8Array): Write {
  const r: ByteReader = new ByteReader(bytes, 'Write record');
  if (r.done) r.fail('write type', 'empty input');
  let writeType: WriteType;
  const t = r.u8('write type');
  switch (t) {
    case TYPE_PUT:
      writeType = 'Put';
      break;
    case TYPE_DELETE:
      writeType = 'Delete';
      break;
    case TYPE_LOCK:
      writeType = 'Lock';
      break;
    case TYPE_ROLLBACK:
      writeType = 'Rollback';
      break;
    default:
      return r.fail('write type', `unknown type byte 0x${t.toString(16).padStart(2, '0')}`, 0);
  }
  const startTs = r.varU64('start_ts');
  let shortValue: Uint8Array | undefined;
  let hasOverlappedRollback = false;
  let gcFence: bigint | undefined;
  let lastChange = LAST_CHANGE_UNKNOWN;
  let txnSource = 0n;
  fields: while (!r.done) {
    switch (r.u8('tag')) {
      case SHORT_VALUE_TAG:
        shortValue = readShortValue(r);
        break;
      case OVERLAPPED_ROLLBACK_TAG:
        hasOverlappedRollback = true;
        break;
      case GC_FENCE_TAG:
        gcFence = r.u64('gc_fence');
        break;
      case LAST_CHANGE_TAG:
        lastChange = readLastChange(r);
        break;
      case TXN_SOURCE_TAG:
        txnSource = r.varU64('txn_source');
        break;
      default:
        break fields;
    }
  }
  return { writeType, startTs, shortValue, hasOverlappedRollback, gcFence, lastChange, txnSource };
}
