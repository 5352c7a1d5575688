import test from 'ava';
import { isKvError, type KvError } from '@flashkv/core';
import { bytes, latin1, Rng, testSeed } from '@flashkv/core/testing';
import type { CdcEvent, CommitEvent } from '../src/index.js';
import { Collector, dup, mustHistory, mustPut, mustSettle, mustSplit, setup, type Env } from './cdc-must.js';

const long = (c: string) => c.repeat(300);
const show = (e: CdcEvent): string => {
  switch (e.type) {
    case 'prewrite':
      return `prewrite ${latin1(e.key)} ${e.op}:${e.value === undefined ? '' : latin1(e.value).slice(0, 8)}`;
    case 'rollback':
      return `rollback ${latin1(e.key)}`;
    case 'commit':
    case 'committed':
      return `${e.type} ${latin1(e.key)} ${e.op}:${e.value === undefined ? '' : latin1(e.value).slice(0, 8)}${'oldValue' in e ? ` old:${e.oldValue === undefined ? '-' : latin1(e.oldValue).slice(0, 8)}` : ''}`;
    default:
      return e.type;
  }
};
const rowsOnly = (c: Collector) => c.events.filter((e) => e.type !== 'resolvedTs' && e.type !== 'globalResolvedTs');

async function prewritePut(env: Env, key: string, value: string, startTs: bigint): Promise<void> {
  await env.storage.prewrite({ mutations: [{ op: 'put', key: bytes(key), value: bytes(value) }], primary: bytes(key), startTs, lockTtl: 3000n });
}

test('rows: prewrite, commit (value over 255 bytes from the default CF), rollback, 1PC committed, old values', async (t) => {
  const env = await setup();
  const feed = new Collector(env, { startTs: 0n, withOldValue: true });
  const s1 = await env.placement.getTs();
  await prewritePut(env, 'k', long('a'), s1);
  const c1 = await env.placement.getTs();
  await env.storage.commit({ keys: [bytes('k')], startTs: s1, commitTs: c1 });
  const s2 = await env.placement.getTs();
  await prewritePut(env, 'r', 'x', s2);
  await env.storage.rollback({ keys: [bytes('r')], startTs: s2 });
  const c3 = await mustPut(env, { k: 'short' }); // one key: 1PC
  await mustSettle(env);
  t.deepEqual(rowsOnly(feed).map(show), [
    'prewrite k put:aaaaaaaa',
    'commit k put:aaaaaaaa old:-',
    'prewrite r put:x',
    'rollback r',
    'committed k put:short old:aaaaaaaa',
  ]);
  const commit = feed.events[1] as CommitEvent;
  t.is(commit.value?.length, 300);
  t.is(commit.startTs, s1);
  t.is(commit.commitTs, c1);
  t.is((feed.events.at(-1) as CommitEvent).commitTs, c3);
  t.deepEqual(feed.violations, []);
  // A feed without old values carries none.
  const plain = new Collector(env, { startTs: c1 });
  t.deepEqual(rowsOnly(plain).map(show), ['committed k put:short']);
});

test('resolved ts: held at the oldest lock, else the TSO; never goes back; exposed as minResolvedTs', async (t) => {
  const env = await setup();
  const feed = new Collector(env, { startTs: 0n });
  const s = await env.placement.getTs();
  await prewritePut(env, 'k', 'v', s);
  for (let i = 0; i < 3; i++) await env.cdc.tick();
  await mustSettle(env);
  t.is(env.cdc.minResolvedTs(new Uint8Array(0), new Uint8Array(0)), s);
  t.is(feed.global, s);
  const c = await env.placement.getTs();
  await env.storage.commit({ keys: [bytes('k')], startTs: s, commitTs: c });
  await env.cdc.tick();
  const after = env.cdc.minResolvedTs(new Uint8Array(0), new Uint8Array(0));
  t.true(after > c, `resolved ${after} passes the commit at ${c} once the lock is gone`);
  await mustSettle(env);
  t.is(feed.global, after);
  t.deepEqual(feed.violations, []);
});

test('event stream equals the committed history: seeded concurrent txns with rollbacks, 1PC and conflicts; resolved-ts invariant on every event', async (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const rng = new Rng(seed);
  const env = await setup({ seed });
  await mustSplit(env, 'k5');
  const first = new Collector(env, { startTs: 0n, withOldValue: true });
  let late: Collector | undefined;
  const keys = Array.from({ length: 10 }, (_, i) => `k${i}`);
  let committed = 0;
  let rolledBack = 0;
  const worker = async (r: Rng, n: number) => {
    for (let i = 0; i < n; i++) {
      const txn = await env.client.begin();
      const m = r.between(1, 3);
      try {
        for (let j = 0; j < m; j++) {
          const k = bytes(keys[r.int(keys.length)]!);
          if (r.chance(0.2)) await txn.delete(k);
          else await txn.put(k, bytes(r.chance(0.2) ? long(String.fromCharCode(97 + r.int(26))) : `v${r.int(1000)}`));
        }
        if (r.chance(0.15)) {
          await txn.rollback();
          rolledBack++;
        } else {
          await txn.commit();
          committed++;
        }
      } catch (e) {
        if (!isKvError(e)) throw e;
        await txn.rollback().catch(() => undefined);
      }
      if (r.chance(0.3)) await env.cdc.tick();
      if (i === Math.floor(n / 2) && late === undefined) late = new Collector(env, { startTs: 0n, withOldValue: true });
    }
  };
  await Promise.all([worker(rng.fork(), 60), worker(rng.fork(), 60), worker(rng.fork(), 60)]);
  await mustSettle(env);
  await env.cdc.tick();
  await mustSettle(env);
  t.log(`committed ${committed}, rolled back ${rolledBack}`);
  t.true(committed > 50);
  const history = mustHistory(env);
  t.true(history.length > 50);
  for (const [name, c] of [['first', first], ['late', late!]] as const) {
    t.deepEqual(dup(c.rows()), [], `${name}: no duplicates (SEED=${seed})`);
    t.deepEqual(c.rows(), history, `${name}: rows equal the committed history (SEED=${seed})`);
    t.deepEqual(c.violations, [], `${name}: resolved-ts invariant (SEED=${seed})`);
    t.is(c.error, undefined);
  }
  // Old values, from the scan (late feed) and live: each commit's old value is the previous data version of its key.
  for (const c of [first, late!]) {
    const prev = new Map<string, string>();
    const commits = c.events.filter((e): e is CommitEvent => (e.type === 'commit' || e.type === 'committed') && e.op !== 'lock').sort((a, b) => (a.commitTs < b.commitTs ? -1 : a.commitTs > b.commitTs ? 1 : 0));
    for (const e of commits) {
      const k = latin1(e.key);
      t.is(e.oldValue === undefined ? '' : latin1(e.oldValue), prev.get(k) ?? '', `old value of ${k}@${e.commitTs} (SEED=${seed})`);
      prev.set(k, e.value === undefined ? '' : latin1(e.value));
    }
  }
  t.is(env.cdc.invariantViolations, 0);
});

test('restart from a checkpoint (the last global resolved ts) yields exactly the missing rows', async (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const rng = new Rng(seed);
  const env = await setup({ seed });
  const write = async (n: number) => {
    for (let i = 0; i < n; i++) {
      await mustPut(env, { [`k${rng.int(8)}`]: `v${i}`, [`k${rng.int(8)}`]: `w${i}` });
      if (rng.chance(0.4)) await env.cdc.tick();
    }
  };
  const feed1 = new Collector(env, { startTs: 0n });
  await write(30);
  await env.cdc.tick();
  await mustSettle(env);
  const checkpoint = feed1.global;
  t.true(checkpoint > 0n);
  const seen = feed1.rows(checkpoint);
  feed1.sub.unsubscribe();
  await write(30);
  const feed2 = new Collector(env, { startTs: checkpoint });
  await write(10);
  await mustSettle(env);
  t.deepEqual(seen, mustHistory(env).filter((r) => !feed2.rows().includes(r)).sort(), `SEED=${seed}`);
  t.deepEqual(feed2.rows(), mustHistory(env, checkpoint), `SEED=${seed}`);
  t.deepEqual(feed2.violations, []);
});

test('flashback: rewritten keys arrive as 1PC committed rows and the locked key as one commit; resolved ts held at start_ts while prepared', async (t) => {
  const env = await setup();
  await mustPut(env, { key0: 'a0', key1: 'a1' });
  const version = await env.placement.getTs();
  await mustPut(env, { key0: 'b0', key1: 'b1', key2: 'b2' });
  await env.cdc.tick();
  const feed = new Collector(env, { startTs: version });
  await mustSettle(env);
  const mark = feed.events.length;
  const startTs = await env.placement.getTs();
  await env.storage.prepareFlashbackToVersion({ version, startTs, startKey: new Uint8Array(0), endKey: new Uint8Array(0) });
  const held: bigint[] = [];
  for (let i = 0; i < 25; i++) {
    await env.cdc.tick();
    held.push(env.cdc.minResolvedTs(new Uint8Array(0), new Uint8Array(0)));
  }
  t.deepEqual(new Set(held), new Set([startTs]), 'resolved ts stays at the flashback start_ts while prepared');
  const commitTs = await env.placement.getTs();
  await env.storage.flashbackToVersion({ version, startTs, commitTs, startKey: new Uint8Array(0), endKey: new Uint8Array(0) });
  await env.cdc.tick();
  await mustSettle(env);
  const fb = feed.events.slice(mark).filter((e) => e.type !== 'resolvedTs' && e.type !== 'globalResolvedTs');
  t.deepEqual(fb.map(show), ['prewrite key0 put:a0', 'committed key1 put:a1', 'committed key2 delete:', 'commit key0 put:a0']);
  for (const e of fb) if (e.type === 'commit' || e.type === 'committed') t.is(e.commitTs, commitTs);
  t.true(feed.global > commitTs);
  t.deepEqual(feed.violations, []);
});

test('a region split during a feed: rows of both halves keep coming, the new region inherits resolved ts', async (t) => {
  const env = await setup();
  const feed = new Collector(env, { startTs: 0n });
  await mustPut(env, { a: '1', m: '1' });
  await env.cdc.tick();
  const before = env.cdc.minResolvedTs(new Uint8Array(0), new Uint8Array(0));
  const s = await env.placement.getTs();
  await prewritePut(env, 'z', 'locked', s); // a lock that moves to the right half
  await mustSplit(env, 'h');
  const regions = env.placement.regions();
  t.is(regions.length, 2);
  t.is(env.cdc.resolvedTs(regions[1]!.id), before, 'the new region starts at its parent\'s resolved ts');
  await mustPut(env, { a: '2' });
  await mustPut(env, { m: '2' });
  await env.cdc.tick();
  t.is(env.cdc.resolvedTs(regions[1]!.id), s, 'the moved lock holds the right half');
  t.true(env.cdc.resolvedTs(regions[0]!.id) > s);
  const c = await env.placement.getTs();
  await env.storage.commit({ keys: [bytes('z')], startTs: s, commitTs: c });
  await env.cdc.tick();
  await mustSettle(env);
  t.deepEqual(feed.rows(), mustHistory(env));
  t.true(feed.events.some((e) => e.type === 'resolvedTs' && e.regionId === regions[1]!.id));
  t.true(feed.global > c);
  t.deepEqual(feed.violations, []);
});

test('a stalled subscriber fails with CDC_LAGGING instead of losing events; a subscriber that keeps up gets all', async (t) => {
  const stalled: (() => void)[] = [];
  const env = await setup({ schedule: (run) => void stalled.push(run), maxPendingEvents: 20 });
  const feed = new Collector(env, { startTs: 0n });
  for (let i = 0; i < 8; i++) await mustPut(env, { [`k${i}`]: 'v', [`j${i}`]: 'w' });
  t.is(feed.error, undefined);
  t.is(feed.events.length, 0, 'nothing delivered while the scheduler is stalled');
  for (let i = 0; i < 8; i++) await mustPut(env, { [`x${i}`]: 'v', [`y${i}`]: 'w' });
  t.true(isKvError(feed.error, 'CDC_LAGGING'), String(feed.error));
  t.regex((feed.error as KvError).message, /behind/);
  // The failed feed is gone: later writes do not reach it, and running the stalled delivery delivers nothing after the error.
  for (const run of stalled.splice(0)) run();
  t.is(feed.events.length, 0);

  const live: (() => void)[] = [];
  const env2 = await setup({ schedule: (run) => void live.push(run), maxPendingEvents: 20 });
  const ok = new Collector(env2, { startTs: 0n });
  for (let i = 0; i < 16; i++) {
    await mustPut(env2, { [`k${i}`]: 'v', [`j${i}`]: 'w' });
    for (const run of live.splice(0)) run();
  }
  await mustSettle(env2);
  t.is(ok.error, undefined);
  t.deepEqual(ok.rows(), mustHistory(env2));
});

test('rows racing the scan: writes in the engine before the scan whose applied events come after it are delivered once', async (t) => {
  const held: (() => void)[] = [];
  const env = await setup({ heldApplied: held });
  const release = () => {
    for (const run of held.splice(0)) run();
  };
  const s = await env.placement.getTs();
  await prewritePut(env, 'p', 'locked', s); // lock in the engine, prewrite event held
  await mustPut(env, { a: '1' }); // 1PC row in the engine, event held
  const feed = new Collector(env, { startTs: 0n });
  t.deepEqual(rowsOnly(feed).map(show), ['committed a put:1', 'prewrite p put:locked'], 'the scan saw both');
  release(); // the late applied events of rows the scan already delivered
  await mustPut(env, { a: '2' });
  release();
  const c = await env.placement.getTs();
  await env.storage.commit({ keys: [bytes('p')], startTs: s, commitTs: c });
  release();
  await env.cdc.tick();
  await mustSettle(env);
  t.deepEqual(rowsOnly(feed).map(show), ['committed a put:1', 'prewrite p put:locked', 'committed a put:2', 'commit p put:locked']);
  t.deepEqual(feed.rows(), mustHistory(env));
  t.deepEqual(feed.violations, []);
});

test('bad input: a changefeed with a wrong startTs or an empty range is refused; a feed before start() errors', async (t) => {
  const env = await setup();
  t.throws(() => env.cdc.changefeed({ startTs: 5 as unknown as bigint }), { instanceOf: TypeError });
  t.true(isKvError(t.throws(() => env.cdc.changefeed({ startTs: -1n })), 'INVALID_ARGUMENT'));
  t.true(isKvError(t.throws(() => env.cdc.changefeed({ startTs: 0n, startKey: bytes('b'), endKey: bytes('a') })), 'INVALID_ARGUMENT'));
  t.true(isKvError(t.throws(() => env.cdc.changefeed({ startTs: 0n, startKey: bytes('a'), endKey: bytes('a') })), 'INVALID_ARGUMENT'));
  env.cdc.stop();
  const feed = new Collector(env, { startTs: 0n });
  t.true(isKvError(feed.error, 'INVALID_ARGUMENT'));
});

test('a feed over a key range gets only that range\'s rows and the resolved ts of the regions it overlaps', async (t) => {
  const env = await setup();
  await mustSplit(env, 'm');
  const feed = new Collector(env, { startTs: 0n, startKey: bytes('b'), endKey: bytes('d') });
  await mustPut(env, { a: '1', b: '1', c: '1', d: '1', x: '1' });
  await env.cdc.tick();
  await mustSettle(env);
  t.deepEqual(feed.rows().map((r) => r.slice(0, 1)), ['b', 'c']);
  const left = env.placement.regions()[0]!.id;
  t.deepEqual([...new Set(feed.events.filter((e) => e.type === 'resolvedTs').map((e) => (e as { regionId: number }).regionId))], [left]);
});

test('stop then start: locks are re-seeded from the engine and resolved ts does not go back', async (t) => {
  const env = await setup();
  await mustPut(env, { a: '1' });
  await env.cdc.tick();
  const r1 = env.cdc.minResolvedTs(new Uint8Array(0), new Uint8Array(0));
  env.cdc.stop();
  const s = await env.placement.getTs();
  await prewritePut(env, 'k', 'v', s); // applied while CDC is stopped: only the seeding scan can see it
  env.cdc.start();
  t.is(env.cdc.minResolvedTs(new Uint8Array(0), new Uint8Array(0)), r1);
  await env.cdc.tick();
  t.is(env.cdc.minResolvedTs(new Uint8Array(0), new Uint8Array(0)), s, 'the seeded lock holds resolved ts');
  const c = await env.placement.getTs();
  await env.storage.commit({ keys: [bytes('k')], startTs: s, commitTs: c });
  await env.cdc.tick();
  t.true(env.cdc.minResolvedTs(new Uint8Array(0), new Uint8Array(0)) > c);
});
