// Leader balancing: with every region led by one store, the balancer moves leaderships one leader
// transfer at a time until each running store leads about the same number; off by default.
import test from 'ava';
import { freezeRegion, type Region } from '@flashkv/core';
import { ReferenceEngine, Rng, testSeed } from '@flashkv/core/testing';
import { LeaderBalancer, ManualTickSource, RaftCluster, leaderCounts, planLeaderMove, type LeaderBalanceOptions } from '../src/index.js';
import { driveTicks as drive, fireTicks as fire } from '../testing/index.js';

/** Six regions over the key space, on 3 stores; every region's leadership then moved to store 1. */
async function start(seed: number, leaderBalance?: LeaderBalanceOptions, schedulingPaused?: () => boolean): Promise<{ cluster: RaftCluster; ticks: ManualTickSource }> {
  const cuts = [0x62, 0x64, 0x66, 0x68, 0x6a].map((b) => Uint8Array.of(b));
  const bounds = [new Uint8Array(0), ...cuts, new Uint8Array(0)];
  const initialRegions = bounds.slice(0, -1).map((startKey, i) =>
    freezeRegion({ id: 100 + i, startKey, endKey: bounds[i + 1]!, epoch: { version: 1, confVer: 1 }, peers: [], flashback: { inFlashback: false, flashbackStartTs: 0n } }),
  );
  let nextId = 1000;
  const ticks = new ManualTickSource();
  const cluster = await RaftCluster.start({
    engines: [new ReferenceEngine(), new ReferenceEngine(), new ReferenceEngine()],
    initialRegions,
    allocId: async () => nextId++,
    tickSource: ticks,
    seed,
    raft: { electionTick: 10, heartbeatTick: 2 },
    ...(leaderBalance ? { leaderBalance } : {}),
    ...(schedulingPaused ? { directory: { recordSplit: async () => undefined, recordRegion: async () => undefined, isSchedulingPaused: schedulingPaused } } : {}),
  });
  return { cluster, ticks };
}

/** Moves every region's leadership to store 1 (leader transfers through the cluster). */
async function allOnStore1(cluster: RaftCluster, ticks: ManualTickSource): Promise<void> {
  for (let attempt = 0; attempt < 20 && leaderCounts(cluster.stores).get(1) !== 6; attempt++) {
    for (const peer of cluster.stores[0]!.peers.values()) {
      if (peer.isLeader()) continue;
      const region: Region = cluster.consensus.getRegion(peer.region.id);
      await drive(ticks, cluster.consensus.admin({ regionId: region.id, epoch: region.epoch }, { type: 'transferLeader', toPeer: peer.peerId })).catch(() => undefined);
    }
    await fire(ticks, 20);
  }
}

const z = (s: string) => new TextEncoder().encode('z' + s);

test('the balancer moves leaders off a store leading every region until each leads two, and the regions still take writes', async (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const { cluster, ticks } = await start(seed);
  t.teardown(() => cluster.stop());
  await fire(ticks, 60);
  await allOnStore1(cluster, ticks);
  t.deepEqual([...leaderCounts(cluster.stores)], [[1, 6], [2, 0], [3, 0]]);
  t.is(cluster.leaderBalancer, undefined, 'off by default');
  await fire(ticks, 100);
  t.is(leaderCounts(cluster.stores).get(1), 6, 'nothing moves leaders without the balancer');

  const balancer = new LeaderBalancer(
    () => cluster.stores,
    (region, toPeer) => cluster.consensus.admin({ regionId: region.id, epoch: region.epoch }, { type: 'transferLeader', toPeer }),
  );
  for (let round = 0; round < 30 && planLeaderMove(cluster.stores) !== undefined; round++) {
    await drive(ticks, balancer.round());
    await fire(ticks, 15);
  }
  const counts = [...leaderCounts(cluster.stores).values()];
  t.true(Math.max(...counts) - Math.min(...counts) <= 1, `balanced: ${counts.join(', ')} (SEED=${seed})`);
  t.deepEqual(counts, [2, 2, 2]);
  t.is(balancer.stats.transfers, 4, 'one transfer per leadership moved');

  // Every region still takes a write and serves it back.
  const rng = new Rng(seed);
  for (const key of ['a', 'c', 'e', 'g', 'i', 'k']) {
    const region = cluster.consensus.regionForKey(z(key).subarray(1));
    const value = new TextEncoder().encode(`v${rng.int(1000)}`);
    await drive(ticks, cluster.consensus.write({ regionId: region.id, epoch: region.epoch }, [{ op: 'put', cf: 'default', key: z(key), value }]));
    const snap = await drive(ticks, cluster.consensus.snapshot({ regionId: region.id, epoch: region.epoch }));
    t.deepEqual(snap.get('default', z(key)), value);
    snap.release();
  }
});

test('RaftCluster.start({ leaderBalance }) balances on its ticks, also after a store stops', async (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const { cluster, ticks } = await start(seed, { everyTicks: 10 });
  t.teardown(() => cluster.stop());
  await fire(ticks, 60);
  await allOnStore1(cluster, ticks);
  for (let i = 0; i < 100 && planLeaderMove(cluster.stores) !== undefined; i++) await fire(ticks, 10);
  const counts = [...leaderCounts(cluster.stores).values()];
  t.true(Math.max(...counts) - Math.min(...counts) <= 1, `balanced: ${counts.join(', ')} (SEED=${seed})`);
  t.true(cluster.leaderBalancer!.stats.transfers >= 3);
  // Store 3 stops: its regions elect leaders on 1 and 2, and the balancer evens those two out.
  cluster.stopStore(3);
  await fire(ticks, 100);
  for (let i = 0; i < 100 && planLeaderMove(cluster.stores) !== undefined; i++) await fire(ticks, 10);
  const two = leaderCounts(cluster.stores);
  t.deepEqual([...two.keys()], [1, 2]);
  t.is(two.get(1)! + two.get(2)!, 6, 'every region has a leader');
  t.true(Math.abs(two.get(1)! - two.get(2)!) <= 1, `balanced over the running stores: ${[...two.values()].join(', ')} (SEED=${seed})`);
});

test('the cluster-ticked balancer moves no leader while placement has scheduling paused, and balances once it is resumed', async (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  let paused = true;
  const { cluster, ticks } = await start(seed, { everyTicks: 10 }, () => paused);
  t.teardown(() => cluster.stop());
  await fire(ticks, 60);
  await allOnStore1(cluster, ticks);
  t.deepEqual([...leaderCounts(cluster.stores)], [[1, 6], [2, 0], [3, 0]], `all on store 1 (SEED=${seed})`);
  await fire(ticks, 300);
  t.deepEqual([...leaderCounts(cluster.stores)], [[1, 6], [2, 0], [3, 0]], `paused: nothing moved (SEED=${seed})`);
  t.deepEqual(cluster.leaderBalancer!.stats, { rounds: 0, transfers: 0, refused: 0 });
  paused = false;
  for (let i = 0; i < 100 && planLeaderMove(cluster.stores) !== undefined; i++) await fire(ticks, 10);
  const counts = [...leaderCounts(cluster.stores).values()];
  t.deepEqual(counts, [2, 2, 2], `balanced once resumed (SEED=${seed})`);
  t.true(cluster.leaderBalancer!.stats.transfers >= 4);
});
