/**
 * pessimisticRollback (TiKV `PessimisticRollback` command): releases this txn's pessimistic
 * lock on a key if it was taken at or before forUpdateTs; anything else (no lock, another txn's
 * lock, a prewritten lock, a newer acquisition) is left alone, so the call is idempotent.
 */
import type { EncodedKey } from '../../codec/index.js';
import type { MvccReader } from '../mvcc/reader.js';
import type { MvccTxn, ReleasedLock } from '../mvcc/txn.js';
import { assertKey, assertTs } from './common.js';

export function pessimisticRollback(txn: MvccTxn, reader: MvccReader, key: EncodedKey, forUpdateTs: bigint): ReleasedLock | undefined {
  assertKey(key);
  assertTs('forUpdateTs', forUpdateTs);
  return txn.guard(() => {
    const lock = reader.loadLock(key);
    if (lock !== undefined && lock.lockType === 'Pessimistic' && lock.startTs === txn.startTs && lock.forUpdateTs <= forUpdateTs) {
      return txn.unlockKey(key, true);
    }
    return undefined;
  });
}
