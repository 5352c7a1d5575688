// Meta group membership (issue 8 item 5 leftover): a store added to a cluster with placement on
// raft joins the meta group (learner by snapshot, then voter), so a node can be replaced: after the
// old store's member is removed and two of the three original stores are gone, the TSO, ids and the
// region directory are still served.
import test from 'ava';
import { ManualClock, type StorageEngine } from '@flashkv/core';
import { ReferenceEngine, Rng, testSeed } from '@flashkv/core/testing';
import { ManualTickSource, MetaStorage, RaftCluster } from '../src/index.js';
import { driveTicks as drive } from '../testing/index.js';

/** A crash of one store as far as the cluster can tell: it stops and the network drops its traffic. */
function crashStore(cluster: RaftCluster, storeId: number): void {
  cluster.stores[storeId - 1]!.stop();
  cluster.meta!.peers[storeId - 1]!.stop();
  cluster.transport.unregister(storeId);
}

test('addStore joins the meta group as a voter (snapshot of the placement namespace); with store 1 replaced and store 2 gone too, the TSO, ids and directory are still served', async (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const rng = new Rng(seed);
  const engines: StorageEngine[] = [new ReferenceEngine(), new ReferenceEngine(), new ReferenceEngine()];
  const ticks = new ManualTickSource();
  const clock = new ManualClock(1_000_000);
  // A small log GC threshold: the meta log is compacted, so the new peer must come by snapshot.
  const cluster = await RaftCluster.start({ engines, tickSource: ticks, seed, raft: { electionTick: 10, heartbeatTick: 2 }, metaPlacement: { clock, tsoWindowMs: 50, logGcThreshold: 5 } });
  t.teardown(() => cluster.stop());
  const placement = cluster.placement!;
  const seen: bigint[] = [];
  const take = async (n: number) => {
    for (let i = 0; i < n; i++) {
      clock.advance(rng.int(20));
      const ts = await drive(ticks, placement.getTs());
      t.true(seen.length === 0 || ts > seen[seen.length - 1]!, `ts ${ts} increases (SEED=${seed})`);
      seen.push(ts);
    }
  };
  await take(10);
  const region = cluster.consensus.regionForKey(new Uint8Array([0x7a]));
  await drive(ticks, cluster.consensus.admin({ regionId: region.id, epoch: region.epoch }, { type: 'split', splitKey: Uint8Array.of(0x7a, 0x6d) }));
  const ids = [await drive(ticks, placement.allocId()), await drive(ticks, placement.allocId())];
  await take(10);
  const regionsBefore = placement.regions().map((r) => `${r.id}:${r.epoch.version}`).sort();

  await drive(ticks, cluster.addStore(new ReferenceEngine()));
  const joined = cluster.meta!.peers[3]!;
  t.deepEqual([...joined.storage.conf.voters].sort(), [1, 2, 3, 4], 'store 4 is a voter of the meta group');
  t.true(joined.snapshotsApplied >= 1, 'the new meta peer was initialized by a snapshot');
  t.deepEqual(joined.state.map.all().map((r) => `${r.id}:${r.epoch.version}`).sort(), regionsBefore, "the new peer's directory copy");

  const conf = await drive(ticks, cluster.removeMetaMember(1));
  t.deepEqual([...conf.voters].sort(), [2, 3, 4]);
  crashStore(cluster, 1);
  await take(5);
  crashStore(cluster, 2);
  // Without store 4 as a voter, {1, 2, 3} minus two stores would have no quorum.
  await take(10);
  const id = await drive(ticks, placement.allocId());
  t.true(id > Math.max(...ids), 'ids continue above those handed out before');
  t.deepEqual(placement.regions().map((r) => `${r.id}:${r.epoch.version}`).sort(), regionsBefore, 'the directory survives');
  t.true([3, 4].includes(cluster.meta!.peers.find((p) => !p.stopped && p.isLeader())!.storeId));
  // The membership is persisted with the applied index: store 4's and store 3's engines say the same.
  for (const s of [3, 4]) {
    const conf4 = MetaStorage.load(cluster.stores[s - 1]!.engine).conf;
    t.deepEqual([...conf4.voters].sort(), [2, 3, 4], `store ${s}'s persisted meta voters`);
    t.deepEqual([...conf4.learners], []);
  }
});
