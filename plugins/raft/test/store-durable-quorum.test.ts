// settleOnDurableQuorum: a leader acknowledges a write once a quorum holds it on disk, even while
// its own log write is still running; never on fewer synced copies than a quorum.
import test, { type ExecutionContext } from 'ava';
import type { BatchOp, Region, StorageEngine, WriteBatch, WriteOptions } from '@flashkv/core';
import { Rng, testSeed } from '@flashkv/core/testing';
import { StoreCluster, type ClusterMember } from '../testing/index.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const dataKey = (k: string): Uint8Array => enc.encode('z' + k);
const put = (k: string, v: string): BatchOp => ({ op: 'put', cf: 'default', key: dataKey(k), value: enc.encode(v) });

async function cluster(t: ExecutionContext): Promise<StoreCluster> {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  return StoreCluster.create({ stores: 3, seed, raft: { electionTick: 10, heartbeatTick: 2 }, asyncLeaderPersist: true, settleOnDurableQuorum: true });
}

/** Holds every synced write of this engine (a slow fsync) until `release`; the write is not on its disk meanwhile. */
function holdSyncs(engine: StorageEngine): { held: () => number; release: () => void } {
  const inner = engine.write.bind(engine);
  let waiting: (() => void)[] = [];
  let holding = true;
  engine.write = (batch: WriteBatch, options?: WriteOptions): Promise<void> => {
    if (!holding || options?.sync !== true) return inner(batch, options);
    return new Promise<void>((resolve, reject) => waiting.push(() => inner(batch, options).then(resolve, reject)));
  };
  return {
    held: () => waiting.length,
    release: () => {
      holding = false;
      const w = waiting;
      waiting = [];
      for (const f of w) f();
    },
  };
}

/** Ticks (and delivers) until `p` settles or `ticks` pass; whether it settled, and how. */
async function within<T>(c: StoreCluster, p: Promise<T>, ticks: number): Promise<{ settled: boolean; value?: T; error?: unknown }> {
  const out: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  p.then(
    (value) => Object.assign(out, { settled: true, value }),
    (error) => Object.assign(out, { settled: true, error }),
  );
  for (let i = 0; i < ticks && !out.settled; i++) {
    await c.deliver();
    await new Promise((r) => setImmediate(r));
    if (!out.settled) await c.tick();
  }
  return out;
}

function value(m: ClusterMember, k: string): string | undefined {
  const v = m.engine.get('default', dataKey(k));
  return v === undefined ? undefined : dec.decode(v);
}

test('a write both followers synced is acknowledged while the leader\'s own log write hangs, and survives the leader\'s crash (its unsynced log lost)', async (t) => {
  const c = await cluster(t);
  const leader = await c.mustLeader(1);
  const region: Region = leader.consensus.getRegion(1);
  await c.settle(leader.consensus.write({ regionId: 1, epoch: region.epoch }, [put('before', '0')]));
  const gate = holdSyncs(leader.engine);
  const r = await within(c, leader.consensus.write({ regionId: 1, epoch: region.epoch }, [put('k', 'v')]), 20);
  t.true(r.settled && r.error === undefined, `acknowledged (${String(r.error)})`);
  t.true(gate.held() > 0, 'while the leader\'s log write is still held');
  await c.crash(leader.storeId);
  const others = c.live().map((m) => m.storeId);
  const next = await c.mustLeader(1, others);
  const snap = await c.settle(next.consensus.snapshot({ regionId: 1, epoch: next.consensus.getRegion(1).epoch }));
  t.is(snap.get('default', dataKey('k')) === undefined ? undefined : dec.decode(snap.get('default', dataKey('k'))!), 'v', 'the new leader has the acknowledged write');
  snap.release();
  // The old leader comes back from what its disk kept and catches up.
  c.restart(leader.storeId);
  await c.until(() => value(c.member(leader.storeId), 'k') === 'v', 500, 'the restarted store applies it');
  t.is(value(c.member(leader.storeId), 'before'), '0');
});

test('with one follower cut off and the leader\'s log write hanging, a write is not acknowledged (one synced copy is no quorum) until the leader\'s write lands', async (t) => {
  const c = await cluster(t);
  const leader = await c.mustLeader(1);
  const region: Region = leader.consensus.getRegion(1);
  await c.settle(leader.consensus.write({ regionId: 1, epoch: region.epoch }, [put('before', '0')]));
  const [f1, f2] = c.live().filter((m) => m !== leader);
  c.partition([[leader.storeId, f1!.storeId], [f2!.storeId]]);
  const gate = holdSyncs(leader.engine);
  const p = leader.consensus.write({ regionId: 1, epoch: region.epoch }, [put('k', 'v')]);
  const r = await within(c, p, 5);
  t.false(r.settled, 'not acknowledged on the follower\'s copy alone');
  t.true(gate.held() > 0, 'the leader\'s log write is held');
  t.is(value(f1!, 'k'), undefined, 'and not applied anywhere yet');
  gate.release();
  const done = await within(c, p, 50);
  t.true(done.settled && done.error === undefined, `acknowledged once the leader's write landed (${String(done.error)})`);
  c.heal();
  await c.until(() => c.live().every((m) => value(m, 'k') === 'v'), 500, 'every store applies it');
  t.pass();
});

test('seeded: synced writes on every store land late and out of step, leaders are crashed (unsynced writes lost) and restarted; every acknowledged write is on every store at the end', async (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const rng = new Rng(seed);
  const c = await StoreCluster.create({ stores: 3, seed, raft: { electionTick: 10, heartbeatTick: 2 }, asyncLeaderPersist: true, settleOnDurableQuorum: true });
  // Per store: each synced write lands after a random number of event-loop turns, and every
  // write lands in call order (one WAL, as engine-lsm: a write issued behind a held sync waits
  // for it); a crash drops what is still held.
  const gates = new Map<number, { kill: () => void; held: () => number }>();
  const slow = (m: ClusterMember): void => {
    const inner = m.engine.write.bind(m.engine);
    const waiting: { run: () => void; sync: boolean }[] = [];
    let dead = false;
    const releaseUpTo = (w: { run: () => void; sync: boolean }): void => {
      const i = waiting.indexOf(w);
      if (dead || i < 0) return;
      const now = waiting.splice(0, i + 1);
      while (waiting.length > 0 && !waiting[0]!.sync) now.push(waiting.shift()!);
      for (const x of now) x.run();
    };
    m.engine.write = (batch: WriteBatch, options?: WriteOptions): Promise<void> => {
      const sync = options?.sync === true;
      if (!sync && waiting.length === 0) return inner(batch, options);
      return new Promise<void>((resolve, reject) => {
        const w = { run: () => void inner(batch, options).then(resolve, reject), sync };
        waiting.push(w);
        if (!sync) return;
        let turns = rng.int(40);
        const wait = (): void => {
          if (turns-- > 0) setImmediate(wait);
          else releaseUpTo(w);
        };
        setImmediate(wait);
      });
    };
    gates.set(m.storeId, {
      kill: () => {
        dead = true;
        waiting.length = 0;
      },
      held: () => waiting.length,
    });
  };
  // The first leader is elected before writes slow down (c.until ticks on promise jobs only).
  await c.mustLeader(1);
  for (const m of c.live()) slow(m);
  const acked = new Map<string, string>();
  let attempted = 0;
  let crashes = 0;
  const down = new Map<number, number>();
  for (let step = 0; step < 400; step++) {
    const leader = c.leader(1);
    if (leader && rng.chance(0.6)) {
      const k = `w${attempted++}`;
      const v = `v${step}`;
      leader.consensus.write({ regionId: 1, epoch: leader.consensus.getRegion(1).epoch }, [put(k, v)]).then(
        () => acked.set(k, v),
        () => undefined,
      );
    }
    if (leader && down.size === 0 && rng.chance(0.02)) {
      gates.get(leader.storeId)!.kill();
      await c.crash(leader.storeId);
      crashes++;
      down.set(leader.storeId, step + rng.between(20, 60));
    }
    for (const [id, at] of down) {
      if (step < at) continue;
      down.delete(id);
      slow(c.restart(id));
    }
    await c.deliver();
    for (let i = rng.int(5); i > 0; i--) await new Promise((r) => setImmediate(r));
    await c.tick();
  }
  for (const [id] of down) slow(c.restart(id));
  const converged = (): boolean => c.live().every((m) => [...acked].every(([k, v]) => value(m, k) === v));
  // Ticks alone run on promise jobs: yield a turn each time so held writes get their turns.
  for (let i = 0; i < 1000 && !converged(); i++) {
    await new Promise((r) => setImmediate(r));
    await c.tick();
  }
  t.log(`writes: ${attempted} attempted, ${acked.size} acknowledged; leader crashes: ${crashes}`);
  t.true(acked.size > 20, 'enough writes were acknowledged to mean something');
  for (const m of c.live()) for (const [k, v] of acked) t.is(value(m, k), v, `store ${m.storeId} key ${k} (SEED=${seed})`);
});
