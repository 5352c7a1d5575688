/**
 * The seeded concurrent bank of issue 3 (core/src/testing/bank.ts: 16 clients, 10 accounts over
 * three regions, random 1PC/2PC, optimistic and pessimistic transfers, periodic full reads) on
 * engine-memory, through a kernel of memoryEngine() and the default txn plugins, so the real
 * engine's snapshots and write batches carry the isolation checks. `SEED=n` replays a run.
 */
import test from 'ava';
import { CLOCK, defaultTxnPlugins, definePlugin, Kernel, ManualClock } from '@flashkv/core';
import { runBankWorkload, testSeed } from '@flashkv/core/testing';
import { memoryEngine } from '../src/index.js';

test('bank on engine-memory: every snapshot read sums to the same total and matches the committed history', async (t) => {
  const seed = testSeed();
  t.log(`seed ${seed} (replay with SEED=${seed})`);
  const clock = new ManualClock(1_700_000_000_000);
  const kernel = await Kernel.start({
    plugins: [
      memoryEngine(),
      definePlugin({ name: 'test-clock', version: '1.0.0', provides: [CLOCK], register: (ctx) => ctx.provide(CLOCK, clock) }),
      ...defaultTxnPlugins(),
    ],
  });
  try {
    const { stats, failures } = await runBankWorkload({ storage: kernel.storage, clock, seed });
    t.log(JSON.stringify(stats));
    t.deepEqual(failures, [], `seed ${seed}`);
    t.is(stats.transfers, 16 * 20, `seed ${seed}`);
    t.true(stats.onePc > 0 && stats.twoPc > 0, `seed ${seed}: both commit paths (${stats.onePc} 1PC, ${stats.twoPc} 2PC)`);
    t.true(stats.pessimistic > 0, `seed ${seed}: pessimistic transfers`);
    t.true(stats.retries + stats.lockWaitTimeouts > 0, `seed ${seed}: transfers did contend`);
    t.true(stats.audits > 10, `seed ${seed}: only ${stats.audits} audits`);
  } finally {
    await kernel.stop();
  }
});
