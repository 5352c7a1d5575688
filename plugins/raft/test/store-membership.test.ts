// Membership changes through the multi-raft store (issue 8 item 3): add learner, promote, remove,
// on stores with their own engines, simulated time, seeded (SEED=n replays).
import test, { type ExecutionContext } from 'ava';
import { KvError, type BatchOp, type Region, type RequestContext } from '@flashkv/core';
import { Rng, testSeed } from '@flashkv/core/testing';
import { StoreCluster, type ClusterMember } from '../testing/index.js';
import { dataRange, decodeRegionState, decodeTombstone, regionStateKey, tombstoneKey, type PeerChange } from '../src/index.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const dataKey = (k: string): Uint8Array => enc.encode('z' + k);
const put = (k: string, v: string): BatchOp => ({ op: 'put', cf: 'default', key: dataKey(k), value: enc.encode(v) });
const ctxOf = (r: Region): RequestContext => ({ regionId: r.id, epoch: r.epoch });

async function mustCluster(t: ExecutionContext, asyncLeaderPersist = false): Promise<StoreCluster> {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  return StoreCluster.create({ stores: 3, seed, raft: { electionTick: 10, heartbeatTick: 2 }, asyncLeaderPersist });
}

const retryable = (e: unknown): boolean => e instanceof KvError && (e.code === 'NOT_LEADER' || e.code === 'SERVER_BUSY') && (e.details as { unknownOutcome?: boolean } | undefined)?.unknownOutcome !== true;

/** A membership change on the current leader, retried while there is none or one is in flight. */
async function change(c: StoreCluster, regionId: number, ch: PeerChange): Promise<Region> {
  for (let attempt = 0; ; attempt++) {
    const leader = await c.mustLeader(regionId);
    try {
      return (await c.settle(leader.consensus.changePeer(ctxOf(leader.consensus.getRegion(regionId)), ch))).region;
    } catch (e) {
      if (!retryable(e) || attempt > 50) throw e;
      await c.tick();
    }
  }
}

/** A write on the current leader, retried only when it certainly did not apply. */
async function write(c: StoreCluster, regionId: number, ops: BatchOp[]): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const leader = await c.mustLeader(regionId);
    try {
      await c.settle(leader.consensus.write(ctxOf(leader.consensus.getRegion(regionId)), ops));
      return;
    } catch (e) {
      if (!retryable(e) || attempt > 50) throw e;
      await c.tick();
    }
  }
}

function value(m: ClusterMember, k: string): string | undefined {
  const v = m.engine.get('default', dataKey(k));
  return v === undefined ? undefined : dec.decode(v);
}

function caughtUp(c: StoreCluster, m: ClusterMember, regionId: number): boolean {
  const p = m.store.peers.get(regionId);
  const leader = c.leader(regionId);
  if (!p || !p.initialized || !leader) return false;
  return p.applied >= leader.store.peer(regionId).applied;
}

function persistedRegion(m: ClusterMember, regionId: number): Region | undefined {
  const b = m.engine.get('raft', regionStateKey(regionId));
  return b === undefined ? undefined : decodeRegionState(b).region;
}

function dataKeysIn(m: ClusterMember, region: Region): number {
  const [lower, upper] = dataRange(region);
  let n = 0;
  for (const cf of ['default', 'lock', 'write'] as const) {
    const it = m.engine.iterator(cf, { lower, upper });
    try {
      for (let ok = it.first(); ok; ok = it.next()) n++;
    } finally {
      it.close();
    }
  }
  return n;
}

test('a fourth store joins as a learner initialized by snapshot, is promoted, the old replica is removed and destroyed, and the data is read from the new replica after the old store stops', async (t) => {
  const c = await mustCluster(t);
  const rng = new Rng(c.options.seed);
  await c.mustLeader(1);
  for (let i = 0; i < 20; i++) await write(c, 1, [put(`k${i}`, `v${i}`)]);
  const s4 = await c.addStore();
  const newPeer = c.allocId();
  let region = await change(c, 1, { type: 'addLearner', peerId: newPeer, storeId: s4.storeId });
  t.is(region.epoch.confVer, 2, 'confVer bumped');
  t.deepEqual(region.peers.find((p) => p.id === newPeer), { id: newPeer, storeId: s4.storeId, role: 'learner' });
  await c.until(() => caughtUp(c, s4, 1), 300, 'learner caught up');
  t.true(s4.store.snapshotsApplied >= 1, 'the new peer was initialized by a snapshot from the leader');
  for (let i = 0; i < 20; i++) t.is(value(s4, `k${i}`), `v${i}`, `learner holds k${i}`);
  region = await change(c, 1, { type: 'promoteLearner', peerId: newPeer });
  t.is(region.epoch.confVer, 3);
  t.is(region.peers.find((p) => p.id === newPeer)?.role, 'voter');
  // Move a replica off a follower's store (a leader cannot remove itself: refused below).
  const leader = c.leader(1)!;
  const followers = region.peers.filter((p) => p.storeId !== leader.storeId && p.storeId !== s4.storeId);
  const victim = followers[rng.int(followers.length)]!;
  const leaderPeer = region.peers.find((p) => p.storeId === leader.storeId)!;
  const refused = await t.throwsAsync(c.settle(leader.consensus.changePeer(ctxOf(region), { type: 'removePeer', peerId: leaderPeer.id })));
  t.true(refused instanceof KvError && refused.code === 'INVALID_ARGUMENT', 'the leader does not remove itself');
  const stale = await t.throwsAsync(c.settle(leader.consensus.changePeer({ regionId: 1, epoch: { version: region.epoch.version, confVer: 1 } }, { type: 'removePeer', peerId: victim.id })));
  t.true(stale instanceof KvError && stale.code === 'EPOCH_NOT_MATCH', 'the gate checks confVer');
  region = await change(c, 1, { type: 'removePeer', peerId: victim.id });
  t.is(region.epoch.confVer, 4);
  t.false(region.peers.some((p) => p.id === victim.id));
  const old = c.member(victim.storeId);
  // The removed peer destroys itself once it applies its removal; if the leader stopped talking to
  // it before it learned the commit, the cluster's GC does it (destroyPeer).
  await c.tick(20);
  if (old.store.peers.has(1)) t.true(await c.settle(old.store.destroyPeer(1, victim.id)));
  t.false(old.store.peers.has(1), 'the old peer is gone');
  t.is(persistedRegion(old, 1), undefined, 'its region state is deleted');
  t.is(decodeTombstone(old.engine.get('raft', tombstoneKey(1))!), victim.id, 'a tombstone names the removed peer');
  t.is(dataKeysIn(old, region), 0, 'its data range is cleaned from the old store');
  for (let i = 20; i < 30; i++) await write(c, 1, [put(`k${i}`, `v${i}`)]);
  await c.crash(old.storeId);
  await c.tick(5);
  // Read from the new replica: a follower read (or a leader read if it leads by now).
  const fresh = c.member(s4.storeId);
  const snap = await c.settle(fresh.consensus.snapshot(ctxOf(fresh.consensus.getRegion(1)), { followerRead: true }));
  for (let i = 0; i < 30; i++) t.is(snap.get('default', dataKey(`k${i}`)) && dec.decode(snap.get('default', dataKey(`k${i}`))!), `v${i}`, `k${i} read from the new replica`);
  snap.release();
  // The old store restarts: its tombstone keeps the removed peer from coming back.
  const back = c.restart(old.storeId);
  await c.tick(30);
  t.false(back.store.peers.has(1), 'the removed peer stays removed after a restart');
  t.is(back.store.tombstones.get(1), victim.id);
  await write(c, 1, [put('after', 'x')]);
  await c.tick(5);
  t.is(value(fresh, 'after'), 'x');
});

const removeUnderWrites = test.macro(async (t, asyncLeaderPersist: boolean) => {
  const c = await mustCluster(t, asyncLeaderPersist);
  const rng = new Rng(c.options.seed ^ 0x5bd1e995);
  await c.mustLeader(1);
  const acked: string[] = [];
  const removeAt = 5 + rng.int(10);
  let removal: Promise<{ region: Region }> | undefined;
  let victim: number | undefined;
  for (let i = 0; i < 40; i++) {
    if (i === removeAt) {
      const leader = c.leader(1)!;
      const region = leader.consensus.getRegion(1);
      const followers = region.peers.filter((p) => p.storeId !== leader.storeId);
      victim = followers[rng.int(followers.length)]!.id;
      // Proposed and left to run while the writes go on; only then settled.
      removal = leader.consensus.changePeer(ctxOf(region), { type: 'removePeer', peerId: victim });
      removal.catch(() => undefined);
    }
    // Several writes in flight together, some while the removal is in the log.
    const batch = [0, 1, 2].map((j) => `w${i}-${j}`);
    const leader = await c.mustLeader(1);
    const region = leader.consensus.getRegion(1);
    const ps = batch.map((k) => leader.consensus.write(ctxOf(region), [put(k, k)]).then(() => k));
    for (const p of ps) {
      try {
        acked.push(await c.settle(p));
      } catch (e) {
        if (!retryable(e)) throw e;
      }
    }
  }
  const { region } = await c.settle(removal!);
  t.is(region.peers.length, 2);
  t.is(region.epoch.confVer, 2);
  t.true(acked.length >= 60, `most writes acknowledged (${acked.length})`);
  await c.tick(10);
  const voters = c.live().filter((m) => region.peers.some((p) => p.storeId === m.storeId));
  t.is(voters.length, 2);
  for (const m of voters) for (const k of acked) t.is(value(m, k), k, `store ${m.storeId} holds acknowledged ${k}`);
  const leader = await c.mustLeader(1);
  const snap = await c.settle(leader.consensus.snapshot(ctxOf(leader.consensus.getRegion(1))));
  for (const k of acked) t.is(snap.get('default', dataKey(k)) && dec.decode(snap.get('default', dataKey(k))!), k);
  snap.release();
  // Two voters still make progress (both needed), and the removed peer is out of raft's tracker.
  await write(c, 1, [put('two', '2')]);
  t.deepEqual(leader.store.peer(1).node.status().confState.voters.includes(victim!), false);
});

test('removing a voter while writes continue loses no acknowledged write', removeUnderWrites, false);
test('removing a voter while writes continue loses no acknowledged write (leader log writes in the background)', removeUnderWrites, true);

test('a membership change survives a restart of every store: region state, confVer and raft membership are persisted', async (t) => {
  const c = await mustCluster(t);
  await c.mustLeader(1);
  await write(c, 1, [put('a', '1')]);
  const s4 = await c.addStore();
  const learner = c.allocId();
  const region = await change(c, 1, { type: 'addLearner', peerId: learner, storeId: s4.storeId });
  await c.until(() => caughtUp(c, s4, 1), 300, 'learner caught up');
  await write(c, 1, [put('b', '2')]);
  await c.tick(5);
  for (const m of c.live()) {
    const r = persistedRegion(m, 1)!;
    t.is(r.epoch.confVer, 2, `store ${m.storeId} persisted confVer`);
    t.deepEqual(r.peers, region.peers, `store ${m.storeId} persisted the peer list`);
  }
  for (const m of [...c.live()]) await c.crash(m.storeId);
  for (const id of [1, 2, 3, 4]) c.restart(id);
  const leader = await c.mustLeader(1);
  t.not(leader.storeId, s4.storeId, 'a learner never leads');
  for (const m of c.live()) {
    const cs = m.store.peer(1).node.status().confState;
    t.deepEqual(cs.learners, [learner], `store ${m.storeId}'s raft knows the learner after restart`);
    t.is(cs.voters.length, 3);
    t.is(m.store.peer(1).region.epoch.confVer, 2);
  }
  await write(c, 1, [put('c', '3')]);
  await c.until(() => value(c.member(s4.storeId), 'c') === '3', 100, 'the restarted learner receives new writes');
  t.is(value(c.member(s4.storeId), 'a'), '1');
  // Promote after the restart: the change applies on top of the persisted membership.
  const promoted = await change(c, 1, { type: 'promoteLearner', peerId: learner });
  t.is(promoted.epoch.confVer, 3);
  await c.tick(5);
  t.deepEqual(c.member(s4.storeId).store.peer(1).node.status().confState.voters.includes(learner), true);
});

test('a learner does not vote: one voter and a learner cannot elect a leader; the learner never campaigns', async (t) => {
  const c = await mustCluster(t);
  await c.mustLeader(1);
  await write(c, 1, [put('a', '1')]);
  const s4 = await c.addStore();
  const learner = c.allocId();
  await change(c, 1, { type: 'addLearner', peerId: learner, storeId: s4.storeId });
  await c.until(() => caughtUp(c, s4, 1), 300, 'learner caught up');
  // Leave one voter and the learner: two of four members, but only one of three voters.
  const voters = [1, 2, 3];
  const leader = c.leader(1)!;
  const survivor = voters.find((id) => id !== leader.storeId)!;
  for (const id of voters) if (id !== survivor) await c.crash(id);
  const learnerTerm = s4.store.peer(1).node.status().term;
  let learnerCampaigned = false;
  for (let i = 0; i < 150; i++) {
    await c.tick();
    const st = s4.store.peer(1).node.status();
    if (st.state !== 'follower') learnerCampaigned = true;
    t.is(c.leader(1), undefined, `no leader with one voter of three (tick ${i})`);
  }
  t.false(learnerCampaigned, 'the learner never became a (pre-)candidate');
  t.is(s4.store.peer(1).node.status().term, learnerTerm, 'the learner never moved its term by campaigning');
  // A second voter back: a leader is elected among the voters.
  c.restart(voters.find((id) => id !== survivor)!);
  const next = await c.mustLeader(1);
  t.not(next.storeId, s4.storeId);
  await write(c, 1, [put('b', '2')]);
  await c.until(() => value(s4, 'b') === '2', 100, 'the learner still replicates');
});
