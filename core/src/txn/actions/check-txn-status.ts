/**
 * checkTxnStatus and the rollback machinery it shares with cleanup and rollback (TiKV
 * `src/storage/txn/actions/check_txn_status.rs`). A client that meets a lock asks the txn's
 * primary: an expired primary lock is rolled back, a missing one is looked up in the write CF,
 * and (rollbackIfNotExist) a protected rollback is written so a late prewrite cannot succeed.
 */
import { isProtectedRollback, isEncodedFrom, newRollback, type Lock, type Write, type EncodedKey } from '../../codec/index.js';
import { txnNotFoundError } from '../mvcc/errors.js';
import type { MvccReader, OverlappedWrite } from '../mvcc/reader.js';
import type { MvccTxn, ReleasedLock } from '../mvcc/txn.js';
import { assertKey, assertTs, physicalOf, rawOf } from './common.js';

const TS_MAX = 0xffff_ffff_ffff_ffffn;

export type TxnStatus =
  /** The primary is still locked; `minCommitTsPushed` tells the caller it may read past the locks. */
  | { readonly kind: 'locked'; readonly lock: Lock; readonly ttl: bigint; readonly minCommitTs: bigint; readonly minCommitTsPushed: boolean }
  | { readonly kind: 'committed'; readonly commitTs: bigint }
  | { readonly kind: 'rolledBack' }
  /** The primary lock had expired and this call rolled it back. */
  | { readonly kind: 'ttlExpire' }
  /** No lock and no record: this call wrote a rollback record. */
  | { readonly kind: 'lockNotExist' }
  /** An expired pessimistic primary was only unlocked (resolvingPessimisticLock). */
  | { readonly kind: 'pessimisticRolledBack' }
  | { readonly kind: 'lockNotExistDoNothing' };

/** What to do when the txn's lock is missing and no commit record exists (TiKV `MissingLockAction`). */
export type MissingLockAction = 'rollback' | 'protectedRollback' | 'returnError';

/** Deletes the newest record at or below the txn's start ts if it is a non-protected rollback. */
export function collapsePrevRollback(txn: MvccTxn, reader: MvccReader, key: EncodedKey): void {
  const prev = reader.seekWrite(key, txn.startTs);
  if (prev !== undefined && prev.write.writeType === 'Rollback' && !isProtectedRollback(prev.write)) {
    txn.deleteWrite(key, prev.commitTs);
  }
}

/**
 * The record a rollback writes at key@startTs: a Rollback, or when another txn's write already
 * sits at that ts, the same write flagged as overlapping a rollback (only when protected: an
 * unprotected rollback may be lost, TiKV `make_rollback`).
 */
export function makeRollback(startTs: bigint, protectedRollback: boolean, overlapped: OverlappedWrite | undefined): Write | undefined {
  if (overlapped === undefined) return newRollback(startTs, protectedRollback);
  if (!protectedRollback) return undefined;
  return { ...overlapped.write, hasOverlappedRollback: true, gcFence: overlapped.gcFence };
}

/** Rolls back this txn's `lock` on `key` (TiKV `rollback_lock`). */
export function rollbackLock(
  txn: MvccTxn,
  reader: MvccReader,
  key: EncodedKey,
  lock: Lock,
  isPessimisticTxn: boolean,
  collapseRollback: boolean,
): ReleasedLock {
  const record = reader.getTxnCommitRecord(key, txn.startTs);
  if (record.kind === 'single' && record.write.writeType !== 'Rollback') {
    // A commit record next to its own lock cannot happen; refuse rather than destroy data.
    throw new Error(`txn ${txn.startTs} holds a lock on a key it already committed at ${record.commitTs}`);
  }
  if (record.kind !== 'none') return txn.unlockKey(key, isPessimisticTxn);
  if (lock.shortValue === undefined && lock.lockType === 'Put') txn.deleteValue(key, lock.startTs);
  // Only a pessimistic txn's primary needs protection: its optimistic-looking retries could
  // otherwise prewrite it again after the rollback was collapsed.
  const protectedRollback = isPessimisticTxn && isEncodedFrom(key, lock.primary);
  const write = makeRollback(txn.startTs, protectedRollback, record.overlappedWrite);
  if (write !== undefined) txn.putWrite(key, txn.startTs, write);
  if (collapseRollback) collapsePrevRollback(txn, reader, key);
  return txn.unlockKey(key, isPessimisticTxn);
}

/** The status when the primary holds this txn's lock (TiKV `check_txn_status_lock_exists`). */
export function checkTxnStatusLockExists(
  txn: MvccTxn,
  reader: MvccReader,
  primaryKey: EncodedKey,
  lock: Lock,
  currentTs: bigint,
  callerStartTs: bigint,
  resolvingPessimisticLock: boolean,
): TxnStatus {
  const isPessimisticTxn = lock.forUpdateTs !== 0n;
  if (physicalOf(lock.startTs) + lock.ttl < physicalOf(currentTs)) {
    if (resolvingPessimisticLock && lock.lockType === 'Pessimistic') {
      txn.unlockKey(primaryKey, isPessimisticTxn);
      return { kind: 'pessimisticRolledBack' };
    }
    rollbackLock(txn, reader, primaryKey, lock, isPessimisticTxn, true);
    return { kind: 'ttlExpire' };
  }
  let current = lock;
  // Push min_commit_ts past the caller's read so that it need not wait; only for locks that
  // already carry one (an old client may not cope with a pushed commit ts otherwise).
  if (lock.minCommitTs !== 0n && callerStartTs !== TS_MAX && callerStartTs >= lock.minCommitTs) {
    let pushed = callerStartTs + 1n;
    if (pushed < currentTs) pushed = currentTs;
    current = { ...lock, minCommitTs: pushed };
    txn.putLock(primaryKey, current);
  }
  const minCommitTsPushed = (callerStartTs !== 0n && current.minCommitTs > callerStartTs) || callerStartTs === TS_MAX;
  return { kind: 'locked', lock: current, ttl: current.ttl, minCommitTs: current.minCommitTs, minCommitTsPushed };
}

/** The status when the txn's lock is not on the key (TiKV `check_txn_status_missing_lock`). */
export function checkTxnStatusMissingLock(
  txn: MvccTxn,
  reader: MvccReader,
  primaryKey: EncodedKey,
  mismatchLock: Lock | undefined,
  action: MissingLockAction,
  resolvingPessimisticLock: boolean,
): TxnStatus {
  const record = reader.getTxnCommitRecord(primaryKey, txn.startTs);
  if (record.kind === 'single') {
    return record.write.writeType === 'Rollback' ? { kind: 'rolledBack' } : { kind: 'committed', commitTs: record.commitTs };
  }
  if (record.kind === 'overlappedRollback') return { kind: 'rolledBack' };
  if (action === 'returnError') throw txnNotFoundError(txn.startTs, rawOf(primaryKey));
  if (resolvingPessimisticLock) return { kind: 'lockNotExistDoNothing' };
  const protectedRollback = action === 'protectedRollback';
  if (!protectedRollback) collapsePrevRollback(txn, reader, primaryKey);
  if (mismatchLock !== undefined && record.overlappedWrite === undefined) {
    markRollbackOnMismatchingLock(txn, primaryKey, mismatchLock, protectedRollback);
  }
  // The rollback record stops a prewrite of this txn that is still in flight.
  const write = makeRollback(txn.startTs, protectedRollback, record.overlappedWrite);
  if (write !== undefined) txn.putWrite(primaryKey, txn.startTs, write);
  return { kind: 'lockNotExist' };
}

/**
 * Another txn's lock sits on a key we write a protected rollback to. If that txn could commit
 * at exactly our start ts (only async commit computes commit timestamps), its commit would
 * overwrite our rollback record; noting our ts in its lock makes the commit keep the rollback
 * as a flag (TiKV `mark_rollback_on_mismatching_lock`).
 */
function markRollbackOnMismatchingLock(txn: MvccTxn, key: EncodedKey, lock: Lock, isProtected: boolean): void {
  if (!isProtected || txn.startTs < lock.minCommitTs || !lock.useAsyncCommit) return;
  txn.putLock(key, { ...lock, rollbackTs: [...lock.rollbackTs, txn.startTs] });
}

export interface CheckTxnStatusArgs {
  readonly primaryKey: EncodedKey;
  /** The caller's clock; the lock expires when its physical time passes lock start + ttl. */
  readonly currentTs: bigint;
  /** The reader that met the lock: min_commit_ts is pushed past it. 0n for none, u64 max for an autocommit point get. */
  readonly callerStartTs: bigint;
  /** With no lock and no record, write a protected rollback instead of TXN_NOT_FOUND. */
  readonly rollbackIfNotExist: boolean;
  /** The caller is resolving a pessimistic lock: an expired pessimistic primary is only unlocked. */
  readonly resolvingPessimisticLock?: boolean;
}

/** checkTxnStatus on the primary of txn `txn.startTs` (TiKV `CheckTxnStatus` command). */
export function checkTxnStatus(txn: MvccTxn, reader: MvccReader, args: CheckTxnStatusArgs): TxnStatus {
  assertKey(args.primaryKey);
  assertTs('currentTs', args.currentTs);
  assertTs('callerStartTs', args.callerStartTs);
  const resolving = args.resolvingPessimisticLock === true;
  return txn.guard(() => {
    const lock = reader.loadLock(args.primaryKey);
    if (lock !== undefined && lock.startTs === txn.startTs) {
      if (lock.useAsyncCommit) {
        // Async-commit txns are decided by resolveLock over all their keys, never here.
        return { kind: 'locked', lock, ttl: lock.ttl, minCommitTs: lock.minCommitTs, minCommitTsPushed: false };
      }
      return checkTxnStatusLockExists(txn, reader, args.primaryKey, lock, args.currentTs, args.callerStartTs, resolving);
    }
    return checkTxnStatusMissingLock(txn, reader, args.primaryKey, lock, args.rollbackIfNotExist ? 'protectedRollback' : 'returnError', resolving);
  });
}
