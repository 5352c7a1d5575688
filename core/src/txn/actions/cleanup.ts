/**
 * Cleanup (TiKV `src/storage/txn/actions/cleanup.rs`): roll back txn `txn.startTs` on one key,
 * unless its lock is still alive (KEY_IS_LOCKED) or the txn committed (COMMITTED). With no
 * lock, a rollback record is still written so that a delayed prewrite fails.
 */
import type { EncodedKey } from '../../codec/index.js';
import { committedError, keyIsLockedError } from '../mvcc/errors.js';
import type { MvccReader } from '../mvcc/reader.js';
import type { MvccTxn, ReleasedLock } from '../mvcc/txn.js';
import { checkTxnStatusMissingLock, rollbackLock } from './check-txn-status.js';
import { assertKey, assertTs, physicalOf, rawOf } from './common.js';

/**
 * `currentTs` 0n skips the TTL check (a rollback the txn's owner asked for). `protectRollback`
 * writes a protected rollback that later rollbacks will not collapse.
 */
export function cleanup(txn: MvccTxn, reader: MvccReader, key: EncodedKey, currentTs: bigint, protectRollback: boolean): ReleasedLock | undefined {
  assertKey(key);
  assertTs('currentTs', currentTs);
  return txn.guard(() => {
    const lock = reader.loadLock(key);
    if (lock !== undefined && lock.startTs === txn.startTs) {
      if (currentTs !== 0n && physicalOf(lock.startTs) + lock.ttl >= physicalOf(currentTs)) {
        throw keyIsLockedError(rawOf(key), lock);
      }
      return rollbackLock(txn, reader, key, lock, lock.forUpdateTs !== 0n, !protectRollback);
    }
    const status = checkTxnStatusMissingLock(txn, reader, key, lock, protectRollback ? 'protectedRollback' : 'rollback', false);
    if (status.kind === 'committed') throw committedError(txn.startTs, status.commitTs, rawOf(key));
    return undefined;
  });
}
