/**
 * TxnClient through a kernel built from defaultTxnPlugins() over a ReferenceEngine, with a
 * ManualClock and simulated timers: backoff waits move the clock, heartbeats wait for it, so
 * lock TTLs expire (or are kept alive) deterministically and no test sleeps on the wall clock.
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
  MAX_KEY_SIZE,
  MAX_VALUE_SIZE,
  type Storage,
  TxnClient,
} from '@flashkv/core';
import { codec } from '@flashkv/core';
import { bytes, latin1, ReferenceEngine, SimulatedTimers } from '@flashkv/core/testing';

const T0 = 1_700_000_000_000;

async function setup(options: { engine?: ReferenceEngine; clock?: ManualClock; onePc?: boolean } = {}) {
  const engine = options.engine ?? new ReferenceEngine();
  const clock = options.clock ?? new ManualClock(T0);
  const timers = new SimulatedTimers(clock);
  let sleptMs = 0;
  const sleep = async (ms: number) => {
    sleptMs += ms;
    await timers.advance(ms);
  };
  const kernel = await Kernel.start({
    plugins: [
      definePlugin({ name: 'test-engine', version: '1.0.0', provides: [ENGINE], register: (ctx) => ctx.provide(ENGINE, engine) }),
      definePlugin({ name: 'test-clock', version: '1.0.0', provides: [CLOCK], register: (ctx) => ctx.provide(CLOCK, clock) }),
      ...defaultTxnPlugins({ client: { sleep, heartbeatSleep: timers.sleep, seed: 7, ...(options.onePc !== undefined ? { onePc: options.onePc } : {}) } }),
    ],
  });
  const applied: AppliedEvent[] = [];
  kernel.events.applied$.subscribe((e) => applied.push(e));
  return { engine, clock, timers, sleep, kernel, storage: kernel.storage, client: kernel.client(), applied, slept: () => sleptMs };
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

test('pessimistic txn: writes take pessimistic locks first, rollback releases them; a live holder\'s heartbeat outlasts a waiter, a crashed one\'s lock is waited out', async (t) => {
  const env = await setup();
  const t1 = await env.client.begin({ pessimistic: true });
  await t1.put(bytes('k'), bytes('1'));
  t.is((await env.storage.mvccByKey(bytes('k'))).lock?.lockType, 'Pessimistic');
  await t1.rollback();
  t.is((await env.storage.mvccByKey(bytes('k'))).lock, undefined);
  // Another client holds k and stays alive: its heartbeat keeps the 3 s lock from expiring
  // for the whole 20 s a waiter backs off, and the waiter gives up with the lock.
  const owner = new TxnClient({ storage: env.storage, sleep: env.sleep, heartbeatSleep: env.timers.sleep, seed: 9 });
  const held = await owner.begin({ pessimistic: true });
  await held.put(bytes('k'), bytes('held'));
  const waiter = await env.client.begin({ pessimistic: true });
  let before = env.clock.nowMs();
  const err = await mustRefuse(t, waiter.put(bytes('k'), bytes('w')), 'KEY_IS_LOCKED');
  t.is((err.details['lock'] as { startTs: bigint }).startTs, held.startTs);
  t.true(env.clock.nowMs() - before >= 20_000, 'the waiter spent its whole backoff budget');
  t.true(held.heartbeatsSent >= 10, `${held.heartbeatsSent} heartbeats`);
  await waiter.rollback();
  // The owner's process dies (its heartbeat stops): the next locker waits out the TTL, then proceeds.
  await owner.close();
  t.is(owner.activeHeartbeats, 0);
  const t2 = await env.client.begin({ pessimistic: true });
  before = env.clock.nowMs();
  await t2.put(bytes('k'), bytes('2'));
  t.true(env.clock.nowMs() - before > 0, 'waited for the dead txn\'s TTL in simulated time');
  await t2.commit();
  await env.client.idle();
  t.is(await mustGet(env.client, 'k'), '2');
  await mustRefuse(t, held.commit(), 'TXN_LOCK_NOT_FOUND');
  t.is(env.client.activeHeartbeats, 0, 'every heartbeat of this client ended with its txn');
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

/** A Storage whose `commit` runs `before(keys)` first (to delay or fail a chosen commit), everything else as `inner`. */
function withCommitHook(inner: Storage, before: (keys: string[]) => Promise<void>): Storage {
  const hooked = Object.create(inner) as Storage;
  hooked.commit = async (req) => {
    await before(req.keys.map((k) => latin1(k)));
    return inner.commit(req);
  };
  return hooked;
}

test('heartbeat: a pessimistic txn open for 30 s of simulated time keeps its 3 s primary lock alive; without one it is rolled back', async (t) => {
  const env = await setup();
  await mustPut(env.client, { k: '0' });
  async function hold(heartbeatIntervalMs: number) {
    const client = new TxnClient({ storage: env.storage, sleep: env.sleep, heartbeatSleep: env.timers.sleep, heartbeatIntervalMs, seed: 3 });
    const txn = await client.begin({ pessimistic: true });
    await txn.put(bytes('k'), bytes(String(heartbeatIntervalMs)));
    const ttls: bigint[] = [];
    for (let i = 0; i < 30; i++) {
      await env.timers.advance(1000);
      ttls.push((await env.storage.mvccByKey(bytes('k'))).lock!.ttl);
    }
    // What any other client resolving the lock now would find.
    const status = await env.storage.checkTxnStatus({ primaryKey: bytes('k'), lockTs: txn.startTs, callerStartTs: 0n, currentTs: await env.client.getTs(), rollbackIfNotExist: true });
    return { client, txn, ttls, status };
  }
  const live = await hold(1000);
  t.is(live.status.kind, 'locked');
  t.true(live.txn.heartbeatsSent >= 25, `${live.txn.heartbeatsSent} heartbeats`);
  t.true(live.ttls.every((ttl, i) => i === 0 || ttl >= live.ttls[i - 1]!), 'the TTL only grows');
  t.true(live.ttls[29]! >= 30_000n, `TTL ${live.ttls[29]} covers the txn's age`);
  t.true((await live.txn.commit()) > live.txn.startTs);
  t.is(live.client.activeHeartbeats, 0, 'the heartbeat stopped with the commit');
  t.is(env.timers.pending, 0, 'and its sleep ended at once');
  t.is(await mustGet(env.client, 'k'), '1000');

  const off = await hold(0);
  t.is(off.status.kind, 'ttlExpire', 'without a heartbeat the 3 s lock expired and was rolled back');
  t.is(off.txn.heartbeatsSent, 0);
  t.deepEqual(new Set(off.ttls), new Set([3000n]));
  await mustRefuse(t, off.txn.commit(), 'TXN_LOCK_NOT_FOUND');
  t.is(await mustGet(env.client, 'k'), '1000');
});

test('heartbeat: a big optimistic txn whose primary commit is slow keeps its locks alive between prewrite and commit', async (t) => {
  const env = await setup();
  await split(env, 'm');
  const slow = withCommitHook(env.storage, async (keys) => {
    if (keys.includes('a')) await env.timers.sleep(20_000);
  });
  // "Big" is 4 bytes here: the two keys and values.
  const client = new TxnClient({ storage: slow, sleep: env.sleep, heartbeatSleep: env.timers.sleep, heartbeatIntervalMs: 1000, optimisticHeartbeatBytes: 4, seed: 5 });
  const small = new TxnClient({ storage: slow, sleep: env.sleep, heartbeatSleep: env.timers.sleep, heartbeatIntervalMs: 1000, optimisticHeartbeatBytes: 5, seed: 6 });
  const txn = await client.begin();
  await txn.put(bytes('a'), bytes('A'));
  await txn.put(bytes('z'), bytes('Z'));
  const committing = txn.commit();
  while ((await env.storage.mvccByKey(bytes('a'))).lock === undefined) await env.timers.advance(0);
  for (let i = 0; i < 19; i++) await env.timers.advance(1000);
  const status = await env.storage.checkTxnStatus({ primaryKey: bytes('a'), lockTs: txn.startTs, callerStartTs: 0n, currentTs: await env.client.getTs(), rollbackIfNotExist: true });
  t.is(status.kind, 'locked', '19 s after prewrite, past the 3 s TTL, the primary is alive');
  t.true(txn.heartbeatsSent >= 15, `${txn.heartbeatsSent} heartbeats`);
  await env.timers.advance(2000);
  const commitTs = await committing;
  t.is(txn.commitPath, '2pc');
  await client.idle();
  t.is(client.activeHeartbeats, 0);
  t.is(await mustGet(env.client, 'a'), 'A');
  t.is(await mustGet(env.client, 'z'), 'Z');
  t.deepEqual((await env.storage.mvccByKey(bytes('z'))).writes.map((w) => w.commitTs), [commitTs]);

  // Below the size, no heartbeat: the same slow commit finds its primary rolled back by a resolver.
  const txn2 = await small.begin();
  await txn2.put(bytes('a'), bytes('2'));
  await txn2.put(bytes('z'), bytes('2'));
  const committing2 = txn2.commit();
  committing2.catch(() => undefined);
  while ((await env.storage.mvccByKey(bytes('a'))).lock === undefined) await env.timers.advance(0);
  for (let i = 0; i < 19; i++) await env.timers.advance(1000);
  t.is(small.activeHeartbeats, 0);
  const status2 = await env.storage.checkTxnStatus({ primaryKey: bytes('a'), lockTs: txn2.startTs, callerStartTs: 0n, currentTs: await env.client.getTs(), rollbackIfNotExist: true });
  t.is(status2.kind, 'ttlExpire');
  await env.timers.advance(2000);
  await mustRefuse(t, committing2, 'TXN_LOCK_NOT_FOUND');
  t.is(await mustGet(env.client, 'a'), 'A');
});

test('async secondaries: commit resolves once the primary is committed; a failing secondary commit does not fail the txn, and readers resolve what it left', async (t) => {
  const env = await setup();
  await split(env, 'm');
  let gate: { promise: Promise<void>; open: () => void; fail: (e: Error) => void } | undefined;
  const newGate = () => {
    let open!: () => void;
    let fail!: (e: Error) => void;
    const promise = new Promise<void>((res, rej) => ((open = res), (fail = rej)));
    promise.catch(() => undefined);
    return (gate = { promise, open, fail });
  };
  const secondaryCalls: string[][] = [];
  const gated = withCommitHook(env.storage, async (keys) => {
    if (!keys.includes('a')) {
      secondaryCalls.push(keys);
      await gate!.promise;
    }
  });
  const client = new TxnClient({ storage: gated, sleep: env.sleep, heartbeatSleep: env.timers.sleep, seed: 11 });
  newGate();
  const txn = await client.begin();
  for (const k of ['a', 'x', 'y']) await txn.put(bytes(k), bytes(k.toUpperCase()));
  const commitTs = await txn.commit();
  t.is(txn.state, 'committed', 'committed while its secondaries are still waiting');
  t.is(txn.commitPath, '2pc');
  t.deepEqual(secondaryCalls, [['x', 'y']]);
  t.is((await env.storage.mvccByKey(bytes('x'))).lock?.startTs, txn.startTs);
  gate!.fail(new KvError('IO_ERROR', 'simulated disk failure under the secondary commit'));
  await client.idle();
  t.is(txn.state, 'committed', 'the failed secondary commit did not fail the txn');
  t.is((await env.storage.mvccByKey(bytes('y'))).lock?.startTs, txn.startTs, 'the secondaries are still locked');
  // A reader meets the leftover locks, finds the primary committed and commits them, without waiting.
  const reader = await env.client.begin();
  t.deepEqual(pairs(await reader.scan({ start: bytes('a') })), [['a', 'A'], ['x', 'X'], ['y', 'Y']]);
  t.is(env.slept(), 0);
  for (const k of ['x', 'y']) {
    const info = await env.storage.mvccByKey(bytes(k));
    t.is(info.lock, undefined);
    t.deepEqual(info.writes.map((w) => w.commitTs), [commitTs]);
  }

  // With asyncSecondaries off, commit waits for them.
  const waiting = new TxnClient({ storage: gated, sleep: env.sleep, heartbeatSleep: env.timers.sleep, asyncSecondaries: false, seed: 12 });
  newGate();
  const txn2 = await waiting.begin();
  for (const k of ['a', 'x']) await txn2.put(bytes(k), bytes('2'));
  let done = false;
  const committing = txn2.commit().then((ts) => ((done = true), ts));
  while (secondaryCalls.length < 2) await env.timers.advance(0);
  await env.timers.advance(0);
  t.false(done, 'still waiting for the secondary');
  gate!.open();
  const ts2 = await committing;
  t.deepEqual((await env.storage.mvccByKey(bytes('x'))).writes.map((w) => w.commitTs)[0], ts2);
  t.is((await env.storage.mvccByKey(bytes('x'))).lock, undefined);
});

test('a prewrite refused in one region leaves no lock in the other: the client rolls back what it prewrote', async (t) => {
  const env = await setup();
  await split(env, 'm');
  const txn = await env.client.begin();
  await mustPut(env.client, { x: 'newer' });
  for (const k of ['a', 'b', 'x', 'y']) await txn.put(bytes(k), bytes('mine'));
  const err = await mustRefuse(t, txn.commit(), 'WRITE_CONFLICT');
  t.is(latin1(err.details['key'] as Uint8Array), 'x');
  t.deepEqual(await env.storage.scanLock({ maxTs: await env.client.getTs() }), []);
  for (const k of ['a', 'b', 'y']) {
    const info = await env.storage.mvccByKey(bytes(k));
    t.deepEqual(info.writes.map((w) => [w.write.writeType, w.write.startTs]), [['Rollback', txn.startTs]], `${k} carries only the rollback`);
  }
  const reader = await env.client.begin();
  t.deepEqual(pairs(await reader.scan()), [['x', 'newer']]);
});

test('TxnClient reads below the GC safe point fail with GC_TOO_EARLY; its own buffered writes still read', async (t) => {
  const env = await setup();
  await mustPut(env.client, { a: '1', b: '2' });
  const old = await env.client.begin();
  await old.put(bytes('mine'), bytes('m'));
  await mustPut(env.client, { a: '10' });
  await env.storage.placement.updateGcSafePoint(await env.client.getTs());
  await mustRefuse(t, old.get(bytes('a')), 'GC_TOO_EARLY');
  await mustRefuse(t, old.batchGet([bytes('a'), bytes('b')]), 'GC_TOO_EARLY');
  await mustRefuse(t, old.scan(), 'GC_TOO_EARLY');
  t.is(str(await old.get(bytes('mine'))), 'm');
  t.is(env.slept(), 0, 'not retried');
  const fresh = await env.client.begin();
  t.deepEqual(pairs(await fresh.scan()), [['a', '10'], ['b', '2']]);
});

test('TxnClient: KEY_TOO_LARGE from every call that takes a key or value, and nothing is sent', async (t) => {
  const env = await setup();
  const big = new Uint8Array(MAX_KEY_SIZE + 1);
  const txn = await env.client.begin();
  const ptxn = await env.client.begin({ pessimistic: true });
  const calls: Array<[string, () => Promise<unknown>]> = [
    ['get', () => txn.get(big)],
    ['batchGet', () => txn.batchGet([bytes('a'), big])],
    ['scan', () => txn.scan({ start: big })],
    ['put key', () => txn.put(big, bytes('v'))],
    ['put value', () => txn.put(bytes('a'), new Uint8Array(MAX_VALUE_SIZE + 1))],
    ['delete', () => txn.delete(big)],
    ['pessimistic put', () => ptxn.put(big, bytes('v'))],
    ['getForUpdate', () => ptxn.getForUpdate(big)],
  ];
  for (const [what, call] of calls) {
    const err = await t.throwsAsync(call(), { instanceOf: KvError }, what);
    t.is(err?.code, 'KEY_TOO_LARGE', `${what}: ${err?.message}`);
  }
  t.is(await txn.commit(), 0n, 'nothing was buffered');
  t.is(await ptxn.commit(), 0n);
  t.is(env.applied.length, 0);
});

test('region errors on reads are retried: a split landing under get, batchGet and scan re-routes them', async (t) => {
  const env = await setup();
  await mustPut(env.client, { a: '1', q: '2', z: '3' });
  const txn = await env.client.begin();
  const retried: boolean[] = [];
  const splitUnder = async <T>(at: string, read: () => Promise<T>): Promise<T> => {
    const r = env.storage.placement.regionForKey(enc(at));
    const splitting = env.storage.consensus.admin({ regionId: r.id, epoch: r.epoch }, { type: 'split', splitKey: enc(at) });
    const reading = read();
    await splitting;
    const before = env.slept();
    const got = await reading;
    retried.push(env.slept() > before);
    return got;
  };
  t.is(str(await splitUnder('m', () => txn.get(bytes('a')))), '1');
  t.deepEqual(pairs(await splitUnder('t', () => txn.batchGet([bytes('a'), bytes('q'), bytes('z')]))), [['a', '1'], ['q', '2'], ['z', '3']]);
  t.deepEqual(pairs(await splitUnder('c', () => txn.scan())), [['a', '1'], ['q', '2'], ['z', '3']]);
  t.deepEqual(pairs(await splitUnder('x', () => txn.scan({ reverse: true }))), [['z', '3'], ['q', '2'], ['a', '1']]);
  t.is(env.storage.placement.regionsInRange(new Uint8Array(0), new Uint8Array(0)).length, 5);
  t.deepEqual(retried, [true, true, true, true], 'each read met EPOCH_NOT_MATCH and was retried after a backoff');
});

test('heartbeat ends by itself when the primary lock is gone or the txn outlives maxTxnTtlMs', async (t) => {
  const env = await setup();
  const client = new TxnClient({ storage: env.storage, sleep: env.sleep, heartbeatSleep: env.timers.sleep, heartbeatIntervalMs: 1000, maxTxnTtlMs: 10_000, seed: 13 });
  // Another client releases the primary lock (as a resolver of an expired lock does).
  const txn = await client.begin({ pessimistic: true });
  await txn.put(bytes('k'), bytes('1'));
  await env.timers.advance(1000);
  t.is(txn.heartbeatsSent, 1);
  const lock = (await env.storage.mvccByKey(bytes('k'))).lock!;
  await env.storage.pessimisticRollback({ keys: [bytes('k')], startTs: txn.startTs, forUpdateTs: lock.forUpdateTs });
  await env.timers.advance(1000);
  t.is(client.activeHeartbeats, 0, 'TXN_NOT_FOUND ended it');
  t.is(txn.heartbeatsSent, 1);
  t.is(env.timers.pending, 0);
  // Nothing was written to k since, so prewrite amends the lost pessimistic lock and commits.
  t.true((await txn.commit()) > txn.startTs);
  // A txn kept open past maxTxnTtlMs stops beating; its lock then expires like a dead client's.
  const old = await client.begin({ pessimistic: true });
  await old.put(bytes('j'), bytes('1'));
  for (let i = 0; i < 15; i++) await env.timers.advance(1000);
  t.is(client.activeHeartbeats, 0);
  t.true(old.heartbeatsSent >= 8 && old.heartbeatsSent <= 10, `${old.heartbeatsSent} heartbeats in the first 10 s`);
  const status = await env.storage.checkTxnStatus({ primaryKey: bytes('j'), lockTs: old.startTs, callerStartTs: 0n, currentTs: await env.client.getTs(), rollbackIfNotExist: true });
  t.is(status.kind, 'ttlExpire');
});

test('deadlock: two pessimistic txns locking a and b in opposite orders; the wait that closes the cycle gets DEADLOCK at once, and the other proceeds once it rolls back', async (t) => {
  const env = await setup();
  await mustPut(env.client, { a: '0', b: '0' });
  const t1 = await env.client.begin({ pessimistic: true });
  const t2 = await env.client.begin({ pessimistic: true });
  await t1.put(bytes('a'), bytes('1'));
  await t2.put(bytes('b'), bytes('2'));
  const waiting = t1.put(bytes('b'), bytes('1'));
  while (env.slept() === 0) await env.timers.advance(0);
  t.is(env.storage.deadlocks.size, 1, 't1 is recorded waiting for t2');
  const before = env.slept();
  const err = await mustRefuse(t, t2.put(bytes('a'), bytes('2')), 'DEADLOCK');
  t.deepEqual(err.details['cycle'], [t2.startTs, t1.startTs, t2.startTs]);
  t.is(env.slept(), before, 't2 was refused without waiting');
  await t2.rollback();
  await waiting;
  await t1.commit();
  await env.client.idle();
  t.is(await mustGet(env.client, 'a'), '1');
  t.is(await mustGet(env.client, 'b'), '1');
  t.true(env.slept() < 20_000, `t1 waited ${env.slept()} ms, not its whole lock-wait budget`);
  t.is(env.storage.deadlocks.size, 0, 'the wait record went with the txn');
});
