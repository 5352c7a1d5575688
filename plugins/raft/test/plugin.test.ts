// The raft() kernel plugin: three stores in one process behind CONSENSUS, ticked by hand.
import test from 'ava';
import { CONSENSUS, ENGINE, Kernel, KvError, definePlugin, localPlacement, type AppliedEvent, type StorageEngine } from '@flashkv/core';
import { ReferenceEngine, testSeed } from '@flashkv/core/testing';
import { ManualTickSource, raft, type ClusterConsensus } from '../src/index.js';
import { driveTicks, fireTicks as idle } from '../testing/index.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const zk = (k: string): Uint8Array => enc.encode('z' + k);
/** This file's tests give up after 2000 ticks. */
const drive = <T>(ticks: ManualTickSource, p: Promise<T>): Promise<T> => driveTicks(ticks, p, 2000);

async function startKernel(engines: StorageEngine[], ticks: ManualTickSource, seed: number): Promise<Kernel> {
  return Kernel.start({
    plugins: [
      definePlugin({ name: 'test-engine', version: '1.0.0', provides: [ENGINE], register: (ctx) => ctx.provide(ENGINE, engines[0]!) }),
      localPlacement(),
      raft({ stores: 3, engineFor: (id) => engines[id - 1]!, tickSource: ticks, seed, raft: { electionTick: 10, heartbeatTick: 2 } }),
    ],
  });
}

test('raft() provides CONSENSUS over three in-process stores: routed writes, reads, split, one applied event per write, and a restart from the engines', async (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const engines = [new ReferenceEngine(), new ReferenceEngine(), new ReferenceEngine()];
  const ticks = new ManualTickSource();
  const kernel = await startKernel(engines, ticks, seed);
  const consensus = kernel.resolve(CONSENSUS);
  t.is(consensus.name, 'raft');
  const applied: AppliedEvent[] = [];
  kernel.events.applied$.subscribe((e) => applied.push(e));
  let r = consensus.regionForKey(enc.encode('a'));
  await drive(ticks, consensus.write({ regionId: r.id, epoch: r.epoch }, [{ op: 'put', cf: 'default', key: zk('a'), value: enc.encode('1') }]));
  await drive(ticks, consensus.write({ regionId: r.id, epoch: r.epoch }, [{ op: 'put', cf: 'default', key: zk('x'), value: enc.encode('2') }]));
  t.is(applied.length, 2, 'one applied event per write, not one per replica');
  const snap = await drive(ticks, consensus.snapshot({ regionId: r.id, epoch: r.epoch }));
  t.is(dec.decode(snap.get('default', zk('a'))!), '1');
  snap.release();
  const split = await drive(ticks, consensus.admin({ regionId: r.id, epoch: r.epoch }, { type: 'split', splitKey: enc.encode('m') }));
  if (split.type !== 'split') return t.fail();
  t.is(consensus.regionForKey(enc.encode('b')).id, split.left.id);
  r = consensus.regionForKey(enc.encode('b'));
  // The new region's leader may not be elected yet: the client follows NOT_LEADER until it is.
  await drive(ticks, consensus.write({ regionId: r.id, epoch: r.epoch }, [{ op: 'put', cf: 'default', key: zk('b'), value: enc.encode('3') }]));
  await idle(ticks, 5);
  for (const e of engines) t.is(dec.decode(e.get('default', zk('b'))!), '3', 'replicated to every engine');
  // Move the leader away: the client's cached leader answers NOT_LEADER and the write follows the hint.
  const rr = consensus.regionForKey(enc.encode('x'));
  const members = (consensus as ClusterConsensus).members;
  const leaderStore = () => members.find((m) => m.store.peers.get(rr.id)?.isLeader())?.store.storeId;
  const from = leaderStore()!;
  const target = rr.peers.find((p) => p.storeId !== from)!;
  await drive(ticks, consensus.admin({ regionId: rr.id, epoch: rr.epoch }, { type: 'transferLeader', toPeer: target.id }));
  await idle(ticks, 30);
  t.is(leaderStore(), target.storeId, 'leadership moved');
  const res = await drive(ticks, consensus.write({ regionId: rr.id, epoch: rr.epoch }, [{ op: 'put', cf: 'default', key: zk('y'), value: enc.encode('4') }]));
  t.is(res.regionId, rr.id);
  await idle(ticks, 5);
  for (const e of engines) t.is(dec.decode(e.get('default', zk('y'))!), '4', 'written through the new leader');
  await kernel.stop();

  const again = await startKernel(engines, ticks, seed + 1);
  const c2 = again.resolve(CONSENSUS);
  const right = c2.regionForKey(enc.encode('x'));
  t.is(right.epoch.version, 2, 'the split survived the restart');
  const s2 = await drive(ticks, c2.snapshot({ regionId: right.id, epoch: right.epoch }));
  t.is(dec.decode(s2.get('default', zk('x'))!), '2');
  s2.release();
  const err = await t.throwsAsync(drive(ticks, c2.write({ regionId: right.id, epoch: { version: 1, confVer: 1 } }, [])));
  t.true(err instanceof KvError && err.code === 'EPOCH_NOT_MATCH');
  await again.stop();
});
