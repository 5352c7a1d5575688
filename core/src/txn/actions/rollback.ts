/**
 * Rollback (TiKV `Rollback` command over `cleanup`): the txn's owner gives up, so the TTL is not
 * consulted and the rollback is not protected, except on a pessimistic txn's primary, which
 * `rollbackLock` always protects. COMMITTED if the txn already committed on the key.
 */
import type { EncodedKey } from '../../codec/index.js';
import type { MvccReader } from '../mvcc/reader.js';
import type { MvccTxn, ReleasedLock } from '../mvcc/txn.js';
import { cleanup } from './cleanup.js';

export function rollback(txn: MvccTxn, reader: MvccReader, key: EncodedKey): ReleasedLock | undefined {
  return cleanup(txn, reader, key, 0n, false);
}
