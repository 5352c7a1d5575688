import test from 'ava';
import { MvccTxn, codec, prewrite, scanLock, tsCfKey } from '@flashkv/core';
import { bytes, latin1 } from '@flashkv/core/testing';
import {
  Store,
  k,
  mustCheckTxnStatus,
  mustCheckTxnStatusErr,
  mustCleanup,
  mustCleanupErr,
  mustCommit,
  mustCommitErr,
  mustGet,
  mustGetCommitTs,
  mustGetErr,
  mustGetNone,
  mustGetRollbackTs,
  mustLocked,
  mustOnePcPut,
  mustPrewriteDelete,
  mustPrewriteErr,
  mustPrewriteLock,
  mustPrewritePut,
  mustResolveLock,
  mustRollback,
  mustRollbackErr,
  mustTxnHeartBeat,
  mustUnlocked,
  mustWrite,
  mustWriteNone,
} from './mvcc-must.js';

/** A TSO timestamp at `ms` physical milliseconds (FORMATS.md 3.2). */
const tso = (ms: number, logical = 0) => (BigInt(ms) << 18n) + BigInt(logical);

test('prewrite, commit, and commit retried after it succeeded', async (t) => {
  const s = new Store();
  await mustPrewritePut(s, 'k', 'v', 'k', 5);
  const lock = mustLocked(s, 'k', 5);
  t.is(lock.lockType, 'Put');
  t.is(latin1(lock.shortValue!), 'v');
  mustGetNone(s, 'k', 4);
  await mustCommit(s, 'k', 5, 10);
  mustUnlocked(s, 'k');
  mustGet(s, 'k', 10, 'v');
  t.is(mustGetCommitTs(s, 'k', 5), 10n);
  // The same commit again (a retried request) is fine and writes nothing new.
  const before = s.engine.entries('write').length;
  await mustCommit(s, 'k', 5, 10);
  t.is(s.engine.entries('write').length, before);
  // Delete and Lock prewrites commit to Delete and Lock records.
  await mustPrewriteDelete(s, 'k', 'k', 20);
  await mustPrewriteLock(s, 'j', 'k', 20);
  await mustCommit(s, 'k', 20, 21);
  await mustCommit(s, 'j', 20, 21);
  t.is(mustWrite(s, 'k', 21).writeType, 'Delete');
  t.is(mustWrite(s, 'j', 21).writeType, 'Lock');
  mustGetNone(s, 'k', 21);
  mustGet(s, 'k', 20, 'v');
});

test('commit errors: no lock, rolled back, ts not after start, below min commit ts', async (t) => {
  const s = new Store();
  const e = mustCommitErr(s, 'TXN_LOCK_NOT_FOUND', 'k', 5, 10);
  t.is(e.details.startTs, 5n);
  await mustPrewritePut(s, 'k', 'v', 'k', 5);
  mustCommitErr(s, 'INVALID_TXN_TSO', 'k', 5, 5);
  await mustRollback(s, 'k', 5);
  // Commit after rollback fails: the rollback record wins.
  mustCommitErr(s, 'TXN_LOCK_NOT_FOUND', 'k', 5, 10);
  mustGetNone(s, 'k', 100);
  await mustPrewritePut(s, 'm', 'v', 'm', 20, { minCommitTs: 30 });
  const e2 = mustCommitErr(s, 'INVALID_TXN_TSO', 'm', 20, 25);
  t.is(e2.details.minCommitTs, 30n);
  mustLocked(s, 'm', 20);
  await mustCommit(s, 'm', 20, 30);
  mustGet(s, 'm', 30, 'v');
  // Another txn's lock on the key does not make our commit succeed.
  await mustPrewritePut(s, 'o', 'v', 'o', 40);
  mustCommitErr(s, 'TXN_LOCK_NOT_FOUND', 'o', 39, 45);
});

test('prewrite conflicts: a newer commit, another txn lock, and a duplicate prewrite', async (t) => {
  const s = new Store();
  await mustPrewritePut(s, 'k', 'v1', 'k', 10);
  await mustCommit(s, 'k', 10, 20);
  const e = mustPrewriteErr(s, 'WRITE_CONFLICT', 'put', 'k', 'v2', 'k', 15);
  t.like(e.details, { startTs: 15n, conflictStartTs: 10n, conflictCommitTs: 20n, reason: 'Optimistic' });
  await mustPrewritePut(s, 'k', 'v3', 'k', 25);
  const e2 = mustPrewriteErr(s, 'KEY_IS_LOCKED', 'put', 'k', 'v4', 'k', 30);
  t.is((e2.details.lock as codec.Lock).startTs, 25n);
  // A retried prewrite of the same txn records nothing.
  const txn = new MvccTxn(25n);
  prewrite(txn, s.reader(), { startTs: 25n, primary: bytes('k'), lockTtl: 3000n }, { op: 'put', key: k('k'), value: bytes('v3') });
  t.is(txn.modifies.length, 0);
  // A prewrite that arrives after its txn was rolled back must fail.
  await mustRollback(s, 'k', 25);
  const e3 = mustPrewriteErr(s, 'WRITE_CONFLICT', 'put', 'k', 'v3', 'k', 25);
  t.is(e3.details.reason, 'SelfRolledBack');
});

test('insert and checkNotExists: ALREADY_EXIST sees through Lock and Rollback records', async (t) => {
  const s = new Store();
  await mustPrewrite0(s);
  mustPrewriteErr(s, 'ALREADY_EXIST', 'insert', 'k', 'x', 'k', 10);
  mustPrewriteErr(s, 'ALREADY_EXIST', 'checkNotExists', 'k', undefined, 'k', 10);
  // A Lock record on top of the Put: the key still exists.
  await mustPrewriteLock(s, 'k', 'k', 12);
  await mustCommit(s, 'k', 12, 13);
  await mustRollback(s, 'k', 14);
  mustPrewriteErr(s, 'ALREADY_EXIST', 'insert', 'k', 'x', 'k', 15);
  // After a Delete the insert succeeds; checkNotExists writes nothing at all.
  await mustPrewriteDelete(s, 'k', 'k', 16);
  await mustCommit(s, 'k', 16, 17);
  const writes = s.engine.entries('lock').length;
  await mustPrewrite0(s, 'checkNotExists', 18);
  t.is(s.engine.entries('lock').length, writes);
  await mustPrewrite0(s, 'insert', 18);
  mustLocked(s, 'k', 18);
  await mustCommit(s, 'k', 18, 19);
  mustGet(s, 'k', 19, 'x');
});

async function mustPrewrite0(s: Store, op: 'put' | 'insert' | 'checkNotExists' = 'put', startTs = 1): Promise<void> {
  await s.run(startTs, (txn, r) => {
    prewrite(txn, r, { startTs: BigInt(startTs), primary: bytes('k'), lockTtl: 100n }, op === 'checkNotExists' ? { op, key: k('k') } : { op, key: k('k'), value: bytes('x') });
  });
  if (op === 'put') await mustCommit(s, 'k', startTs, startTs + 1);
}

test('1PC writes Write records at the commit ts directly, no locks; large values too', async (t) => {
  const s = new Store();
  const big = 'B'.repeat(1000);
  const min = await mustOnePcPut(s, [['a', 'va'], ['b', big]], 'a', 10, 12);
  t.is(min, 11n);
  mustUnlocked(s, 'a');
  mustUnlocked(s, 'b');
  t.deepEqual(s.engine.entries('lock'), []);
  mustGet(s, 'a', 12, 'va');
  mustGet(s, 'b', 12, big);
  mustGetNone(s, 'b', 11);
  t.is(mustWrite(s, 'a', 12).startTs, 10n);
  // A commit ts below the returned min commit ts is refused and no Write record is recorded.
  const txn = new MvccTxn(20n);
  prewrite(txn, s.reader(), { startTs: 20n, primary: bytes('c'), lockTtl: 100n, tryOnePc: true, minCommitTs: 30n }, { op: 'put', key: k('c'), value: bytes('v') });
  t.is(txn.modifies.length, 0);
  t.is(txn.locksForOnePc.length, 1);
  t.throws(() => txnCommitOnePc(txn, 25n), { code: 'INVALID_TXN_TSO' } as never);
  t.is(txn.modifies.length, 0);
  txnCommitOnePc(txn, 30n);
  await s.apply(txn);
  t.is(mustWrite(s, 'c', 30).startTs, 20n);
  mustGet(s, 'c', 30, 'v');
});

import { commitOnePc as txnCommitOnePc } from '@flashkv/core';

test('rollback: removes the lock and a large value, leaves an unprotected rollback record', async (t) => {
  const s = new Store();
  await mustPrewritePut(s, 'k', 'L'.repeat(300), 'k', 10);
  t.is(s.engine.entries('default').length, 1);
  await mustRollback(s, 'k', 10);
  mustUnlocked(s, 'k');
  t.deepEqual(s.engine.entries('default'), []);
  t.false(mustGetRollbackTs(s, 'k', 10));
  // Rolling back a key that has no lock still writes a rollback record.
  await mustRollback(s, 'n', 11);
  t.false(mustGetRollbackTs(s, 'n', 11));
  // A committed txn cannot be rolled back.
  await mustPrewritePut(s, 'c', 'v', 'c', 20);
  await mustCommit(s, 'c', 20, 21);
  const e = mustRollbackErr(s, 'COMMITTED', 'c', 20);
  t.is(e.details.commitTs, 21n);
});

test('rollback collapsing: an unprotected rollback below the new one is deleted, a protected one stays', async (t) => {
  const s = new Store();
  await mustRollback(s, 'k', 10);
  await mustRollback(s, 'k', 12);
  mustWriteNone(s, 'k', 10);
  mustGetRollbackTs(s, 'k', 12);
  await mustCleanup(s, 'k', 14, 0, true);
  t.true(mustGetRollbackTs(s, 'k', 14));
  mustGetRollbackTs(s, 'k', 12); // a protected rollback does not collapse the one below
  await mustRollback(s, 'k', 16);
  t.true(mustGetRollbackTs(s, 'k', 14)); // and is never collapsed itself
  mustGetRollbackTs(s, 'k', 16);
  // Only the newest record at or below the start ts is looked at: a Put stops the collapse.
  await mustPrewritePut(s, 'p', 'v', 'p', 20);
  await mustCommit(s, 'p', 20, 21);
  await mustRollback(s, 'p', 22);
  t.is(mustWrite(s, 'p', 21).writeType, 'Put');
});

test('overlapped rollback: a protected rollback at a ts where another txn committed flags that write', async (t) => {
  const s = new Store();
  await mustPrewritePut(s, 'k', 'v1', 'k', 10);
  await mustCommit(s, 'k', 10, 20);
  // An unprotected rollback of txn 20 leaves the commit record untouched.
  await mustCleanup(s, 'k', 20, 0, false);
  const w = mustWrite(s, 'k', 20);
  t.is(w.writeType, 'Put');
  t.false(w.hasOverlappedRollback);
  // A protected one marks it, with a gc fence of the next newer version (none: 0).
  await mustCleanup(s, 'k', 20, 0, true);
  const w2 = mustWrite(s, 'k', 20);
  t.is(w2.writeType, 'Put');
  t.is(w2.startTs, 10n);
  t.true(w2.hasOverlappedRollback);
  t.is(w2.gcFence, 0n);
  mustGet(s, 'k', 25, 'v1');
  t.deepEqual(s.reader().getTxnCommitRecord(k('k'), 20n), { kind: 'overlappedRollback', commitTs: 20n });
  const st = await mustCheckTxnStatus(s, 'k', 20, 0, 0, true);
  t.is(st.kind, 'rolledBack');
  // The late prewrite of txn 20 sees its rollback.
  const e = mustPrewriteErr(s, 'WRITE_CONFLICT', 'put', 'k', 'v', 'k', 20);
  t.is(e.details.reason, 'SelfRolledBack');
});

test('cleanup respects the TTL by physical time and reports COMMITTED', async (t) => {
  const s = new Store();
  const start = tso(1000);
  await mustPrewritePut(s, 'k', 'v', 'k', start, { ttl: 100 });
  mustCleanupErr(s, 'KEY_IS_LOCKED', 'k', start, tso(1100, 5)); // 1000 + 100 >= 1100: alive
  await mustCleanup(s, 'k', start, tso(1101));
  mustUnlocked(s, 'k');
  // With a lock present only a pessimistic primary gets a protected record (TiKV rollback_lock).
  t.false(mustGetRollbackTs(s, 'k', start));
  await mustPrewritePut(s, 'c', 'v', 'c', 10);
  await mustCommit(s, 'c', 10, 11);
  mustCleanupErr(s, 'COMMITTED', 'c', 10, 0);
});

test('checkTxnStatus: alive lock, TTL expiry, committed, missing lock with and without rollbackIfNotExist', async (t) => {
  const s = new Store();
  const start = tso(1000);
  await mustPrewritePut(s, 'p', 'v', 'p', start, { ttl: 100 });
  await mustPrewritePut(s, 's', 'v', 'p', start, { ttl: 100 });
  const alive = await mustCheckTxnStatus(s, 'p', start, 0, tso(1050), false);
  t.like(alive, { kind: 'locked', ttl: 100n, minCommitTs: 0n, minCommitTsPushed: false });
  const expired = await mustCheckTxnStatus(s, 'p', start, 0, tso(1101), false);
  t.is(expired.kind, 'ttlExpire');
  mustUnlocked(s, 'p');
  t.false(mustGetRollbackTs(s, 'p', start));
  t.deepEqual(await mustCheckTxnStatus(s, 'p', start, 0, tso(1200), false), { kind: 'rolledBack' });
  // Committed
  await mustPrewritePut(s, 'q', 'v', 'q', 50);
  await mustCommit(s, 'q', 50, 60);
  t.deepEqual(await mustCheckTxnStatus(s, 'q', 50, 0, 70, false), { kind: 'committed', commitTs: 60n });
  // Missing: TXN_NOT_FOUND, or a protected rollback that stops the late prewrite.
  mustCheckTxnStatusErr(s, 'TXN_NOT_FOUND', 'r', 80, 0, 90, false);
  t.deepEqual(await mustCheckTxnStatus(s, 'r', 80, 0, 90, true), { kind: 'lockNotExist' });
  t.true(mustGetRollbackTs(s, 'r', 80));
  mustPrewriteErr(s, 'WRITE_CONFLICT', 'put', 'r', 'v', 'r', 80);
});

test('checkTxnStatus pushes min_commit_ts past the caller so it can read past the lock', async (t) => {
  const s = new Store();
  await mustPrewritePut(s, 'p', 'v', 'p', 10, { minCommitTs: 11, ttl: 1 << 20 });
  const st = await mustCheckTxnStatus(s, 'p', 10, 20, 15, false);
  t.like(st, { kind: 'locked', minCommitTs: 21n, minCommitTsPushed: true });
  t.is(mustLocked(s, 'p', 10).minCommitTs, 21n);
  mustGetNone(s, 'p', 20); // the reader at 20 now passes the lock
  mustCommitErr(s, 'INVALID_TXN_TSO', 'p', 10, 20);
  // currentTs above caller + 1 wins; a lock without min_commit_ts is never pushed.
  const st2 = await mustCheckTxnStatus(s, 'p', 10, 30, 40, false);
  t.like(st2, { minCommitTs: 40n, minCommitTsPushed: true });
  await mustPrewritePut(s, 'n', 'v', 'n', 50, { ttl: 1 << 20 });
  t.like(await mustCheckTxnStatus(s, 'n', 50, 60, 60, false), { minCommitTs: 0n, minCommitTsPushed: false });
  t.like(await mustCheckTxnStatus(s, 'n', 50, codec.U64_MAX, 60, false), { minCommitTs: 0n, minCommitTsPushed: true });
  mustGetErr(s, 'KEY_IS_LOCKED', 'n', 60);
});

test('txnHeartBeat raises the TTL, never lowers it, and needs the lock', async (t) => {
  const s = new Store();
  await mustPrewritePut(s, 'p', 'v', 'p', 10, { ttl: 100 });
  t.is(await mustTxnHeartBeat(s, 'p', 10, 500), 500n);
  t.is(await mustTxnHeartBeat(s, 'p', 10, 200), 500n);
  t.is(mustLocked(s, 'p', 10).ttl, 500n);
  s.fail(11, 'TXN_NOT_FOUND', (txn, r) => txnHeartBeatAction(txn, r, k('p'), 1000n));
});

import { txnHeartBeat as txnHeartBeatAction } from '@flashkv/core';

test('resolving a crashed client: committed primary commits the secondaries; expired one rolls all back', async (t) => {
  const s = new Store();
  // Client A prewrote three keys, committed only the primary, then crashed.
  const a = tso(1000);
  await mustPrewritePut(s, 'a1', 'x1', 'a1', a, { ttl: 50 });
  await mustPrewritePut(s, 'a2', 'x2', 'a1', a, { ttl: 50 });
  await mustPrewritePut(s, 'a3', 'L'.repeat(500), 'a1', a, { ttl: 50 });
  const aCommit = a + 5n;
  await mustCommit(s, 'a1', a, aCommit);
  // A reader meets the lock on a2, asks the primary, and resolves.
  const reader = tso(2000);
  const e = mustGetErr(s, 'KEY_IS_LOCKED', 'a2', reader);
  const lock = e.details.lock as codec.Lock;
  const st = await mustCheckTxnStatus(s, latin1(lock.primary), lock.startTs, reader, reader, false);
  t.deepEqual(st, { kind: 'committed', commitTs: aCommit });
  t.is(await mustResolveLock(s, a, aCommit), 2);
  mustGet(s, 'a2', reader, 'x2');
  mustGet(s, 'a3', reader, 'L'.repeat(500));
  // Client B crashed after prewrite: its TTL is over, so it is rolled back.
  const b = tso(3000);
  await mustPrewritePut(s, 'b1', 'y1', 'b1', b, { ttl: 50 });
  await mustPrewritePut(s, 'b2', 'Y'.repeat(400), 'b1', b, { ttl: 50 });
  const later = tso(3051);
  const st2 = await mustCheckTxnStatus(s, 'b1', b, later, later, false);
  t.is(st2.kind, 'ttlExpire');
  t.is(await mustResolveLock(s, b, 0), 1);
  mustUnlocked(s, 'b2');
  mustGetNone(s, 'b2', later);
  t.false(s.engine.entries('default').some(([key]) => codec.toHex(key) === codec.toHex(tsCfKey(k('b2'), b))));
  mustGetRollbackTs(s, 'b2', b);
  // Resolving with a commit ts not after the start ts is refused.
  await mustPrewritePut(s, 'c1', 'v', 'c1', 50);
  s.fail(50, 'INVALID_TXN_TSO', (txn, r) => resolveLockAction(txn, r, k('c1'), 50n));
});

import { resolveLock as resolveLockAction } from '@flashkv/core';

test('scanLock: by max ts, range and limit', async (t) => {
  const s = new Store();
  await mustPrewritePut(s, 'a', 'v', 'a', 10);
  await mustPrewritePut(s, 'b', 'v', 'b', 20);
  await mustPrewritePut(s, 'c', 'v', 'c', 30);
  const keys = (o: Parameters<typeof scanLock>[1]) => scanLock(s.reader(), o).locks.map((l) => latin1(codec.toRaw(l.key)));
  t.deepEqual(keys({ maxTs: 20n }), ['a', 'b']);
  t.deepEqual(keys({ maxTs: 100n, start: k('b') }), ['b', 'c']);
  t.deepEqual(keys({ maxTs: 100n, end: k('c') }), ['a', 'b']);
  const limited = scanLock(s.reader(), { maxTs: 100n, limit: 2 });
  t.is(limited.locks.length, 2);
  t.true(limited.hasMore);
  t.false(scanLock(s.reader(), { maxTs: 100n, limit: 3 }).hasMore);
});

test('a failed action leaves no modifies, even after recording some', async (t) => {
  const s = new Store();
  await mustPrewritePut(s, 'a', 'v', 'a', 5);
  await mustCommit(s, 'a', 5, 10);
  // A large value is recorded to the default CF before the conflict is found? No: checks come
  // first; but the txn guard holds even for a txn with earlier successful actions.
  const txn = new MvccTxn(8n);
  const r = s.reader();
  prewrite(txn, r, { startTs: 8n, primary: bytes('b'), lockTtl: 10n }, { op: 'put', key: k('b'), value: bytes('W'.repeat(300)) });
  const n = txn.modifies.length;
  t.is(n, 2);
  t.throws(() => prewrite(txn, r, { startTs: 8n, primary: bytes('b'), lockTtl: 10n }, { op: 'put', key: k('a'), value: bytes('W'.repeat(300)) }), {
    code: 'WRITE_CONFLICT',
  } as never);
  t.is(txn.modifies.length, n);
});
