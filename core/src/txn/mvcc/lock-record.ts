/**
 * A lock-CF value as the MVCC reader meets it: one Lock record, or a SharedLocks record
 * (FORMATS.md 5.3, type 'H') holding one Lock or Pessimistic lock per transaction.
 */
import { decodeLock, decodeSharedLocks, type Lock, type SharedLocks } from '../../codec/index.js';

const TYPE_SHARED = 0x48; // 'H'

export interface LockRecord {
  /** The SharedLocks record itself, or undefined for a plain Lock record. */
  readonly shared: SharedLocks | undefined;
  /** The one lock of a plain record, or the sub-locks of a shared one in start_ts order. */
  readonly locks: readonly Lock[];
}

/** True if `bytes` is a SharedLocks record (its type byte is 'H'). */
export function isSharedLocksRecord(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes[0] === TYPE_SHARED;
}

/** The sub-locks of a SharedLocks record in start_ts order. */
export function sharedLocksInOrder(shared: SharedLocks): Lock[] {
  return [...shared.locks.values()].sort((a, b) => (a.startTs < b.startTs ? -1 : a.startTs > b.startTs ? 1 : 0));
}

/** Decodes a lock-CF value of either form (CorruptedError on bad bytes, as the decoders). */
export function decodeLockRecord(bytes: Uint8Array): LockRecord {
  if (isSharedLocksRecord(bytes)) {
    const shared = decodeSharedLocks(bytes);
    return { shared, locks: sharedLocksInOrder(shared) };
  }
  return { shared: undefined, locks: [decodeLock(bytes)] };
}
