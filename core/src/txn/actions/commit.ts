/**
 * Commit (TiKV `src/storage/txn/actions/commit.rs`): turns this txn's lock on a key into a
 * Write record at commitTs and removes the lock. A key whose lock is gone is fine if the txn's
 * commit record is there (a retried commit), and TXN_LOCK_NOT_FOUND if it was rolled back or
 * never prewritten.
 */
import type { EncodedKey } from '../../codec/index.js';
import { newWrite } from '../../codec/index.js';
import { invalidTxnTsoError, txnLockNotFoundError } from '../mvcc/errors.js';
import type { MvccReader } from '../mvcc/reader.js';
import type { MvccTxn, ReleasedLock } from '../mvcc/txn.js';
import { assertKey, assertTs, rawOf } from './common.js';

export function commit(txn: MvccTxn, reader: MvccReader, key: EncodedKey, commitTs: bigint): ReleasedLock | undefined {
  assertKey(key);
  assertTs('commitTs', commitTs);
  const startTs = txn.startTs;
  if (commitTs <= startTs) {
    throw invalidTxnTsoError(`commit ts ${commitTs} is not after start ts ${startTs}`, { startTs, commitTs, key: rawOf(key) });
  }
  return txn.guard(() => {
    const lock = reader.loadLock(key);
    if (lock === undefined || lock.startTs !== startTs) {
      const record = reader.getTxnCommitRecord(key, startTs);
      if (record.kind === 'single' && record.write.writeType !== 'Rollback') return undefined;
      // Rolled back (maybe by another client's cleanup), or the rollback was collapsed.
      throw txnLockNotFoundError(startTs, commitTs, rawOf(key));
    }
    // A reader may have pushed min_commit_ts past the commit ts the client chose.
    if (commitTs < lock.minCommitTs) {
      throw invalidTxnTsoError(`commit ts ${commitTs} of txn ${startTs} is below the lock's min commit ts ${lock.minCommitTs}`, {
        startTs,
        commitTs,
        minCommitTs: lock.minCommitTs,
        key: rawOf(key),
        reason: 'CommitTsExpired',
      });
    }
    // A pessimistic lock left behind when a pessimistic rollback was lost is committed as a
    // Lock record if the txn commits (TiKV does the same).
    const writeType = lock.lockType === 'Pessimistic' ? 'Lock' : lock.lockType;
    let write = newWrite(writeType, startTs, lock.shortValue);
    if (lock.rollbackTs.includes(commitTs)) write = { ...write, hasOverlappedRollback: true };
    txn.putWrite(key, commitTs, write);
    return txn.unlockKey(key, lock.forUpdateTs !== 0n);
  });
}
