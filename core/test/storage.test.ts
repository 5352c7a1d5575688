/**
 * Storage API scenarios (DESIGN.md section 5): every method through commands, the scheduler and
 * LocalConsensus on a ReferenceEngine, including 1PC, requests spanning regions after a split,
 * region errors, oversized and malformed input (nothing written), and GC against placement.
 */
import test, { type ExecutionContext } from 'ava';
import {
  codec,
  EventCatalogue,
  KvError,
  LocalConsensus,
  LocalPlacement,
  ManualClock,
  MAX_KEY_SIZE,
  MAX_VALUE_SIZE,
  Storage,
  type AppliedEvent,
  type Command,
  type KvErrorCode,
  type TxnCommandContext,
} from '@flashkv/core';
import { bytes, latin1, ReferenceEngine } from '@flashkv/core/testing';

const T0 = 1_700_000_000_000;

async function setup() {
  const engine = new ReferenceEngine();
  const events = new EventCatalogue();
  const clock = new ManualClock(T0);
  const placement = await LocalPlacement.open({ engine, clock, events });
  const consensus = new LocalConsensus({ engine, placement, events });
  const storage = new Storage({ consensus, placement });
  const applied: AppliedEvent[] = [];
  events.applied$.subscribe((e) => applied.push(e));
  return { engine, clock, placement, consensus, storage, applied };
}
type Env = Awaited<ReturnType<typeof setup>>;

const enc = (s: string) => codec.encodeBytes(bytes(s));
const str = (v: Uint8Array | undefined) => (v === undefined ? undefined : latin1(v));
const pairs = (kvs: Array<{ key: Uint8Array; value: Uint8Array }>) => kvs.map((kv) => [latin1(kv.key), latin1(kv.value)]);

async function split(env: Env, at: string): Promise<void> {
  const r = env.placement.regionForKey(enc(at));
  await env.consensus.admin({ regionId: r.id, epoch: r.epoch }, { type: 'split', splitKey: enc(at) });
}

async function mustRefuse(t: ExecutionContext, p: Promise<unknown>, code: KvErrorCode): Promise<KvError> {
  const err = await t.throwsAsync(p, { instanceOf: KvError });
  t.is(err!.code, code, err!.message);
  return err as KvError;
}

/** Prewrites and commits puts at (startTs, commitTs); the ts come from the TSO so they stay ordered. */
async function mustCommitPuts(env: Env, kvs: Record<string, string>): Promise<{ startTs: bigint; commitTs: bigint }> {
  const startTs = await env.placement.getTs();
  const keys = Object.keys(kvs);
  await env.storage.prewrite({ mutations: keys.map((k) => ({ op: 'put', key: bytes(k), value: bytes(kvs[k]!) })), primary: bytes(keys[0]!), startTs, lockTtl: 3000n });
  const commitTs = await env.placement.getTs();
  await env.storage.commit({ keys: keys.map(bytes), startTs, commitTs });
  return { startTs, commitTs };
}

async function mustNoLock(t: ExecutionContext, env: Env, key: string): Promise<void> {
  t.is((await env.storage.mvccByKey(bytes(key))).lock, undefined, `${key} must hold no lock`);
}

test('prewrite + commit: reads before the commit ts see the old value, reads after see the new; a lock blocks reads above its start ts', async (t) => {
  const env = await setup();
  const first = await mustCommitPuts(env, { a: 'a1', b: 'b1' });
  const startTs = await env.placement.getTs();
  await env.storage.prewrite({ mutations: [{ op: 'put', key: bytes('a'), value: bytes('a2') }, { op: 'delete', key: bytes('b') }], primary: bytes('a'), startTs, lockTtl: 3000n });
  t.is(str(await env.storage.get(bytes('a'), startTs - 1n)), 'a1');
  const locked = await mustRefuse(t, env.storage.get(bytes('a'), startTs + 5n), 'KEY_IS_LOCKED');
  t.is((locked.details['lock'] as codec.Lock).startTs, startTs);
  t.is(latin1(locked.details['key'] as Uint8Array), 'a');
  t.is(str(await env.storage.get(bytes('a'), first.commitTs - 1n)), undefined);
  const commitTs = await env.placement.getTs();
  await env.storage.commit({ keys: [bytes('a'), bytes('b')], startTs, commitTs });
  t.is(str(await env.storage.get(bytes('a'), commitTs)), 'a2');
  t.is(await env.storage.get(bytes('b'), commitTs), undefined);
  t.is(str(await env.storage.get(bytes('b'), commitTs - 1n)), 'b1');
  // A retried commit is fine; a commit of a rolled-back txn is not.
  await env.storage.commit({ keys: [bytes('a')], startTs, commitTs });
  const s2 = await env.placement.getTs();
  await env.storage.prewrite({ mutations: [{ op: 'put', key: bytes('c'), value: bytes('c') }], primary: bytes('c'), startTs: s2, lockTtl: 3000n });
  await env.storage.rollback({ keys: [bytes('c')], startTs: s2 });
  await mustRefuse(t, env.storage.commit({ keys: [bytes('c')], startTs: s2, commitTs: s2 + 1n }), 'TXN_LOCK_NOT_FOUND');
  await mustNoLock(t, env, 'c');
});

test('batchGet returns found pairs in request order; scan walks forward, reverse, with limit and keyOnly', async (t) => {
  const env = await setup();
  const { commitTs } = await mustCommitPuts(env, { a: '1', c: '3', e: '5', g: '7' });
  t.deepEqual(pairs(await env.storage.batchGet([bytes('e'), bytes('b'), bytes('a')], commitTs)), [['e', '5'], ['a', '1']]);
  t.deepEqual(pairs(await env.storage.scan({ ts: commitTs })), [['a', '1'], ['c', '3'], ['e', '5'], ['g', '7']]);
  t.deepEqual(pairs(await env.storage.scan({ ts: commitTs, start: bytes('b'), end: bytes('g') })), [['c', '3'], ['e', '5']]);
  t.deepEqual(pairs(await env.storage.scan({ ts: commitTs, reverse: true, limit: 3 })), [['g', '7'], ['e', '5'], ['c', '3']]);
  t.deepEqual(pairs(await env.storage.scan({ ts: commitTs, keyOnly: true, limit: 2 })), [['a', ''], ['c', '']]);
  t.deepEqual(await env.storage.scan({ ts: commitTs - 1n }), []);
  t.deepEqual(await env.storage.scan({ ts: commitTs, start: bytes('x'), end: bytes('b') }), []);
});

test('a value over 255 bytes goes to the default CF and reads back; mvccByKey shows lock, writes and values', async (t) => {
  const env = await setup();
  const big = 'v'.repeat(1000);
  const startTs = await env.placement.getTs();
  await env.storage.prewrite({ mutations: [{ op: 'put', key: bytes('big'), value: bytes(big) }], primary: bytes('big'), startTs, lockTtl: 3000n });
  let info = await env.storage.mvccByKey(bytes('big'));
  t.is(info.lock?.startTs, startTs);
  t.is(info.values.length, 1);
  t.is(latin1(info.values[0]!.value), big);
  const commitTs = await env.placement.getTs();
  await env.storage.commit({ keys: [bytes('big')], startTs, commitTs });
  t.is(str(await env.storage.get(bytes('big'), commitTs)), big);
  info = await env.storage.mvccByKey(bytes('big'));
  t.is(info.lock, undefined);
  t.deepEqual(info.writes.map((w) => [w.commitTs, w.write.writeType, w.write.startTs]), [[commitTs, 'Put', startTs]]);
});

test('1PC: one region commits at a TSO ts with no lock, flagged onePc on applied$; an optimistic conflict still refuses it', async (t) => {
  const env = await setup();
  const startTs = await env.placement.getTs();
  const concurrentStart = await env.placement.getTs();
  const r = await env.storage.prewrite({
    mutations: [{ op: 'put', key: bytes('x'), value: bytes('1') }, { op: 'put', key: bytes('y'), value: bytes('2') }],
    primary: bytes('x'),
    startTs,
    lockTtl: 3000n,
    tryOnePc: true,
  });
  t.true(r.onePcCommitTs > startTs);
  await mustNoLock(t, env, 'x');
  await mustNoLock(t, env, 'y');
  t.is(str(await env.storage.get(bytes('y'), r.onePcCommitTs)), '2');
  t.is(await env.storage.get(bytes('y'), r.onePcCommitTs - 1n), undefined);
  const last = env.applied[env.applied.length - 1]!;
  t.true(last.flags.has('onePc'));
  t.true(last.modifies.every((m) => m.cf === 'write'), 'a 1PC write holds only write-CF records');
  t.true((await env.placement.getTs()) > r.onePcCommitTs, 'the 1PC commit ts came from the TSO');
  // A txn that started before that commit conflicts, 1PC or not, and writes nothing.
  t.true(concurrentStart < r.onePcCommitTs);
  await mustRefuse(t, env.storage.prewrite({ mutations: [{ op: 'put', key: bytes('x'), value: bytes('old') }], primary: bytes('x'), startTs: concurrentStart, lockTtl: 3000n, tryOnePc: true }), 'WRITE_CONFLICT');
  await mustNoLock(t, env, 'x');
});

test('after a split: 1PC falls back to 2PC locks, and every multi-key call is split per region', async (t) => {
  const env = await setup();
  await split(env, 'm');
  const left = env.placement.regionForKey(enc('a'));
  const right = env.placement.regionForKey(enc('x'));
  t.not(left.id, right.id);
  const startTs = await env.placement.getTs();
  const muts = ['a', 'c', 'n', 'x'].map((k) => ({ op: 'put' as const, key: bytes(k), value: bytes(k.toUpperCase()) }));
  const r = await env.storage.prewrite({ mutations: muts, primary: bytes('a'), startTs, lockTtl: 3000n, tryOnePc: true });
  t.is(r.onePcCommitTs, 0n, 'keys in two regions cannot commit in one phase');
  const locks = await env.storage.scanLock({ maxTs: startTs });
  t.deepEqual(locks.map((l) => latin1(l.key)), ['a', 'c', 'n', 'x']);
  t.deepEqual((await env.storage.scanLock({ maxTs: startTs, limit: 3 })).map((l) => latin1(l.key)), ['a', 'c', 'n'], 'the limit counts across regions');
  t.deepEqual(await env.storage.scanLock({ maxTs: startTs - 1n }), []);
  const perRegion = new Set(env.applied.slice(-2).map((e) => e.regionId));
  t.deepEqual(perRegion, new Set([left.id, right.id]), 'one write per region');
  const commitTs = await env.placement.getTs();
  await env.storage.commit({ keys: muts.map((m) => m.key), startTs, commitTs });
  t.deepEqual(pairs(await env.storage.scan({ ts: commitTs })), [['a', 'A'], ['c', 'C'], ['n', 'N'], ['x', 'X']]);
  t.deepEqual(pairs(await env.storage.scan({ ts: commitTs, start: bytes('b'), limit: 2 })), [['c', 'C'], ['n', 'N']], 'limit carries over the region boundary');
  t.deepEqual(pairs(await env.storage.scan({ ts: commitTs, reverse: true, limit: 3 })), [['x', 'X'], ['n', 'N'], ['c', 'C']]);
  t.deepEqual(pairs(await env.storage.scan({ ts: commitTs, start: bytes('n'), end: bytes('z') })), [['n', 'N'], ['x', 'X']]);
  t.deepEqual(pairs(await env.storage.batchGet([bytes('x'), bytes('a'), bytes('q')], commitTs)), [['x', 'X'], ['a', 'A']]);
  // Within one region 1PC is still used.
  const s2 = await env.placement.getTs();
  const one = await env.storage.prewrite({ mutations: [{ op: 'put', key: bytes('p'), value: bytes('P') }, { op: 'put', key: bytes('q'), value: bytes('Q') }], primary: bytes('p'), startTs: s2, lockTtl: 3000n, tryOnePc: true });
  t.true(one.onePcCommitTs > s2);
});

test('a split landing while a prewrite waits surfaces EPOCH_NOT_MATCH and writes nothing', async (t) => {
  const env = await setup();
  const whole = env.placement.regionForKey(enc('a'));
  const startTs = await env.placement.getTs();
  // The admin command becomes a barrier at once; the prewrite was routed with the old epoch.
  const splitting = env.consensus.admin({ regionId: whole.id, epoch: whole.epoch }, { type: 'split', splitKey: enc('m') });
  const pw = env.storage.prewrite({ mutations: [{ op: 'put', key: bytes('a'), value: bytes('1') }], primary: bytes('a'), startTs, lockTtl: 3000n });
  await splitting;
  const err = await mustRefuse(t, pw, 'EPOCH_NOT_MATCH');
  t.is(err.details['regionId'], whole.id);
  await mustNoLock(t, env, 'a');
  // Routed again, the same request succeeds.
  await env.storage.prewrite({ mutations: [{ op: 'put', key: bytes('a'), value: bytes('1') }], primary: bytes('a'), startTs, lockTtl: 3000n });
  t.is((await env.storage.mvccByKey(bytes('a'))).lock?.startTs, startTs);
});

test('KEY_TOO_LARGE for keys over 8 KiB and values over 8 MiB, before anything is written', async (t) => {
  const env = await setup();
  const startTs = await env.placement.getTs();
  const bigKey = new Uint8Array(MAX_KEY_SIZE + 1);
  const okKey = new Uint8Array(MAX_KEY_SIZE).fill(7);
  await mustRefuse(t, env.storage.get(bigKey, startTs), 'KEY_TOO_LARGE');
  await mustRefuse(
    t,
    env.storage.prewrite({ mutations: [{ op: 'put', key: bytes('a'), value: bytes('1') }, { op: 'put', key: bigKey, value: bytes('2') }], primary: bytes('a'), startTs, lockTtl: 3000n }),
    'KEY_TOO_LARGE',
  );
  await mustRefuse(
    t,
    env.storage.prewrite({ mutations: [{ op: 'put', key: bytes('a'), value: bytes('1') }, { op: 'put', key: bytes('b'), value: new Uint8Array(MAX_VALUE_SIZE + 1) }], primary: bytes('a'), startTs, lockTtl: 3000n }),
    'KEY_TOO_LARGE',
  );
  await mustRefuse(t, env.storage.acquirePessimisticLock({ keys: [bigKey], primary: bytes('a'), startTs, forUpdateTs: startTs, lockTtl: 3000n }), 'KEY_TOO_LARGE');
  t.is(env.applied.length, 0, 'nothing was written');
  // The limits themselves are allowed.
  await env.storage.prewrite({ mutations: [{ op: 'put', key: okKey, value: bytes('1') }], primary: okKey, startTs, lockTtl: 3000n });
  t.is(env.applied.length, 1);
});

test('malformed requests are refused with TypeError or INVALID_ARGUMENT and write nothing', async (t) => {
  const env = await setup();
  const startTs = await env.placement.getTs();
  const s = env.storage as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  await t.throwsAsync(s['prewrite']!.call(env.storage, { mutations: [{ op: 'put', key: 'a', value: bytes('1') }], primary: bytes('a'), startTs, lockTtl: 3000n }), { instanceOf: TypeError });
  await t.throwsAsync(s['prewrite']!.call(env.storage, { mutations: [{ op: 'upsert', key: bytes('a'), value: bytes('1') }], primary: bytes('a'), startTs, lockTtl: 3000n }), { instanceOf: TypeError });
  await t.throwsAsync(s['prewrite']!.call(env.storage, { mutations: [{ op: 'put', key: bytes('a') }], primary: bytes('a'), startTs, lockTtl: 3000n }), { instanceOf: TypeError });
  await t.throwsAsync(s['prewrite']!.call(env.storage, { mutations: [], primary: bytes('a'), startTs: 5, lockTtl: 3000n }), { instanceOf: TypeError });
  await t.throwsAsync(s['get']!.call(env.storage, bytes('a'), 5), { instanceOf: TypeError });
  await t.throwsAsync(s['scan']!.call(env.storage, bytes('a')), { instanceOf: TypeError });
  await t.throwsAsync(s['commit']!.call(env.storage, { keys: bytes('a'), startTs, commitTs: startTs + 1n }), { instanceOf: TypeError });
  await mustRefuse(t, env.storage.get(bytes('a'), -1n), 'INVALID_ARGUMENT');
  await mustRefuse(
    t,
    env.storage.prewrite({ mutations: [{ op: 'put', key: bytes('a'), value: bytes('1') }, { op: 'delete', key: bytes('a') }], primary: bytes('a'), startTs, lockTtl: 3000n }),
    'INVALID_ARGUMENT',
  );
  await mustRefuse(t, env.storage.prewrite({ mutations: [{ op: 'put', key: bytes('a'), value: bytes('1') }], primary: bytes('a'), startTs, lockTtl: 3000n, isPessimisticLock: true }), 'INVALID_ARGUMENT');
  await mustRefuse(t, env.storage.resolveLock({ startTs, commitTs: startTs }), 'INVALID_ARGUMENT');
  t.is(env.applied.length, 0);
});

test('a conflict on one key leaves no lock on the other keys of the region', async (t) => {
  const env = await setup();
  const other = await env.placement.getTs();
  await env.storage.prewrite({ mutations: [{ op: 'put', key: bytes('b'), value: bytes('other') }], primary: bytes('b'), startTs: other, lockTtl: 3000n });
  const startTs = await env.placement.getTs();
  const err = await mustRefuse(
    t,
    env.storage.prewrite({ mutations: ['a', 'b', 'c'].map((k) => ({ op: 'put' as const, key: bytes(k), value: bytes('mine') })), primary: bytes('a'), startTs, lockTtl: 3000n }),
    'KEY_IS_LOCKED',
  );
  t.is((err.details['lock'] as codec.Lock).startTs, other);
  await mustNoLock(t, env, 'a');
  await mustNoLock(t, env, 'c');
  // ALREADY_EXIST for an insert of a present key, also without partial locks.
  const { commitTs } = await mustCommitPuts(env, { e: '1' });
  const s3 = await env.placement.getTs();
  t.true(s3 > commitTs);
  await mustRefuse(t, env.storage.prewrite({ mutations: [{ op: 'put', key: bytes('d'), value: bytes('1') }, { op: 'insert', key: bytes('e'), value: bytes('2') }], primary: bytes('d'), startTs: s3, lockTtl: 3000n }), 'ALREADY_EXIST');
  await mustNoLock(t, env, 'd');
});

test('cleanup and checkTxnStatus follow the TTL by TSO time; resolveLock without keys finds every lock of the txn across regions', async (t) => {
  const env = await setup();
  await split(env, 'm');
  const startTs = await env.placement.getTs();
  const keys = ['a', 'p', 'z'];
  await env.storage.prewrite({ mutations: keys.map((k) => ({ op: 'put' as const, key: bytes(k), value: bytes(k) })), primary: bytes('a'), startTs, lockTtl: 100n });
  let now = await env.placement.getTs();
  await mustRefuse(t, env.storage.cleanup({ key: bytes('p'), startTs, currentTs: now }), 'KEY_IS_LOCKED');
  let st = await env.storage.checkTxnStatus({ primaryKey: bytes('a'), lockTs: startTs, callerStartTs: 0n, currentTs: now, rollbackIfNotExist: false });
  t.is(st.kind, 'locked');
  const hb = await env.storage.txnHeartBeat({ primaryKey: bytes('a'), startTs, adviseLockTtl: 500n });
  t.is(hb.kind === 'locked' ? hb.ttl : -1n, 500n);
  env.clock.advance(200);
  now = await env.placement.getTs();
  st = await env.storage.checkTxnStatus({ primaryKey: bytes('a'), lockTs: startTs, callerStartTs: 0n, currentTs: now, rollbackIfNotExist: false });
  t.is(st.kind, 'locked', 'the heartbeat extended the TTL');
  env.clock.advance(400);
  now = await env.placement.getTs();
  await env.storage.cleanup({ key: bytes('p'), startTs, currentTs: now });
  await mustNoLock(t, env, 'p');
  st = await env.storage.checkTxnStatus({ primaryKey: bytes('a'), lockTs: startTs, callerStartTs: 0n, currentTs: now, rollbackIfNotExist: false });
  t.is(st.kind, 'ttlExpire');
  t.is(await env.storage.resolveLock({ startTs, commitTs: 0n }), 1, 'only z is still locked');
  t.deepEqual(await env.storage.scanLock({ maxTs: now }), []);
  // A committed txn: resolveLock commits the rest everywhere.
  const s2 = await env.placement.getTs();
  await env.storage.prewrite({ mutations: keys.map((k) => ({ op: 'put' as const, key: bytes(k), value: bytes(k + '2') })), primary: bytes('a'), startTs: s2, lockTtl: 100n });
  const c2 = await env.placement.getTs();
  await env.storage.commit({ keys: [bytes('a')], startTs: s2, commitTs: c2 });
  st = await env.storage.checkTxnStatus({ primaryKey: bytes('a'), lockTs: s2, callerStartTs: 0n, currentTs: await env.placement.getTs(), rollbackIfNotExist: true });
  t.deepEqual(st, { kind: 'committed', commitTs: c2 });
  t.is(await env.storage.resolveLock({ startTs: s2, commitTs: c2 }), 2);
  t.deepEqual(pairs(await env.storage.scan({ ts: c2 })), [['a', 'a2'], ['p', 'p2'], ['z', 'z2']]);
  // A missing primary with rollbackIfNotExist gets a protected rollback, so its late prewrite fails.
  const s3 = await env.placement.getTs();
  st = await env.storage.checkTxnStatus({ primaryKey: bytes('q'), lockTs: s3, callerStartTs: 0n, currentTs: await env.placement.getTs(), rollbackIfNotExist: true });
  t.is(st.kind, 'lockNotExist');
  await mustRefuse(t, env.storage.prewrite({ mutations: [{ op: 'put', key: bytes('q'), value: bytes('late') }], primary: bytes('q'), startTs: s3, lockTtl: 100n }), 'WRITE_CONFLICT');
  await mustRefuse(t, env.storage.checkTxnStatus({ primaryKey: bytes('r'), lockTs: s3, callerStartTs: 0n, currentTs: s3, rollbackIfNotExist: false }), 'TXN_NOT_FOUND');
});

test('pessimistic flow: acquire with returned values, conflict past forUpdateTs, pessimistic prewrite and 1PC, pessimisticRollback', async (t) => {
  const env = await setup();
  const { commitTs: c0 } = await mustCommitPuts(env, { a: 'a0', b: 'b0' });
  const startTs = await env.placement.getTs();
  t.true(startTs > c0);
  const got = await env.storage.acquirePessimisticLock({ keys: [bytes('b'), bytes('a'), bytes('n')], primary: bytes('a'), startTs, forUpdateTs: startTs, lockTtl: 3000n, returnValues: true });
  t.deepEqual(got.values!.map(str), ['b0', 'a0', undefined]);
  t.is((await env.storage.mvccByKey(bytes('n'))).lock?.lockType, 'Pessimistic');
  // Pessimistic locks do not block reads; they do block another txn's prewrite.
  t.is(str(await env.storage.get(bytes('a'), startTs + 10n)), 'a0');
  const other = await env.placement.getTs();
  await mustRefuse(t, env.storage.prewrite({ mutations: [{ op: 'put', key: bytes('a'), value: bytes('x') }], primary: bytes('a'), startTs: other, lockTtl: 3000n }), 'KEY_IS_LOCKED');
  await env.storage.pessimisticRollback({ keys: [bytes('n')], startTs, forUpdateTs: startTs });
  await mustNoLock(t, env, 'n');
  const forUpdateTs = await env.placement.getTs();
  const r = await env.storage.prewrite({
    mutations: [{ op: 'put', key: bytes('a'), value: bytes('a1') }, { op: 'lock', key: bytes('b') }],
    primary: bytes('a'),
    startTs,
    lockTtl: 3000n,
    forUpdateTs,
    isPessimisticLock: [true, true],
    tryOnePc: true,
  });
  t.true(r.onePcCommitTs > forUpdateTs);
  await mustNoLock(t, env, 'a');
  await mustNoLock(t, env, 'b');
  t.is(str(await env.storage.get(bytes('a'), r.onePcCommitTs)), 'a1');
  // A lock request whose forUpdateTs is older than a commit is a WRITE_CONFLICT to retry.
  await mustRefuse(t, env.storage.acquirePessimisticLock({ keys: [bytes('a')], primary: bytes('a'), startTs: startTs + 1n, forUpdateTs: startTs + 1n, lockTtl: 3000n }), 'WRITE_CONFLICT');
});

test('gc never runs above placement\'s safe point, does nothing while GC is paused, and keeps what a read at the safe point sees', async (t) => {
  const env = await setup();
  await split(env, 'm');
  const v1 = await mustCommitPuts(env, { a: '1', x: '1' });
  const v2 = await mustCommitPuts(env, { a: '2', x: '2' });
  const v3 = await mustCommitPuts(env, { a: '3', x: '3' });
  let r = await env.storage.gc({ safePoint: v3.commitTs });
  t.deepEqual([r.safePoint, r.deletedVersions], [0n, 0], 'placement safe point is still 0');
  await env.placement.updateGcSafePoint(v2.commitTs);
  await env.placement.pauseGc('flashback-1');
  r = await env.storage.gc({ safePoint: v3.commitTs });
  t.true(r.paused);
  t.is((await env.storage.mvccByKey(bytes('a'))).writes.length, 3);
  await env.placement.resumeGc('flashback-1');
  r = await env.storage.gc({ safePoint: v3.commitTs });
  t.is(r.safePoint, v2.commitTs, 'capped by placement');
  t.is(r.deletedVersions, 2, 'the v1 version of a and of x (one per region)');
  for (const k of ['a', 'x']) {
    t.deepEqual((await env.storage.mvccByKey(bytes(k))).writes.map((w) => w.commitTs), [v3.commitTs, v2.commitTs]);
    t.is(str(await env.storage.get(bytes(k), v2.commitTs)), '2');
    t.is(str(await env.storage.get(bytes(k), v3.commitTs)), '3');
  }
  t.true(v1.commitTs < v2.commitTs);
});

test('the command registry holds every built-in command, refuses duplicates, and runs a command another plugin adds', async (t) => {
  const env = await setup();
  t.deepEqual(env.storage.registry.names(), [
    'acquirePessimisticLock', 'batchGet', 'checkTxnStatus', 'cleanup', 'commit', 'gc', 'get', 'mvccByKey',
    'pessimisticRollback', 'prewrite', 'resolveLock', 'rollback', 'scan', 'scanLock', 'txnHeartBeat',
  ]);
  const err = t.throws(() => env.storage.registry.register('commit', () => ({}) as never, { owner: 'evil' }), { instanceOf: KvError });
  t.is(err!.code, 'INVALID_ARGUMENT');
  // A third-party command: counts write records of a key under its latch.
  env.storage.registry.register(
    'countWrites',
    (args) => {
      const a = args as { key: Uint8Array };
      const cmd: Command<number, TxnCommandContext> = {
        name: 'countWrites',
        latchKeys: () => [enc(latin1(a.key))],
        async process(ctx) {
          const r = ctx.consensus.regionForKey(enc(latin1(a.key)));
          const snap = await ctx.consensus.snapshot({ regionId: r.id, epoch: r.epoch });
          try {
            const it = snap.iterator('write', {});
            let n = 0;
            for (let ok = it.first(); ok; ok = it.next()) n++;
            it.close();
            return n;
          } finally {
            snap.release();
          }
        },
      };
      return cmd;
    },
    { owner: 'third-party' },
  );
  await mustCommitPuts(env, { a: '1', b: '2' });
  t.is(await env.storage.run<number>('countWrites', { key: bytes('a') }), 2);
  await mustRefuse(t, env.storage.run('nope', {}), 'INVALID_ARGUMENT');
});

test('a read at a ts above an in-flight 1PC commit waits for it (no read misses a committed 1PC write)', async (t) => {
  const env = await setup();
  const startTs = await env.placement.getTs();
  // Hold the 1PC write at the engine: the command has its commit ts but has not written yet.
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const realWrite = env.consensus.write.bind(env.consensus);
  env.consensus.write = async (ctx, mods, opts) => {
    await gate;
    return realWrite(ctx, mods, opts);
  };
  const pw = env.storage.prewrite({ mutations: [{ op: 'put', key: bytes('k'), value: bytes('v') }], primary: bytes('k'), startTs, lockTtl: 3000n, tryOnePc: true });
  // Let the command run up to the held write.
  for (let i = 0; i < 20 && env.storage.fence.size === 0; i++) await new Promise((r) => setImmediate(r));
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  t.is(env.storage.fence.size, 1);
  const readTs = await env.placement.getTs();
  let readDone = false;
  const read = env.storage.get(bytes('k'), readTs).then((v) => ((readDone = true), v));
  const before = await env.storage.get(bytes('k'), startTs);
  t.is(before, undefined, 'a read below the txn start does not wait');
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  t.false(readDone, 'the read above the commit ts waits');
  release();
  const { onePcCommitTs } = await pw;
  t.true(onePcCommitTs < readTs);
  t.is(str(await read), 'v');
});

test('reads below the GC safe point fail with GC_TOO_EARLY; at or above it they work, before and after gc ran', async (t) => {
  const env = await setup();
  await split(env, 'm');
  const v1 = await mustCommitPuts(env, { a: '1', x: '1' });
  const v2 = await mustCommitPuts(env, { a: '2', x: '2' });
  await env.placement.updateGcSafePoint(v2.commitTs);
  const below = v2.commitTs - 1n;
  for (const ts of [below, v1.commitTs, 0n]) {
    const err = await mustRefuse(t, env.storage.get(bytes('a'), ts), 'GC_TOO_EARLY');
    t.deepEqual([err.details['ts'], err.details['safePoint']], [ts, v2.commitTs]);
    await mustRefuse(t, env.storage.batchGet([bytes('a'), bytes('x')], ts), 'GC_TOO_EARLY');
    await mustRefuse(t, env.storage.scan({ ts }), 'GC_TOO_EARLY');
    await mustRefuse(t, env.storage.scan({ ts, reverse: true, limit: 1 }), 'GC_TOO_EARLY');
  }
  const readAll = async (ts: bigint) => [
    str(await env.storage.get(bytes('a'), ts)),
    pairs(await env.storage.batchGet([bytes('a'), bytes('x')], ts)),
    pairs(await env.storage.scan({ ts })),
  ];
  const expected = ['2', [['a', '2'], ['x', '2']], [['a', '2'], ['x', '2']]];
  t.deepEqual(await readAll(v2.commitTs), expected, 'a read at the safe point itself is served');
  await env.storage.gc({ safePoint: v2.commitTs });
  t.deepEqual(await readAll(v2.commitTs), expected, 'and still after gc dropped the older versions');
  await mustRefuse(t, env.storage.get(bytes('a'), below), 'GC_TOO_EARLY');
});

test('KEY_TOO_LARGE from every entry point that takes a key or value, and nothing is written or locked', async (t) => {
  const env = await setup();
  await split(env, 'm');
  const startTs = await env.placement.getTs();
  const big = new Uint8Array(MAX_KEY_SIZE + 1).fill(0x61);
  const bigValue = new Uint8Array(MAX_VALUE_SIZE + 1);
  const s = env.storage;
  const put = (key: Uint8Array, value = bytes('v')) => ({ op: 'put' as const, key, value });
  const refusals: Array<[string, () => Promise<unknown>]> = [
    ['get', () => s.get(big, startTs)],
    ['batchGet', () => s.batchGet([bytes('a'), big], startTs)],
    ['scan start', () => s.scan({ start: big, ts: startTs })],
    ['scan end', () => s.scan({ end: big, ts: startTs })],
    ['prewrite key in a second region', () => s.prewrite({ mutations: [put(bytes('a')), put(bytes('z')), put(big)], primary: bytes('a'), startTs, lockTtl: 3000n })],
    ['prewrite value', () => s.prewrite({ mutations: [put(bytes('a')), put(bytes('z'), bigValue)], primary: bytes('a'), startTs, lockTtl: 3000n })],
    ['prewrite insert value', () => s.prewrite({ mutations: [put(bytes('a')), { op: 'insert', key: bytes('z'), value: bigValue }], primary: bytes('a'), startTs, lockTtl: 3000n })],
    ['prewrite delete key', () => s.prewrite({ mutations: [put(bytes('a')), { op: 'delete', key: big }], primary: bytes('a'), startTs, lockTtl: 3000n })],
    ['prewrite lock key', () => s.prewrite({ mutations: [{ op: 'lock', key: big }], primary: bytes('a'), startTs, lockTtl: 3000n })],
    ['prewrite checkNotExists key', () => s.prewrite({ mutations: [{ op: 'checkNotExists', key: big }], primary: bytes('a'), startTs, lockTtl: 3000n })],
    ['prewrite primary', () => s.prewrite({ mutations: [put(bytes('a'))], primary: big, startTs, lockTtl: 3000n, tryOnePc: true })],
    ['commit', () => s.commit({ keys: [bytes('a'), big], startTs, commitTs: startTs + 1n })],
    ['rollback', () => s.rollback({ keys: [bytes('z'), big], startTs })],
    ['cleanup', () => s.cleanup({ key: big, startTs, currentTs: startTs })],
    ['checkTxnStatus', () => s.checkTxnStatus({ primaryKey: big, lockTs: startTs, callerStartTs: startTs, currentTs: startTs, rollbackIfNotExist: true })],
    ['resolveLock', () => s.resolveLock({ startTs, commitTs: 0n, keys: [bytes('a'), big] })],
    ['acquirePessimisticLock key', () => s.acquirePessimisticLock({ keys: [bytes('a'), bytes('z'), big], primary: bytes('a'), startTs, forUpdateTs: startTs, lockTtl: 3000n })],
    ['acquirePessimisticLock primary', () => s.acquirePessimisticLock({ keys: [bytes('a')], primary: big, startTs, forUpdateTs: startTs, lockTtl: 3000n })],
    ['pessimisticRollback', () => s.pessimisticRollback({ keys: [big], startTs, forUpdateTs: startTs })],
    ['txnHeartBeat', () => s.txnHeartBeat({ primaryKey: big, startTs, adviseLockTtl: 5000n })],
    ['scanLock', () => s.scanLock({ maxTs: startTs, start: big })],
    ['mvccByKey', () => s.mvccByKey(big)],
  ];
  for (const [what, call] of refusals) {
    const err = await t.throwsAsync(call(), { instanceOf: KvError }, what);
    t.is(err?.code, 'KEY_TOO_LARGE', `${what}: ${err?.message}`);
  }
  t.is(env.applied.length, 0, 'no refused call wrote anything');
  t.deepEqual(await s.scanLock({ maxTs: await env.placement.getTs() }), []);
  t.deepEqual(await s.scan({ ts: await env.placement.getTs() }), []);
});
