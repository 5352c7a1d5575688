/**
 * acquirePessimisticLock (TiKV `src/storage/txn/actions/acquire_pessimistic_lock.rs`): a
 * pessimistic txn locks a key before writing it, reading at forUpdateTs (read-committed within
 * the txn): any commit newer than forUpdateTs is a WRITE_CONFLICT and the client retries with a
 * new forUpdateTs. The lock is type Pessimistic and carries no value until prewrite.
 */
import { newLock, type EncodedKey } from '../../codec/index.js';
import { InvalidArgumentError } from '../../errors.js';
import { keyIsLockedError, writeConflictError } from '../mvcc/errors.js';
import type { MvccReader } from '../mvcc/reader.js';
import type { MvccTxn } from '../mvcc/txn.js';
import { checkDataConstraint } from './check-data-constraint.js';
import { assertKey, assertTs, rawOf } from './common.js';

export interface AcquirePessimisticLockArgs {
  readonly key: EncodedKey;
  /** Raw primary key of the txn. */
  readonly primary: Uint8Array;
  readonly forUpdateTs: bigint;
  readonly lockTtl: bigint;
  /** ALREADY_EXIST if the key exists (an insert). */
  readonly shouldNotExist?: boolean;
  /** Return the value visible at forUpdateTs. */
  readonly returnValue?: boolean;
  readonly minCommitTs?: bigint;
}

export interface AcquirePessimisticLockResult {
  /** With returnValue: the value at forUpdateTs, undefined if none. */
  readonly value?: Uint8Array | undefined;
}

export function acquirePessimisticLock(txn: MvccTxn, reader: MvccReader, args: AcquirePessimisticLockArgs): AcquirePessimisticLockResult {
  assertKey(args.key);
  assertTs('forUpdateTs', args.forUpdateTs);
  assertTs('lockTtl', args.lockTtl);
  if (!(args.primary instanceof Uint8Array)) throw new TypeError('acquirePessimisticLock: primary must be a Uint8Array');
  const startTs = txn.startTs;
  const { key, forUpdateTs } = args;
  if (forUpdateTs < startTs) {
    throw new InvalidArgumentError(`acquirePessimisticLock: forUpdateTs ${forUpdateTs} is below startTs ${startTs}`, { startTs, forUpdateTs });
  }
  const returnValue = args.returnValue === true;
  const shouldNotExist = args.shouldNotExist === true;
  const pessimisticLock = () =>
    newLock({ lockType: 'Pessimistic', primary: args.primary, startTs, ttl: args.lockTtl, forUpdateTs, minCommitTs: args.minCommitTs ?? 0n });

  return txn.guard(() => {
    const lock = reader.loadLock(key);
    if (lock !== undefined) {
      if (lock.startTs !== startTs) throw keyIsLockedError(rawOf(key), lock);
      if (lock.lockType !== 'Pessimistic') {
        // Already prewritten by this txn: locking it again is a protocol error (TiKV LockTypeNotMatch).
        throw new InvalidArgumentError('acquirePessimisticLock: the key is already prewritten by this txn (LockTypeNotMatch)', { startTs });
      }
      const value = returnValue ? reader.getValueAt(key, forUpdateTs) : undefined;
      // A retried request with a newer forUpdateTs moves the lock forward; an older one is a duplicate.
      if (forUpdateTs > lock.forUpdateTs) txn.putLock(key, pessimisticLock());
      return returnValue ? { value } : {};
    }
    let value: Uint8Array | undefined;
    const newest = reader.seekWrite(key, 0xffff_ffff_ffff_ffffn);
    if (newest !== undefined) {
      const { commitTs, write } = newest;
      if (commitTs > forUpdateTs) {
        throw writeConflictError({
          startTs,
          conflictStartTs: write.startTs,
          conflictCommitTs: commitTs,
          key: rawOf(key),
          primary: args.primary,
          reason: 'PessimisticRetry',
        });
      }
      // This txn was already rolled back on the key (a rollback record, or the flag on a write
      // at our start ts): the lock request is stale.
      const rolledBackHere = (c: bigint, w: typeof write) => c === startTs && (w.writeType === 'Rollback' || w.hasOverlappedRollback);
      let rolledBack = rolledBackHere(commitTs, write);
      if (!rolledBack && commitTs > startTs) {
        const older = reader.seekWrite(key, startTs);
        rolledBack = older !== undefined && rolledBackHere(older.commitTs, older.write);
      }
      if (rolledBack) {
        throw writeConflictError({
          startTs,
          conflictStartTs: startTs,
          conflictCommitTs: startTs,
          key: rawOf(key),
          primary: args.primary,
          reason: 'PessimisticLockRolledBack',
        });
      }
      checkDataConstraint(reader, shouldNotExist, write, commitTs, key);
      if (returnValue) {
        if (write.writeType === 'Put') value = reader.loadData(key, write);
        else if (write.writeType !== 'Delete') value = commitTs > 0n ? reader.getValueAt(key, commitTs - 1n) : undefined;
      }
    }
    txn.putLock(key, pessimisticLock());
    return returnValue ? { value } : {};
  });
}
