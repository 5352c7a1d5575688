/**
 * A node of a cluster of processes applies a split proposed by another node before its replicated
 * directory shows the new region: the regionChanged event then finds nothing new. The next tick
 * must pick the region up once the directory has it, or its resolved ts stays 0 for good (a
 * flashback through that node waited out its whole resolved-ts minute).
 */
import test from 'ava';
import { codec, type Placement, type Region } from '@flashkv/core';
import { bytes } from '@flashkv/core/testing';
import { CdcService } from '../src/index.js';
import { mustPut, mustSplit, setup } from './cdc-must.js';

test('a split applied before the directory shows it: the new region is tracked at the next tick and min resolved ts advances', async (t) => {
  const env = await setup();
  let frozen: readonly Region[] | undefined = env.placement.regions();
  // This node's view of the directory: stuck before the split until `frozen` is cleared.
  const lagging = new Proxy(env.placement as Placement, {
    get(target, prop, receiver) {
      if (prop === 'regions' && frozen !== undefined) return () => frozen;
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  env.cdc.stop(); // one CDC per event catalogue: this test's own, over the lagging view
  const cdc = new CdcService({ engine: env.engine, placement: lagging, events: env.events, schedule: (run) => run() });
  cdc.start();
  t.teardown(() => cdc.stop());
  await mustPut(env, { a: '1', z: '2' });
  await mustSplit(env, 'm');
  const right = env.placement.regionForKey(codec.encodeBytes(bytes('z')));
  const left = env.placement.regionForKey(codec.encodeBytes(bytes('a')));
  t.not(right.id, left.id);
  const untracked = [left.id, right.id].find((id) => !frozen!.some((r) => r.id === id))!;
  await cdc.tick();
  t.is(cdc.resolvedTs(untracked), 0n, 'not in this node\'s directory yet: not tracked');
  frozen = undefined;
  const before = await env.placement.getTs();
  await cdc.tick();
  t.true(cdc.resolvedTs(untracked) > before, `region ${untracked} resolved ts ${cdc.resolvedTs(untracked)}`);
  t.true(cdc.minResolvedTs(new Uint8Array(0), new Uint8Array(0)) > before);
});
