/**
 * TxnClient through a kernel built from defaultTxnPlugins() over a ReferenceEngine, with a
 * ManualClock and a simulated sleeper that moves it: backoff waits are simulated time, so lock
 * TTLs expire deterministically and no test sleeps on the wall clock.
 */
import test, { type ExecutionContext } from 'ava';
import {
  CLOCK,
  defaultTxnPlugins,
  definePlugin,
  ENGINE,
  Kernel,
  KvError,
  ManualClock,
  type AppliedEvent,
  type KvErrorCode,
  type TxnClient,
} from '@flashkv/core';
import { codec } from '@flashkv/core';
import { bytes, latin1, ReferenceEngine } from '@flashkv/core/testing';

const T0 = 1_700_000_000_000;

async function setup(options: { engine?: ReferenceEngine; clock?: ManualClock; onePc?: boolean } = {}) {
  const engine = options.engine ?? new ReferenceEngine();
  const clock = options.clock ?? new ManualClock(T0);
  let sleptMs = 0;
  const sleep = async (ms: number) => {
    sleptMs += ms;
    clock.advance(ms);
    await new Promise((r) => setImmediate(r));
  };
  const kernel = await Kernel.start({
    plugins: [
      definePlugin({ name: 'test-engine', version: '1.0.0', provides: [ENGINE], register: (ctx) => ctx.provide(ENGINE, engine) }),
      definePlugin({ name: 'test-clock', version: '1.0.0', provides: [CLOCK], register: (ctx) => ctx.provide(CLOCK, clock) }),
      ...defaultTxnPlugins({ client: { sleep, seed: 7, ...(options.onePc !== undefined ? { onePc: options.onePc } : {}) } }),
    ],
  });
  const applied: AppliedEvent[] = [];
  kernel.events.applied$.subscribe((e) => applied.push(e));
  return { engine, clock, kernel, storage: kernel.storage, client: kernel.client(), applied, slept: () => sleptMs };
}
type Env = Awaited<ReturnType<typeof setup>>;

const enc = (s: string) => codec.encodeBytes(bytes(s));
const str = (v: Uint8Array | undefined) => (v === undefined ? undefined : latin1(v));
const pairs = (kvs: Array<{ key: Uint8Array; value: Uint8Array }>) => kvs.map((kv) => [latin1(kv.key), latin1(kv.value)]);

async function split(env: Env, at: string): Promise<void> {
  const r = env.storage.placement.regionForKey(enc(at));
  await env.storage.consensus.admin({ regionId: r.id, epoch: r.epoch }, { type: 'split', splitKey: enc(at) });
}

async function mustRefuse(t: ExecutionContext, p: Promise<unknown>, code: KvErrorCode): Promise<KvError> {
  const err = await t.throwsAsync(p, { instanceOf: KvError });
  t.is(err!.code, code, err!.message);
  return err as KvError;
}

async function mustPut(client: TxnClient, kvs: Record<string, string>): Promise<bigint> {
  const txn = await client.begin();
  for (const [k, v] of Object.entries(kvs)) await txn.put(bytes(k), bytes(v));
  const ts = await txn.commit();
  await client.idle();
  return ts;
}

async function mustGet(client: TxnClient, key: string): Promise<string | undefined> {
  const txn = await client.begin();
  const v = await txn.get(bytes(key));
  await txn.rollback();
  return str(v);
}

test('read-your-writes: get, batchGet and scan see the txn\'s own buffered writes; others see them only after commit', async (t) => {
  const env = await setup();
  await mustPut(env.client, { a: '1', b: '2', c: '3', d: '4' });
  const txn = await env.client.begin();
  await txn.put(bytes('b'), bytes('B'));
  await txn.delete(bytes('c'));
  await txn.put(bytes('bb'), bytes('new'));
  t.is(str(await txn.get(bytes('b'))), 'B');
  t.is(await txn.get(bytes('c')), undefined);
  t.deepEqual(pairs(await txn.batchGet([bytes('c'), bytes('bb'), bytes('a')])), [['bb', 'new'], ['a', '1']]);
  t.deepEqual(pairs(await txn.scan()), [['a', '1'], ['b', 'B'], ['bb', 'new'], ['d', '4']]);
  t.deepEqual(pairs(await txn.scan({ limit: 2, start: bytes('b') })), [['b', 'B'], ['bb', 'new']]);
  t.deepEqual(pairs(await txn.scan({ reverse: true, limit: 3 })), [['d', '4'], ['bb', 'new'], ['b', 'B']]);
  t.deepEqual(pairs(await txn.scan({ start: bytes('b'), end: bytes('d'), keyOnly: true })), [['b', ''], ['bb', '']]);
  t.is(await mustGet(env.client, 'b'), '2', 'buffered writes are invisible to others');
  const commitTs = await txn.commit();
  t.true(commitTs > txn.startTs);
  t.is(txn.state, 'committed');
  await env.client.idle();
  t.is(await mustGet(env.client, 'b'), 'B');
  t.is(await mustGet(env.client, 'c'), undefined);
  await t.throwsAsync(txn.get(bytes('a')), { instanceOf: KvError }, 'a committed txn is closed');
  t.is(env.slept(), 0, 'no waiting without contention');
});

test('write conflict: the second committer of a key gets WRITE_CONFLICT and leaves no lock behind', async (t) => {
  const env = await setup();
  await mustPut(env.client, { x: '0' });
  const t1 = await env.client.begin();
  const t2 = await env.client.begin();
  await t1.put(bytes('x'), bytes('1'));
  await t2.put(bytes('x'), bytes('2'));
  await t2.put(bytes('y'), bytes('2'));
  await t1.commit();
  const err = await mustRefuse(t, t2.commit(), 'WRITE_CONFLICT');
  t.is(latin1(err.details['key'] as Uint8Array), 'x');
  t.is(t2.state, 'rolledBack');
  t.deepEqual(await env.storage.scanLock({ maxTs: await env.client.getTs() }), []);
  t.is(await mustGet(env.client, 'x'), '1');
  t.is(await mustGet(env.client, 'y'), undefined);
});

test('a crashed client\'s locks: a reader waits (simulated backoff) until the TTL expires, then rolls them back', async (t) => {
  const env = await setup();
  await split(env, 'm');
  await mustPut(env.client, { p: 'old', s: 'old' });
  // The "crashed" client prewrote p (primary) and z (another region), then vanished.
  const startTs = await env.client.getTs();
  await env.storage.prewrite({
    mutations: [{ op: 'put', key: bytes('p'), value: bytes('new') }, { op: 'put', key: bytes('a'), value: bytes('new') }],
    primary: bytes('p'),
    startTs,
    lockTtl: 1000n,
  });
  const before = env.clock.nowMs();
  t.is(await mustGet(env.client, 'a'), undefined, 'the rolled-back txn wrote nothing');
  t.true(env.clock.nowMs() - before >= 1000, 'the reader waited for the TTL in simulated time');
  t.is(await mustGet(env.client, 'p'), 'old');
  t.deepEqual(await env.storage.scanLock({ maxTs: await env.client.getTs() }), []);
  const info = await env.storage.mvccByKey(bytes('p'));
  t.true(info.writes.some((w) => w.write.writeType === 'Rollback' && w.write.startTs === startTs), 'the primary carries a rollback record');
});

test('a client that crashed after committing its primary: the reader commits the secondary at once, without waiting', async (t) => {
  const env = await setup();
  await split(env, 'm');
  const startTs = await env.client.getTs();
  await env.storage.prewrite({
    mutations: [{ op: 'put', key: bytes('p'), value: bytes('P') }, { op: 'put', key: bytes('a'), value: bytes('A') }],
    primary: bytes('p'),
    startTs,
    lockTtl: 60_000n,
  });
  const commitTs = await env.client.getTs();
  await env.storage.commit({ keys: [bytes('p')], startTs, commitTs });
  t.is(await mustGet(env.client, 'a'), 'A');
  t.is(env.slept(), 0);
  t.deepEqual((await env.storage.mvccByKey(bytes('a'))).writes.map((w) => w.commitTs), [commitTs]);
});

test('a live lock whose min commit ts the reader pushes is read past, and the writer then commits at a newer ts', async (t) => {
  const env = await setup();
  await mustPut(env.client, { k: 'v1' });
  const writerStart = await env.client.getTs();
  await env.storage.prewrite({ mutations: [{ op: 'put', key: bytes('k'), value: bytes('v2') }], primary: bytes('k'), startTs: writerStart, lockTtl: 60_000n, minCommitTs: writerStart + 1n });
  const reader = await env.client.begin();
  t.is(str(await reader.get(bytes('k'))), 'v1', 'the old value, without waiting for the writer');
  t.is(env.slept(), 0);
  const lock = (await env.storage.mvccByKey(bytes('k'))).lock!;
  t.true(lock.minCommitTs > reader.startTs, 'the reader pushed the writer past its read');
  await mustRefuse(t, env.storage.commit({ keys: [bytes('k')], startTs: writerStart, commitTs: reader.startTs }), 'INVALID_TXN_TSO');
  const later = await env.client.getTs();
  await env.storage.commit({ keys: [bytes('k')], startTs: writerStart, commitTs: later });
  t.is(str(await reader.get(bytes('k'))), 'v1', 'repeatable: the writer committed after the read ts');
});

test('1PC when every key is in one region, 2PC otherwise (or when 1PC is off)', async (t) => {
  const env = await setup();
  await split(env, 'm');
  const one = await env.client.begin();
  await one.put(bytes('a'), bytes('1'));
  await one.put(bytes('b'), bytes('1'));
  await one.commit();
  t.is(one.commitPath, '1pc');
  t.true(env.applied[env.applied.length - 1]!.flags.has('onePc'));
  const two = await env.client.begin();
  await two.put(bytes('a'), bytes('2'));
  await two.put(bytes('x'), bytes('2'));
  const ts = await two.commit();
  t.is(two.commitPath, '2pc');
  await env.client.idle();
  t.false(env.applied.slice(-3).some((e) => e.flags.has('onePc')));
  t.deepEqual(await env.storage.scanLock({ maxTs: ts }), []);
  t.is(await mustGet(env.client, 'x'), '2');
  const readOnly = await env.client.begin();
  await readOnly.get(bytes('a'));
  t.is(await readOnly.commit(), 0n, 'a read-only txn writes nothing');
  const off = await setup({ onePc: false });
  const txn = await off.client.begin();
  await txn.put(bytes('a'), bytes('1'));
  await txn.commit();
  t.is(txn.commitPath, '2pc');
});

test('region errors are retried: a split landing under a commit re-routes and the commit succeeds', async (t) => {
  const env = await setup();
  const txn = await env.client.begin();
  await txn.put(bytes('a'), bytes('1'));
  await txn.put(bytes('z'), bytes('1'));
  const whole = env.storage.placement.regionForKey(enc('a'));
  const splitting = env.storage.consensus.admin({ regionId: whole.id, epoch: whole.epoch }, { type: 'split', splitKey: enc('m') });
  const committing = txn.commit();
  await splitting;
  await committing;
  t.is(txn.commitPath, '2pc', 'routed again after the split, the keys span two regions');
  await env.client.idle();
  t.is(await mustGet(env.client, 'a'), '1');
  t.is(await mustGet(env.client, 'z'), '1');
  t.true(env.slept() > 0, 'the EPOCH_NOT_MATCH was retried after a backoff');
});

test('lost update: optimistic increments conflict and retry; pessimistic getForUpdate serialises them; no increment is lost', async (t) => {
  const env = await setup();
  await mustPut(env.client, { n: '0' });
  async function increment(pessimistic: boolean): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      const txn = await env.client.begin({ pessimistic });
      const v = Number(str(pessimistic ? await txn.getForUpdate(bytes('n')) : await txn.get(bytes('n'))));
      await txn.put(bytes('n'), bytes(String(v + 1)));
      try {
        await txn.commit();
        return attempt;
      } catch (e) {
        if (!(e instanceof KvError && e.code === 'WRITE_CONFLICT')) throw e;
      }
    }
  }
  const optimistic = await Promise.all([increment(false), increment(false), increment(false), increment(false)]);
  t.is(await mustGet(env.client, 'n'), '4');
  t.true(optimistic.some((a) => a > 1), 'concurrent optimistic increments did conflict');
  const pessimistic = await Promise.all([increment(true), increment(true), increment(true), increment(true)]);
  t.is(await mustGet(env.client, 'n'), '8');
  t.deepEqual(pessimistic, [1, 1, 1, 1], 'pessimistic increments never fail at commit');
});

test('write skew: snapshot isolation lets two txns each keep the invariant alone and break it together', async (t) => {
  const env = await setup();
  // Invariant the app wants: at least one doctor on call.
  await mustPut(env.client, { alice: 'on', bob: 'on' });
  const t1 = await env.client.begin();
  const t2 = await env.client.begin();
  const onCall = async (txn: typeof t1) => (await txn.batchGet([bytes('alice'), bytes('bob')])).filter((kv) => latin1(kv.value) === 'on').length;
  t.is(await onCall(t1), 2);
  t.is(await onCall(t2), 2);
  await t1.put(bytes('alice'), bytes('off'));
  await t2.put(bytes('bob'), bytes('off'));
  await t1.commit();
  await t2.commit();
  await env.client.idle();
  t.is(await mustGet(env.client, 'alice'), 'off');
  t.is(await mustGet(env.client, 'bob'), 'off', 'both committed: SI allows write skew (disjoint write sets never conflict)');
});

test('pessimistic txn: writes take pessimistic locks first, rollback releases them, a second locker waits for the TTL of a dead one', async (t) => {
  const env = await setup();
  const t1 = await env.client.begin({ pessimistic: true });
  await t1.put(bytes('k'), bytes('1'));
  t.is((await env.storage.mvccByKey(bytes('k'))).lock?.lockType, 'Pessimistic');
  await t1.rollback();
  t.is((await env.storage.mvccByKey(bytes('k'))).lock, undefined);
  // A pessimistic txn that dies holding a lock: the next one waits out its TTL, then proceeds.
  const dead = await env.client.begin({ pessimistic: true });
  await dead.put(bytes('k'), bytes('dead'));
  const t2 = await env.client.begin({ pessimistic: true });
  const before = env.clock.nowMs();
  await t2.put(bytes('k'), bytes('2'));
  t.true(env.clock.nowMs() - before >= 3000, 'waited for the dead txn\'s 3 s TTL in simulated time');
  await t2.commit();
  await env.client.idle();
  t.is(await mustGet(env.client, 'k'), '2');
  await mustRefuse(t, dead.commit(), 'TXN_LOCK_NOT_FOUND');
});

test('TSO stays monotonic across a kernel restart on the same engine, even with the clock set back', async (t) => {
  const engine = new ReferenceEngine();
  const clock = new ManualClock(T0);
  const first = await setup({ engine, clock });
  const commitTs = await mustPut(first.client, { a: '1' });
  const last = await first.client.getTs();
  await first.kernel.stop();
  clock.set(T0 - 60_000);
  const second = await setup({ engine, clock });
  const next = await second.client.getTs();
  t.true(next > last, `${next} must exceed ${last}`);
  t.true(next > commitTs);
  t.is(await mustGet(second.client, 'a'), '1', 'data and regions survive the restart');
  await second.kernel.stop();
});

test('client input is checked before anything is sent', async (t) => {
  const env = await setup();
  const txn = await env.client.begin();
  await t.throwsAsync(txn.put('a' as unknown as Uint8Array, bytes('1')), { instanceOf: TypeError });
  await mustRefuse(t, txn.put(new Uint8Array(8 * 1024 + 1), bytes('1')), 'KEY_TOO_LARGE');
  await mustRefuse(t, txn.getForUpdate(bytes('a')), 'INVALID_ARGUMENT');
  await t.throwsAsync(env.client.begin({ pessimistic: 'yes' as unknown as boolean }), { instanceOf: TypeError });
  t.is(await txn.commit(), 0n);
  t.is(env.applied.length, 0);
});

test('a pessimistic lock removed by another client is not re-created over a write committed after the key was read', async (t) => {
  const env = await setup();
  await mustPut(env.client, { p: '0', s: '10' });
  const q = await env.client.begin({ pessimistic: true });
  const read = Number(str(await q.getForUpdate(bytes('s'))));
  // Another client releases q's lock on s (as resolving an expired primary does), then commits s.
  const lock = (await env.storage.mvccByKey(bytes('s'))).lock!;
  await env.storage.pessimisticRollback({ keys: [bytes('s')], startTs: q.startTs, forUpdateTs: lock.forUpdateTs });
  await mustPut(env.client, { s: '99' });
  // q locks p afterwards, at a forUpdateTs newer than that commit, then writes s from its stale read.
  await q.getForUpdate(bytes('p'));
  await q.put(bytes('p'), bytes('1'));
  await q.put(bytes('s'), bytes(String(read - 1)));
  const err = await mustRefuse(t, q.commit(), 'TXN_LOCK_NOT_FOUND');
  t.is(err.details['reason'], 'PessimisticLockNotFound');
  t.is(await mustGet(env.client, 's'), '99', 'the newer committed write survives');
  t.is(await mustGet(env.client, 'p'), '0');
});
