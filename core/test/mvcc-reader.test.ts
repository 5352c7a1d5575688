import test from 'ava';
import { MvccReader, SCAN_NONE, SCAN_UNDECIDED, WriteBatch, codec, isKvError, lockCfKey, mvccScanBatch, packBatch, tsCfKey } from '@flashkv/core';
import { bytes, latin1 } from '@flashkv/core/testing';
import {
  Store,
  k,
  mustCommit,
  mustGet,
  mustGetErr,
  mustGetNone,
  mustPrewriteDelete,
  mustPrewriteLock,
  mustPrewritePut,
  mustRollback,
  mustScan,
  mustAcquirePessimisticLock,
} from './mvcc-must.js';

const hex = (b: Uint8Array) => codec.toHex(b);

/** Writes a raw Write record at key@commitTs, for records the actions never produce (gc fences). */
async function putWrite(s: Store, key: string, commitTs: bigint, w: codec.Write): Promise<void> {
  await s.engine.write(new WriteBatch().put('write', tsCfKey(k(key), commitTs), codec.encodeWrite(w)));
}

test('prewrite then commit of a short value stores exactly the FORMATS.md bytes', async (t) => {
  const s = new Store();
  await mustPrewritePut(s, 'k', 'v', 'k', 5, { ttl: 3000 });
  const locks = s.engine.entries('lock');
  t.is(locks.length, 1);
  // 'z' + encodeBytes("k") = 7a 6b 00x7 f8
  t.is(hex(locks[0]![0]), '7a6b00000000000000f8');
  // Put, primary "k" (compact bytes 02 6b), start_ts 5, ttl 3000 (b8 17), short value 'v'
  t.is(hex(locks[0]![1]), '50026b05b8177601' + '76');
  await mustCommit(s, 'k', 5, 10);
  t.deepEqual(s.engine.entries('lock'), []);
  const writes = s.engine.entries('write');
  t.is(writes.length, 1);
  // key@10: ~10 = ff..f5
  t.is(hex(writes[0]![0]), '7a6b00000000000000f8' + 'fffffffffffffff5');
  // Put, start_ts 5, 'v' tag, length 1, "v"
  t.is(hex(writes[0]![1]), '5005760176');
  t.deepEqual(s.engine.entries('default'), []);
});

test('values over 255 bytes live in the default CF at key@startTs; 255 bytes stay inline', async (t) => {
  const s = new Store();
  const big = 'x'.repeat(256);
  const edge = 'y'.repeat(255);
  await mustPrewritePut(s, 'big', big, 'big', 10);
  await mustPrewritePut(s, 'edge', edge, 'big', 10);
  const defaults = s.engine.entries('default');
  t.is(defaults.length, 1);
  t.is(hex(defaults[0]![0]), hex(tsCfKey(k('big'), 10n)));
  t.is(latin1(defaults[0]![1]), big);
  await mustCommit(s, 'big', 10, 20);
  await mustCommit(s, 'edge', 10, 20);
  mustGet(s, 'big', 20, big);
  mustGet(s, 'edge', 20, edge);
  mustGetNone(s, 'big', 19);
  const w = s.reader().seekWrite(k('big'), 20n)!.write;
  t.is(w.shortValue, undefined);
  t.is(s.reader().seekWrite(k('edge'), 20n)!.write.shortValue!.length, 255);
});

test('a committed Put whose default-CF value is missing is corruption, not an absent key', async (t) => {
  const s = new Store();
  await putWrite(s, 'k', 20n, codec.newWrite('Put', 10n));
  const e = t.throws(() => s.reader().get(k('k'), 30n));
  t.true(isKvError(e, 'CORRUPTED'));
});

test('point get walks versions: Lock and Rollback records are skipped, Delete hides older values', async (t) => {
  const s = new Store();
  await mustPrewritePut(s, 'a', 'v1', 'a', 10);
  await mustCommit(s, 'a', 10, 11);
  await mustPrewriteLock(s, 'a', 'a', 12);
  await mustCommit(s, 'a', 12, 13);
  await mustPrewritePut(s, 'a', 'v2', 'a', 14);
  await mustRollback(s, 'a', 14);
  await mustPrewriteDelete(s, 'a', 'a', 16);
  await mustCommit(s, 'a', 16, 17);
  await mustPrewritePut(s, 'a', 'v3', 'a', 18);
  await mustCommit(s, 'a', 18, 19);
  mustGetNone(s, 'a', 10);
  mustGet(s, 'a', 11, 'v1');
  mustGet(s, 'a', 13, 'v1');
  mustGet(s, 'a', 15, 'v1');
  mustGetNone(s, 'a', 17);
  mustGetNone(s, 'a', 18);
  mustGet(s, 'a', 19, 'v3');
  mustGet(s, 'a', 1000, 'v3');
  t.pass();
});

test('the SI lock check: which locks block a read', async (t) => {
  const s = new Store();
  await mustPrewritePut(s, 'k', 'old', 'k', 1);
  await mustCommit(s, 'k', 1, 2);
  await mustPrewritePut(s, 'k', 'new', 'p', 10);
  // A lock that started after the read does not block it.
  mustGet(s, 'k', 9, 'old');
  const e = mustGetErr(s, 'KEY_IS_LOCKED', 'k', 10);
  const lock = e.details.lock as codec.Lock;
  t.is(lock.startTs, 10n);
  t.is(latin1(e.details.key as Uint8Array), 'k');
  t.is(latin1(lock.primary), 'p');
  mustGetErr(s, 'KEY_IS_LOCKED', 'k', 100);
  // The txn reading its own key bypasses its lock (and sees the committed value).
  mustGet(s, 'k', 100, 'old', [10]);
  // RC reads ignore locks.
  t.is(latin1(s.reader().get(k('k'), 100n, { isolation: 'RC' })!), 'old');
  // u64 max on a secondary is blocked; on the primary it is not (autocommit point get).
  mustGetErr(s, 'KEY_IS_LOCKED', 'k', codec.U64_MAX);
  await mustPrewritePut(s, 'p', 'pv', 'p', 10);
  mustGetNone(s, 'p', codec.U64_MAX);
  // Lock and Pessimistic locks never block reads.
  await mustPrewriteLock(s, 'l', 'l', 10);
  mustGetNone(s, 'l', 100);
  await mustAcquirePessimisticLock(s, 'q', 'q', 10, 10);
  mustGetNone(s, 'q', 100);
  // A lock whose min_commit_ts is past the read cannot commit below it.
  await mustPrewritePut(s, 'm', 'mv', 'm', 10, { minCommitTs: 50 });
  mustGetNone(s, 'm', 49);
  mustGetErr(s, 'KEY_IS_LOCKED', 'm', 50);
});

test('gc_fence: a version fenced at or below the read ts is not the latest any more', async (t) => {
  const s = new Store();
  await putWrite(s, 'k', 10n, codec.newWrite('Put', 5n, bytes('old')));
  await putWrite(s, 'k', 30n, { ...codec.newWrite('Put', 25n, bytes('fenced')), gcFence: 40n });
  mustGet(s, 'k', 35, 'fenced');
  mustGetNone(s, 'k', 40);
  mustGetNone(s, 'k', 45);
  mustGet(s, 'k', 20, 'old');
  // Some(0) is no fence at all.
  await putWrite(s, 'z', 30n, { ...codec.newWrite('Put', 25n, bytes('zero')), gcFence: 0n });
  mustGet(s, 'z', 100, 'zero');
  t.deepEqual(mustScan(s, { ts: 45n }), [['z', 'zero']]);
  t.deepEqual(mustScan(s, { ts: 35n }), [['k', 'fenced'], ['z', 'zero']]);
  t.deepEqual(mustScan(s, { ts: 45n, reverse: true }), [['z', 'zero']]);
});

test('mvccScanBatch: one group per user key, visible index, NONE and UNDECIDED, corrupt input', (t) => {
  const put = (start: bigint, v: string) => codec.encodeWrite(codec.newWrite('Put', start, bytes(v)));
  const entries: Array<[Uint8Array, Uint8Array]> = [
    [tsCfKey(k('a'), 30n), put(25n, 'a30')], // 0: newer than 20, skipped
    [tsCfKey(k('a'), 20n), codec.encodeWrite(codec.newWrite('Lock', 18n))], // 1: skipped
    [tsCfKey(k('a'), 10n), put(5n, 'a10')], // 2: visible
    [tsCfKey(k('a'), 5n), put(1n, 'a5')], // 3
    [tsCfKey(k('b'), 15n), codec.encodeWrite(codec.newWrite('Delete', 12n))], // 4: deleted
    [tsCfKey(k('b'), 8n), put(6n, 'b8')], // 5
    [tsCfKey(k('c'), 40n), put(35n, 'c40')], // 6: only newer -> NONE
    [tsCfKey(k('d'), 19n), codec.encodeWrite(codec.newRollback(19n, false))], // 7: undecided at batch end
  ];
  const keys = packBatch(entries.map((e) => e[0]));
  const values = packBatch(entries.map((e) => e[1]));
  const gs = new Int32Array(256);
  const vis = new Int32Array(256);
  const n = mvccScanBatch(keys, values, 20n, gs, vis);
  t.is(n, 4);
  t.deepEqual([...gs.subarray(0, n)], [0, 4, 6, 7]);
  t.deepEqual([...vis.subarray(0, n)], [2, SCAN_NONE, SCAN_NONE, SCAN_UNDECIDED]);
  // A read at 100 sees the newest of each; d's rollback leaves it undecided.
  t.is(mvccScanBatch(keys, values, 100n, gs, vis), 4);
  t.deepEqual([...vis.subarray(0, 4)], [0, SCAN_NONE, 6, SCAN_UNDECIDED]);
  const bad = packBatch([put(0n, 'ok'), bytes('Xjunk')]);
  t.is(mvccScanBatch(packBatch([tsCfKey(k('a'), 1n), tsCfKey(k('b'), 1n)]), bad, 5n, gs, vis), -2);
  t.is(mvccScanBatch(packBatch([bytes('short')]), packBatch([put(1n, 'x')]), 5n, gs, vis), -1);
});

async function commitPut(s: Store, key: string, value: string, startTs: number, commitTs: number): Promise<void> {
  await mustPrewritePut(s, key, value, key, startTs);
  await mustCommit(s, key, startTs, commitTs);
}

test('scan forward and reverse: range bounds, limit, keyOnly, deletes, versions', async (t) => {
  const s = new Store();
  await commitPut(s, 'a', 'a1', 1, 2);
  await commitPut(s, 'b', 'b1', 1, 2);
  await commitPut(s, 'c', 'c1', 1, 2);
  await commitPut(s, 'b', 'b2', 5, 6);
  await mustPrewriteDelete(s, 'c', 'c', 5);
  await mustCommit(s, 'c', 5, 6);
  await commitPut(s, 'd', 'x'.repeat(300), 7, 8);
  t.deepEqual(mustScan(s, { ts: 4n }), [['a', 'a1'], ['b', 'b1'], ['c', 'c1']]);
  t.deepEqual(mustScan(s, { ts: 10n }), [['a', 'a1'], ['b', 'b2'], ['d', 'x'.repeat(300)]]);
  t.deepEqual(mustScan(s, { ts: 10n, reverse: true }), [['d', 'x'.repeat(300)], ['b', 'b2'], ['a', 'a1']]);
  t.deepEqual(mustScan(s, { ts: 10n, start: bytes('b'), end: bytes('d') }), [['b', 'b2']]);
  t.deepEqual(mustScan(s, { ts: 10n, start: bytes('b'), end: bytes('d'), reverse: true }), [['b', 'b2']]);
  t.deepEqual(mustScan(s, { ts: 10n, limit: 2 }), [['a', 'a1'], ['b', 'b2']]);
  t.deepEqual(mustScan(s, { ts: 10n, limit: 2, reverse: true }), [['d', 'x'.repeat(300)], ['b', 'b2']]);
  t.deepEqual(mustScan(s, { ts: 10n, limit: 0 }), []);
  t.deepEqual(mustScan(s, { ts: 10n, keyOnly: true }), [['a', ''], ['b', ''], ['d', '']]);
  t.deepEqual(mustScan(s, { ts: 10n, start: bytes('e') }), []);
  t.deepEqual(mustScan(s, { ts: 10n, start: bytes('c'), end: bytes('b') }), []);
});

test('scan meets locks on keys it passes, including keys with only a lock, but not past its limit', async (t) => {
  const s = new Store();
  await commitPut(s, 'a', 'a1', 1, 2);
  await commitPut(s, 'c', 'c1', 1, 2);
  await mustPrewritePut(s, 'b', 'b-new', 'b', 5);
  const e = t.throws(() => s.reader().scan({ ts: 10n }));
  t.true(isKvError(e, 'KEY_IS_LOCKED'));
  t.is(latin1((e as unknown as { details: { key: Uint8Array } }).details.key), 'b');
  t.throws(() => s.reader().scan({ ts: 10n, reverse: true }), { code: 'KEY_IS_LOCKED' } as never);
  t.deepEqual(mustScan(s, { ts: 10n, limit: 1 }), [['a', 'a1']]);
  t.deepEqual(mustScan(s, { ts: 10n, limit: 1, reverse: true }), [['c', 'c1']]);
  t.deepEqual(mustScan(s, { ts: 4n }), [['a', 'a1'], ['c', 'c1']]);
  t.deepEqual(mustScan(s, { ts: 10n, bypassLocks: [5n] }), [['a', 'a1'], ['c', 'c1']]);
  t.deepEqual(mustScan(s, { ts: 10n, isolation: 'RC' }), [['a', 'a1'], ['c', 'c1']]);
  // A lock after the last write-CF key is still inside the range.
  await mustPrewritePut(s, 'z', 'zz', 'z', 6);
  t.throws(() => s.reader().scan({ ts: 10n, start: bytes('c') }), { code: 'KEY_IS_LOCKED' } as never);
  t.deepEqual(mustScan(s, { ts: 10n, start: bytes('c'), end: bytes('y') }), [['c', 'c1']]);
});

test('scan across batch boundaries: a key with hundreds of versions, decided and undecided at the edge', async (t) => {
  const s = new Store();
  // 'a': 300 rollback records above one Put, so the Put is in the second batch (undecided carry).
  const batch = new WriteBatch();
  for (let i = 0; i < 300; i++) batch.put('write', tsCfKey(k('a'), BigInt(1000 - i)), codec.encodeWrite(codec.newRollback(BigInt(1000 - i), false)));
  batch.put('write', tsCfKey(k('a'), 10n), codec.encodeWrite(codec.newWrite('Put', 9n, bytes('a-value'))));
  // 'b': its newest Put decides it early; 400 older Puts spill into later batches and must be skipped.
  for (let i = 0; i < 400; i++) batch.put('write', tsCfKey(k('b'), BigInt(500 - i)), codec.encodeWrite(codec.newWrite('Put', BigInt(499 - i), bytes(`b${500 - i}`))));
  batch.put('write', tsCfKey(k('c'), 7n), codec.encodeWrite(codec.newWrite('Put', 6n, bytes('c-value'))));
  await s.engine.write(batch);
  t.deepEqual(mustScan(s, { ts: 2000n }), [['a', 'a-value'], ['b', 'b500'], ['c', 'c-value']]);
  t.deepEqual(mustScan(s, { ts: 300n }), [['a', 'a-value'], ['b', 'b300'], ['c', 'c-value']]);
  t.deepEqual(mustScan(s, { ts: 2000n, reverse: true }), [['c', 'c-value'], ['b', 'b500'], ['a', 'a-value']]);
  t.deepEqual(mustScan(s, { ts: 8n }), [['c', 'c-value']]);
  mustGet(s, 'a', 2000, 'a-value');
  mustGet(s, 'b', 250, 'b250');
});

test('getTxnCommitRecord: committed, rolled back, none, and a rollback overlapping a commit', async (t) => {
  const s = new Store();
  await commitPut(s, 'k', 'v', 10, 20);
  const r = s.reader();
  t.like(r.getTxnCommitRecord(k('k'), 10n), { kind: 'single', commitTs: 20n });
  t.deepEqual(r.getTxnCommitRecord(k('k'), 15n), { kind: 'none' });
  const ov = r.getTxnCommitRecord(k('k'), 20n);
  t.is(ov.kind, 'none');
  t.is(ov.kind === 'none' ? ov.overlappedWrite?.write.startTs : undefined, 10n);
  await mustRollback(s, 'k', 30);
  t.like(s.reader().getTxnCommitRecord(k('k'), 30n), { kind: 'single', commitTs: 30n });
  await putWrite(s, 'k', 40n, { ...codec.newWrite('Put', 35n, bytes('w')), hasOverlappedRollback: true });
  t.deepEqual(s.reader().getTxnCommitRecord(k('k'), 40n), { kind: 'overlappedRollback', commitTs: 40n });
});

test('mvccByKey returns the lock, all writes newest first, and default-CF values', async (t) => {
  const s = new Store();
  await commitPut(s, 'k', 'short', 1, 2);
  await commitPut(s, 'k', 'L'.repeat(400), 3, 4);
  await mustPrewritePut(s, 'k', 'pending', 'k', 5);
  const info = s.reader().mvccByKey(k('k'));
  t.is(info.lock?.startTs, 5n);
  t.deepEqual(info.writes.map((w) => [w.commitTs, w.write.startTs, w.write.writeType]), [
    [4n, 3n, 'Put'],
    [2n, 1n, 'Put'],
  ]);
  t.deepEqual(info.values.map((v) => [v.startTs, v.value.length]), [[3n, 400]]);
  t.deepEqual(s.reader().mvccByKey(k('none')), { writes: [], values: [] });
});

test('an MvccReader over a snapshot does not see later writes', async (t) => {
  const s = new Store();
  await commitPut(s, 'k', 'v1', 1, 2);
  const reader = new MvccReader(s.engine.snapshot());
  await commitPut(s, 'k', 'v2', 3, 4);
  t.is(latin1(reader.get(k('k'), 10n)!), 'v1');
  t.is(s.reader().loadLock(k('k')), undefined);
  t.is(hex(lockCfKey(k('k'))), '7a6b00000000000000f8');
});
