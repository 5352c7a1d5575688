/** cdc() wired by the kernel: CDC and RESOLVED_TS are provided, and flashback's orchestrator waits on CDC's resolved ts. */
import test from 'ava';
import { Subject } from 'rxjs';
import { definePlugin, defaultTxnPlugins, ENGINE, FLASHBACK, Kernel, RESOLVED_TS } from '@flashkv/core';
import { MemoryEngine } from '@flashkv/engine-memory';
import { flashback } from '@flashkv/flashback';
import { cdc, CDC, type CdcEvent, type CommitEvent } from '../src/index.js';

test('kernel: a changefeed sees a flashback run whose orchestrator waited on CDC resolved ts', async (t) => {
  const engine = definePlugin({ name: 'mem', version: '1.0.0', provides: [ENGINE], register: (ctx) => ctx.provide(ENGINE, new MemoryEngine()) });
  const ticks = new Subject<void>();
  let sleeps = 0;
  const kernel = await Kernel.start({
    plugins: [
      engine,
      ...defaultTxnPlugins(),
      cdc({ ticker: ticks, schedule: (run) => run() }),
      flashback({
        // The orchestrator sleeps while it waits for min resolved ts: each sleep is one CDC tick.
        sleep: async () => {
          sleeps++;
          ticks.next();
          await new Promise<void>((r) => setImmediate(r));
        },
      }),
    ],
  });
  const service = kernel.resolve(CDC);
  t.is(kernel.resolve(RESOLVED_TS), service);
  const events: CdcEvent[] = [];
  service.changefeed({ startTs: 0n }).subscribe((e) => events.push(e));
  const te = new TextEncoder();
  const client = kernel.client();
  let txn = await client.begin();
  await txn.put(te.encode('greeting'), te.encode('hello'));
  await txn.commit();
  const version = await kernel.storage.placement.getTs();
  txn = await client.begin();
  await txn.put(te.encode('greeting'), te.encode('oops'));
  await txn.commit();
  const final = await kernel.resolve(FLASHBACK).run({ version }).done;
  t.is(final.keysRewritten, 1);
  await service.tick();
  const rows = events.filter((e): e is CommitEvent => e.type === 'commit' || e.type === 'committed').map((e) => `${e.type}:${new TextDecoder().decode(e.value)}`);
  // One key changed after the version: it is K*, so its flashback row is a 2PC commit.
  t.deepEqual(rows, ['committed:hello', 'committed:oops', 'commit:hello']);
  t.true(service.minResolvedTs(new Uint8Array(0), new Uint8Array(0)) > final.commitTs);
  // CDC had not ticked before the run, so the orchestrator had to wait for resolved ts at least once.
  t.true(sleeps >= 1, `orchestrator sleeps: ${sleeps}`);
  let completed = false;
  service.changefeed({ startTs: 0n }).subscribe({ complete: () => (completed = true) });
  await kernel.stop();
  t.true(completed, 'feeds complete when the kernel stops');
});
