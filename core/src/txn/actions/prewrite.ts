/**
 * Prewrite (TiKV `src/storage/txn/actions/prewrite.rs`): the first phase of Percolator's
 * two-phase commit for one key. It checks the key's lock and newer commits, then stores a lock
 * holding the value (short) or pointing at it (default CF), or with 1PC keeps the lock in the txn
 * so `commitOnePc` writes the Write record at once. Async commit (secondaries) is not supported.
 */
import { newLock, type Lock, type LockType } from '../../codec/index.js';
import type { EncodedKey } from '../../codec/index.js';
import { SHORT_VALUE_MAX_LEN, newWrite } from '../../codec/index.js';
import { InvalidArgumentError } from '../../errors.js';
import { invalidTxnTsoError, keyIsLockedError, txnLockNotFoundError, writeConflictError } from '../mvcc/errors.js';
import type { MvccReader } from '../mvcc/reader.js';
import type { MvccTxn } from '../mvcc/txn.js';
import { checkDataConstraint } from './check-data-constraint.js';
import { assertKey, assertTs, maxTs, rawOf } from './common.js';

/**
 * 'insert' is a put that fails with ALREADY_EXIST if the key exists; 'checkNotExists' only
 * checks that and writes nothing (optimistic transactions only).
 */
export type MutationOp = 'put' | 'delete' | 'lock' | 'insert' | 'checkNotExists';

export interface Mutation {
  readonly op: MutationOp;
  readonly key: EncodedKey;
  /** Required for put and insert. */
  readonly value?: Uint8Array;
}

/** What every key of one prewrite shares (TiKV `TransactionProperties`). */
export interface TxnProps {
  readonly startTs: bigint;
  /** Raw primary key, stored in every lock so readers can find the txn's status. */
  readonly primary: Uint8Array;
  /** Lock TTL in milliseconds of physical time. */
  readonly lockTtl: bigint;
  readonly txnSize?: bigint;
  readonly minCommitTs?: bigint;
  /** Non-zero makes this a pessimistic transaction's prewrite. */
  readonly forUpdateTs?: bigint;
  /** Keep the locks in the txn for `commitOnePc` instead of storing them. */
  readonly tryOnePc?: boolean;
  /** Optimistic only: the caller guarantees no conflicting write, skip the newer-version check. */
  readonly skipConstraintCheck?: boolean;
}

export interface PrewriteResult {
  /** With 1PC: the smallest ts the txn may commit at; otherwise 0n. */
  readonly minCommitTs: bigint;
}

const LOCK_TYPE: Record<Exclude<MutationOp, 'checkNotExists'>, LockType> = {
  put: 'Put',
  insert: 'Put',
  delete: 'Delete',
  lock: 'Lock',
};

function checkArgs(props: TxnProps, mutation: Mutation): void {
  if (props === null || typeof props !== 'object') throw new TypeError('prewrite: props must be an object');
  assertTs('startTs', props.startTs);
  assertTs('lockTtl', props.lockTtl);
  if (!(props.primary instanceof Uint8Array)) throw new TypeError('prewrite: primary must be a Uint8Array');
  if (mutation === null || typeof mutation !== 'object') throw new TypeError('prewrite: mutation must be an object');
  assertKey(mutation.key);
  if (!(mutation.op in LOCK_TYPE) && mutation.op !== 'checkNotExists') throw new TypeError(`prewrite: unknown mutation op ${JSON.stringify(mutation.op)}`);
  if ((mutation.op === 'put' || mutation.op === 'insert') && !(mutation.value instanceof Uint8Array)) {
    throw new TypeError(`prewrite: a ${mutation.op} needs a Uint8Array value`);
  }
}

export function prewrite(txn: MvccTxn, reader: MvccReader, props: TxnProps, mutation: Mutation, isPessimisticLock = false): PrewriteResult {
  checkArgs(props, mutation);
  const { startTs } = props;
  if (startTs !== txn.startTs) throw new TypeError(`prewrite: props.startTs ${startTs} is not the txn's ${txn.startTs}`);
  const forUpdateTs = props.forUpdateTs ?? 0n;
  const isPessimisticTxn = forUpdateTs !== 0n;
  const key = mutation.key;
  const shouldNotWrite = mutation.op === 'checkNotExists';
  const shouldNotExist = shouldNotWrite || mutation.op === 'insert';
  if (isPessimisticTxn && shouldNotWrite) {
    throw new InvalidArgumentError('prewrite: checkNotExists cannot be used in a pessimistic prewrite', { startTs });
  }
  if (!isPessimisticTxn && isPessimisticLock) {
    throw new InvalidArgumentError('prewrite: isPessimisticLock needs a pessimistic txn (forUpdateTs > 0)', { startTs });
  }

  return txn.guard(() => {
    let ttl = props.lockTtl;
    let minCommitTs = props.minCommitTs ?? 0n;
    let hasPessimisticLock = false;
    let amended = false;
    const lock = reader.loadLock(key);
    if (lock !== undefined) {
      if (lock.startTs !== startTs) {
        // A key this txn locked pessimistically must still hold that lock.
        if (isPessimisticLock) throw txnLockNotFoundError(startTs, 0n, rawOf(key), 'PessimisticLockNotFound');
        throw keyIsLockedError(rawOf(key), lock);
      }
      if (lock.lockType !== 'Pessimistic') {
        // Our own prewrite lock already there: a retried request, nothing to do.
        return { minCommitTs: 0n };
      }
      if (!isPessimisticTxn) {
        throw new InvalidArgumentError('prewrite: an optimistic prewrite met its own pessimistic lock (LockTypeNotMatch)', { startTs });
      }
      // The heartbeat or a reader may have pushed these forward since the lock was taken.
      ttl = maxTs(ttl, lock.ttl);
      minCommitTs = maxTs(minCommitTs, lock.minCommitTs);
      hasPessimisticLock = true;
    } else if (isPessimisticLock) {
      // The pessimistic lock is gone (e.g. lost with a leader change): it may be re-created
      // only if nothing committed since forUpdateTs, the ts the txn read the key at.
      amendPessimisticLock(reader, key, startTs, shouldNotExist);
      amended = true;
    }

    const skipConstraintCheck = isPessimisticTxn ? isPessimisticLock : props.skipConstraintCheck === true;
    if (!skipConstraintCheck && !amended) checkForNewerVersion(reader, key, props, shouldNotExist);

    const onePc = props.tryOnePc === true;
    const onePcMinCommitTs = maxTs(maxTs(minCommitTs, startTs + 1n), forUpdateTs + 1n);
    if (shouldNotWrite) return { minCommitTs: onePc ? onePcMinCommitTs : 0n };

    const value = mutation.value;
    let shortValue: Uint8Array | undefined;
    if (mutation.op === 'put' || mutation.op === 'insert') {
      if (value!.length <= SHORT_VALUE_MAX_LEN) shortValue = value;
      else txn.putValue(key, startTs, value!);
    }
    const newL: Lock = newLock({
      lockType: LOCK_TYPE[mutation.op as Exclude<MutationOp, 'checkNotExists'>],
      primary: props.primary,
      startTs,
      ttl,
      shortValue,
      forUpdateTs,
      txnSize: props.txnSize ?? 0n,
      minCommitTs: onePc ? onePcMinCommitTs : minCommitTs,
    });
    if (onePc) {
      txn.putLockForOnePc(key, newL, hasPessimisticLock);
      return { minCommitTs: onePcMinCommitTs };
    }
    txn.putLock(key, newL);
    return { minCommitTs: 0n };
  });
}

function checkForNewerVersion(reader: MvccReader, key: EncodedKey, props: TxnProps, shouldNotExist: boolean): void {
  const found = reader.seekWrite(key, 0xffff_ffff_ffff_ffffn);
  if (found === undefined) return;
  const { commitTs, write } = found;
  if (commitTs > props.startTs) {
    throw writeConflictError({
      startTs: props.startTs,
      conflictStartTs: write.startTs,
      conflictCommitTs: commitTs,
      key: rawOf(key),
      primary: props.primary,
      reason: 'Optimistic',
    });
  }
  // A record at exactly our start ts that is (or carries) a rollback: we were rolled back
  // already, and a stale prewrite must not resurrect the txn.
  if (commitTs === props.startTs && (write.writeType === 'Rollback' || write.hasOverlappedRollback)) {
    throw writeConflictError({
      startTs: props.startTs,
      conflictStartTs: write.startTs,
      conflictCommitTs: commitTs,
      key: rawOf(key),
      primary: props.primary,
      reason: 'SelfRolledBack',
    });
  }
  checkDataConstraint(reader, shouldNotExist, write, commitTs, key);
}

function amendPessimisticLock(reader: MvccReader, key: EncodedKey, startTs: bigint, shouldNotExist: boolean): void {
  const found = reader.seekWrite(key, 0xffff_ffff_ffff_ffffn);
  if (found === undefined) return;
  // TiKV's amend_pessimistic_lock compares with the txn's start_ts, not forUpdateTs: any record
  // at or after start_ts may be a change made after the lock was taken, or a rollback of this
  // very txn (flashback's RollbackLock, a resolver) that a stale prewrite must not undo.
  if (found.commitTs >= startTs) throw txnLockNotFoundError(startTs, 0n, rawOf(key), 'PessimisticLockNotFound');
  checkDataConstraint(reader, shouldNotExist, found.write, found.commitTs, key);
}

/**
 * Commits the locks a 1PC prewrite kept (TiKV `handle_1pc_locks`): each becomes a Write record
 * at `commitTs`, and a pessimistic lock it replaced is removed. `commitTs` must come from the
 * TSO and be at least every returned `minCommitTs`, so it cannot land on another txn's rollback.
 */
export function commitOnePc(txn: MvccTxn, commitTs: bigint): void {
  assertTs('commitTs', commitTs);
  for (const { lock } of txn.locksForOnePc) {
    if (commitTs <= txn.startTs || commitTs < lock.minCommitTs) {
      throw invalidTxnTsoError(`1PC commit ts ${commitTs} is below min commit ts ${lock.minCommitTs} of txn ${txn.startTs}`, {
        startTs: txn.startTs,
        commitTs,
        minCommitTs: lock.minCommitTs,
        reason: 'CommitTsExpired',
      });
    }
  }
  txn.guard(() => {
    for (const { key, lock, unlockPessimistic } of txn.locksForOnePc) {
      // Pessimistic locks never reach here: prewrite turned them into Put/Delete/Lock.
      txn.putWrite(key, commitTs, newWrite(lock.lockType as 'Put' | 'Delete' | 'Lock', txn.startTs, lock.shortValue));
      if (unlockPessimistic) txn.unlockKey(key, true);
    }
    txn.locksForOnePc.length = 0;
  });
}
