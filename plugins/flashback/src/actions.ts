/**
 * Flashback's actions (STYLE.md habit 4): small functions over (txn, reader) that record
 * Modifies, composed by the commands in commands.ts. They reuse core's rollback machinery
 * (getTxnCommitRecord, makeRollback, collapsePrevRollback) rather than forking it.
 */
import {
  codec,
  collapsePrevRollback,
  KvError,
  makeRollback,
  MvccReader,
  MvccTxn,
  tsCfKey,
  txnLockNotFoundError,
  type ReleasedLock,
} from '@flashkv/core';

type EncodedKey = codec.EncodedKey;
type Lock = codec.Lock;

/**
 * RollbackLock for one lock (FLASHBACK.md a.4.1), at the lock's own ts (`txn.startTs` must be
 * `lock.startTs`): if the txn already has a rollback record only the lock goes; otherwise its
 * CF_DEFAULT value (a Put without short value) is deleted, a Rollback is put at the lock ts,
 * protected when the key is the lock's primary or the txn is pipelined (generation > 0), set as
 * a flag on an overlapped write instead when one sits at that ts, older unprotected rollbacks
 * are collapsed, and the lock is removed.
 */
export function flashbackRollbackLock(txn: MvccTxn, reader: MvccReader, key: EncodedKey, lock: Lock, unlock = true): ReleasedLock {
  if (txn.startTs !== lock.startTs) throw new TypeError(`flashbackRollbackLock: txn ${txn.startTs} does not own the lock of txn ${lock.startTs}`);
  return txn.guard(() => {
    const isPessimisticTxn = lock.forUpdateTs !== 0n;
    const record = reader.getTxnCommitRecord(key, txn.startTs);
    if (record.kind === 'single' && record.write.writeType !== 'Rollback') {
      // TiKV panics: a commit record next to the same txn's lock is an invariant violation.
      throw new KvError('CORRUPTED', `txn ${txn.startTs} holds a lock on a key it already committed at ${record.commitTs}`, { key, startTs: txn.startTs });
    }
    // `unlock` false: a sub-lock of a SharedLocks record; the caller rewrites the record.
    if (record.kind !== 'none') return unlock ? txn.unlockKey(key, isPessimisticTxn) : { key, isPessimisticTxn };
    if (lock.shortValue === undefined && lock.lockType === 'Put') txn.deleteValue(key, lock.startTs);
    const protectedRollback = codec.isEncodedFrom(key, lock.primary) || lock.generation > 0n;
    const write = makeRollback(txn.startTs, protectedRollback, record.overlappedWrite);
    if (write !== undefined) txn.putWrite(key, txn.startTs, write);
    collapsePrevRollback(txn, reader, key);
    return unlock ? txn.unlockKey(key, isPessimisticTxn) : { key, isPessimisticTxn };
  });
}

/** The newest Put at or below `version` (Lock/Rollback skipped, a Delete or nothing: absent, gc fences ignored). */
export function oldVersion(reader: MvccReader, key: EncodedKey, version: bigint): codec.Write | undefined {
  return reader.getWrite(key, version, undefined)?.write;
}

/**
 * Prewrite of the flashback lock on K* (a.4.2), `txn.startTs` = S: nothing if K* holds any lock
 * already (a retried Prepare); else a lock at S, Put if K* had a value at V (Delete if not),
 * primary K* itself as encoded bytes (as TiKV stores it), TTL 0, txn_size 1, the old short
 * value; a value longer than 255 bytes is copied to CF_DEFAULT at S unless one is there.
 */
export function prewriteFlashbackKey(txn: MvccTxn, reader: MvccReader, key: EncodedKey, version: bigint): void {
  txn.guard(() => {
    if (reader.loadLock(key) !== undefined) return;
    const old = oldVersion(reader, key, version);
    const isPut = old !== undefined;
    txn.putLock(
      key,
      codec.newLock({ lockType: isPut ? 'Put' : 'Delete', primary: key.slice(), startTs: txn.startTs, ttl: 0n, txnSize: 1n, shortValue: old?.shortValue }),
    );
    if (isPut && old.shortValue === undefined && reader.snapshot.get('default', tsCfKey(key, txn.startTs)) === undefined) {
      txn.putValue(key, txn.startTs, reader.loadData(key, old));
    }
  });
}

/** What Finish finds on K* (a.5.1 step 3). */
export type FlashbackKeyState = 'locked' | 'finished' | 'notPrepared';

export function flashbackKeyState(reader: MvccReader, key: EncodedKey, startTs: bigint, commitTs: bigint): FlashbackKeyState {
  const lock = reader.loadLock(key);
  if (lock !== undefined) return lock.startTs === startTs ? 'locked' : 'notPrepared';
  const w = reader.seekWrite(key, commitTs);
  return w !== undefined && w.commitTs === commitTs && w.write.startTs === startTs ? 'finished' : 'notPrepared';
}

/**
 * Commit of K* (a.5.4), `txn.startTs` = S: its lock becomes a write record at C (type from the
 * lock, short value, last_change and txn_source copied) and is removed. TXN_LOCK_NOT_FOUND if the
 * lock is gone (normally unreachable: Finish checked it first).
 */
export function commitFlashbackKey(txn: MvccTxn, reader: MvccReader, key: EncodedKey, commitTs: bigint): void {
  txn.guard(() => {
    const lock = reader.loadLock(key);
    if (lock === undefined || lock.startTs !== txn.startTs) throw txnLockNotFoundError(txn.startTs, commitTs, codec.decodeBytes(key).raw);
    const writeType = codec.writeTypeOfLock(lock.lockType) ?? 'Lock';
    txn.putWrite(key, commitTs, { ...codec.newWrite(writeType, txn.startTs, lock.shortValue), lastChange: lock.lastChange, txnSource: lock.txnSource });
    txn.unlockKey(key, false);
  });
}
