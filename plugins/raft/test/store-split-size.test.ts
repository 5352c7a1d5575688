// Size-based split (issue 8 item 3): the split checker's estimate and middle key, and splits
// triggered by a transactional write load with a tiny splitSize, routing and data staying correct.
import test from 'ava';
import { CONSENSUS, ENGINE, KvError, compareBytes, Kernel, PLACEMENT, WriteBatch, codec, definePlugin, freezeRegion, localPlacement, storage, txnClient, NOT_IN_FLASHBACK, type Region } from '@flashkv/core';
import { ReferenceEngine, Rng, latin1, testSeed } from '@flashkv/core/testing';
import { estimateSplit, intervalTickSource, raft, splitKeyOf, type ClusterConsensus } from '../src/index.js';

const te = new TextEncoder();

function regionOf(start: Uint8Array, end: Uint8Array): Region {
  return freezeRegion({ id: 7, startKey: start, endKey: end, epoch: { version: 1, confVer: 1 }, peers: [{ id: 1, storeId: 1, role: 'voter' }], flashback: NOT_IN_FLASHBACK });
}

const dataKey = (encoded: Uint8Array): Uint8Array => {
  const out = new Uint8Array(1 + encoded.length);
  out[0] = 0x7a;
  out.set(encoded, 1);
  return out;
};

/** A kernel over three in-process raft stores (local placement) splitting regions past `splitSize` bytes. */
async function startKernel(seed: number, splitSize: number): Promise<Kernel> {
  const engines = [new ReferenceEngine(), new ReferenceEngine(), new ReferenceEngine()];
  return Kernel.start({
    plugins: [
      definePlugin({ name: 'test-engine', version: '1.0.0', provides: [ENGINE], register: (ctx) => ctx.provide(ENGINE, engines[0]!) }),
      localPlacement(),
      raft({ stores: 3, engineFor: (id) => engines[id - 1]!, tickSource: intervalTickSource(2), seed, raft: { electionTick: 10, heartbeatTick: 2 }, splitCheck: { splitSize, checkEveryTicks: 2 } }),
      storage(),
      txnClient(),
    ],
  });
}

test('estimateSplit: the size of a region over the data CFs, and a middle user key with its versions kept on one side', async (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const rng = new Rng(seed);
  const engine = new ReferenceEngine();
  const batch = new WriteBatch();
  let size = 0;
  const users: Uint8Array[] = [];
  for (let i = 0; i < 50; i++) {
    const raw = te.encode(`user${String(i).padStart(3, '0')}`);
    users.push(codec.encodeBytes(raw));
    const versions = 1 + rng.int(4);
    for (let v = 0; v < versions; v++) {
      const k = dataKey(codec.encodeTsKey(raw, BigInt(100 + v)));
      const val = new Uint8Array(10 + rng.int(40));
      batch.put('write', k, val);
      size += k.length + val.length;
      if (rng.int(2) === 0) {
        const big = new Uint8Array(100 + rng.int(100));
        batch.put('default', k, big);
        size += k.length + big.length;
      }
    }
  }
  await engine.write(batch);
  const whole = regionOf(new Uint8Array(0), new Uint8Array(0));
  t.deepEqual(estimateSplit(engine, whole, size), { size }, 'at or under splitSize: no split');
  const est = estimateSplit(engine, whole, size - 1);
  t.is(est.size, size);
  const key = est.splitKey!;
  t.truthy(key);
  t.true(users.some((u) => compareBytes(u, key) === 0), 'the split key is an encoded user key (ts truncated)');
  // Roughly the middle: each side holds between a quarter and three quarters of the bytes.
  const left = estimateSplit(engine, regionOf(new Uint8Array(0), key), Number.MAX_SAFE_INTEGER).size;
  t.true(left > size / 4 && left < (size * 3) / 4, `left half ${left} of ${size}`);
  t.is(left + estimateSplit(engine, regionOf(key, new Uint8Array(0)), Number.MAX_SAFE_INTEGER).size, size, 'the halves add up');
  // One user key holding everything: nothing strictly inside the range to cut at.
  const only = regionOf(users[10]!, users[11]!);
  t.is(estimateSplit(engine, only, 1).splitKey, undefined);
  t.deepEqual(splitKeyOf(dataKey(codec.encodeTsKey(te.encode('abc'), 5n))), codec.encodeBytes(te.encode('abc')));
  t.deepEqual(splitKeyOf(te.encode('zplain')), te.encode('plain'), 'a key without the MVCC shape is kept whole');
});

test('a transactional write load with a tiny splitSize splits regions by size; the directory follows, and a scan over all regions returns every key once', async (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const rng = new Rng(seed);
  const kernel = await startKernel(seed, 6 * 1024);
  const alive = setInterval(() => undefined, 1000);
  try {
    const placement = kernel.resolve(PLACEMENT);
    const consensus = kernel.resolve(CONSENSUS) as ClusterConsensus;
    const expected = new Map<string, string>();
    const keySpace = 400;
    const writer = async (w: number, txns: number) => {
      for (let i = 0; i < txns; i++) {
        const txn = await kernel.client().begin();
        const puts = new Map<string, string>();
        for (let j = 0; j < 6; j++) puts.set(`key${String(rng.int(keySpace)).padStart(4, '0')}`, `w${w}-t${i}-${'x'.repeat(32 + rng.int(32))}`);
        for (const [k, v] of puts) await txn.put(te.encode(k), te.encode(v));
        await txn.commit();
        for (const [k, v] of puts) expected.set(k, v);
      }
    };
    // One txn at a time, so `expected` holds each key's last committed value.
    for (let round = 0; round < 4; round++) await writer(round, 25);
    const deadline = Date.now() + 20_000;
    while (placement.regions().length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const regions = placement.regions();
    t.true(regions.length >= 3, `regions split by size (${regions.length}; SEED=${seed})`);
    // More writes after the splits: the client follows the new routing.
    await writer(9, 15);
    // Every region the directory routes to is a raft region with the same range and epoch (splits
    // may still be landing: the directory records each once its admin call returns).
    const disagreements = (): string[] =>
      placement.regions().flatMap((r) => {
        const v = consensus.getRegion(r.id);
        const same = compareBytes(v.startKey, r.startKey) === 0 && compareBytes(v.endKey, r.endKey) === 0 && v.epoch.version === r.epoch.version;
        return same ? [] : [`region ${r.id}: raft v${v.epoch.version}, directory v${r.epoch.version}`];
      });
    for (let i = 0; i < 100 && disagreements().length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    t.deepEqual(disagreements(), [], 'the directory agrees with raft on every region');
    t.log(`${placement.regions().length} regions after the load`);
    // A scan across every region; a split landing meanwhile refuses a part with EPOCH_NOT_MATCH,
    // which a client retries (as TxnClient does for its own requests), and a secondary lock of a
    // committed txn (its secondaries commit in the background) is waited out.
    let kvs: Awaited<ReturnType<typeof kernel.storage.scan>> | undefined;
    for (let attempt = 0; kvs === undefined; attempt++) {
      try {
        kvs = await kernel.storage.scan({ ts: await placement.getTs() });
      } catch (e) {
        if (!(e instanceof KvError && ['EPOCH_NOT_MATCH', 'NOT_LEADER', 'REGION_NOT_FOUND', 'KEY_IS_LOCKED'].includes(e.code)) || attempt > 200) throw e;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    const seen = new Set<string>();
    let prev: Uint8Array | undefined;
    for (const kv of kvs) {
      const k = latin1(kv.key);
      t.false(seen.has(k), `${k} returned once`);
      seen.add(k);
      if (prev) t.true(compareBytes(prev, kv.key) < 0, 'in key order');
      prev = kv.key;
      t.is(latin1(kv.value), expected.get(k) ?? "<not written>", `${k} has its last committed value`);
    }
    t.is(seen.size, expected.size, 'every key written is returned');
  } finally {
    clearInterval(alive);
    await kernel.stop();
  }
});

test('no split by size while placement has scheduling paused (a flashback runs); the region splits once scheduling resumes', async (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const rng = new Rng(seed);
  const kernel = await startKernel(seed, 4 * 1024);
  const alive = setInterval(() => undefined, 1000);
  try {
    const placement = kernel.resolve(PLACEMENT);
    t.true(await placement.pauseScheduling('test-flashback'));
    // About 30 KiB of values: several times splitSize.
    for (let i = 0; i < 40; i++) {
      const txn = await kernel.client().begin();
      for (let j = 0; j < 6; j++) await txn.put(te.encode(`key${String(rng.int(300)).padStart(4, '0')}`), te.encode(`t${i}-${'x'.repeat(100 + rng.int(50))}`));
      await txn.commit();
    }
    // Many split-check rounds (every 2 ticks of 2 ms) while paused.
    await new Promise((r) => setTimeout(r, 300));
    t.is(placement.regions().length, 1, `no split while scheduling is paused (SEED=${seed})`);
    t.true(await placement.resumeScheduling('test-flashback'));
    const deadline = Date.now() + 20_000;
    while (placement.regions().length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    t.true(placement.regions().length >= 2, `split by size once resumed (SEED=${seed})`);
  } finally {
    clearInterval(alive);
    await kernel.stop();
  }
});
