// settleOnDurableQuorum: a leader acknowledges a write once a quorum holds it on disk, even while
// its own log write is still running; never on fewer synced copies than a quorum.
import test, { type ExecutionContext } from 'ava';
import type { BatchOp, Region, StorageEngine, WriteBatch, WriteOptions } from '@flashkv/core';
import { testSeed } from '@flashkv/core/testing';
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
