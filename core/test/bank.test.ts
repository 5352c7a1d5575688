/**
 * The seeded concurrent bank (issue 3) on the ReferenceEngine: 16 clients, 10 accounts, random
 * transfers and periodic full reads (core/src/testing/bank.ts). plugins/engine-memory runs the
 * same workload on engine-memory through a kernel. `SEED=n` replays a run.
 */
import test from 'ava';
import { LocalConsensus, LocalPlacement, ManualClock, Storage } from '@flashkv/core';
import { ReferenceEngine, runBankWorkload, testSeed } from '@flashkv/core/testing';

test('concurrent bank transfers: every snapshot read sums to the same total and matches the committed history', async (t) => {
  const seed = testSeed();
  t.log(`seed ${seed}`);
  const engine = new ReferenceEngine();
  const clock = new ManualClock(1_700_000_000_000);
  const placement = await LocalPlacement.open({ engine, clock });
  const storage = new Storage({ consensus: new LocalConsensus({ engine, placement }), placement });
  const { stats, failures } = await runBankWorkload({ storage, clock, seed });
  t.log(JSON.stringify(stats));
  t.deepEqual(failures, [], `seed ${seed}`);
  t.is(stats.transfers, 16 * 20, `seed ${seed}`);
  // The run must exercise what it claims to.
  t.true(stats.onePc > 0 && stats.twoPc > 0, `seed ${seed}: both commit paths (${stats.onePc} 1PC, ${stats.twoPc} 2PC)`);
  t.true(stats.pessimistic > 0, `seed ${seed}: pessimistic transfers`);
  t.true(stats.retries + stats.lockWaitTimeouts > 0, `seed ${seed}: transfers did contend`);
  t.true(stats.audits > 10, `seed ${seed}: only ${stats.audits} audits`);
});
