/**
 * Store-level flashback scenarios, one or more per rule of FLASHBACK.md a.2-a.7, with TiKV's
 * small explicit timestamps (V = version, S = start_ts, C = commit_ts).
 */
import test from 'ava';
import { KvError, codec, lockCfKey, tsCfKey, WriteBatch, type Consensus } from '@flashkv/core';
import { bytes, latin1 } from '@flashkv/core/testing';
import {
  allLocks,
  enc,
  mvcc,
  flashbackWrites,
  mustAcquirePessimisticLock,
  mustCommit,
  mustDelete,
  mustFail,
  mustFinishFlashback,
  mustFinishFlashbackErr,
  mustFinishFlashbackResults,
  mustFlashback,
  mustGet,
  mustGetNone,
  mustLocked,
  mustPrepareFlashback,
  mustPrepareFlashbackResults,
  mustPrewriteLock,
  mustPrewritePut,
  mustPut,
  mustRollback,
  mustSplit,
  mustUnlocked,
  mustWrites,
  setup,
  str,
} from './flashback-must.js';

const long = (c: string, n = 300) => c.repeat(n);

test('a.5.2: keys changed after V get their value as of V back; keys with latest <= V (including == V) get no record', async (t) => {
  const env = await setup();
  await mustPut(env, 'a', 'a1', 1, 2);
  await mustPut(env, 'a', 'a2', 6, 7);
  await mustPut(env, 'b', 'b1', 1, 5); // committed at exactly V
  await mustPut(env, 'c', 'c1', 8, 9); // created after V
  await mustDelete(env, 'd', 3, 4);
  const before = await mustWrites(env, 'b');
  const mods = await mustFlashback(env, 5, 20, 21);
  // a (Put) and c (Delete) rewritten; one of them is K*: lock (1) + commit (2), the other 1 write.
  t.is(mods, 4);
  await mustGet(env, 'a', 30, 'a1');
  await mustGet(env, 'b', 30, 'b1');
  await mustGetNone(env, 'c', 30);
  t.deepEqual(await mustWrites(env, 'b'), before);
  t.deepEqual(await mustWrites(env, 'd'), ['Delete@4/3']);
  t.deepEqual((await mustWrites(env, 'a'))[0], 'Put@21/20');
  t.deepEqual((await mustWrites(env, 'c'))[0], 'Delete@21/20');
  // Reads below the flashback still see history.
  await mustGet(env, 'a', 8, 'a2');
});

test('a.5.3: the old version skips Lock and Rollback records; a key whose only records after V are Lock/Rollback is not rewritten', async (t) => {
  const env = await setup();
  await mustPut(env, 'k', 'v1', 1, 2);
  await mustPrewriteLock(env, 'k', 'k', 3);
  await mustCommit(env, 'k', 3, 4); // Lock record at 4 (<= V)
  await mustPrewritePut(env, 'k', 'x', 'k', 6);
  await mustRollback(env, 'k', 6); // Rollback at 6 (> V)
  await mustPut(env, 'k', 'v2', 8, 9);
  await mustPut(env, 'only', 'o1', 1, 2);
  await mustPrewriteLock(env, 'only', 'only', 11);
  await mustCommit(env, 'only', 11, 12);
  await mustPrewritePut(env, 'only', 'zz', 'only', 13);
  await mustRollback(env, 'only', 13);
  const onlyBefore = await mustWrites(env, 'only');
  await mustFlashback(env, 5, 20, 21);
  await mustGet(env, 'k', 30, 'v1');
  t.deepEqual(await mustWrites(env, 'only'), onlyBefore);
  await mustGet(env, 'only', 30, 'o1');
});

test('a.5.2: keys that were never committed (prewrite then rollback) are never rewritten and read as absent', async (t) => {
  const env = await setup();
  for (let i = 0; i < 20; i++) {
    const k = `p${String(i).padStart(3, '0')}`;
    await mustPrewritePut(env, k, 'v', k, 10);
    await mustRollback(env, k, 10);
  }
  await mustPut(env, 'z', 'z1', 11, 12);
  await mustFlashback(env, 5, 20, 21);
  for (let i = 0; i < 20; i++) await mustGetNone(env, `p${String(i).padStart(3, '0')}`, 30);
  t.deepEqual(await mustWrites(env, 'p000'), ['Rollback@10/10']);
  await mustGetNone(env, 'z', 30);
});

test('tikv#13743: a key deleted both before and after V still gets a Delete at C (no endless loop)', async (t) => {
  const env = await setup();
  await mustPut(env, 'k', 'v', 1, 2);
  await mustDelete(env, 'k', 3, 4);
  await mustPut(env, 'k', 'w', 6, 7);
  await mustDelete(env, 'k', 8, 9);
  await mustPut(env, 'x', 'x1', 10, 11); // makes x K*, so k goes through FlashbackWrite
  const mods = await mustFlashback(env, 5, 20, 21);
  t.is(mods, 1 + 1 + 2);
  t.is((await mustWrites(env, 'k'))[0], 'Delete@21/20');
  await mustGetNone(env, 'k', 30);
});

test('a.4.2 / a.5.3: long values are copied to CF_DEFAULT at S; the K* copy is written once (2 modifications, 0 on retry)', async (t) => {
  const env = await setup();
  await mustPut(env, 'a', long('A'), 1, 2);
  await mustPut(env, 'a', 'short', 6, 7);
  await mustPut(env, 'b', long('B'), 1, 2);
  await mustDelete(env, 'b', 6, 7);
  t.is(await mustPrepareFlashback(env, 5, 20), 2); // lock + value copy on K* = a
  t.is(await mustPrepareFlashback(env, 5, 20), 0);
  const lock = await mustLocked(env, 'a', 20);
  t.is(lock.lockType, 'Put');
  t.is(lock.shortValue, undefined);
  t.is(lock.ttl, 0n);
  t.is(lock.txnSize, 1n);
  t.deepEqual(lock.primary, enc('a'));
  // b: write record without short value + default copy (2); a: commit (2).
  t.is(await mustFinishFlashback(env, 5, 20, 21), 4);
  await mustGet(env, 'a', 30, long('A'));
  await mustGet(env, 'b', 30, long('B'));
  const info = mvcc(env, 'b');
  t.true(info.values.some((v) => v.startTs === 20n && latin1(v.value) === long('B')));
});

test('a.4.2: K* is the first changed key at or after startKey (start key need not exist); no changed key: no lock, Finish does nothing', async (t) => {
  const env = await setup();
  await mustPut(env, 'b', 'b1', 6, 7);
  await mustPut(env, 'c', 'c1', 6, 7);
  const [r] = await mustPrepareFlashbackResults(env, 5, 20, { start: 'a' });
  t.deepEqual(r!.flashbackKey, enc('b'));
  await mustLocked(env, 'b', 20);
  await mustUnlocked(env, 'c');

  const env2 = await setup();
  await mustPut(env2, 'b', 'b1', 1, 2);
  const [p] = await mustPrepareFlashbackResults(env2, 5, 20);
  t.is(p!.flashbackKey, undefined);
  t.true(env2.placement.getRegion(1).flashback.inFlashback);
  t.is(await mustFinishFlashback(env2, 5, 20, 21), 0);
  t.false(env2.placement.getRegion(1).flashback.inFlashback);
});

test('range bounds: keys outside [startKey, endKey) are untouched; an empty endKey is unbounded and reaches the last region', async (t) => {
  const env = await setup();
  for (const k of ['a', 'b', 'c', 'm', 'x']) {
    await mustPut(env, k, `${k}1`, 1, 2);
    await mustPut(env, k, `${k}2`, 6, 7);
  }
  await mustSplit(env, 'm');
  await mustFlashback(env, 5, 20, 21, { start: 'b', end: 'c' });
  await mustGet(env, 'a', 30, 'a2');
  await mustGet(env, 'b', 30, 'b1');
  await mustGet(env, 'c', 30, 'c2');
  await mustFlashback(env, 5, 22, 23, { start: 'c', end: '' });
  await mustGet(env, 'c', 30, 'c1');
  await mustGet(env, 'm', 30, 'm1');
  await mustGet(env, 'x', 30, 'x1');
  await mustGet(env, 'a', 30, 'a2');
  t.is(env.placement.regions().filter((r) => r.flashback.inFlashback).length, 0);
});

test('a.4.1: every lock in range is rolled back at its own ts, older than V, equal to V or newer; the flashback lock is kept', async (t) => {
  const env = await setup();
  await mustPut(env, 'k', 'v0', 1, 2);
  await mustPrewritePut(env, 'a', 'x', 'a', 3); // lock older than V = 5
  await mustPrewritePut(env, 'b', 'y', 'a', 5); // lock at V
  await mustPrewritePut(env, 'c', long('c'), 'a', 8); // lock newer than V, value in CF_DEFAULT
  await mustPut(env, 'k', 'v1', 9, 10);
  await mustPrepareFlashback(env, 5, 20);
  for (const k of ['a', 'b', 'c']) await mustUnlocked(env, k);
  t.deepEqual(await mustWrites(env, 'a'), ['Rollback@3/3']);
  t.deepEqual(await mustWrites(env, 'b'), ['Rollback@5/5']);
  t.deepEqual(await mustWrites(env, 'c'), ['Rollback@8/8']);
  t.deepEqual(mvcc(env, 'c').values, []);
  // The primary's rollback is protected (the key is its lock's primary), the others are not.
  const a = mvcc(env, 'a').writes[0]!.write;
  t.true(codec.isProtectedRollback(a));
  t.false(codec.isProtectedRollback(mvcc(env, 'b').writes[0]!.write));
  await mustLocked(env, 'k', 20);
  await mustFinishFlashback(env, 5, 20, 21);
  await mustGet(env, 'k', 30, 'v0');
  // The rolled-back txns cannot commit any more.
  await mustFail(mustCommit(env, 'b', 5, 25), 'TXN_LOCK_NOT_FOUND');
});

test('a.4.1: a pessimistic lock is rolled back with 2 modifications (Rollback at its ts, protected on its primary; lock deleted)', async (t) => {
  const env = await setup();
  await mustAcquirePessimisticLock(env, 'k', 'k', 30, 30);
  env.applied.length = 0;
  t.is(await mustPrepareFlashback(env, 5, 40), 2);
  t.deepEqual(
    flashbackWrites(env).flatMap((w) => w.modifies.map((m) => `${m.cf}:${m.op}`)),
    ['write:put', 'lock:delete'],
  );
  t.deepEqual(await mustWrites(env, 'k'), ['Rollback@30/30']);
  t.true(codec.isProtectedRollback(mvcc(env, 'k').writes[0]!.write));
  await mustUnlocked(env, 'k');
  await mustFinishFlashback(env, 5, 40, 41);
  // test_flashback_write_to_version_pessimistic: a later pessimistic prewrite by txn 30 fails.
  const late = await mustFail(
    env.storage.prewrite({ mutations: [{ op: 'put', key: bytes('k'), value: bytes('v') }], primary: bytes('k'), startTs: 30n, forUpdateTs: 30n, isPessimisticLock: [true], lockTtl: 3000n }),
    'TXN_LOCK_NOT_FOUND',
  );
  t.is(late.details['reason'], 'PessimisticLockNotFound');
});

/** Puts a SharedLocks record straight into the lock CF (core's txn layer never writes one). */
async function putSharedLocks(env: Awaited<ReturnType<typeof setup>>, key: string, locks: readonly codec.Lock[]): Promise<void> {
  const value = codec.encodeSharedLocks({ shrinkOnly: false, locks: new Map(locks.map((l) => [l.startTs, l])) });
  await env.engine.write(new WriteBatch().put('lock', lockCfKey(enc(key)), value));
}

function sharedSubLock(type: 'Lock' | 'Pessimistic', primary: string, startTs: bigint): codec.Lock {
  return codec.newLock({ lockType: type, primary: bytes(primary), startTs, ttl: 3000n, forUpdateTs: type === 'Pessimistic' ? startTs : 0n });
}

test('a.4.1 shared locks: each sub-lock is rolled back at its own ts (2 sub-locks: 2 rollbacks, 1 lock update, 1 lock delete); a sub-lock at S is kept', async (t) => {
  const env = await setup();
  await mustPut(env, 'k', 'v0', 1, 2);
  await mustPut(env, 'k', 'v1', 6, 7);
  await putSharedLocks(env, 's', [sharedSubLock('Lock', 'p1', 30n), sharedSubLock('Pessimistic', 's', 35n)]);
  // A record holding a sub-lock at the flashback's own start ts keeps that one (filtered as a.4.1 says).
  await putSharedLocks(env, 't', [sharedSubLock('Lock', 'p2', 33n), sharedSubLock('Lock', 'p3', 40n)]);
  env.applied.length = 0;
  const [r] = await mustPrepareFlashbackResults(env, 5, 40);
  t.is(r!.locksRolledBack, 3);
  const lockOps = flashbackWrites(env).flatMap((w) => w.modifies.filter((m) => m.cf === 'lock').map((m) => `${m.op}`));
  // s: update then delete; t: one update (its sub-lock at 40 stays); then K*'s lock.
  t.deepEqual(lockOps, ['put', 'delete', 'put', 'put']);
  t.deepEqual(await mustWrites(env, 's'), ['Rollback@35/35', 'Rollback@30/30']);
  // The pessimistic sub-lock on its own primary gets a protected rollback; the other does not.
  t.true(codec.isProtectedRollback(mvcc(env, 's').writes[0]!.write));
  t.false(codec.isProtectedRollback(mvcc(env, 's').writes[1]!.write));
  const snap = env.engine.snapshot();
  t.is(snap.get('lock', lockCfKey(enc('s'))), undefined);
  const left = snap.get('lock', lockCfKey(enc('t')));
  // t still holds a SharedLocks record (mvcc() cannot decode it): read its records directly.
  const rb33 = snap.get('write', tsCfKey(enc('t'), 33n));
  const rb40 = snap.get('write', tsCfKey(enc('t'), 40n));
  snap.release();
  t.truthy(left);
  t.deepEqual([...codec.decodeSharedLocks(left!).locks.keys()], [40n]);
  t.is(rb33 === undefined ? undefined : codec.decodeWrite(rb33).writeType, 'Rollback');
  t.is(rb40, undefined);
  // Prepare retried with the same S: nothing left to roll back.
  env.applied.length = 0;
  const [again] = await mustPrepareFlashbackResults(env, 5, 40);
  t.is(again!.locksRolledBack, 0);
  t.is(flashbackWrites(env).length, 0);
  await mustFinishFlashback(env, 5, 40, 41);
  await mustGet(env, 'k', 50, 'v0');
});

test('a.4.1 batching: 600 locks are rolled back in write commands of at most 256 locks and 32 KiB', async (t) => {
  const env = await setup();
  for (let i = 0; i < 600; i++) {
    const k = `k${String(i).padStart(4, '0')}`;
    await mustPrewritePut(env, k, 'v', k, 10);
  }
  t.is(allLocks(env).length, 600);
  env.applied.length = 0;
  await mustPrepareFlashback(env, 5, 20);
  t.is(allLocks(env).length, 0);
  const writes = flashbackWrites(env);
  t.true(writes.length >= 3);
  for (const w of writes) {
    const locks = w.modifies.filter((m) => m.cf === 'lock').length;
    const size = w.modifies.reduce((n, m) => n + (m.op === 'deleteRange' ? 0 : m.key.length) + (m.op === 'put' ? m.value.length : 0), 0);
    t.true(locks <= 256, `${locks} locks in one write`);
    t.true(size <= 32 * 1024, `${size} bytes in one write`);
    t.false(w.flags.has('onePc'));
  }
});

test('a.5.2 batching: FlashbackWrite batches hold <= 256 keys and <= 32 KiB, each flagged flashback + onePc; K* is committed last, not 1PC', async (t) => {
  const env = await setup();
  for (let i = 0; i < 700; i++) {
    const k = `k${String(i).padStart(4, '0')}`;
    await mustPut(env, k, i % 7 === 0 ? long('L', 400) : `v${i}`, 1, 2);
    await mustPut(env, k, 'new', 6, 7);
  }
  await mustPrepareFlashback(env, 5, 20);
  env.applied.length = 0;
  const [r] = await mustFinishFlashbackResults(env, 5, 20, 21);
  t.is(r!.keysRewritten, 699);
  t.false(r!.alreadyFinished);
  const writes = flashbackWrites(env);
  const batches = writes.filter((w) => w.flags.has('onePc'));
  t.is(batches.length, r!.batches);
  t.true(batches.length >= 3);
  for (const w of batches) {
    const keys = w.modifies.filter((m) => m.cf === 'write').length;
    const size = w.modifies.reduce((n, m) => n + (m.op === 'deleteRange' ? 0 : m.key.length) + (m.op === 'put' ? m.value.length : 0), 0);
    t.true(keys <= 256 && size <= 32 * 1024, `${keys} keys, ${size} bytes`);
  }
  const last = writes[writes.length - 1]!;
  t.false(last.flags.has('onePc'));
  t.deepEqual(
    last.modifies.map((m) => `${m.cf}:${m.op}`),
    ['write:put', 'lock:delete'],
  );
  for (let i = 0; i < 700; i += 50) await mustGet(env, `k${String(i).padStart(4, '0')}`, 30, i % 7 === 0 ? long('L', 400) : `v${i}`);
});

test('a.6: Prepare retried with the same S writes nothing more; Finish retried after success writes nothing; 10 rounds of prepare+finish are stable', async (t) => {
  const env = await setup();
  for (let i = 0; i < 300; i++) {
    await mustPut(env, `k${i}`, `old${i}`, 1, 2);
    await mustPut(env, `k${i}`, `new${i}`, 6, 7);
  }
  const first = await mustPrepareFlashback(env, 5, 20);
  t.is(first, 1);
  t.is(await mustPrepareFlashback(env, 5, 20), 0);
  t.is(await mustFinishFlashback(env, 5, 20, 21), 299 + 2);
  const [again] = await mustFinishFlashbackResults(env, 5, 20, 21);
  t.is(again!.modifies, 0);
  t.true(again!.alreadyFinished);
  for (let round = 0; round < 10; round++) {
    await mustPrepareFlashback(env, 5, 20);
    // Every changed key is at C already; only K* is locked again and committed again (same record).
    t.is(await mustFinishFlashback(env, 5, 20, 21), 2);
  }
  for (let i = 0; i < 300; i += 37) await mustGet(env, `k${i}`, 30, `old${i}`);
  t.false(env.placement.getRegion(1).flashback.inFlashback);
});

/** Consensus whose flashback 1PC writes fail after `okBatches` of them (a crash mid-Finish). */
function failAfter(okBatches: number): { wrap: (c: Consensus) => Consensus; arm: (on: boolean) => void } {
  let armed = false;
  let seen = 0;
  return {
    arm: (on) => {
      armed = on;
      seen = 0;
    },
    wrap: (c) =>
      ({
        name: c.name,
        snapshot: (ctx) => c.snapshot(ctx),
        admin: (ctx, cmd) => c.admin(ctx, cmd),
        regionForKey: (k) => c.regionForKey(k),
        getRegion: (id) => c.getRegion(id),
        write: (ctx, mods, o) => {
          if (armed && ctx.flags?.has('onePc') === true && ctx.flags.has('flashback') && seen++ >= okBatches) return Promise.reject(new KvError('SERVER_BUSY', 'injected failure after a batch'));
          return c.write(ctx, mods, o);
        },
      }) satisfies Consensus,
  };
}

test('a.6: Finish interrupted after one batch: rewritten keys stay, K* stays locked; after the region left flashback Finish is NOT_PREPARED, a new Prepare (same S) writes nothing and Finish resumes', async (t) => {
  const fault = failAfter(1);
  const env = await setup({ wrap: fault.wrap });
  const n = 514;
  for (let i = 0; i < n; i++) {
    const k = `k${String(i).padStart(4, '0')}`;
    await mustPut(env, k, `old${i}`, 1, 2);
    await mustPut(env, k, `new${i}`, 6, 7);
  }
  await mustPrepareFlashback(env, 5, 20);
  fault.arm(true);
  await mustFinishFlashbackErr(env, 'SERVER_BUSY', 5, 20, 21);
  fault.arm(false);
  await mustLocked(env, 'k0000', 20);
  t.true(env.placement.getRegion(1).flashback.inFlashback);
  // The first batch (k0001..k0256) was rewritten; the next key was not.
  t.is((await mustWrites(env, 'k0256'))[0], 'Put@21/20');
  t.is((await mustWrites(env, 'k0257'))[0], 'Put@7/6');
  // What TiKV's failpoint test does: the RPC "succeeded", so FinishFlashback ran.
  const r = env.placement.getRegion(1);
  await env.consensus.admin({ regionId: 1, epoch: r.epoch }, { type: 'finishFlashback' });
  await mustFinishFlashbackErr(env, 'FLASHBACK_NOT_PREPARED', 5, 20, 21);
  t.is(await mustPrepareFlashback(env, 5, 20), 0);
  const [done] = await mustFinishFlashbackResults(env, 5, 20, 21);
  t.is(done!.keysRewritten, n - 1 - 256);
  await mustUnlocked(env, 'k0000');
  for (let i = 0; i < n; i += 51) await mustGet(env, `k${String(i).padStart(4, '0')}`, 30, `old${i}`);
});

test('a.5.1: Finish without Prepare is FLASHBACK_NOT_PREPARED and changes nothing; with no changed key it succeeds', async (t) => {
  const env = await setup();
  await mustPut(env, 'k', 'v1', 1, 2);
  await mustPut(env, 'k', 'v2', 6, 7);
  const err = await mustFinishFlashbackErr(env, 'FLASHBACK_NOT_PREPARED', 5, 20, 21);
  t.is(err.details['regionId'], 1);
  t.regex(err.message, /region 1 is not prepared for the flashback/);
  await mustGet(env, 'k', 30, 'v2');
  t.deepEqual(await mustWrites(env, 'k'), ['Put@7/6', 'Put@2/1']);
  t.is(await mustFinishFlashback(env, 10, 20, 21), 0);
});

test('a.6: Finish with a different S than Prepare is FLASHBACK_NOT_PREPARED', async (t) => {
  const env = await setup();
  await mustPut(env, 'k', 'v1', 1, 2);
  await mustPut(env, 'k', 'v2', 6, 7);
  await mustPrepareFlashback(env, 5, 20);
  await mustFinishFlashbackErr(env, 'FLASHBACK_NOT_PREPARED', 5, 19, 21);
  await mustLocked(env, 'k', 20);
  t.true(env.placement.getRegion(1).flashback.inFlashback);
});

test('a.5.1: C <= S fails first with INVALID_TXN_TSO and TiKV\'s message; nothing is written and the region stays in flashback', async (t) => {
  const env = await setup();
  await mustPut(env, 'k', 'v1', 1, 2);
  await mustPut(env, 'k', 'v2', 6, 7);
  await mustPrepareFlashback(env, 5, 20);
  const before = env.applied.length;
  for (const c of [20, 19]) {
    const err = await mustFinishFlashbackErr(env, 'INVALID_TXN_TSO', 5, 20, c);
    t.true(err.message.includes(`Invalid transaction tso with start_ts:20, commit_ts:${c}`));
  }
  // Also ahead of "not prepared": a region never prepared still gets INVALID_TXN_TSO.
  const other = await setup();
  await mustFinishFlashbackErr(other, 'INVALID_TXN_TSO', 5, 20, 20);
  t.is(env.applied.length, before);
  t.true(env.placement.getRegion(1).flashback.inFlashback);
});

test('region gate while in flashback: reads at ts >= S and writes and split get FLASHBACK_IN_PROGRESS; reads below S pass; all pass after Finish', async (t) => {
  const env = await setup();
  await mustPut(env, 'k', 'v1', 1, 2);
  await mustPut(env, 'k', 'v2', 6, 7);
  await mustPrepareFlashback(env, 5, 20);
  const read = await mustFail(env.storage.get(bytes('k'), 20n), 'FLASHBACK_IN_PROGRESS');
  t.is(read.details['regionId'], 1);
  t.is(read.details['flashbackStartTs'], 20n);
  await mustFail(env.storage.scan({ ts: 25n }), 'FLASHBACK_IN_PROGRESS');
  t.is(str(await env.storage.get(bytes('k'), 19n)), 'v2');
  await mustFail(mustPut(env, 'j', 'x', 1, 2), 'FLASHBACK_IN_PROGRESS');
  await mustFail(mustSplit(env, 'm'), 'FLASHBACK_IN_PROGRESS');
  await mustFinishFlashback(env, 5, 20, 21);
  await mustGet(env, 'k', 30, 'v1');
  await mustPut(env, 'j', 'x', 31, 32);
  await mustSplit(env, 'm');
  t.is(env.placement.regions().length, 2);
});

test('the region state survives a restart of placement over the same engine (persisted with the region metadata)', async (t) => {
  const env = await setup();
  await mustPut(env, 'k', 'v1', 6, 7);
  await mustPrepareFlashback(env, 5, 20);
  const { LocalPlacement } = await import('@flashkv/core');
  const reopened = await LocalPlacement.open({ engine: env.engine, clock: env.clock });
  t.deepEqual(reopened.getRegion(1).flashback, { inFlashback: true, flashbackStartTs: 20n });
});

test('flashback of a flashback: undoing the first flashback brings back the state before it', async (t) => {
  const env = await setup();
  await mustPut(env, 'a', 'a1', 1, 2);
  await mustPut(env, 'a', 'a2', 6, 7);
  await mustPut(env, 'b', 'b2', 6, 7);
  await mustFlashback(env, 5, 20, 21);
  await mustGet(env, 'a', 22, 'a1');
  await mustGetNone(env, 'b', 22);
  // Flash back to a version between the latest write and the first flashback's commit.
  await mustFlashback(env, 10, 30, 31);
  await mustGet(env, 'a', 40, 'a2');
  await mustGet(env, 'b', 40, 'b2');
  t.deepEqual((await mustWrites(env, 'a')).slice(0, 2), ['Put@31/30', 'Put@21/20']);
});

test('a.5.2: a key with a version newer than C breaks the invariant and is reported, not overwritten', async (t) => {
  const env = await setup();
  await mustPut(env, 'a', 'a1', 1, 2);
  await mustPut(env, 'a', 'a2', 6, 7);
  await mustPut(env, 'b', 'b2', 50, 51);
  await mustPrepareFlashback(env, 5, 20);
  await mustFinishFlashbackErr(env, 'CORRUPTED', 5, 20, 30);
  t.is((await mustWrites(env, 'b'))[0], 'Put@51/50');
});

test('storage input checks: startKey >= endKey is INVALID_ARGUMENT before anything runs', async (t) => {
  const env = await setup();
  await mustFail(env.storage.prepareFlashbackToVersion({ startKey: bytes('b'), endKey: bytes('a'), version: 5n, startTs: 20n }), 'INVALID_ARGUMENT');
  t.false(env.placement.getRegion(1).flashback.inFlashback);
});

/** Loads `n` keys r00000.. with a Put at 1/2 (value `old(i)`) and one at 6/7 straight into the write CF. */
async function loadTwoVersions(env: Awaited<ReturnType<typeof setup>>, n: number, old: (i: number) => string): Promise<void> {
  const newer = codec.encodeWrite(codec.newWrite('Put', 6n, bytes('new')));
  for (let i = 0; i < n; i += 1000) {
    const b = new WriteBatch();
    for (let j = i; j < Math.min(n, i + 1000); j++) {
      const k = enc(`r${String(j).padStart(5, '0')}`);
      b.put('write', tsCfKey(k, 2n), codec.encodeWrite(codec.newWrite('Put', 1n, bytes(old(j)))));
      b.put('write', tsCfKey(k, 7n), newer);
    }
    await env.engine.write(b);
  }
}

test('a.5.2 many batches: 9000 keys over two engines go out as 1PC writes in key order, each <= 256 keys and <= 32 KiB; batches cut by the size limit resume at their first key left', async (t) => {
  for (const engine of ['reference', 'memory'] as const) {
    const env = await setup({ engine });
    // 9000 keys: dozens of batches; values of 240 bytes for one key in 2
    // make batches stop at 32 KiB before 256 keys.
    const old = (i: number) => (i % 2 === 0 ? `L${i}`.padEnd(240, 'x') : `o${i}`);
    await loadTwoVersions(env, 9000, old);
    await mustPrepareFlashback(env, 5, 20);
    env.applied.length = 0;
    const [r] = await mustFinishFlashbackResults(env, 5, 20, 21);
    t.is(r!.keysRewritten, 8999, engine);
    const batches = flashbackWrites(env).filter((w) => w.flags.has('onePc'));
    t.is(batches.length, r!.batches, engine);
    let prev: Uint8Array | undefined;
    let sizeCut = 0;
    let total = 0;
    for (const w of batches) {
      const keys = w.modifies.filter((m) => m.cf === 'write');
      const size = w.modifies.reduce((n, m) => n + (m.op === 'put' ? m.key.length + m.value.length : 0), 0);
      t.true(keys.length <= 256 && size <= 32 * 1024, `${engine}: ${keys.length} keys, ${size} bytes`);
      if (keys.length < 256) sizeCut++;
      for (const m of keys) {
        if (m.op === 'deleteRange') continue;
        if (prev !== undefined) t.true(Buffer.compare(prev, m.key) < 0, `${engine}: keys in order across batches`);
        prev = m.key;
      }
      total += keys.length;
    }
    t.is(total, 8999, engine);
    t.true(sizeCut > 16, `${engine}: ${sizeCut} batches were cut by size`);
    for (let i = 0; i < 9000; i += 97) await mustGet(env, `r${String(i).padStart(5, '0')}`, 30, old(i));
    t.false(env.placement.getRegion(1).flashback.inFlashback);
  }
});

test('a.5.2: a key newer than C found after some full batches: those batches are written, the batch holding the key is not, and the error is reported', async (t) => {
  const env = await setup({ engine: 'memory' });
  await loadTwoVersions(env, 2000, (i) => `o${i}`);
  // r01000 gets a version newer than C: the fourth batch (keys 768..1023, K* r00000 excluded) holds it.
  await env.engine.write(new WriteBatch().put('write', tsCfKey(enc('r01000'), 51n), codec.encodeWrite(codec.newWrite('Put', 50n, bytes('late')))));
  await mustPrepareFlashback(env, 5, 20);
  env.applied.length = 0;
  await mustFinishFlashbackErr(env, 'CORRUPTED', 5, 20, 30);
  const batches = flashbackWrites(env).filter((w) => w.flags.has('onePc'));
  t.is(batches.length, 3);
  t.deepEqual((await mustWrites(env, 'r00769')).slice(0, 1), ['Put@7/6']);
  t.deepEqual((await mustWrites(env, 'r00768')).slice(0, 1), ['Put@30/20']);
  t.deepEqual((await mustWrites(env, 'r01000'))[0], 'Put@51/50');
});
