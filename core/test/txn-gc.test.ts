import test from 'ava';
import { codec } from '@flashkv/core';
import { latin1 } from '@flashkv/core/testing';
import { Store, k, mustCommit, mustGc, mustPrewriteDelete, mustPrewriteLock, mustPrewritePut, mustRollback } from './mvcc-must.js';

/** Reads of `key` at every ts in [from, to], as strings ('-' for none). */
function readsOf(s: Store, key: string, from: number, to: number): string[] {
  const r = s.reader();
  const out: string[] = [];
  for (let ts = from; ts <= to; ts++) {
    const v = r.get(k(key), BigInt(ts));
    out.push(v === undefined ? '-' : latin1(v));
  }
  return out;
}

async function history(s: Store): Promise<void> {
  await mustPrewritePut(s, 'k', 'A'.repeat(300), 'k', 1);
  await mustCommit(s, 'k', 1, 2);
  await mustPrewritePut(s, 'k', 'v2', 'k', 3);
  await mustCommit(s, 'k', 3, 4);
  await mustPrewriteLock(s, 'k', 'k', 5);
  await mustCommit(s, 'k', 5, 6);
  await mustRollback(s, 'k', 7);
  await mustPrewriteDelete(s, 'k', 'k', 8);
  await mustCommit(s, 'k', 8, 9);
  await mustPrewritePut(s, 'k', 'B'.repeat(400), 'k', 10);
  await mustCommit(s, 'k', 10, 11);
}

test('gc keeps the newest Put at or below the safe point and drops everything older with its value', async (t) => {
  const s = new Store();
  await history(s);
  const before = readsOf(s, 'k', 6, 14);
  const info = await mustGc(s, 'k', 6);
  t.like(info, { foundVersions: 3, deletedVersions: 2, isCompletelyRemoved: false });
  t.deepEqual(readsOf(s, 'k', 6, 14), before);
  const writes = s.reader().scanWrites(k('k')).map((w) => [w.commitTs, w.write.writeType]);
  t.deepEqual(writes, [
    [11n, 'Put'],
    [9n, 'Delete'],
    [7n, 'Rollback'],
    [4n, 'Put'],
  ]);
  // The dropped Put's default-CF value went with it; the newer one stays.
  t.deepEqual(s.reader().mvccByKey(k('k')).values.map((v) => v.startTs), [10n]);
});

test('gc at a safe point whose newest record is a Delete removes the key completely below it', async (t) => {
  const s = new Store();
  await history(s);
  const before = readsOf(s, 'k', 9, 14);
  const info = await mustGc(s, 'k', 9);
  t.true(info.isCompletelyRemoved);
  t.is(info.deletedVersions, 5);
  t.deepEqual(readsOf(s, 'k', 9, 14), before);
  t.deepEqual(s.reader().scanWrites(k('k')).map((w) => w.commitTs), [11n]);
  // Again at the same safe point: nothing left to do.
  t.like(await mustGc(s, 'k', 9), { foundVersions: 0, deletedVersions: 0 });
  // At the newest ts: one Put remains, and locks are never touched by GC.
  await mustPrewritePut(s, 'k', 'pending', 'k', 20);
  t.like(await mustGc(s, 'k', 100), { foundVersions: 1, deletedVersions: 0 });
  t.is(s.reader().loadLock(k('k'))?.startTs, 20n);
  t.is(codec.toHex(s.reader().mvccByKey(k('k')).values[0]!.value.subarray(0, 1)), '42');
});
