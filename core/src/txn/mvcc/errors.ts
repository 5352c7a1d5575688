/**
 * The KvErrors of the MVCC layer (DESIGN.md section 5), each carrying what a client needs to
 * act on it in `details`: the lock to resolve, the conflicting timestamps to retry after.
 * TiKV errors without a code of their own map onto the nearest code, with `details.reason`
 * naming the TiKV error (e.g. PessimisticLockNotFound is TXN_LOCK_NOT_FOUND).
 */
import { KvError } from '../../errors.js';
import type { Lock } from '../../codec/index.js';

function show(key: Uint8Array): string {
  let s = '';
  for (let i = 0; i < key.length && i < 32; i++) {
    const c = key[i]!;
    s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '\\x' + c.toString(16).padStart(2, '0');
  }
  return key.length > 32 ? s + '..' : s;
}

/** KEY_IS_LOCKED: `details.lock` is the decoded Lock, `details.key` the raw key it guards. */
export function keyIsLockedError(rawKey: Uint8Array, lock: Lock): KvError {
  return new KvError('KEY_IS_LOCKED', `key "${show(rawKey)}" is locked by txn ${lock.startTs} (primary "${show(lock.primary)}", ttl ${lock.ttl})`, {
    key: rawKey,
    lock,
    primary: lock.primary,
    lockTs: lock.startTs,
    ttl: lock.ttl,
    minCommitTs: lock.minCommitTs,
  });
}

export interface WriteConflictInfo {
  readonly startTs: bigint;
  readonly conflictStartTs: bigint;
  readonly conflictCommitTs: bigint;
  readonly key: Uint8Array;
  readonly primary: Uint8Array;
  /** 'Optimistic' (prewrite), 'PessimisticRetry' (lock acquisition), 'SelfRolledBack', 'PessimisticLockRolledBack'. */
  readonly reason: string;
}

export function writeConflictError(info: WriteConflictInfo): KvError {
  return new KvError(
    'WRITE_CONFLICT',
    `write conflict on "${show(info.key)}": txn ${info.startTs} meets the write of txn ${info.conflictStartTs} committed at ${info.conflictCommitTs} (${info.reason})`,
    { ...info },
  );
}

export function alreadyExistError(rawKey: Uint8Array): KvError {
  return new KvError('ALREADY_EXIST', `key "${show(rawKey)}" already exists`, { key: rawKey });
}

export function txnLockNotFoundError(startTs: bigint, commitTs: bigint, rawKey: Uint8Array, reason = 'TxnLockNotFound'): KvError {
  return new KvError('TXN_LOCK_NOT_FOUND', `txn ${startTs} has no lock on "${show(rawKey)}" (${reason})`, { startTs, commitTs, key: rawKey, reason });
}

export function committedError(startTs: bigint, commitTs: bigint, rawKey: Uint8Array): KvError {
  return new KvError('COMMITTED', `txn ${startTs} is already committed at ${commitTs} on "${show(rawKey)}"`, { startTs, commitTs, key: rawKey });
}

export function txnNotFoundError(startTs: bigint, rawKey: Uint8Array): KvError {
  return new KvError('TXN_NOT_FOUND', `txn ${startTs} not found on primary "${show(rawKey)}"`, { startTs, key: rawKey });
}

export function invalidTxnTsoError(message: string, details: Record<string, unknown>): KvError {
  return new KvError('INVALID_TXN_TSO', message, details);
}
