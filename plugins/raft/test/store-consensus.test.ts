// The multi-raft store and RaftConsensus on a 3-store in-process cluster, simulated time.
import test, { type ExecutionContext } from 'ava';
import { KvError, WriteBatch, type BatchOp, type Region, type RequestContext } from '@flashkv/core';
import { testSeed } from '@flashkv/core/testing';
import { StoreCluster, type ClusterMember } from '../testing/index.js';
import { applyStateKey, decodeApplyState, decodeHardState, hardStateKey } from '../src/index.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const dataKey = (k: string): Uint8Array => enc.encode('z' + k);
const put = (k: string, v: string): BatchOp => ({ op: 'put', cf: 'default', key: dataKey(k), value: enc.encode(v) });
const ctxOf = (r: Region, extra: Partial<RequestContext> = {}): RequestContext => ({ regionId: r.id, epoch: r.epoch, ...extra });

function mustValue(t: ExecutionContext, m: ClusterMember, k: string, want: string | undefined, why: string): void {
  const got = m.engine.get('default', dataKey(k));
  t.is(got === undefined ? undefined : dec.decode(got), want, `${why}: store ${m.storeId} key ${k}`);
}

async function mustError(t: ExecutionContext, p: Promise<unknown>, code: string): Promise<KvError> {
  const e = await t.throwsAsync(p);
  t.true(e instanceof KvError && e.code === code, `expected ${code}, got ${String(e)}`);
  return e as KvError;
}

async function mustCluster(t: ExecutionContext, extra: { logGcThreshold?: number; dropRate?: number; asyncLeaderPersist?: boolean } = {}): Promise<StoreCluster> {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  return StoreCluster.create({ stores: 3, seed, raft: { electionTick: 10, heartbeatTick: 2 }, ...extra });
}

async function mustWrite(c: StoreCluster, m: ClusterMember, r: Region, ops: BatchOp[], extra: Partial<RequestContext> = {}): Promise<bigint> {
  const res = await c.settle(m.consensus.write(ctxOf(r, extra), ops));
  return res.index;
}

test('writes through the leader apply on every replica, are readable with read index and follower read, and emit applied once per store', async (t) => {
  const c = await mustCluster(t);
  const leader = await c.mustLeader(1);
  const region = leader.consensus.getRegion(1);
  const indexes: bigint[] = [];
  for (let i = 0; i < 5; i++) indexes.push(await mustWrite(c, leader, region, [put(`k${i}`, `v${i}`)]));
  t.true(indexes.every((x, i) => i === 0 || x > indexes[i - 1]!), 'apply positions grow');
  await c.tick(3);
  for (const m of c.live()) {
    for (let i = 0; i < 5; i++) mustValue(t, m, `k${i}`, `v${i}`, 'replicated');
    t.deepEqual(m.applied.map((e) => e.index), indexes, `store ${m.storeId} applied each write once, in order`);
  }
  const snap = await c.settle(leader.consensus.snapshot(ctxOf(region)));
  t.is(dec.decode(snap.get('default', dataKey('k4'))!), 'v4');
  snap.release();
  const follower = c.live().find((m) => m !== leader)!;
  // A follower refuses a leader read with a hint, and serves a follower read after catching up.
  const nl = await mustError(t, follower.consensus.snapshot(ctxOf(region)), 'NOT_LEADER');
  t.deepEqual((nl.details as { leader?: { storeId: number } }).leader?.storeId, leader.storeId);
  const w = leader.consensus.write(ctxOf(region), [put('late', 'x')]);
  const fsnap = await c.settle(follower.consensus.snapshot(ctxOf(region), { followerRead: true }));
  await c.settle(w);
  t.is(dec.decode(fsnap.get('default', dataKey('k0'))!), 'v0');
  fsnap.release();
});

test('NOT_LEADER with a hint, EPOCH_NOT_MATCH and REGION_NOT_FOUND', async (t) => {
  const c = await mustCluster(t);
  const leader = await c.mustLeader(1);
  const region = leader.consensus.getRegion(1);
  const follower = c.live().find((m) => m !== leader)!;
  await c.tick(2);
  const e = await mustError(t, follower.consensus.write(ctxOf(region), [put('a', '1')]), 'NOT_LEADER');
  t.is((e.details as { leader?: { storeId: number; peerId: number } }).leader?.storeId, leader.storeId);
  await mustError(t, leader.consensus.write({ regionId: 1, epoch: { version: 9, confVer: 1 } }, [put('a', '1')]), 'EPOCH_NOT_MATCH');
  await mustError(t, leader.consensus.write({ regionId: 77, epoch: region.epoch }, [put('a', '1')]), 'REGION_NOT_FOUND');
  await t.throwsAsync(leader.consensus.write(ctxOf(region), [{ op: 'put', cf: 'raft', key: dataKey('a'), value: enc.encode('1') }]), { instanceOf: TypeError });
  for (const m of c.live()) mustValue(t, m, 'a', undefined, 'nothing refused was written');
});

test('leader crash: a new leader is elected, acknowledged writes survive, the old leader restarts as a follower and answers NOT_LEADER with the new hint', async (t) => {
  const c = await mustCluster(t);
  const old = await c.mustLeader(1);
  const region = old.consensus.getRegion(1);
  for (let i = 0; i < 4; i++) await mustWrite(c, old, region, [put(`acked${i}`, `${i}`)]);
  await c.crash(old.storeId);
  const others = c.live().map((m) => m.storeId);
  const next = await c.mustLeader(1, others);
  t.not(next.storeId, old.storeId);
  for (let i = 0; i < 4; i++) mustValue(t, next, `acked${i}`, `${i}`, 'acknowledged write survived failover');
  await mustWrite(c, next, region, [put('after', 'failover')]);
  const back = c.restart(old.storeId);
  await c.until(() => back.store.peer(1).node.status().lead === next.store.peer(1).peerId, 200, 'old leader learns the new one');
  const e = await mustError(t, back.consensus.write(ctxOf(region), [put('x', 'y')]), 'NOT_LEADER');
  t.is((e.details as { leader?: { storeId: number } }).leader?.storeId, next.storeId);
  await c.tick(3);
  mustValue(t, back, 'after', 'failover', 'restarted store caught up');
});

test('an isolated leader: the majority elects a new leader; the old leader\'s pending write fails on heal and is applied nowhere', async (t) => {
  const c = await mustCluster(t);
  const old = await c.mustLeader(1);
  const region = old.consensus.getRegion(1);
  await mustWrite(c, old, region, [put('before', '1')]);
  const rest = c.live().filter((m) => m !== old).map((m) => m.storeId);
  c.partition([[old.storeId], rest]);
  const pending = old.consensus.write(ctxOf(region), [put('lost', '1')]);
  pending.catch(() => undefined);
  const next = await c.mustLeader(1, rest);
  t.true(next.store.peer(1).node.status().term > old.store.peer(1).node.status().term || !old.store.peer(1).isLeader());
  await mustWrite(c, next, region, [put('majority', '1')]);
  c.heal();
  await mustError(t, c.settle(pending), 'NOT_LEADER');
  await c.tick(5);
  for (const m of c.live()) {
    mustValue(t, m, 'lost', undefined, 'the isolated proposal never applied');
    mustValue(t, m, 'majority', '1', 'majority write everywhere');
    mustValue(t, m, 'before', '1', 'earlier write everywhere');
  }
});

test('split replicates to every store: both halves persisted with a version bump, each with a leader taking writes; stale epochs refused', async (t) => {
  const c = await mustCluster(t);
  const leader = await c.mustLeader(1);
  const region = leader.consensus.getRegion(1);
  await mustWrite(c, leader, region, [put('a', '1'), put('x', '2')]);
  const res = await c.settle(leader.consensus.admin(ctxOf(region), { type: 'split', splitKey: enc.encode('m') }));
  if (res.type !== 'split') return t.fail('split result');
  t.is(res.left.epoch.version, 2);
  t.is(res.right.id, 1);
  t.deepEqual(dec.decode(res.left.endKey), 'm');
  await c.until(() => c.live().every((m) => m.store.peers.has(res.left.id)), 100, 'every store has the new region');
  for (const m of c.live()) {
    t.is(m.consensus.getRegion(1).epoch.version, 2, `store ${m.storeId} right half`);
    t.is(dec.decode(m.consensus.getRegion(1).startKey), 'm');
    t.is(m.consensus.regionForKey(enc.encode('b')).id, res.left.id);
  }
  await mustError(t, leader.consensus.write(ctxOf(region), [put('y', '3')]), 'EPOCH_NOT_MATCH');
  const lLeader = await c.mustLeader(res.left.id);
  const rLeader = await c.mustLeader(1);
  await mustWrite(c, lLeader, res.left, [put('b', 'left')]);
  await mustWrite(c, rLeader, res.right, [put('y', 'right')]);
  await mustError(t, rLeader.consensus.write(ctxOf(res.right), [put('c', 'outside')]), 'KEY_NOT_IN_REGION');
  await c.tick(3);
  for (const m of c.live()) {
    mustValue(t, m, 'b', 'left', 'left half replicated');
    mustValue(t, m, 'y', 'right', 'right half replicated');
  }
  // Both halves survive a restart of a store from its engine.
  const victim = c.live().find((m) => m !== rLeader && m !== lLeader) ?? c.live()[0]!;
  await c.crash(victim.storeId);
  const back = c.restart(victim.storeId);
  t.deepEqual(back.store.regions().map((r) => r.id).sort(), [1, res.left.id].sort());
});

test('apply-time gate: a write proposed before prepareFlashback applied, but ordered after it in the log, is refused when applied', async (t) => {
  const c = await mustCluster(t);
  const leader = await c.mustLeader(1);
  const region = leader.consensus.getRegion(1);
  const prepare = leader.consensus.admin(ctxOf(region), { type: 'prepareFlashback', startTs: 100n });
  await new Promise((r) => setImmediate(r));
  const write = leader.consensus.write(ctxOf(region), [put('racing', '1')]);
  write.catch(() => undefined);
  await c.settle(prepare);
  await mustError(t, c.settle(write), 'FLASHBACK_IN_PROGRESS');
  // A flashback-flagged write passes; a normal read is refused; finish lets normal writes through again.
  await mustWrite(c, leader, region, [put('fb', 'ok')], { flags: new Set(['flashback']) });
  await mustError(t, leader.consensus.snapshot(ctxOf(region)), 'FLASHBACK_IN_PROGRESS');
  await c.settle(leader.consensus.admin(ctxOf(region), { type: 'finishFlashback' }));
  await mustWrite(c, leader, region, [put('normal', 'ok')]);
  // A flagged write on a region no longer in flashback passes propose but fails at apply (rule 3).
  await mustError(t, c.settle(leader.consensus.write(ctxOf(region, { flags: new Set(['flashback']) }), [put('flagged', 'x')])), 'FLASHBACK_NOT_PREPARED');
  await c.tick(3);
  for (const m of c.live()) {
    mustValue(t, m, 'racing', undefined, 'refused at apply everywhere');
    mustValue(t, m, 'flagged', undefined, 'refused at apply everywhere');
    mustValue(t, m, 'fb', 'ok', 'flagged write applied');
    t.false(m.consensus.getRegion(1).flashback.inFlashback);
  }
});

for (const via of ['log', 'snapshot'] as const) {
  test(`a follower isolated during prepareFlashback and finishFlashback learns each after healing, through the ${via} (test_flashback_for_apply_snapshot)`, async (t) => {
    const c = await mustCluster(t, via === 'snapshot' ? { logGcThreshold: 3 } : {});
    const leader = await c.mustLeader(1);
    const region = leader.consensus.getRegion(1);
    const lagger = c.live().find((m) => m !== leader)!;
    const rest = c.live().filter((m) => m !== lagger).map((m) => m.storeId);
    const sentBefore = snapsDelivered(c);
    c.partition([[lagger.storeId], rest]);
    await c.settle(leader.consensus.admin(ctxOf(region), { type: 'prepareFlashback', startTs: 42n }));
    for (let i = 0; i < 6; i++) await mustWrite(c, leader, region, [put(`fb${i}`, 'x')], { flags: new Set(['flashback']) });
    t.false(lagger.consensus.getRegion(1).flashback.inFlashback, 'the isolated follower has not seen prepare');
    c.heal();
    await c.until(() => lagger.consensus.getRegion(1).flashback.flashbackStartTs === 42n, 200, 'lagger learns prepare');
    mustValue(t, lagger, 'fb5', 'x', 'and the data written meanwhile');
    if (via === 'snapshot') t.true(snapsDelivered(c) > sentBefore, 'the lagger was caught up by a snapshot');
    else t.is(snapsDelivered(c), sentBefore, 'the lagger was caught up by the log alone');
    // Persisted: a restart keeps the state (test_flashback_for_check_is_in_persist).
    await c.crash(lagger.storeId);
    let back = c.restart(lagger.storeId);
    t.is(back.consensus.getRegion(1).flashback.flashbackStartTs, 42n);
    await c.tick(2);
    c.partition([[lagger.storeId], rest]);
    const cur = leader.consensus.getRegion(1);
    await c.settle(leader.consensus.admin(ctxOf(cur), { type: 'finishFlashback' }));
    for (let i = 0; i < 6; i++) await mustWrite(c, leader, cur, [put(`n${i}`, 'y')]);
    t.true(back.consensus.getRegion(1).flashback.inFlashback);
    c.heal();
    await c.until(() => !back.consensus.getRegion(1).flashback.inFlashback, 200, 'lagger learns finish');
    // The follower that missed finish can lead and take normal writes.
    await c.settle(leader.consensus.admin(ctxOf(cur), { type: 'transferLeader', toPeer: back.store.peer(1).peerId }));
    await c.until(() => back.store.peer(1).isLeader(), 200, 'transfer to the lagger');
    await mustWrite(c, back, cur, [put('after', 'z')]);
    back = c.member(lagger.storeId);
    mustValue(t, back, 'after', 'z', 'written on the former lagger');
  });
}

function snapsDelivered(c: StoreCluster): number {
  let n = 0;
  for (const m of c.members.values()) n += m.store.snapshotsApplied;
  return n;
}

for (const flushed of [true, false]) {
  test(`restart from the engine recovers log, hard state and applied index, and applies nothing twice (${flushed ? 'apply state flushed' : 'unsynced apply writes lost'})`, async (t) => {
    const c = await mustCluster(t);
    const leader = await c.mustLeader(1);
    const region = leader.consensus.getRegion(1);
    const indexes: bigint[] = [];
    for (let i = 0; i < 5; i++) indexes.push(await mustWrite(c, leader, region, [put(`r${i}`, `${i}`)]));
    await c.tick(3);
    const f = c.live().find((m) => m !== leader)!;
    t.deepEqual(f.applied.map((e) => e.index), indexes);
    // Someone else's fsync makes everything written so far durable, applied state included.
    if (flushed) await f.engine.write(new WriteBatch(), { sync: true });
    const termBefore = f.store.peer(1).node.status().term;
    await c.crash(f.storeId);
    const hard = decodeHardState(f.engine.get('raft', hardStateKey(1))!);
    const durable = decodeApplyState(f.engine.get('raft', applyStateKey(1))!).applied;
    t.is(hard.term, termBefore, 'term and vote are synced before any message goes out');
    if (flushed) t.is(BigInt(durable), indexes[4], 'the flushed applied index survived');
    else t.true(f.disk.lostWrites > 0, 'the crash lost unsynced writes');
    const back = c.restart(f.storeId);
    const p = back.store.peer(1);
    t.is(p.applied, durable, 'applied index recovered from the engine');
    t.is(p.node.status().term, hard.term);
    t.true(p.storage.lastIndex() >= indexes[4]!, 'the synced log survived');
    await c.tick(5);
    const reapplied = back.applied.map((e) => e.index);
    t.deepEqual(reapplied, indexes.filter((x) => x > BigInt(durable)), 'only entries above the durable applied index apply again, once each');
    await mustWrite(c, leader, region, [put('new', 'n')]);
    await c.tick(3);
    t.is(back.applied.filter((e) => dec.decode((e.modifies[0] as { key: Uint8Array }).key) === 'znew').length, 1, 'the new write applied once');
    for (let i = 0; i < 5; i++) mustValue(t, back, `r${i}`, `${i}`, 'old data present');
  });
}

/** Reads a key through the current leader, following leader changes. */
async function mustReadLeader(c: StoreCluster, k: string): Promise<string | undefined> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const leader = await c.mustLeader(1);
    try {
      const snap = await c.settle(leader.consensus.snapshot(ctxOf(leader.consensus.getRegion(1))));
      const v = snap.get('default', dataKey(k));
      snap.release();
      return v === undefined ? undefined : dec.decode(v);
    } catch (e) {
      if (!(e instanceof KvError && e.code === 'NOT_LEADER')) throw e;
    }
  }
  throw new Error(`no leader served a read of ${k} (SEED=${c.options.seed})`);
}

for (const asyncLeaderPersist of [false, true]) test(`seeded lossy network with crashes and partitions: acknowledged writes are read back through the leader and every store converges to the same data${asyncLeaderPersist ? ' (leader log writes in the background)' : ''}`, async (t) => {
  const c = await mustCluster(t, { dropRate: 0.1, logGcThreshold: 8, asyncLeaderPersist });
  const want = new Map<string, string>();
  for (let i = 0; i < 80; i++) {
    const leader = await c.mustLeader(1);
    const k = `c${c.rng.int(10)}`;
    const v = `${i}`;
    try {
      await c.settle(leader.consensus.write(ctxOf(leader.consensus.getRegion(1)), [put(k, v)]));
      want.set(k, v);
      // Linearizable reads for a sequential client: a read through whoever leads now sees it.
      t.is(await mustReadLeader(c, k), v, `read after acknowledged write ${i}`);
    } catch (e) {
      if (!(e instanceof KvError && e.code === 'NOT_LEADER')) throw e;
      // Overwritten (details.stale) never applied; superseded by a snapshot may have: forget the key.
      if ((e.details as { unknownOutcome?: boolean }).unknownOutcome) want.delete(k);
      t.log(`write ${i} failed: ${e.message}`);
    }
    if (c.rng.chance(0.1)) {
      // A crash loses every unsynced write; raft's synced log and hard state must cover for it.
      const m = c.rng.pick(c.live());
      await c.crash(m.storeId);
      await c.tick(c.rng.int(20));
      c.restart(m.storeId);
    } else if (c.rng.chance(0.1)) {
      const id = c.rng.int(3) + 1;
      c.partition([[id], [1, 2, 3].filter((x) => x !== id)]);
      await c.tick(c.rng.int(30));
      c.heal();
    }
  }
  await c.tick(40);
  for (const m of c.live()) for (const [k, v] of want) mustValue(t, m, k, v, 'converged');
  const dump = (m: ClusterMember): string[] => {
    const out: string[] = [];
    const it = m.engine.iterator('default', {});
    for (let ok = it.first(); ok; ok = it.next()) out.push(`${dec.decode(it.key())}=${dec.decode(it.value())}`);
    it.close();
    return out;
  };
  const first = dump(c.member(1));
  for (const m of c.live()) t.deepEqual(dump(m), first, `store ${m.storeId} agrees with store 1`);
});

test('prepareFlashback ordered right after a split in the log fails with EPOCH_NOT_MATCH at apply, and no region enters flashback (test_prepare_flashback_after_split)', async (t) => {
  const c = await mustCluster(t);
  const leader = await c.mustLeader(1);
  const region = leader.consensus.getRegion(1);
  const split = leader.consensus.admin(ctxOf(region), { type: 'split', splitKey: enc.encode('m') });
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  // Both pass the propose-time gate: the split has not applied yet.
  const prepare = leader.consensus.admin(ctxOf(region), { type: 'prepareFlashback', startTs: 10n });
  prepare.catch(() => undefined);
  const done = await c.settle(split);
  t.is(done.type, 'split');
  await mustError(t, c.settle(prepare), 'EPOCH_NOT_MATCH');
  await c.tick(3);
  for (const m of c.live()) for (const r of m.store.regions()) t.false(r.flashback.inFlashback, `store ${m.storeId} region ${r.id}`);
});

test('a follower read on a cut-off follower fails with NOT_LEADER after the read timeout; after healing it is served', async (t) => {
  const c = await mustCluster(t);
  const leader = await c.mustLeader(1);
  const region = leader.consensus.getRegion(1);
  await mustWrite(c, leader, region, [put('k', 'v')]);
  await c.tick(2);
  const f = c.live().find((m) => m !== leader)!;
  c.partition([[f.storeId], c.live().filter((m) => m !== f).map((m) => m.storeId)]);
  // Within an election timeout the follower still believes in its leader and forwards the request.
  const cut = f.consensus.snapshot(ctxOf(region), { followerRead: true });
  cut.catch(() => undefined);
  await mustError(t, c.settle(cut, 200), 'NOT_LEADER');
  c.heal();
  await c.until(() => f.store.peer(1).node.status().lead !== 0, 200, 'follower hears a leader again');
  const ok = await c.settle(f.consensus.snapshot(ctxOf(region), { followerRead: true }));
  t.is(dec.decode(ok.get('default', dataKey('k'))!), 'v');
  ok.release();
});

test('flashback across a leader change: prepared under one leader, finished under the next, and the state agrees everywhere', async (t) => {
  const c = await mustCluster(t);
  const first = await c.mustLeader(1);
  const region = first.consensus.getRegion(1);
  await mustWrite(c, first, region, [put('k', 'old')]);
  await c.settle(first.consensus.admin(ctxOf(region), { type: 'prepareFlashback', startTs: 7n }));
  // The leader is lost mid-flashback.
  await c.crash(first.storeId);
  const rest = c.live().map((m) => m.storeId);
  const second = await c.mustLeader(1, rest);
  t.is(second.consensus.getRegion(1).flashback.flashbackStartTs, 7n, 'the new leader holds the prepared state');
  await mustError(t, second.consensus.write(ctxOf(region), [put('k', 'normal')]), 'FLASHBACK_IN_PROGRESS');
  await mustWrite(c, second, region, [put('k', 'rewritten')], { flags: new Set(['flashback']) });
  await c.settle(second.consensus.admin(ctxOf(region), { type: 'finishFlashback' }));
  c.restart(first.storeId);
  await c.tick(10);
  for (const m of c.live()) {
    t.false(m.consensus.getRegion(1).flashback.inFlashback, `store ${m.storeId} finished`);
    mustValue(t, m, 'k', 'rewritten', 'the flashback write everywhere');
  }
});

test('a store that missed a split and learns the parent\'s shrunk range from a snapshot gets the new region from its leader (uninitialized peer, then snapshot)', async (t) => {
  const c = await mustCluster(t, { logGcThreshold: 3 });
  const leader = await c.mustLeader(1);
  const region = leader.consensus.getRegion(1);
  await mustWrite(c, leader, region, [put('a', 'old'), put('x', 'old')]);
  await c.tick(2);
  const lagger = c.live().find((m) => m !== leader)!;
  const rest = c.live().filter((m) => m !== lagger).map((m) => m.storeId);
  c.partition([[lagger.storeId], rest]);
  const res = await c.settle(leader.consensus.admin(ctxOf(region), { type: 'split', splitKey: enc.encode('m') }));
  if (res.type !== 'split') return t.fail();
  const lLeader = await c.mustLeader(res.left.id, rest);
  const rLeader = await c.mustLeader(1, rest);
  // Enough writes on both halves that both logs compact past what the lagger has.
  for (let i = 0; i < 6; i++) {
    await mustWrite(c, lLeader, res.left, [put(`b${i}`, 'L')]);
    await mustWrite(c, rLeader, res.right, [put(`y${i}`, 'R')]);
  }
  t.false(lagger.store.peers.has(res.left.id));
  const snapsBefore = lagger.store.snapshotsApplied;
  c.heal();
  await c.until(() => lagger.store.regions().length === 2, 300, 'lagger holds both regions');
  await c.tick(5);
  t.true(lagger.store.snapshotsApplied >= snapsBefore + 2, 'both regions arrived by snapshot');
  t.deepEqual(lagger.consensus.getRegion(res.left.id).epoch, res.left.epoch);
  t.deepEqual(lagger.consensus.getRegion(1).epoch, res.right.epoch);
  mustValue(t, lagger, 'b5', 'L', 'left data');
  mustValue(t, lagger, 'y5', 'R', 'right data');
  mustValue(t, lagger, 'a', 'old', 'data from before the split, now in the left region');
  // It is a full member: it survives a restart with both regions and serves follower reads.
  await c.crash(lagger.storeId);
  const back = c.restart(lagger.storeId);
  t.deepEqual(back.store.regions().map((r) => r.id).sort((p, q) => p - q), [1, res.left.id].sort((p, q) => p - q));
  await c.until(() => back.store.peer(res.left.id).node.status().lead !== 0, 200, 'restarted lagger hears the left leader');
  const snap = await c.settle(back.consensus.snapshot(ctxOf(res.left), { followerRead: true }));
  t.is(dec.decode(snap.get('default', dataKey('b0'))!), 'L');
  snap.release();
});
