/**
 * SharedLocks records (FORMATS.md 5.3) in the lock CF, as TiKV's shared-mode pessimistic locks
 * leave them: reads decode them (their Lock/Pessimistic sub-locks never block a read), scanLock
 * reports one entry per sub-lock and pages by whole records, mvccByKey shows the record, and a
 * write meeting one gets KEY_IS_LOCKED instead of a decode error.
 */
import test from 'ava';
import { codec, EventCatalogue, KvError, LocalConsensus, LocalPlacement, lockCfKey, ManualClock, MvccReader, Storage, WriteBatch } from '@flashkv/core';
import { bytes, latin1, ReferenceEngine } from '@flashkv/core/testing';

const T0 = 1_700_000_000_000;

async function setup() {
  const engine = new ReferenceEngine();
  const events = new EventCatalogue();
  const clock = new ManualClock(T0);
  const placement = await LocalPlacement.open({ engine, clock, events });
  const consensus = new LocalConsensus({ engine, placement, events });
  const storage = new Storage({ consensus, placement });
  return { engine, placement, storage };
}
type Env = Awaited<ReturnType<typeof setup>>;

const enc = (s: string) => codec.encodeBytes(bytes(s));

function subLock(startTs: bigint, lockType: 'Lock' | 'Pessimistic' = 'Pessimistic'): codec.Lock {
  return codec.newLock({ lockType, primary: bytes(`p${startTs}`), startTs, ttl: 3000n, ...(lockType === 'Pessimistic' ? { forUpdateTs: startTs } : {}) });
}

/** Stores a SharedLocks record on `key` holding one sub-lock per ts (written in the given order). */
async function putShared(env: Env, key: string, tss: bigint[], shrinkOnly = false): Promise<void> {
  const locks = new Map<bigint, codec.Lock>();
  for (const ts of tss) locks.set(ts, subLock(ts, ts % 2n === 0n ? 'Pessimistic' : 'Lock'));
  await env.engine.write(new WriteBatch().put('lock', lockCfKey(enc(key)), codec.encodeSharedLocks({ shrinkOnly, locks })));
}

async function commitPut(env: Env, key: string, value: string): Promise<bigint> {
  const startTs = await env.placement.getTs();
  await env.storage.prewrite({ mutations: [{ op: 'put', key: bytes(key), value: bytes(value) }], primary: bytes(key), startTs, lockTtl: 3000n });
  const commitTs = await env.placement.getTs();
  await env.storage.commit({ keys: [bytes(key)], startTs, commitTs });
  return commitTs;
}

test('scanLock reports each sub-lock of a SharedLocks record in start_ts order, filtered by maxTs, beside plain locks', async (t) => {
  const env = await setup();
  const base = await env.placement.getTs();
  // Plain 2PC lock on 'a'; a shared record on 'b' whose segments are stored out of order.
  await env.storage.prewrite({ mutations: [{ op: 'put', key: bytes('a'), value: bytes('A') }], primary: bytes('a'), startTs: base + 5n, lockTtl: 3000n });
  await putShared(env, 'b', [base + 9n, base + 3n, base + 7n]);
  const all = await env.storage.scanLock({ maxTs: base + 100n });
  t.deepEqual(
    all.map((l) => [latin1(l.key), l.lock.startTs - base, l.shared === true]),
    [['a', 5n, false], ['b', 3n, true], ['b', 7n, true], ['b', 9n, true]],
  );
  t.deepEqual(all.slice(1).map((l) => l.lock.lockType), ['Lock', 'Lock', 'Lock']);
  const upTo7 = await env.storage.scanLock({ maxTs: base + 7n });
  t.deepEqual(upTo7.map((l) => [latin1(l.key), l.lock.startTs - base]), [['a', 5n], ['b', 3n], ['b', 7n]]);
  const onlyShared = await env.storage.scanLock({ maxTs: base + 4n });
  t.deepEqual(onlyShared.map((l) => [latin1(l.key), l.lock.startTs - base, l.shared]), [['b', 3n, true]]);
});

test('a SharedLocks record is never split across scanLock pages; an empty or shrink-only one decodes too', async (t) => {
  const env = await setup();
  await putShared(env, 'a', [11n]);
  await putShared(env, 'b', [20n, 22n, 24n], true);
  await putShared(env, 'c', []);
  const snap = env.engine.snapshot();
  const reader = new MvccReader(snap);
  // limit 2: 'a' fits, 'b' (3 sub-locks) would overrun, so the page ends before it.
  const p1 = reader.scanLocks({ limit: 2 });
  t.deepEqual(p1.locks.map((l) => latin1(codec.decodeBytes(l.key).raw)), ['a']);
  t.true(p1.hasMore);
  // Starting at 'b' with limit 2, the whole record comes back (an empty page takes it whole).
  const p2 = reader.scanLocks({ start: enc('b'), limit: 2 });
  t.deepEqual(p2.locks.map((l) => l.lock.startTs), [20n, 22n, 24n]);
  t.true(p2.hasMore, "'c' is still ahead");
  // 'c' holds an empty SharedLocks record: no locks, no error.
  t.deepEqual(reader.scanLocks({ start: enc('c') }).locks, []);
  const info = reader.mvccByKey(enc('b'));
  t.is(info.lock, undefined);
  t.true(info.sharedLocks?.shrinkOnly);
  t.deepEqual([...info.sharedLocks!.locks.keys()].sort(), [20n, 22n, 24n]);
  t.is(reader.loadLock(enc('c')), undefined, 'an empty shared record holds no lock');
  snap.release();
});

test('reads pass SharedLocks records (Lock/Pessimistic sub-locks never block); a write meeting one gets KEY_IS_LOCKED', async (t) => {
  const env = await setup();
  const c1 = await commitPut(env, 'k', 'v1');
  const c2 = await commitPut(env, 'm', 'm1');
  const ts = await env.placement.getTs();
  await putShared(env, 'k', [ts - 1n, ts - 2n]);
  await putShared(env, 'lonely', [ts - 3n]);
  t.is(latin1((await env.storage.get(bytes('k'), ts + 10n))!), 'v1');
  t.deepEqual((await env.storage.batchGet([bytes('k'), bytes('m')], ts + 10n)).map((kv) => latin1(kv.value)), ['v1', 'm1']);
  for (const reverse of [false, true]) {
    const got = await env.storage.scan({ ts: ts + 10n, reverse });
    const want = [['k', 'v1'], ['m', 'm1']];
    t.deepEqual(got.map((kv) => [latin1(kv.key), latin1(kv.value)]), reverse ? want.reverse() : want, `reverse=${reverse}`);
  }
  t.true(c2 > c1);
  const info = await env.storage.mvccByKey(bytes('k'));
  t.is(info.sharedLocks?.locks.size, 2);
  const startTs = await env.placement.getTs();
  const err = await t.throwsAsync(
    env.storage.prewrite({ mutations: [{ op: 'put', key: bytes('k'), value: bytes('v2') }], primary: bytes('k'), startTs, lockTtl: 3000n }),
    { instanceOf: KvError },
  );
  t.is(err!.code, 'KEY_IS_LOCKED', err!.message);
  t.is(latin1((await env.storage.get(bytes('k'), await env.placement.getTs()))!), 'v1', 'nothing was written');
});
