// ClusterConsensus when a store stops with a proposal in flight: a proposal that another entry
// replaced at its log index is sent again to the new leader and applies exactly once; a read in
// flight is served by another store.
import test, { type ExecutionContext } from 'ava';
import { ReferenceEngine, testSeed } from '@flashkv/core/testing';
import { ManualTickSource, RaftCluster, decodeCommand } from '../src/index.js';
import { driveTicks as drive, fireTicks as fire } from '../testing/index.js';

const enc = new TextEncoder();
const z = (s: string) => enc.encode('z' + s);

/**
 * Three stores on simulated time with one write ('a' = '1') in region 1; then its leader is cut
 * off from the other two (partitioned, still running).
 */
async function cutOffLeader(t: ExecutionContext, seed: number) {
  let nextId = 100;
  const ticks = new ManualTickSource();
  const cluster = await RaftCluster.start({ engines: [new ReferenceEngine(), new ReferenceEngine(), new ReferenceEngine()], allocId: async () => nextId++, tickSource: ticks, seed, raft: { electionTick: 10, heartbeatTick: 2 } });
  t.teardown(() => cluster.stop());
  const region = cluster.consensus.regionForKey(new Uint8Array(0));
  const ctx = { regionId: region.id, epoch: region.epoch };
  await drive(ticks, cluster.consensus.write(ctx, [{ op: 'put', cf: 'default', key: z('a'), value: enc.encode('1') }]));
  const leader = cluster.leaderStore(region.id)!;
  const others = cluster.stores.filter((s) => s !== leader).map((s) => s.storeId);
  cluster.transport.partition([[leader.storeId], others]);
  return { cluster, ticks, region, ctx, leader, others };
}

/** Fires `n` ticks; whether `p` settled (either way) meanwhile. */
async function settlesWithin(ticks: ManualTickSource, p: Promise<unknown>, n: number): Promise<boolean> {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  await fire(ticks, n);
  return settled;
}

test('a write in flight on a leader that is cut off and then stops is retried on the new leader (its log slot went to another entry) and applies once', async (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const { cluster, ticks, region, ctx, leader, others } = await cutOffLeader(t, seed);
  // Its next proposal is appended only to its own log.
  const w = cluster.consensus.write(ctx, [{ op: 'put', cf: 'default', key: z('b'), value: enc.encode('2') }]);
  t.false(await settlesWithin(ticks, w, 3), 'the cut-off leader cannot commit it');
  cluster.stopStore(leader.storeId);
  cluster.transport.heal();
  const result = await drive(ticks, w);
  t.true(cluster.leaderStore(region.id) !== undefined && cluster.leaderStore(region.id) !== leader);
  const snap = await drive(ticks, cluster.consensus.snapshot(ctx));
  t.deepEqual(snap.get('default', z('b')), enc.encode('2'));
  snap.release();
  // Applied once: the index it resolved with is the only entry of the running stores carrying it.
  t.true(result.index > 0n);
  await fire(ticks, 10);
  const keyB = z('b');
  for (const id of others) {
    const peer = cluster.stores[id - 1]!.peers.get(region.id)!;
    t.true(peer.applied >= Number(result.index), `store ${id} applied the retried write (SEED=${seed})`);
    // Its log (nothing compacted yet) holds exactly one entry writing the key: the retry.
    const log = peer.storage.entries(peer.storage.firstIndex(), peer.applied + 1);
    const writes = log.filter((e) => {
      if (e.type !== 'normal' || e.data.length === 0) return false;
      const cmd = decodeCommand(e.data);
      return cmd.kind === 'write' && cmd.modifies.some((m) => m.op === 'put' && m.key.length === keyB.length && m.key.every((b, i) => b === keyB[i]));
    });
    t.deepEqual(writes.map((e) => e.index), [Number(result.index)], `store ${id}: one entry writes the key (SEED=${seed})`);
  }
});

test('a read waiting on a cut-off leader when its store stops is served by the new leader', async (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const { cluster, ticks, region, ctx, leader } = await cutOffLeader(t, seed);
  const r = cluster.consensus.snapshot(ctx);
  t.false(await settlesWithin(ticks, r, 3), 'the cut-off leader cannot confirm its read index');
  cluster.stopStore(leader.storeId);
  cluster.transport.heal();
  const snap = await drive(ticks, r);
  t.deepEqual(snap.get('default', z('a')), enc.encode('1'));
  snap.release();
  t.not(cluster.leaderStore(region.id), leader);
});
