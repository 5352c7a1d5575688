import test from 'ava';
import { MvccTxn, prewrite } from '@flashkv/core';
import { bytes } from '@flashkv/core/testing';
import {
  Store,
  k,
  mustAcquirePessimisticLock,
  mustAcquirePessimisticLockErr,
  mustCheckTxnStatus,
  mustCommit,
  mustGet,
  mustGetNone,
  mustGetRollbackTs,
  mustLocked,
  mustPessimisticPrewritePut,
  mustPessimisticRollback,
  mustPrewriteErr,
  mustPrewriteLock,
  mustPrewritePut,
  mustRollback,
  mustUnlocked,
  mustWrite,
} from './mvcc-must.js';

const tso = (ms: number) => BigInt(ms) << 18n;

async function commitPut(s: Store, key: string, value: string, startTs: number, commitTs: number): Promise<void> {
  await mustPrewritePut(s, key, value, key, startTs);
  await mustCommit(s, key, startTs, commitTs);
}

test('acquire, pessimistic prewrite, commit: the lock is Pessimistic until prewrite and never blocks reads', async (t) => {
  const s = new Store();
  await commitPut(s, 'k', 'v0', 1, 2);
  await mustAcquirePessimisticLock(s, 'k', 'k', 10, 10);
  const lock = mustLocked(s, 'k', 10);
  t.is(lock.lockType, 'Pessimistic');
  t.is(lock.forUpdateTs, 10n);
  t.is(lock.shortValue, undefined);
  mustGet(s, 'k', 20, 'v0');
  // Another txn cannot lock or prewrite it.
  mustAcquirePessimisticLockErr(s, 'KEY_IS_LOCKED', 'k', 'k', 11, 11);
  mustPrewriteErr(s, 'KEY_IS_LOCKED', 'put', 'k', 'x', 'k', 11);
  await mustPessimisticPrewritePut(s, 'k', 'v1', 'k', 10, 10);
  const l2 = mustLocked(s, 'k', 10);
  t.is(l2.lockType, 'Put');
  t.is(l2.forUpdateTs, 10n);
  await mustCommit(s, 'k', 10, 15);
  mustGet(s, 'k', 15, 'v1');
  mustUnlocked(s, 'k');
});

test('acquire meets a commit newer than forUpdateTs: WRITE_CONFLICT, then a retry at a newer forUpdateTs works', async (t) => {
  const s = new Store();
  await commitPut(s, 'k', 'v0', 12, 15);
  const e = mustAcquirePessimisticLockErr(s, 'WRITE_CONFLICT', 'k', 'k', 10, 10);
  t.like(e.details, { startTs: 10n, conflictStartTs: 12n, conflictCommitTs: 15n, reason: 'PessimisticRetry' });
  mustUnlocked(s, 'k');
  // Pessimistic txns read committed at forUpdateTs: a retry past the commit succeeds.
  t.is(await mustAcquirePessimisticLock(s, 'k', 'k', 10, 16, { returnValue: true }), 'v0');
  await mustPessimisticPrewritePut(s, 'k', 'v1', 'k', 10, 16);
  await mustCommit(s, 'k', 10, 20);
  mustGet(s, 'k', 20, 'v1');
});

test('acquire returns the value at forUpdateTs, looking below Lock records; ALREADY_EXIST with shouldNotExist', async (t) => {
  const s = new Store();
  await commitPut(s, 'k', 'v0', 1, 2);
  await mustPrewriteLock(s, 'k', 'k', 3);
  await mustCommit(s, 'k', 3, 4);
  t.is(await mustAcquirePessimisticLock(s, 'k', 'k', 10, 10, { returnValue: true }), 'v0');
  // A second request of the same txn (retry) returns it again and keeps one lock.
  t.is(await mustAcquirePessimisticLock(s, 'k', 'k', 10, 11, { returnValue: true }), 'v0');
  t.is(mustLocked(s, 'k', 10).forUpdateTs, 11n);
  t.is(await mustAcquirePessimisticLock(s, 'none', 'k', 10, 11, { returnValue: true }), undefined);
});

test('acquire with shouldNotExist', async (t) => {
  const s = new Store();
  await commitPut(s, 'k', 'v0', 1, 2);
  mustAcquirePessimisticLockErr(s, 'ALREADY_EXIST', 'k', 'k', 10, 10, { shouldNotExist: true });
  await mustAcquirePessimisticLock(s, 'n', 'n', 10, 10, { shouldNotExist: true });
  t.is(mustLocked(s, 'n', 10).lockType, 'Pessimistic');
});

test('pessimisticRollback releases only a pessimistic lock taken at or before forUpdateTs', async (t) => {
  const s = new Store();
  await mustAcquirePessimisticLock(s, 'k', 'k', 10, 12);
  await mustPessimisticRollback(s, 'k', 10, 11);
  mustLocked(s, 'k', 10);
  await mustPessimisticRollback(s, 'k', 9, 20);
  mustLocked(s, 'k', 10);
  await mustPessimisticRollback(s, 'k', 10, 12);
  mustUnlocked(s, 'k');
  t.deepEqual(s.engine.entries('write'), []);
  // A prewritten lock is not touched.
  await mustAcquirePessimisticLock(s, 'p', 'p', 20, 20);
  await mustPessimisticPrewritePut(s, 'p', 'v', 'p', 20, 20);
  await mustPessimisticRollback(s, 'p', 20, 20);
  t.is(mustLocked(s, 'p', 20).lockType, 'Put');
});

test('pessimistic prewrite with a lost lock: amended only if no record exists at or after start_ts (TiKV amend_pessimistic_lock)', async (t) => {
  const s = new Store();
  await commitPut(s, 'k', 'v0', 1, 5);
  // No lock (lost), but the newest commit is below start_ts: the lock is re-created.
  await mustPessimisticPrewritePut(s, 'k', 'v1', 'k', 10, 10);
  mustLocked(s, 'k', 10);
  await mustCommit(s, 'k', 10, 11);
  // A commit after forUpdateTs: TXN_LOCK_NOT_FOUND (PessimisticLockNotFound).
  const e = mustPrewriteErr(s, 'TXN_LOCK_NOT_FOUND', 'put', 'k', 'v2', 'k', 8, { forUpdateTs: 9, isPessimisticLock: true });
  t.is(e.details.reason, 'PessimisticLockNotFound');
  // A commit between start_ts and forUpdateTs is refused too: the txn's lock on this key may
  // have been taken at an earlier forUpdateTs, so the change may have come after it.
  await commitPut(s, 'm', 'v0', 12, 14);
  t.is(mustPrewriteErr(s, 'TXN_LOCK_NOT_FOUND', 'put', 'm', 'v1', 'm', 13, { forUpdateTs: 20, isPessimisticLock: true }).details.reason, 'PessimisticLockNotFound');
  // A txn whose pessimistic lock was rolled back (by a resolver or flashback's RollbackLock)
  // must not be resurrected by a late prewrite.
  await mustAcquirePessimisticLock(s, 'r', 'r', 60, 60);
  await mustRollback(s, 'r', 60);
  t.true(mustGetRollbackTs(s, 'r', 60));
  t.is(mustPrewriteErr(s, 'TXN_LOCK_NOT_FOUND', 'put', 'r', 'v', 'r', 60, { forUpdateTs: 60, isPessimisticLock: true }).details.reason, 'PessimisticLockNotFound');
  mustUnlocked(s, 'r');
  // Another txn's lock where ours should be: same error, not KEY_IS_LOCKED.
  await mustPrewritePut(s, 'o', 'x', 'o', 20);
  mustPrewriteErr(s, 'TXN_LOCK_NOT_FOUND', 'put', 'o', 'v', 'o', 21, { forUpdateTs: 21, isPessimisticLock: true });
  // Keys without a pessimistic lock in a pessimistic txn are checked like optimistic ones.
  await commitPut(s, 'i', 'v', 30, 35);
  mustPrewriteErr(s, 'WRITE_CONFLICT', 'put', 'i', 'v', 'k', 31, { forUpdateTs: 40, isPessimisticLock: false });
  // An optimistic prewrite meeting its own pessimistic lock is a protocol error.
  await mustAcquirePessimisticLock(s, 'q', 'q', 50, 50);
  mustPrewriteErr(s, 'INVALID_ARGUMENT', 'put', 'q', 'v', 'q', 50);
});

test('a pessimistic txn primary gets a protected rollback; its secondaries do not', async (t) => {
  const s = new Store();
  await mustAcquirePessimisticLock(s, 'p', 'p', 10, 10);
  await mustAcquirePessimisticLock(s, 's', 'p', 10, 10);
  await mustRollback(s, 'p', 10);
  await mustRollback(s, 's', 10);
  t.true(mustGetRollbackTs(s, 'p', 10));
  t.false(mustGetRollbackTs(s, 's', 10));
  // Acquiring after the rollback is refused: the lock request is stale.
  t.is(mustAcquirePessimisticLockErr(s, 'WRITE_CONFLICT', 'p', 'p', 10, 11).details.reason, 'PessimisticLockRolledBack');
  // A later unprotected rollback does not collapse the protected one, but does collapse the other.
  await mustRollback(s, 'p', 12);
  await mustRollback(s, 's', 12);
  t.true(mustGetRollbackTs(s, 'p', 10));
  t.throws(() => mustWrite(s, 's', 10));
  // The rollback is found below newer records too.
  const e = mustAcquirePessimisticLockErr(s, 'WRITE_CONFLICT', 'p', 'p', 10, 13);
  t.is(e.details.reason, 'PessimisticLockRolledBack');
});

test('a leftover pessimistic lock of a committed txn commits as a Lock record; resolve skips it', async (t) => {
  const s = new Store();
  await mustAcquirePessimisticLock(s, 'k', 'k', 10, 10);
  await mustCommit(s, 'k', 10, 15);
  const w = mustWrite(s, 'k', 15);
  t.is(w.writeType, 'Lock');
  mustUnlocked(s, 'k');
  mustGetNone(s, 'k', 20);
});

test('checkTxnStatus on an expired pessimistic primary while resolving a pessimistic lock only unlocks it', async (t) => {
  const s = new Store();
  const start = tso(1000);
  await mustAcquirePessimisticLock(s, 'p', 'p', start, start, { ttl: 10 });
  const st = await mustCheckTxnStatus(s, 'p', start, start + 1n, tso(2000), false, true);
  t.is(st.kind, 'pessimisticRolledBack');
  mustUnlocked(s, 'p');
  t.deepEqual(s.engine.entries('write'), []);
  t.deepEqual(await mustCheckTxnStatus(s, 'p', start, 0, tso(2000), true, true), { kind: 'lockNotExistDoNothing' });
  // Not resolving: an expired pessimistic primary gets the protected rollback.
  await mustAcquirePessimisticLock(s, 'q', 'q', start, start, { ttl: 10 });
  t.is((await mustCheckTxnStatus(s, 'q', start, 0, tso(2000), false)).kind, 'ttlExpire');
  t.true(mustGetRollbackTs(s, 'q', start));
});

test('1PC in a pessimistic txn turns the pessimistic lock into a Write record and removes the lock', async (t) => {
  const s = new Store();
  await mustAcquirePessimisticLock(s, 'k', 'k', 10, 12);
  const txn = new MvccTxn(10n);
  const res = prewrite(txn, s.reader(), { startTs: 10n, primary: bytes('k'), lockTtl: 100n, forUpdateTs: 12n, tryOnePc: true }, { op: 'put', key: k('k'), value: bytes('v') }, true);
  t.is(res.minCommitTs, 13n);
  commitOnePcAction(txn, 14n);
  await s.apply(txn);
  mustUnlocked(s, 'k');
  mustGet(s, 'k', 14, 'v');
});

import { commitOnePc as commitOnePcAction } from '@flashkv/core';
