/**
 * The FLASHBACK service (FLASHBACK.md b.2) in a kernel: several regions, progress stream and
 * kernel events, GC/scheduling paused and restored, refusals (future, GC safe point, min resolved
 * ts), a crash between Prepare and Finish resumed over the same engine with the same timestamps,
 * retries with seeded backoff, time strings, preview and the 'resolve' lock policy.
 */
import test from 'ava';
import {
  CLOCK,
  CONSENSUS,
  definePlugin,
  ENGINE,
  EVENTS,
  FLASHBACK,
  Kernel,
  KvError,
  LocalConsensus,
  localPlacement,
  ManualClock,
  PLACEMENT,
  RESOLVED_TS,
  storage as storagePlugin,
  codec,
  tsFromTime,
  type Consensus,
  type FlashbackProgress,
  type FlashbackProgressEvent,
  type Plugin,
  type StorageEngine,
} from '@flashkv/core';
import { bytes, latin1, ReferenceEngine } from '@flashkv/core/testing';
import { flashback, type FlashbackPluginOptions, type FlashbackService } from '@flashkv/flashback';

const T0 = 1_700_000_000_000;

function enginePlugin(engine: StorageEngine): Plugin {
  // Not closed at stop: a second kernel over the same engine is a restart.
  return definePlugin({ name: 'test-engine', version: '1.0.0', provides: [ENGINE], register: (ctx) => ctx.provide(ENGINE, engine) });
}
function clockPlugin(clock: ManualClock): Plugin {
  return definePlugin({ name: 'test-clock', version: '1.0.0', provides: [CLOCK], register: (ctx) => ctx.provide(CLOCK, clock) });
}
function consensusPlugin(wrap?: (c: Consensus) => Consensus): Plugin {
  return definePlugin({
    name: 'test-consensus',
    version: '1.0.0',
    requires: [ENGINE, PLACEMENT],
    provides: [CONSENSUS],
    register(ctx) {
      const local = new LocalConsensus({ engine: ctx.resolve(ENGINE), placement: ctx.resolve(PLACEMENT), events: ctx.resolve(EVENTS) });
      ctx.provide(CONSENSUS, wrap ? wrap(local) : local);
    },
  });
}

interface Node {
  readonly kernel: Kernel;
  readonly fb: FlashbackService;
  readonly clock: ManualClock;
  readonly engine: StorageEngine;
  readonly sleeps: number[];
}

async function startNode(o: { engine?: StorageEngine; clock?: ManualClock; fb?: FlashbackPluginOptions; extra?: Plugin[]; wrap?: (c: Consensus) => Consensus } = {}): Promise<Node> {
  const engine = o.engine ?? new ReferenceEngine();
  const clock = o.clock ?? new ManualClock(T0);
  const sleeps: number[] = [];
  const kernel = await Kernel.start({
    plugins: [
      enginePlugin(engine),
      clockPlugin(clock),
      localPlacement(),
      consensusPlugin(o.wrap),
      storagePlugin(),
      flashback({
        sleep: async (ms) => {
          sleeps.push(ms);
          clock.advance(ms);
        },
        ...o.fb,
      }),
      ...(o.extra ?? []),
    ],
  });
  return { kernel, fb: kernel.resolve(FLASHBACK) as FlashbackService, clock, engine, sleeps };
}

const placementOf = (n: Node) => n.kernel.resolve(PLACEMENT);
const enc = (s: string) => codec.encodeBytes(bytes(s));

async function put(n: Node, kvs: Record<string, string | null>): Promise<bigint> {
  const st = n.kernel.storage;
  const p = placementOf(n);
  n.clock.advance(5);
  const startTs = await p.getTs();
  const keys = Object.keys(kvs);
  await st.prewrite({
    mutations: keys.map((k) => (kvs[k] === null ? { op: 'delete' as const, key: bytes(k) } : { op: 'put' as const, key: bytes(k), value: bytes(kvs[k]!) })),
    primary: bytes(keys[0]!),
    startTs,
    lockTtl: 3000n,
  });
  const commitTs = await p.getTs();
  await st.commit({ keys: keys.map(bytes), startTs, commitTs });
  n.clock.advance(5);
  return commitTs;
}

async function readAll(n: Node): Promise<Record<string, string>> {
  const ts = await placementOf(n).getTs();
  const out: Record<string, string> = {};
  for (const kv of await n.kernel.storage.scan({ ts })) out[latin1(kv.key)] = latin1(kv.value);
  return out;
}

async function split(n: Node, at: string): Promise<void> {
  const r = placementOf(n).regionForKey(enc(at));
  await n.kernel.resolve(CONSENSUS).admin({ regionId: r.id, epoch: r.epoch }, { type: 'split', splitKey: enc(at) });
}

/** 40 keys over 4 regions; returns the version after the first round and the state at it. */
async function history(n: Node): Promise<{ version: bigint; before: Record<string, string> }> {
  for (const at of ['f', 'm', 't']) await split(n, at);
  const first: Record<string, string> = {};
  for (let i = 0; i < 40; i++) first[`${String.fromCharCode(97 + (i % 26))}${i}`] = `v${i}`;
  await put(n, first);
  const version = await placementOf(n).getTs();
  const before = await readAll(n);
  const second: Record<string, string | null> = {};
  for (let i = 0; i < 40; i += 2) second[`${String.fromCharCode(97 + (i % 26))}${i}`] = i % 4 === 0 ? null : `w${i}`;
  for (let i = 0; i < 10; i++) second[`new${i}`] = `n${i}`;
  await put(n, second);
  return { version, before };
}

test('run over four regions restores every key, streams progress per region/batch, emits kernel events, pauses and restores GC and scheduling', async (t) => {
  const pausedAt: Record<string, boolean[]> = {};
  let nodeRef: Node | undefined;
  const n = await startNode({
    fb: {
      onStep: (step) => {
        const p = placementOf(nodeRef!);
        pausedAt[step] = [p.isGcPaused(), p.isSchedulingPaused()];
      },
    },
  });
  nodeRef = n;
  const { version, before } = await history(n);
  const events: FlashbackProgressEvent[] = [];
  n.kernel.events.flashbackProgress$.subscribe((e) => events.push(e));
  const run = n.fb.run({ version });
  const seen: FlashbackProgress[] = [];
  run.progress$.subscribe((p) => seen.push(p));
  const final = await run.done;
  t.deepEqual(await readAll(n), before);
  t.is(final.phase, 'done');
  t.is(final.regionsTotal, 4);
  t.is(final.regionsPrepared, 4);
  t.is(final.regionsFinished, 4);
  t.is(final.keysRewritten, 30); // 20 changed + 10 new
  t.true(final.startTs > version && final.commitTs > final.startTs);
  t.is(final.etaMs, 0);
  const phases = [...new Set(seen.map((p) => p.phase))];
  t.deepEqual(phases, ['check', 'prepare', 'finish', 'done']);
  // Monotone counters.
  for (let i = 1; i < seen.length; i++) t.true(seen[i]!.keysRewritten >= seen[i - 1]!.keysRewritten);
  t.true(seen.some((p) => p.phase === 'finish' && p.etaMs !== undefined));
  // Never per key: fewer events than keys rewritten would give, one per region step or batch.
  t.true(events.length > 0 && events.length <= seen.length);
  t.is(events[events.length - 1]!.phase, 'done');
  t.is(events[events.length - 1]!.keysRewritten, 30);
  t.deepEqual(pausedAt['prepared'], [true, true]);
  t.deepEqual(pausedAt['finished'], [true, true]);
  const p = placementOf(n);
  t.false(p.isGcPaused());
  t.false(p.isSchedulingPaused());
  t.is(p.regions().filter((r) => r.flashback.inFlashback).length, 0);
  t.deepEqual(n.fb.jobState(run.jobId), { state: 'done', version, startTs: final.startTs, commitTs: final.commitTs });
  t.deepEqual(n.fb.unfinishedJobs(), []);
  await n.kernel.stop();
});

test('a key range: regions are split at its bounds, keys outside are untouched and never locked', async (t) => {
  const n = await startNode();
  const { version, before } = await history(n);
  const after = await readAll(n);
  const final = await n.fb.run({ version, startKey: bytes('c'), endKey: bytes('h') }).done;
  const now = await readAll(n);
  for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const inRange = k >= 'c' && k < 'h';
    t.is(now[k], inRange ? before[k] : after[k], k);
  }
  const p = placementOf(n);
  t.truthy(p.regions().find((r) => codec.toHex(r.startKey) === codec.toHex(enc('c'))));
  t.truthy(p.regions().find((r) => codec.toHex(r.startKey) === codec.toHex(enc('h'))));
  t.is(final.regionsTotal, 2); // [c, f) and [f, h)
  await n.kernel.stop();
});

for (const crashAt of ['prepared', 'commitTsPersisted'] as const) {
  test(`crash at '${crashAt}' then restart: the job resumes on plugin start with the persisted timestamps`, async (t) => {
    const engine = new ReferenceEngine();
    const clock = new ManualClock(T0);
    const n1 = await startNode({
      engine,
      clock,
      fb: {
        onStep: (step) => {
          if (step === crashAt) throw new Error('crash');
        },
      },
    });
    const { version, before } = await history(n1);
    const run = n1.fb.run({ version, jobId: 'job-1' });
    await t.throwsAsync(run.done, { message: 'crash' });
    const persisted = n1.fb.jobState('job-1')!;
    t.is(persisted.state, crashAt === 'prepared' ? 'prepare' : 'finish');
    t.true(persisted.startTs > 0n);
    t.is(placementOf(n1).regions().filter((r) => r.flashback.inFlashback).length, 4);
    await n1.kernel.stop();

    const n2 = await startNode({ engine, clock });
    // The paused GC survived the restart; the job was resumed by the plugin's start.
    t.true(placementOf(n2).isGcPaused());
    t.deepEqual(n2.fb.unfinishedJobs(), ['job-1']);
    const final = await n2.fb.resume('job-1').done;
    t.is(final.startTs, persisted.startTs);
    if (crashAt === 'commitTsPersisted') t.is(final.commitTs, persisted.commitTs);
    t.deepEqual(await readAll(n2), before);
    t.false(placementOf(n2).isGcPaused());
    t.false(placementOf(n2).isSchedulingPaused());
    t.is(n2.fb.jobState('job-1')!.state, 'done');
    await n2.kernel.stop();
  });
}

test('refusals: a future version is FUTURE_TS, one below the GC safe point GC_TOO_EARLY (equal allowed); a refused job is cancelled and pauses nothing', async (t) => {
  const n = await startNode();
  const { version } = await history(n);
  const p = placementOf(n);
  const future = await n.fb.run({ version: (await p.getTs()) + 1_000_000n }).done.catch((e: unknown) => e);
  t.is((future as KvError).code, 'FUTURE_TS');
  t.regex((future as KvError).message, /cannot set flashback timestamp to future time/);
  await p.updateGcSafePoint(version);
  const old = n.fb.run({ version: version - 1n });
  const err = (await old.done.catch((e: unknown) => e)) as KvError;
  t.is(err.code, 'GC_TOO_EARLY');
  t.is(n.fb.jobState(old.jobId)!.state, 'cancelled');
  t.false(p.isGcPaused());
  t.false(p.isSchedulingPaused());
  t.is(p.regions().filter((r) => r.flashback.inFlashback).length, 0);
  const ok = await n.fb.run({ version }).done;
  t.is(ok.phase, 'done');
  await n.kernel.stop();
});

test('min resolved ts (fallback from locks): an old lock holds the job in a bounded wait, then FUTURE_TS; resolved during the wait, the job proceeds', async (t) => {
  const clock = new ManualClock(T0);
  const sleeps: number[] = [];
  let onSleep: (() => Promise<void>) | undefined;
  const n = await startNode({
    clock,
    fb: {
      resolvedTsWaitMs: 5000,
      resolvedTsPollMs: 1000,
      sleep: async (ms) => {
        sleeps.push(ms);
        clock.advance(ms);
        await onSleep?.();
      },
    },
  });
  const { version } = await history(n);
  const p = placementOf(n);
  const lockTs = version - 1n;
  await n.kernel.storage.prewrite({ mutations: [{ op: 'put', key: bytes('zz'), value: bytes('x') }], primary: bytes('zz'), startTs: lockTs, lockTtl: 3000n });
  const err = (await n.fb.run({ version }).done.catch((e: unknown) => e)) as KvError;
  t.is(err.code, 'FUTURE_TS');
  t.is(err.details['reason'], 'minResolvedTs');
  t.is(err.details['minResolvedTs'], lockTs);
  t.deepEqual(sleeps, [1000, 1000, 1000, 1000, 1000]);
  t.false(p.isGcPaused());
  // Second try: the lock is rolled back while the orchestrator waits.
  sleeps.length = 0;
  onSleep = async () => {
    if (sleeps.length === 2) await n.kernel.storage.rollback({ keys: [bytes('zz')], startTs: lockTs });
  };
  const final = await n.fb.run({ version }).done;
  t.is(final.phase, 'done');
  t.is(sleeps.length, 2);
  t.false(p.isGcPaused());
  await n.kernel.stop();
});

test('a provided ResolvedTsSource is used instead of the lock fallback', async (t) => {
  const asked: Array<[string, string]> = [];
  const source = definePlugin({
    name: 'test-resolved-ts',
    version: '1.0.0',
    provides: [RESOLVED_TS],
    register: (ctx) =>
      ctx.provide(RESOLVED_TS, {
        minResolvedTs: (s: Uint8Array, e: Uint8Array) => {
          asked.push([latin1(s), latin1(e)]);
          return 1n; // never reaches any version
        },
      }),
  });
  const n = await startNode({ extra: [source], fb: { resolvedTsWaitMs: 2000, resolvedTsPollMs: 1000 } });
  const { version } = await history(n);
  const err = (await n.fb.run({ version, startKey: bytes('a'), endKey: bytes('q') }).done.catch((e: unknown) => e)) as KvError;
  t.is(err.code, 'FUTURE_TS');
  t.deepEqual(asked[0], ['a', 'q']);
  t.is(asked.length, 3);
  await n.kernel.stop();
});

test('retries: region errors on Prepare and Finish are backed off with a seeded schedule and the job completes; the same seed replays the same delays', async (t) => {
  async function once(): Promise<number[]> {
    let failures = 0;
    const wrap = (c: Consensus): Consensus => ({
      name: c.name,
      snapshot: (ctx) => c.snapshot(ctx),
      write: (ctx, m, o) => c.write(ctx, m, o),
      regionForKey: (k) => c.regionForKey(k),
      getRegion: (id) => c.getRegion(id),
      admin: (ctx, cmd) => {
        if ((cmd.type === 'prepareFlashback' || cmd.type === 'finishFlashback') && failures++ % 3 === 0) return Promise.reject(new KvError('NOT_LEADER', 'injected: not leader', { regionId: ctx.regionId }));
        return c.admin(ctx, cmd);
      },
    });
    const n = await startNode({ wrap, fb: { seed: 42, concurrency: 1 } });
    const { version, before } = await history(n);
    await n.fb.run({ version }).done;
    t.deepEqual(await readAll(n), before);
    await n.kernel.stop();
    t.true(failures > 4);
    return n.sleeps;
  }
  const a = await once();
  const b = await once();
  t.true(a.length > 0);
  t.deepEqual(a, b);
});

test('time: a local "YYYY-MM-DD HH:MM:SS" string and a Date map to the same TSO and restore the state of that second', async (t) => {
  const clock = new ManualClock(new Date(2024, 2, 10, 12, 0, 0).getTime());
  const n = await startNode({ clock });
  await put(n, { a: 'a1', b: 'b1' });
  const before = await readAll(n);
  clock.set(new Date(2024, 2, 10, 12, 0, 5).getTime());
  await put(n, { a: 'a2', c: 'c2' });
  const final = await n.fb.run({ time: '2024-03-10 12:00:03' }).done;
  t.is(final.version, tsFromTime(new Date(2024, 2, 10, 12, 0, 3)));
  t.deepEqual(await readAll(n), before);
  t.is((await n.fb.preview({ time: new Date(2024, 2, 10, 12, 0, 3) })).version, final.version);
  const bad = await n.fb.preview({ time: '2024-02-30 12:00:00' }).catch((e: unknown) => e);
  t.is((bad as KvError).code, 'INVALID_ARGUMENT');
  t.throws(() => n.fb.run({ version: 5n, time: new Date() } as never), { instanceOf: KvError });
  await n.kernel.stop();
});

test('preview counts keys to rewrite, delete, restore, update and unchanged with a sample diff, and locks or writes nothing', async (t) => {
  const n = await startNode();
  await split(n, 'm');
  await put(n, { a: 'a1', b: 'b1', c: 'c1', d: 'd1', x: 'x1' });
  await put(n, { d: null });
  const version = await placementOf(n).getTs();
  await put(n, { a: 'a2', b: null, e: 'e1', x: 'x1' });
  await put(n, { d: 'd2' });
  await put(n, { d: null });
  const applied: unknown[] = [];
  n.kernel.events.applied$.subscribe((e) => applied.push(e));
  const pv = await n.fb.preview({ version, sampleSize: 2 });
  t.is(pv.keysToRewrite, 5); // a, b, d, e, x
  t.is(pv.toUpdate, 1); // a
  t.is(pv.toDelete, 1); // e
  t.is(pv.toRestore, 1); // b
  t.is(pv.unchanged, 2); // d (absent -> absent), x (x1 -> x1)
  t.is(pv.locks, 0);
  t.is(pv.regions, 2);
  t.is(pv.sample.length, 2);
  t.deepEqual(
    pv.sample.map((s) => [latin1(s.key), s.kind, s.current && latin1(s.current), s.target && latin1(s.target)]),
    [
      ['a', 'rewrite', 'a2', 'a1'],
      ['b', 'restore', undefined, 'b1'],
    ],
  );
  t.is(applied.length, 0);
  t.false(placementOf(n).isGcPaused());
  t.is(placementOf(n).regions().filter((r) => r.flashback.inFlashback).length, 0);
  await n.kernel.stop();
});

test("lockPolicy 'resolve' commits a secondary whose primary committed at or before the version; 'rollback' (TiKV) loses it", async (t) => {
  async function scenario(policy: 'rollback' | 'resolve'): Promise<Record<string, string>> {
    const always = definePlugin({ name: 'rts', version: '1.0.0', provides: [RESOLVED_TS], register: (ctx) => ctx.provide(RESOLVED_TS, { minResolvedTs: () => 0xffff_ffff_ffff_fffen }) });
    const n = await startNode({ extra: [always] });
    await split(n, 'm');
    const p = placementOf(n);
    const st = n.kernel.storage;
    // Txn T: primary 'a' committed, secondary 'x' (another region) still locked.
    const startTs = await p.getTs();
    await st.prewrite({ mutations: [{ op: 'put', key: bytes('a'), value: bytes('A') }, { op: 'put', key: bytes('x'), value: bytes('X') }], primary: bytes('a'), startTs, lockTtl: 3000n });
    const commitTs = await p.getTs();
    await st.commit({ keys: [bytes('a')], startTs, commitTs });
    const version = await p.getTs();
    const final = await n.fb.run({ version, lockPolicy: policy }).done;
    t.is(policy === 'resolve' ? final.locksCommitted : final.locksRolledBack, 1);
    const out = await readAll(n);
    await n.kernel.stop();
    return out;
  }
  t.deepEqual(await scenario('resolve'), { a: 'A', x: 'X' });
  t.deepEqual(await scenario('rollback'), { a: 'A' });
});

test("lockPolicy 'resolve' rolls back a txn whose primary is still locked, primary included, so it cannot commit later", async (t) => {
  const always = definePlugin({ name: 'rts', version: '1.0.0', provides: [RESOLVED_TS], register: (ctx) => ctx.provide(RESOLVED_TS, { minResolvedTs: () => 0xffff_ffff_ffff_fffen }) });
  const n = await startNode({ extra: [always] });
  await split(n, 'm');
  const p = placementOf(n);
  const st = n.kernel.storage;
  await put(n, { q: 'q0' });
  const startTs = await p.getTs();
  // Primary 'z' lies outside the flashback range [a, m); the secondary 'b' inside it.
  await st.prewrite({ mutations: [{ op: 'put', key: bytes('z'), value: bytes('Z') }, { op: 'put', key: bytes('b'), value: bytes('B') }], primary: bytes('z'), startTs, lockTtl: 3000n });
  const version = await p.getTs();
  const final = await n.fb.run({ version, startKey: bytes('a'), endKey: bytes('m'), lockPolicy: 'resolve' }).done;
  t.is(final.locksRolledBack, 1);
  const commitTs = await p.getTs();
  const err = await st.commit({ keys: [bytes('z')], startTs, commitTs }).catch((e: unknown) => e);
  t.is((err as KvError).code, 'TXN_LOCK_NOT_FOUND');
  t.deepEqual(await readAll(n), { q: 'q0' });
  await n.kernel.stop();
});

test('a region led elsewhere (NOT_LEADER on every Prepare) fails the job, bounded by notLeaderBudgetMs, with one error naming the region and its leader; the job stays resumable and completes once the region can be driven', async (t) => {
  let stuck: number | undefined;
  let refusals = 0;
  const wrap = (c: Consensus): Consensus => ({
    name: c.name,
    snapshot: (ctx) => c.snapshot(ctx),
    write: (ctx, m, o) => c.write(ctx, m, o),
    regionForKey: (k) => c.regionForKey(k),
    getRegion: (id) => c.getRegion(id),
    admin: (ctx, cmd) => {
      if (cmd.type === 'prepareFlashback' && ctx.regionId === stuck) {
        refusals++;
        return Promise.reject(new KvError('NOT_LEADER', `this store's peer of region ${ctx.regionId} is not its leader`, { regionId: ctx.regionId, leader: { peerId: 7, storeId: 3 } }));
      }
      return c.admin(ctx, cmd);
    },
  });
  const n = await startNode({ wrap, fb: { seed: 7, notLeaderBudgetMs: 5000 } });
  const { version, before } = await history(n);
  stuck = placementOf(n).regionForKey(enc('m')).id;
  const run = n.fb.run({ version });
  const e = await t.throwsAsync(run.done);
  t.true(isKvErrorCode(e, 'NOT_LEADER'), String(e));
  t.regex(e!.message, new RegExp(`^flashback cannot drive region ${stuck}: its leader is store 3, not this node, after \\d+ ms of attempts and backoff .*flashback job ${run.jobId} stays in state 'prepare'`));
  t.deepEqual((e as KvError).details, { regionId: stuck, leader: { peerId: 7, storeId: 3 }, jobId: run.jobId });
  // Bounded: the backoff spent on the region stays within the budget (the clock is a ManualClock moved by the sleeps).
  const spent = n.sleeps.reduce((a, b) => a + b, 0);
  t.true(spent <= 5000 && spent > 2000, `slept ${spent} ms`);
  t.true(refusals > 3);
  t.is(n.fb.jobState(run.jobId)?.state, 'prepare');
  t.true(placementOf(n).isSchedulingPaused());
  stuck = undefined;
  await n.fb.resume(run.jobId).done;
  t.deepEqual(await readAll(n), before);
  t.is(n.fb.jobState(run.jobId)?.state, 'done');
  t.false(placementOf(n).isSchedulingPaused());
  await n.kernel.stop();
});

function isKvErrorCode(e: unknown, code: string): boolean {
  return e instanceof KvError && e.code === code;
}
