/**
 * GC of one key (TiKV `src/storage/txn/actions/gc.rs`): versions newer than the safe point are
 * kept; at or below it, a read at the safe point must still see the same value, so the newest
 * Put there is kept and everything older goes. If that newest decisive record is a Delete it
 * goes too (nothing below it is visible anyway). Lock and Rollback records at or below the
 * safe point are dropped, and default-CF values of dropped Puts with them.
 */
import type { EncodedKey } from '../../codec/index.js';
import type { MvccReader } from '../mvcc/reader.js';
import type { MvccTxn } from '../mvcc/txn.js';
import { assertKey, assertTs } from './common.js';

export interface GcInfo {
  /** Write records at or below the safe point that were examined. */
  readonly foundVersions: number;
  readonly deletedVersions: number;
  /** No write record of the key is left at or below the safe point. */
  readonly isCompletelyRemoved: boolean;
}

export function gc(txn: MvccTxn, reader: MvccReader, key: EncodedKey, safePoint: bigint): GcInfo {
  assertKey(key);
  assertTs('safePoint', safePoint);
  return txn.guard(() => {
    const writes = reader.scanWrites(key, safePoint);
    let removeAll = false;
    let deleted = 0;
    for (const { commitTs, write } of writes) {
      if (!removeAll) {
        if (write.writeType === 'Put') {
          removeAll = true;
          continue;
        }
        if (write.writeType === 'Delete') removeAll = true;
      }
      txn.deleteWrite(key, commitTs);
      if (write.writeType === 'Put' && write.shortValue === undefined) txn.deleteValue(key, write.startTs);
      deleted++;
    }
    return { foundVersions: writes.length, deletedVersions: deleted, isCompletelyRemoved: deleted === writes.length };
  });
}
