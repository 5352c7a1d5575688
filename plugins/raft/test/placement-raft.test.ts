// Placement on raft (issue 8 item 5): the TSO mark, directory, safe point, pauses and jobs live in a
// meta raft group with a voter on every store; losing the meta leader loses none of them, and the
// TSO never hands out a ts twice or out of order.
import test, { type ExecutionContext } from 'ava';
import { CONSENSUS, ENGINE, Kernel, ManualClock, KvError, PLACEMENT, definePlugin, physicalOf, type StorageEngine } from '@flashkv/core';
import { ReferenceEngine, Rng, testSeed } from '@flashkv/core/testing';
import {
  InProcessTransport,
  ManualTickSource,
  MetaPeer,
  RaftCluster,
  RaftPlacement,
  raft,
  SeededRng,
  bootstrapMeta,
} from '../src/index.js';
import { driveTicks as drive, settleTick as settle } from '../testing/index.js';

const enc = new TextEncoder();

interface Started {
  readonly cluster: RaftCluster;
  readonly placement: RaftPlacement;
}

async function start(engines: StorageEngine[], ticks: ManualTickSource, clock: ManualClock, seed: number, logGcThreshold?: number): Promise<Started> {
  const cluster = await RaftCluster.start({
    engines,
    tickSource: ticks,
    seed,
    raft: { electionTick: 10, heartbeatTick: 2 },
    metaPlacement: { clock, tsoWindowMs: 50, ...(logGcThreshold !== undefined ? { logGcThreshold } : {}) },
  });
  return { cluster, placement: cluster.placement! };
}

function metaLeader(cluster: RaftCluster): MetaPeer | undefined {
  return cluster.meta!.peers.find((p) => !p.stopped && p.isLeader());
}

/** A crash of one store as far as the cluster can tell: it stops and the network drops its traffic. */
function crashStore(cluster: RaftCluster, storeId: number): void {
  cluster.stores[storeId - 1]!.stop();
  cluster.meta!.peers[storeId - 1]!.stop();
  cluster.transport.unregister(storeId);
}

function assertIncreasing(t: ExecutionContext, seen: bigint[], batch: readonly bigint[], what: string): void {
  for (const ts of batch) {
    const prev = seen.length === 0 ? -1n : seen[seen.length - 1]!;
    if (ts <= prev) t.fail(`${what}: ts ${ts} is not above the previous ${prev}`);
    seen.push(ts);
  }
}

test('the meta leader crashes: a new leader keeps the TSO strictly increasing (even with its clock behind) and the directory, safe point, pauses and jobs survive', async (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const rng = new Rng(seed);
  const engines = [new ReferenceEngine(), new ReferenceEngine(), new ReferenceEngine()];
  const ticks = new ManualTickSource();
  const clock = new ManualClock(1_000_000);
  const { cluster, placement } = await start(engines, ticks, clock, seed);
  try {
    const seen: bigint[] = [];
    for (let i = 0; i < 30; i++) {
      const n = 1 + rng.int(5);
      assertIncreasing(t, seen, await drive(ticks, placement.getTs(n)), 'before the crash');
      if (rng.int(3) === 0) clock.advance(rng.int(80));
    }
    const root = placement.regions()[0]!;
    const { left, right } = await drive(ticks, placement.split(root.id, enc.encode('m'), { epoch: root.epoch }));
    t.is(await drive(ticks, placement.updateGcSafePoint(seen[5]!)), seen[5]!);
    t.true(await drive(ticks, placement.pauseScheduling('job-1')));
    await drive(ticks, placement.putJob('job-1', { startTs: seen[3]!, phase: 'prepare', regions: [left.id, right.id] }));
    await drive(ticks, placement.putJob('job-2', { startTs: 7n }));
    t.true(await drive(ticks, placement.deleteJob('job-2')));
    const id = await drive(ticks, placement.allocId());

    const leader = metaLeader(cluster);
    if (!leader) return t.fail('no meta leader');
    const markBefore = placement.tsoHighWaterMark;
    t.true(markBefore > physicalOf(seen[seen.length - 1]!), 'every ts handed out is below the replicated mark');
    crashStore(cluster, leader.storeId);
    t.log(`crashed store ${leader.storeId} (meta leader)`);
    // The new leader's clock is far behind: it must still start above everything handed out.
    clock.set(500_000);
    const after = await drive(ticks, placement.getTs(3));
    assertIncreasing(t, seen, after, 'after the crash');
    const newLeader = metaLeader(cluster);
    t.truthy(newLeader);
    t.not(newLeader!.storeId, leader.storeId);
    for (let i = 0; i < 20; i++) {
      assertIncreasing(t, seen, await drive(ticks, placement.getTs(1 + rng.int(4))), 'on the new leader');
      clock.advance(rng.int(40));
    }

    t.deepEqual(
      placement.regions().map((r) => r.id),
      [left.id, right.id],
    );
    t.is(placement.regionForKey(enc.encode('a')).id, left.id);
    t.is(placement.regionForKey(enc.encode('z')).id, right.id);
    t.is(placement.gcSafePoint(), seen[5]!);
    t.deepEqual(placement.schedulingPausedBy(), ['job-1']);
    t.deepEqual(placement.getJob('job-1'), { startTs: seen[3]!, phase: 'prepare', regions: [left.id, right.id] });
    t.is(placement.getJob('job-2'), undefined);
    t.deepEqual(placement.listJobs().map((j) => j.id), ['job-1']);
    t.true((await drive(ticks, placement.allocId())) > id, 'ids are never reused');
    // Mutations go on through the new leader; refusals are deterministic on every replica.
    t.true(await drive(ticks, placement.resumeScheduling('job-1')));
    t.false(await drive(ticks, placement.resumeScheduling('job-1')));
    const err = await t.throwsAsync(drive(ticks, placement.split(right.id, enc.encode('q'), { epoch: root.epoch })));
    t.true(err instanceof KvError && err.code === 'EPOCH_NOT_MATCH');
    // Both survivors hold the same copy.
    const live = cluster.meta!.peers.filter((p) => !p.stopped);
    await drive(ticks, (async () => {
      while (live[0]!.appliedIndex !== live[1]!.appliedIndex) await new Promise((r) => setImmediate(r));
    })());
    t.deepEqual(live[0]!.state.map.all(), live[1]!.state.map.all());
    t.is(live[0]!.state.tsoMark, live[1]!.state.tsoMark);
  } finally {
    await cluster.stop();
  }
});

test('the whole cluster restarts from its engines: the TSO starts above everything handed out and placement state is intact', async (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const engines = [new ReferenceEngine(), new ReferenceEngine(), new ReferenceEngine()];
  const ticks = new ManualTickSource();
  const clock = new ManualClock(2_000_000);
  let s = await start(engines, ticks, clock, seed);
  const seen: bigint[] = [];
  for (let i = 0; i < 10; i++) assertIncreasing(t, seen, await drive(ticks, s.placement.getTs(2)), 'first run');
  t.true(await drive(ticks, s.placement.pauseGc('fb')));
  t.is(await drive(ticks, s.placement.updateGcSafePoint(seen[2]!)), 0n, 'a paused GC does not move the safe point');
  await drive(ticks, s.placement.putJob('fb', { commitTs: seen[9]! }));
  await s.cluster.stop();
  clock.set(1_000); // the clock went far back over the restart
  s = await start(engines, ticks, clock, seed + 1);
  try {
    assertIncreasing(t, seen, await drive(ticks, s.placement.getTs(5)), 'after the restart');
    t.deepEqual(s.placement.gcPausedBy(), ['fb']);
    t.deepEqual(s.placement.getJob('fb'), { commitTs: seen[9]! });
    t.is(s.placement.regions().length, 1);
  } finally {
    await s.cluster.stop();
  }
});

test('a meta peer that missed compacted entries catches up from a snapshot of the placement namespace', async (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const engines = [new ReferenceEngine(), new ReferenceEngine(), new ReferenceEngine()];
  const region = { id: 1, startKey: new Uint8Array(0), endKey: new Uint8Array(0), epoch: { version: 1, confVer: 1 }, peers: [1, 2, 3].map((s) => ({ id: s + 1, storeId: s, role: 'voter' as const })), flashback: { inFlashback: false, flashbackStartTs: 0n } };
  for (const e of engines) await bootstrapMeta(e, [1, 2, 3], [region], 5);
  const transport = new InProcessTransport();
  const clock = new ManualClock(10_000);
  const open = (i: number): MetaPeer => MetaPeer.open({ engine: engines[i]!, storeId: i + 1, transport, rng: new SeededRng(seed + i), clock, tsoWindowMs: 10, logGcThreshold: 4, raft: { electionTick: 10, heartbeatTick: 2 } });
  const peers = [open(0), open(1), open(2)];
  for (const p of peers) transport.register(p);
  const step = async (): Promise<void> => {
    for (const p of peers) if (!p.stopped) await p.tick();
    await transport.deliverAll();
  };
  const run = async <T>(p: Promise<T>): Promise<T> => {
    let done = false;
    p.then(() => (done = true), () => (done = true));
    for (let i = 0; i < 2000 && !done; i++) {
      await step();
      await settle();
    }
    return p;
  };
  await peers[0]!.campaign();
  await transport.deliverAll();
  t.true(peers[0]!.isLeader());
  // Store 3 goes down; the others go on well past a compaction.
  peers[2]!.stop();
  transport.unregister(3);
  for (let i = 0; i < 12; i++) {
    await run(peers[0]!.propose({ op: 'putJob', id: `j${i}`, record: Uint8Array.of(1, ...enc.encode(JSON.stringify({ i }))) }));
    clock.advance(25);
    await run(peers[0]!.getTs(1));
  }
  await run(peers[0]!.propose({ op: 'pause', kind: 'gc', owner: 'o', on: true }));
  t.true(peers[0]!.storage.firstIndex() > 10, 'the leader compacted its log');
  // Store 3 restarts from its engine and rejoins.
  peers[2] = open(2);
  transport.register(peers[2]);
  await run((async () => {
    while (peers[2]!.appliedIndex < peers[0]!.appliedIndex) await step();
  })());
  t.true(peers[2]!.snapshotsApplied > 0, 'caught up by snapshot');
  t.is(peers[2]!.state.tsoMark, peers[0]!.state.tsoMark);
  t.deepEqual([...peers[2]!.state.gcPauses], ['o']);
  const jobs = (e: StorageEngine): number => {
    let n = 0;
    const it = e.iterator('raft', { lower: Uint8Array.of(1, 0x50, 6), upper: Uint8Array.of(1, 0x50, 7) });
    for (let ok = it.first(); ok; ok = it.next()) n++;
    it.close();
    return n;
  };
  t.is(jobs(engines[2]!), 12);
  // And it can lead: the TSO it serves is above what store 1 handed out.
  const last = await run(peers[0]!.getTs(1));
  peers[0]!.stop();
  transport.unregister(1);
  // Store 2 still remembers store 1 for an election timeout (check-quorum): tick until a new leader.
  let lead: MetaPeer | undefined;
  for (let i = 0; i < 500 && lead === undefined; i++) {
    await step();
    if (i % 30 === 29) await peers[2]!.campaign();
    lead = peers.find((p) => !p.stopped && p.isLeader());
  }
  if (lead === undefined) return t.fail('no new meta leader');
  const next = await run(lead.getTs(1));
  t.true(next[0]! > last[0]!, `store ${lead.storeId} serves above store 1's last ts`);
});

test('raft({ placementOnRaft }) provides PLACEMENT from the meta group: no local placement, splits reach its directory, ts from its leader', async (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const engines = [new ReferenceEngine(), new ReferenceEngine(), new ReferenceEngine()];
  const ticks = new ManualTickSource();
  const kernel = await Kernel.start({
    plugins: [
      definePlugin({ name: 'test-engine', version: '1.0.0', provides: [ENGINE], register: (ctx) => ctx.provide(ENGINE, engines[0]!) }),
      raft({ stores: 3, engineFor: (id) => engines[id - 1]!, tickSource: ticks, seed, raft: { electionTick: 10, heartbeatTick: 2 }, placementOnRaft: { tsoWindowMs: 50 } }),
    ],
  });
  try {
    const placement = kernel.resolve(PLACEMENT);
    t.true(placement instanceof RaftPlacement);
    const consensus = kernel.resolve(CONSENSUS);
    const a = await drive(ticks, placement.getTs());
    const r = placement.regionForKey(enc.encode('a'));
    const split = await drive(ticks, consensus.admin({ regionId: r.id, epoch: r.epoch }, { type: 'split', splitKey: enc.encode('m') }));
    if (split.type !== 'split') return t.fail();
    t.deepEqual(
      placement.regions().map((x) => x.id),
      [split.left.id, split.right.id],
    );
    t.deepEqual(placement.getRegion(split.right.id).epoch, split.right.epoch);
    const b = await drive(ticks, placement.getTs(3));
    t.true(b[0]! > a && b[1]! > b[0]! && b[2]! > b[1]!);
    // The split's ids came from the meta group's allocator: the next id is above them.
    t.true((await drive(ticks, placement.allocId())) > Math.max(split.left.id, ...split.left.peers.map((p) => p.id)));
  } finally {
    await kernel.stop();
  }
});

test('concurrent getTs calls share read-index rounds: all unique, and each wave above the one before it', async (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const rng = new Rng(seed);
  const engines = [new ReferenceEngine(), new ReferenceEngine(), new ReferenceEngine()];
  const ticks = new ManualTickSource();
  const clock = new ManualClock(5_000_000);
  const { cluster, placement } = await start(engines, ticks, clock, seed);
  try {
    await drive(ticks, placement.getTs());
    const sent = cluster.transport.sent;
    let prevMax = 0n;
    const all = new Set<bigint>();
    let calls = 0;
    for (let wave = 0; wave < 10; wave++) {
      const n = 5 + rng.int(20);
      calls += n;
      const got = await drive(ticks, Promise.all(Array.from({ length: n }, () => placement.getTs(1 + rng.int(3)))));
      const flat = got.flat();
      for (const ts of flat) {
        t.false(all.has(ts), `ts ${ts} handed out twice`);
        all.add(ts);
        t.true(ts > prevMax, `wave ${wave}: ${ts} is not above the previous wave's ${prevMax}`);
      }
      prevMax = flat.reduce((a, b) => (b > a ? b : a), prevMax);
      if (rng.int(2) === 0) clock.advance(rng.int(120));
    }
    // A round is a heartbeat to each of 2 followers and their answers: far fewer than 4 messages per call.
    const perCall = (cluster.transport.sent - sent) / calls;
    t.log(`${calls} getTs calls, ${(cluster.transport.sent - sent)} raft messages (${perCall.toFixed(2)} per call)`);
    t.true(perCall < 2, `rounds were shared (${perCall.toFixed(2)} messages per call)`);
  } finally {
    await cluster.stop();
  }
});
