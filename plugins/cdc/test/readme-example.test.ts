/** The README example, run as written except that ticks are driven by the test instead of tickMs. */
import test from 'ava';
import { Subject } from 'rxjs';
import { definePlugin, defaultTxnPlugins, ENGINE, Kernel } from '@flashkv/core';
import { MemoryEngine } from '@flashkv/engine-memory';
import { cdc, CDC } from '../src/index.js';

test('README example: a 1PC put arrives as committed, then resolved ts', async (t) => {
  const ticks = new Subject<void>();
  const engine = definePlugin({ name: 'mem', version: '1.0.0', provides: [ENGINE], register: (ctx) => ctx.provide(ENGINE, new MemoryEngine()) });
  const kernel = await Kernel.start({ plugins: [engine, ...defaultTxnPlugins(), cdc({ ticker: ticks })] });
  const feed = kernel.resolve(CDC).changefeed({ startTs: 0n, withOldValue: true });
  const seen: string[] = [];
  const sub = feed.subscribe((e) => seen.push(`${e.type} ${'key' in e ? new TextDecoder().decode(e.key) : ''}`.trim()));
  const txn = await kernel.client().begin();
  await txn.put(new TextEncoder().encode('greeting'), new TextEncoder().encode('hello'));
  await txn.commit();
  await kernel.resolve(CDC).tick();
  await new Promise<void>((r) => setImmediate(r));
  sub.unsubscribe();
  await kernel.stop();
  t.deepEqual(seen.slice(0, 1), ['committed greeting']);
  t.true(seen.includes('globalResolvedTs'));
});
