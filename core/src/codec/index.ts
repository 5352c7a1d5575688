/**
 * The TiKV-compatible codec (FORMATS.md): memcomparable keys, timestamps, varints, and the Write,
 * Lock and SharedLocks records, byte for byte as TiKV stores them.
 *
 * Conventions: u64 values are bigints in [0, 2^64). Decoders throw only CorruptedError (code
 * 'CORRUPTED', with the offset in the message and `details.offset`); a caller mistake is a
 * TypeError (wrong type) or InvalidArgumentError (a value that cannot be stored, e.g. a short
 * value over 255 bytes or a negative ts). Decoded byte fields and `rest` are views into the input,
 * not copies.
 */
export type { RawKey, EncodedKey, TsKey } from './types.js';
export { asRawKey, asEncodedKey, asTsKey } from './types.js';

export { encodeBytes, encodeBytesDesc, decodeBytes, isEncodedFrom, encodedLength, encodeBytesInto } from './bytes.js';

export {
  TS_LENGTH,
  DATA_PREFIX,
  LOCAL_PREFIX,
  appendTs,
  encodeTsKey,
  encodeTsKeyInto,
  decodeTs,
  truncateTs,
  splitTs,
  isUserKeyEq,
  toRaw,
  fromRawMaybeUnbounded,
  dataKey,
  originKey,
} from './key.js';

export {
  U64_MAX,
  I64_MIN,
  I64_MAX,
  MAX_VAR_U64_LEN,
  encodeU64,
  decodeU64,
  encodeU64Desc,
  decodeU64Desc,
  encodeI64,
  decodeI64,
  encodeVarU64,
  decodeVarU64,
  decodeVarU64Number,
  encodeVarU64Into,
  encodeVarI64,
  decodeVarI64,
  encodeCompactBytes,
  decodeCompactBytes,
  compactBytesLength,
  varU64Length,
  varU64LengthNumber,
  ByteReader,
} from './number.js';

export type { LastChange } from './last-change.js';
export { LAST_CHANGE_UNKNOWN, LAST_CHANGE_NOT_EXIST, lastChangeExist } from './last-change.js';

export type { Write, WriteType } from './write.js';
export { SHORT_VALUE_MAX_LEN } from './short-value.js';
export {
  encodeWrite,
  encodeWriteInto,
  encodedWriteLength,
  decodeWrite,
  newWrite,
  newRollback,
  isProtectedRollback,
  checkGcFenceAsLatestVersion,
} from './write.js';

export type { Lock, LockType, LockInit } from './lock.js';
export { encodeLock, encodeLockInto, encodedLockLength, decodeLock, decodeLockType, decodeLockStartTs, newLock, writeTypeOfLock } from './lock.js';

export type { SharedLocks } from './shared-locks.js';
export { encodeSharedLocks, decodeSharedLocks, newSharedLocks } from './shared-locks.js';

export { toHex, fromHex } from './hex.js';
