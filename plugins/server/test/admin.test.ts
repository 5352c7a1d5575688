import test from 'ava';
import type { ChildProcess } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import { codec, compareBytes } from '@flashkv/core';
import { FlashKvClient } from '../src/index.js';
import { b, mustFailWith, s, spawnLine } from './helpers.js';

const TOKEN = 'admin-test-token';

/** A real server process (child-server.js: memory engine, LocalConsensus) on loopback. */
async function spawnServer(): Promise<{ child: ChildProcess; endpoint: string }> {
  const { child, line } = await spawnLine('child-server.js', [TOKEN], []);
  return { child, endpoint: (JSON.parse(line) as { endpoint: string }).endpoint };
}

test('admin over gRPC against a server process: split at a key, GC safe point get/advance (never back), GC run, auth refused', async (t) => {
  const { child, endpoint } = await spawnServer();
  t.teardown(() => void child.kill('SIGKILL'));
  const c = new FlashKvClient({ endpoint, token: TOKEN, deadlineMs: 10_000 });
  const intruder = new FlashKvClient({ endpoint, token: 'wrong', deadlineMs: 10_000, regionAware: false });
  t.teardown(() => {
    c.close();
    intruder.close();
  });

  // Auth applies to every admin call, and nothing happens.
  await mustFailWith(intruder.split(b('m')), grpc.status.UNAUTHENTICATED);
  await mustFailWith(intruder.gcSafePoint(), grpc.status.UNAUTHENTICATED);
  await mustFailWith(intruder.updateGcSafePoint(5n), grpc.status.UNAUTHENTICATED);
  await mustFailWith(intruder.gc(), grpc.status.UNAUTHENTICATED);
  t.is((await c.regions()).length, 1);
  t.is((await c.gcSafePoint()).safePoint, 0n);

  // Split: two regions meeting at the key, both at epoch version + 1; data on both sides still served.
  for (const k of ['a', 'm', 'z']) {
    const tx = await c.begin();
    tx.put(b(k), b(`v-${k}`));
    await tx.commit();
  }
  const before = (await c.regions())[0]!;
  const { left, right } = await c.split(b('m'));
  t.deepEqual(Buffer.from(left.endKey), Buffer.from(codec.encodeBytes(b('m'))));
  t.deepEqual(Buffer.from(right.startKey), Buffer.from(codec.encodeBytes(b('m'))));
  t.is(right.id, before.id);
  t.is(right.epoch.version, before.epoch.version + 1);
  t.is(left.epoch.version, before.epoch.version + 1);
  const rs = await c.regions();
  t.is(rs.length, 2);
  t.true(compareBytes(rs[0]!.endKey, rs[1]!.startKey) === 0);
  const ts = await c.getTs();
  for (const k of ['a', 'm', 'z']) t.is(s(await c.get(b(k), ts)), `v-${k}`);
  t.is((await c.scan({ ts })).length, 3);
  // Scans go region by region now: bounds, limits and reverse order hold across the boundary.
  const keys = async (req: Parameters<FlashKvClient['scan']>[0]) => (await c.scan(req)).map((p) => s(p.key));
  t.deepEqual(await keys({ ts, reverse: true }), ['z', 'm', 'a']);
  t.deepEqual(await keys({ ts, limit: 2 }), ['a', 'm']);
  t.deepEqual(await keys({ ts, start: b('b'), reverse: true, limit: 1 }), ['z']);
  t.deepEqual(await keys({ ts, start: b('b'), end: b('n') }), ['m']);
  t.deepEqual(await keys({ ts, end: b('m'), reverse: true }), ['a']);
  t.deepEqual(await keys({ ts, start: b('m'), end: b('m') }), []);
  // Splitting again at a boundary, or at the empty key, is a clear INVALID_ARGUMENT.
  const again = await mustFailWith(c.split(b('m')), grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT');
  t.regex(again.message, /already a region boundary/);
  await mustFailWith(c.split(new Uint8Array(0)), grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT');

  // Two versions of "a", then the safe point moves past the overwrite and GC drops the old one.
  const tx = await c.begin();
  tx.put(b('a'), b('v-a2'));
  const overwrite = await tx.commit();
  const sp = await c.getTs();
  t.true(sp > overwrite);
  const moved = await c.updateGcSafePoint(sp);
  t.is(moved.safePoint, sp);
  t.false(moved.paused);
  t.is((await c.gcSafePoint()).safePoint, sp);
  // Same value: a no-op; backwards: refused with the current one named; ahead of the TSO: refused.
  t.is((await c.updateGcSafePoint(sp)).safePoint, sp);
  const back = await mustFailWith(c.updateGcSafePoint(sp - 1n), grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT');
  t.regex(back.message, new RegExp(`behind the current one ${sp}; the safe point never moves back`));
  const ahead = await mustFailWith(c.updateGcSafePoint(sp + (1n << 40n)), grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT');
  t.regex(ahead.message, /ahead of the latest timestamp/);
  t.is((await c.gcSafePoint()).safePoint, sp);

  const run = await c.gc();
  t.is(run.safePoint, sp);
  t.false(run.paused);
  t.is(run.keys, 3);
  t.is(run.deletedVersions, 1);
  // Reads at or above the safe point still see the latest values; below it they are refused.
  const now = await c.getTs();
  t.is(s(await c.get(b('a'), now)), 'v-a2');
  await mustFailWith(c.get(b('a'), overwrite - 1n), grpc.status.FAILED_PRECONDITION, 'GC_TOO_EARLY');
  // A second pass finds nothing more to delete.
  t.is((await c.gc()).deletedVersions, 0);
});
