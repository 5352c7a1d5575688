// Placement on raft (issue 8 item 5) under a real workload: a kernel whose CONSENSUS and PLACEMENT
// are three in-process raft stores with a replicated meta group. Transactions get their ts from
// the meta leader; a flashback's job record survives the meta leader's crash mid-run, and the
// flashback completes (resumed from that record if the crash cut a write of it short).
import test from 'ava';
import { CONSENSUS, FLASHBACK, PLACEMENT, codec, type Flashback } from '@flashkv/core';
import { Rng, testSeed } from '@flashkv/core/testing';
import { flashback } from '@flashkv/flashback';
import { RaftPlacement } from '@flashkv/raft';
import { cdcTickSleep, readAt, startRaftKernel } from './raft-kernel.js';

const te = new TextEncoder();
const KEYS = Array.from({ length: 16 }, (_, i) => `k${String(i).padStart(2, '0')}`);

test('a flashback job record survives the meta leader crashing mid-run; the TSO stays increasing and the flashback completes', async (t) => {
  const seed = testSeed();
  t.log(`seed ${seed} (replay with SEED=${seed})`);
  const rng = new Rng(seed);
  // The meta leader crashes right after the job's record reaches a step drawn by the seed.
  const steps = ['checked', 'startTsPersisted', 'split', 'prepared', 'commitTsPersisted', 'finished'];
  const crashStep = steps[rng.int(steps.length)]!;
  let armed = false;
  let crashed: { storeId: number; stop(): void } | undefined;
  const node = await startRaftKernel({
    seed,
    metaPlacement: { tsoWindowMs: 100 },
    plugins: ({ cluster, ticks }) => [
      flashback({
        sleep: cdcTickSleep(ticks),
        onStep: (step) => {
          if (!armed || crashed !== undefined || step !== crashStep) return;
          crashed = cluster().meta!.peers.find((p) => !p.stopped && p.isLeader());
          crashed?.stop();
        },
      }),
    ],
  });
  t.teardown(() => node.stop());
  const kernel = node.kernel;
  const placement = kernel.resolve(PLACEMENT);
  t.true(placement instanceof RaftPlacement);
  const fb: Flashback = kernel.resolve(FLASHBACK);
  const c = node.cluster();
  const meta = c.meta!;

  // Split through consensus: the directory (the meta group) records it before admin returns.
  const at = codec.encodeBytes(te.encode('k08'));
  const r0 = placement.regionForKey(at);
  await kernel.resolve(CONSENSUS).admin({ regionId: r0.id, epoch: r0.epoch }, { type: 'split', splitKey: at });
  t.is(placement.regions().length, 2);

  const seen: bigint[] = [];
  const txn = async (round: number): Promise<void> => {
    const tx = await kernel.client().begin();
    for (let i = 0, n = 1 + rng.int(3); i < n; i++) await tx.put(te.encode(KEYS[rng.int(KEYS.length)]!), te.encode(`r${round}-${rng.int(1000)}`));
    seen.push(await tx.commit());
  };
  for (let i = 0; i < 8; i++) await txn(i);
  const version = await placement.getTs();
  for (let i = 8; i < 16; i++) await txn(i);
  const expected = await readAt(kernel, version);

  // The meta leader moves off store 1 (whose applies feed the events), then crashes once the job is under way.
  let leader = meta.peers.find((p) => p.isLeader());
  for (let i = 0; i < 200 && (leader === undefined || leader.storeId === 1); i++) {
    if (leader?.storeId === 1) await leader.transferLeader(2 + rng.int(2)).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 5));
    leader = meta.peers.find((p) => p.isLeader());
  }
  if (leader === undefined || leader.storeId === 1) return t.fail('meta leadership did not move off store 1');
  armed = true;
  const run = fb.run({ version, jobId: 'fb-meta' });
  run.done.catch(() => undefined);

  let final;
  try {
    final = await run.done;
  } catch (e) {
    // A write of the record was in flight on the crashed peer: its outcome is unknown, the job resumes from the record.
    t.log(`run failed (${e instanceof Error ? e.message : String(e)}); resuming from the replicated record`);
    final = await fb.resume('fb-meta').done;
  }
  if (crashed === undefined) return t.fail(`no meta leader to crash at step ${crashStep}`);
  t.log(`meta leader on store ${crashed.storeId} crashed after step ${crashStep}`);
  t.is(placement.getJob('fb-meta')?.['state'], 'done');
  const after = await placement.getTs();
  t.true(after > seen[seen.length - 1]! && after > final.commitTs, 'the new meta leader hands out ts above everything before');
  t.deepEqual(await readAt(kernel, after), expected, `flashback to ${version} (seed ${seed})`);
  const newLeader = meta.peers.find((p) => !p.stopped && p.isLeader());
  t.truthy(newLeader);
  t.not(newLeader!.storeId, crashed.storeId);
  // Ordinary transactions go on, timestamped by the new leader.
  await txn(99);
  t.true(seen[seen.length - 1]! > after);
});
