// RaftCluster.addStore and moveReplica: a running in-process cluster grows a fourth store and
// moves a region's replica onto it, on simulated time (ManualTickSource), seeded.
import test from 'ava';
import { KvError, type Region } from '@flashkv/core';
import { ReferenceEngine, Rng, testSeed } from '@flashkv/core/testing';
import { ManualTickSource, RaftCluster } from '../src/index.js';
import { driveTicks as drive } from '../testing/index.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const zk = (k: string): Uint8Array => enc.encode('z' + k);

test('addStore and moveReplica: a fourth store takes over a replica; the old store is stopped; every key is read from the new replica; the directory follows', async (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const rng = new Rng(seed);
  const ticks = new ManualTickSource();
  let nextId = 1;
  const recorded: Region[] = [];
  const engines = [new ReferenceEngine(), new ReferenceEngine(), new ReferenceEngine()];
  const cluster = await RaftCluster.start({
    engines,
    allocId: async () => nextId++,
    tickSource: ticks,
    seed,
    raft: { electionTick: 10, heartbeatTick: 2 },
    directory: {
      recordSplit: async () => undefined,
      recordRegion: async (r) => void recorded.push(r),
    },
  });
  try {
    const c = cluster.consensus;
    const put = async (k: string, v: string) => {
      const r = c.getRegion(1);
      await drive(ticks, c.write({ regionId: 1, epoch: r.epoch }, [{ op: 'put', cf: 'default', key: zk(k), value: enc.encode(v) }]));
    };
    for (let i = 0; i < 30; i++) await put(`k${i}`, `v${i}`);
    const e4 = new ReferenceEngine();
    const s4 = await cluster.addStore(e4);
    t.is(s4.storeId, 4);
    const from = 1 + rng.int(3);
    const region = await drive(ticks, cluster.moveReplica(1, from, 4));
    t.is(region.epoch.confVer, 4, 'three changes: add learner, promote, remove');
    t.deepEqual(region.peers.map((p) => p.storeId).sort(), [1, 2, 3, 4].filter((s) => s !== from));
    t.true(region.peers.every((p) => p.role === 'voter'));
    // (A leader transfer off the old store records the region again, unchanged.)
    t.deepEqual([...new Set(recorded.map((r) => r.epoch.confVer))], [2, 3, 4], 'each change recorded in the directory, in order');
    t.false(cluster.stores[from - 1]!.peers.has(1), 'the old peer is destroyed');
    t.is(engines[from - 1]!.get('default', zk('k0')), undefined, "the old store's copy of the data is deleted");
    // Writes during and after the move, then the old store stops for good.
    for (let i = 30; i < 40; i++) await put(`k${i}`, `v${i}`);
    cluster.stopStore(from);
    for (let i = 40; i < 45; i++) await put(`k${i}`, `v${i}`);
    const r = c.getRegion(1);
    const snap = await drive(ticks, c.snapshot({ regionId: 1, epoch: r.epoch }));
    for (let i = 0; i < 45; i++) t.is(dec.decode(snap.get('default', zk(`k${i}`)) ?? new Uint8Array()), `v${i}`, `k${i} readable`);
    snap.release();
    // The new replica serves a follower read of everything on its own.
    const fsnap = await drive(ticks, c.members[3]!.snapshot({ regionId: 1, epoch: r.epoch }, { followerRead: true }));
    for (let i = 0; i < 45; i++) t.is(dec.decode(fsnap.get('default', zk(`k${i}`)) ?? new Uint8Array()), `v${i}`, `k${i} on the new replica`);
    fsnap.release();
    // Moving from a store that holds no peer of the region is refused.
    const err = await t.throwsAsync(cluster.moveReplica(1, from, 4));
    t.true(err instanceof KvError && err.code === 'INVALID_ARGUMENT');
  } finally {
    await cluster.stop();
  }
});
