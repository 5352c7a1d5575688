/**
 * The seeded concurrent bank of issue 3 (core/src/testing/bank.ts: 16 clients, 10 accounts over
 * three regions, random 1PC/2PC, optimistic and pessimistic transfers, periodic full reads) on
 * engine-memory, through a kernel of memoryEngine() and the default txn plugins, so the real
 * engine's snapshots and write batches carry the isolation checks. `SEED=n` replays a run.
 */
import test from 'ava';
import { CLOCK, defaultTxnPlugins, definePlugin, Kernel, ManualClock } from '@flashkv/core';
import { assertBankRun, runBankWorkload, testSeed } from '@flashkv/core/testing';
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
    assertBankRun(t, await runBankWorkload({ storage: kernel.storage, clock, seed }), seed);
  } finally {
    await kernel.stop();
  }
});
