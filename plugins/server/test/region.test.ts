import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { codec, isKvError, PLACEMENT } from '@flashkv/core';
import { testSeed, Rng } from '@flashkv/core/testing';
import { FlashKvClient, flashKvService } from '../src/index.js';
import { b, mustFailWith, mustStartNode, s, TOKEN, type Node } from './helpers.js';

async function withNode(t: { teardown(fn: () => Promise<void>): void }): Promise<Node> {
  const node = await mustStartNode({ withFlashback: false });
  t.teardown(() => node.stop());
  return node;
}

async function splitAt(node: Node, raw: string): Promise<void> {
  const placement = node.kernel.resolve(PLACEMENT);
  const enc = codec.encodeBytes(b(raw));
  await placement.split(placement.regionForKey(enc).id, enc);
}

/** A Get with a hand-made RegionContext, as a stale or confused client would send it. */
function rawGet(endpoint: string, key: Uint8Array, context: { regionId: string; version: string; confVer: string }): Promise<unknown> {
  const Ctor = grpc.makeGenericClientConstructor(flashKvService(), 'FlashKv');
  const c = new Ctor(endpoint, grpc.credentials.createInsecure()) as grpc.Client & Record<string, (...a: unknown[]) => void>;
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${TOKEN}`);
  return new Promise((resolve, reject) =>
    c['Get']!({ key, ts: '1', context }, md, { deadline: Date.now() + 5000 }, (err: unknown, res: unknown) => {
      c.close();
      if (err) reject(err);
      else resolve(res);
    }),
  ).catch(async (e: unknown) => {
    const { fromServiceError } = await import('../src/index.js');
    throw fromServiceError(e);
  });
}

test('the server checks a request region context: unknown region, stale epoch, key outside the region', async (t) => {
  const node = await withNode(t);
  const c = node.client();
  const [r] = await c.regions();
  const ctx = { regionId: String(r!.id), version: String(r!.epoch.version), confVer: String(r!.epoch.confVer) };
  t.deepEqual(await rawGet(node.endpoint, b('m'), ctx), { found: false, value: Buffer.alloc(0) });
  await splitAt(node, 'm');
  const stale = await mustFailWith(rawGet(node.endpoint, b('z'), ctx), grpc.status.FAILED_PRECONDITION, 'EPOCH_NOT_MATCH');
  t.truthy((stale as { details?: Record<string, unknown> }).details?.['currentRegions']);
  await mustFailWith(rawGet(node.endpoint, b('z'), { ...ctx, regionId: '999' }), grpc.status.NOT_FOUND, 'REGION_NOT_FOUND');
  const after = (await c.regions()).find((g) => g.id === r!.id)!;
  const fresh = { regionId: String(after.id), version: String(after.epoch.version), confVer: String(after.epoch.confVer) };
  t.deepEqual(await rawGet(node.endpoint, b('z'), fresh), { found: false, value: Buffer.alloc(0) });
  // Region `after` is now [m, +inf): 'a' lives in the new left region.
  await mustFailWith(rawGet(node.endpoint, b('a'), fresh), grpc.status.FAILED_PRECONDITION, 'KEY_NOT_IN_REGION');
});

const splitWorkload = test.macro(async (t, batching: boolean) => {
  const seed = testSeed();
  const rng = new Rng(seed);
  t.log(`seed ${seed}`);
  const node = await withNode(t);
  const c = new FlashKvClient({ endpoint: node.endpoint, token: TOKEN, batching, deadlineMs: 10_000 });
  t.teardown(() => c.close());
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  const expected = new Map<string, string>();
  const workers = 8;
  const perWorker = 20;
  const keyOf = (w: number, i: number) => `${letters[(w * 7 + i * 3) % 26]}/${w}/${i}`;
  const plan = Array.from({ length: workers }, (_, w) => Array.from({ length: perWorker }, (_, i) => ({ i, pair: rng.int(3) === 0 })));
  // Splits land between commits: the k-th after (k+1)*18 txns committed, so they interleave with
  // the workload (160 txns) whatever the machine's speed.
  let committed = 0;
  let splitting = true;
  const splitter = (async () => {
    for (const [k, at] of ['m', 'f', 't', 'c', 'p', 'w', 'i'].entries()) {
      while (committed < (k + 1) * 18 + rng.int(8)) await new Promise((r) => setTimeout(r, 1));
      await splitAt(node, at);
    }
    splitting = false;
  })();
  let opsAfterFirstSplit = 0;
  await Promise.all(
    plan.map(async (steps, w) => {
      for (const { i, pair } of steps) {
        const tx = await c.begin();
        const k = keyOf(w, i);
        tx.put(b(k), b(`v${w}.${i}`));
        // Some txns write a second key far away in the key space: two regions once split (2PC).
        const k2 = pair ? `${letters[(w * 7 + i * 3 + 13) % 26]}/pair/${w}/${i}` : undefined;
        if (k2 !== undefined) tx.put(b(k2), b(`p${w}.${i}`));
        const at = await tx.commit();
        committed++;
        if (splitting && committed > 18) opsAfterFirstSplit++;
        expected.set(k, `v${w}.${i}`);
        if (k2 !== undefined) expected.set(k2, `p${w}.${i}`);
        t.is(s(await c.get(b(k), at)), `v${w}.${i}`);
      }
    }),
  );
  await splitter;
  t.true(opsAfterFirstSplit > 0, 'the splits happened while the workload ran');
  t.is((await c.regions()).length, 8);
  const retried = (c.stats.retries['EPOCH_NOT_MATCH'] ?? 0) + (c.stats.retries['KEY_NOT_IN_REGION'] ?? 0);
  t.true(retried > 0, `stale routes were retried: ${JSON.stringify(c.stats)}`);
  t.true(c.stats.refreshes > 1);
  t.log(JSON.stringify(c.stats));
  // Everything committed is there, read back through routed batch gets across all regions.
  const ts = await c.getTs();
  const keys = [...expected.keys()];
  const got = await c.batchGet(keys.map(b), ts);
  t.is(got.length, keys.length);
  got.forEach((p, i) => t.is(s(p.value), expected.get(keys[i]!), `seed ${seed}`));
  t.false(got.some((p) => isKvError(p)));
});

test('region-aware client: a workload across splits completes, retrying stale routes', splitWorkload, false);
test('region-aware batching client: a workload across splits completes, retrying stale routes', splitWorkload, true);
