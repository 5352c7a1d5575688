/** The README example, run as written (engine-memory, the default txn plugins, flashback()). */
import test from 'ava';
import { definePlugin, ENGINE, FLASHBACK, Kernel, defaultTxnPlugins } from '@flashkv/core';
import { MemoryEngine } from '@flashkv/engine-memory';
import { flashback } from '@flashkv/flashback';

test('README example: preview then run brings the old value back', async (t) => {
  const engine = definePlugin({ name: 'mem', version: '1.0.0', provides: [ENGINE], register: (ctx) => ctx.provide(ENGINE, new MemoryEngine()) });
  const kernel = await Kernel.start({ plugins: [engine, ...defaultTxnPlugins(), flashback()] });
  const client = kernel.client();
  const te = new TextEncoder();
  let txn = await client.begin();
  await txn.put(te.encode('greeting'), te.encode('hello'));
  await txn.commit();
  const version = await kernel.storage.placement.getTs();
  txn = await client.begin();
  await txn.put(te.encode('greeting'), te.encode('oops'));
  await txn.commit();
  const fb = kernel.resolve(FLASHBACK);
  const pv = await fb.preview({ version });
  t.is(pv.keysToRewrite, 1);
  t.is(pv.toUpdate, 1);
  const run = fb.run({ version });
  const phases: string[] = [];
  run.progress$.subscribe((p) => phases.push(p.phase));
  const final = await run.done;
  t.is(final.keysRewritten, 1);
  t.is(phases[phases.length - 1], 'done');
  txn = await client.begin();
  t.is(new TextDecoder().decode(await txn.get(te.encode('greeting'))), 'hello');
  await kernel.stop();
});
