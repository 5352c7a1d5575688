/**
 * txnHeartBeat (TiKV `TxnHeartBeat` command): a long txn keeps its primary lock alive by raising
 * its TTL (never lowering it). TXN_NOT_FOUND if the primary lock is gone.
 */
import type { EncodedKey } from '../../codec/index.js';
import { txnNotFoundError } from '../mvcc/errors.js';
import type { MvccReader } from '../mvcc/reader.js';
import type { MvccTxn } from '../mvcc/txn.js';
import type { TxnStatus } from './check-txn-status.js';
import { assertKey, assertTs, rawOf } from './common.js';

export function txnHeartBeat(txn: MvccTxn, reader: MvccReader, primaryKey: EncodedKey, adviseLockTtl: bigint): TxnStatus {
  assertKey(primaryKey);
  assertTs('adviseLockTtl', adviseLockTtl);
  return txn.guard(() => {
    let lock = reader.loadLock(primaryKey);
    if (lock === undefined || lock.startTs !== txn.startTs) throw txnNotFoundError(txn.startTs, rawOf(primaryKey));
    if (lock.ttl < adviseLockTtl) {
      lock = { ...lock, ttl: adviseLockTtl };
      txn.putLock(primaryKey, lock);
    }
    return { kind: 'locked', lock, ttl: lock.ttl, minCommitTs: lock.minCommitTs, minCommitTsPushed: false };
  });
}
