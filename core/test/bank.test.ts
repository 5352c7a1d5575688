/**
 * The seeded concurrent bank (issue 3) on the ReferenceEngine: 16 clients, 10 accounts, random
 * transfers and periodic full reads (core/src/testing/bank.ts). plugins/engine-memory runs the
 * same workload on engine-memory through a kernel. `SEED=n` replays a run.
 */
import test from 'ava';
import { LocalConsensus, LocalPlacement, ManualClock, Storage } from '@flashkv/core';
import { ReferenceEngine, assertBankRun, runBankWorkload, testSeed } from '@flashkv/core/testing';

test('concurrent bank transfers: every snapshot read sums to the same total and matches the committed history', async (t) => {
  const seed = testSeed();
  t.log(`seed ${seed}`);
  const engine = new ReferenceEngine();
  const clock = new ManualClock(1_700_000_000_000);
  const placement = await LocalPlacement.open({ engine, clock });
  const storage = new Storage({ consensus: new LocalConsensus({ engine, placement }), placement });
  assertBankRun(t, await runBankWorkload({ storage, clock, seed }), seed);
});
