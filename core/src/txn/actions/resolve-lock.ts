/**
 * resolveLock (TiKV `ResolveLock` / `ResolveLockLite` commands): once a txn's fate is known from
 * its primary, each of its locks is committed at commitTs or (commitTs 0n) rolled back.
 */
import type { EncodedKey } from '../../codec/index.js';
import { isKvError } from '../../errors.js';
import { invalidTxnTsoError } from '../mvcc/errors.js';
import type { LockEntry, MvccReader } from '../mvcc/reader.js';
import type { MvccTxn, ReleasedLock } from '../mvcc/txn.js';
import { cleanup } from './cleanup.js';
import { commit } from './commit.js';
import { assertKey, assertTs, rawOf } from './common.js';

export function resolveLock(txn: MvccTxn, reader: MvccReader, key: EncodedKey, commitTs: bigint): ReleasedLock | undefined {
  assertKey(key);
  assertTs('commitTs', commitTs);
  if (commitTs === 0n) return cleanup(txn, reader, key, 0n, false);
  if (commitTs <= txn.startTs) {
    throw invalidTxnTsoError(`resolveLock: commit ts ${commitTs} is not after start ts ${txn.startTs}`, { startTs: txn.startTs, commitTs, key: rawOf(key) });
  }
  const lock = reader.loadLock(key);
  try {
    return commit(txn, reader, key, commitTs);
  } catch (e) {
    // A pessimistic lock left over from a retried statement of a committed txn is simply gone
    // by the time its neighbours are resolved; that is not an error (TiKV does the same).
    if (isKvError(e, 'TXN_LOCK_NOT_FOUND') && lock !== undefined && lock.lockType === 'Pessimistic') return undefined;
    throw e;
  }
}

/** The locks of txn `startTs` in [start, end), for a resolveLock over a range. */
export function locksOfTxn(reader: MvccReader, startTs: bigint, options: { start?: EncodedKey; end?: EncodedKey; limit?: number } = {}): LockEntry[] {
  return reader.scanLocks({ ...options, filter: (lock) => lock.startTs === startTs }).locks;
}
