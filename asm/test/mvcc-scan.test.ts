import 'reflect-metadata';
import test from 'ava';
import { CLOCK, ENGINE, Kernel, ManualClock, WriteBatch, codec, defaultTxnPlugins, definePlugin, tsCfKey, type KvPair } from '@flashkv/core';
import { ReferenceEngine, Rng } from '@flashkv/core/testing';
import { hotPath } from '@flashkv/asm';

// The Storage scan through a kernel, once with FLASHKV_HOTPATH=js and once with wasm: the
// storage() plugin picks the HOTPATH up as an optional dependency, and both give the same pairs,
// which also equal point gets of every key (the scan's batch boundaries must not matter).

const SEED = process.env.SEED === undefined ? 917_503 : Number(process.env.SEED);

/** Writes `keys` user keys with 1..8 versions each straight into the write and default CFs. */
async function mustLoad(engine: ReferenceEngine, rng: Rng, keys: number): Promise<{ raws: Uint8Array[]; maxTs: bigint }> {
  const batch = new WriteBatch();
  const raws: Uint8Array[] = [];
  let maxTs = 0n;
  for (let i = 0; i < keys; i++) {
    // Lengths around the 8-byte groups of the key encoding; the index keeps keys distinct.
    const raw = new Uint8Array(rng.pick([4, 7, 8, 9, 15, 16, 17]));
    new DataView(raw.buffer).setUint32(0, i);
    for (let j = 4; j < raw.length; j++) raw[j] = rng.int(256);
    raws.push(raw);
    const enc = codec.encodeBytes(raw);
    let ts = BigInt(rng.between(60, 80));
    for (let v = rng.between(1, 8); v > 0 && ts > 2n; v--) {
      const startTs = ts - 1n;
      const type = rng.pick(['Put', 'Put', 'Put', 'Delete', 'Lock', 'Rollback'] as const);
      const large = type === 'Put' && rng.chance(0.1);
      const value = rng.bytes(large ? 300 : rng.int(20));
      const w = codec.newWrite(type, startTs, type === 'Put' && !large ? value : undefined);
      const fenced = rng.chance(0.05) ? { ...w, gcFence: BigInt(rng.between(1, 80)) } : w;
      batch.put('write', tsCfKey(enc, ts), codec.encodeWrite(fenced));
      if (large) batch.put('default', tsCfKey(enc, startTs), value);
      if (ts > maxTs) maxTs = ts;
      ts -= BigInt(rng.between(2, 12));
    }
  }
  await engine.write(batch);
  return { raws: raws.sort((a, b) => Buffer.compare(a, b)), maxTs };
}

async function startKernel(engine: ReferenceEngine, kind: 'js' | 'wasm'): Promise<Kernel> {
  return Kernel.start({
    plugins: [
      definePlugin({ name: 'test-engine', version: '1.0.0', provides: [ENGINE], register: (ctx) => ctx.provide(ENGINE, engine) }),
      definePlugin({ name: 'test-clock', version: '1.0.0', provides: [CLOCK], register: (ctx) => ctx.provide(CLOCK, new ManualClock(1_700_000_000_000)) }),
      hotPath({ env: { FLASHKV_HOTPATH: kind } }),
      ...defaultTxnPlugins({ client: { sleep: async () => {}, seed: 1 } }),
    ],
  });
}

const show = (pairs: readonly KvPair[]) => pairs.map((p) => `${Buffer.from(p.key).toString('hex')}=${Buffer.from(p.value).toString('hex')}`);

test('Storage scan: FLASHKV_HOTPATH=js and =wasm return the same pairs, equal to point gets', async (t) => {
  const rng = new Rng(SEED);
  t.log(`seed ${SEED}`);
  const engine = new ReferenceEngine();
  // ~1,200 keys and ~5,000 versions: many 256-entry batches, keys split across batch ends.
  const { raws, maxTs } = await mustLoad(engine, rng, 1200);
  const kernels = { js: await startKernel(engine, 'js'), wasm: await startKernel(engine, 'wasm') };
  try {
    t.is(kernels.js.storage.hotPath?.kind, 'js');
    t.is(kernels.wasm.storage.hotPath?.kind, 'wasm');
    let nonEmpty = 0;
    for (let round = 0; round < 12; round++) {
      const ts = round === 0 ? maxTs : BigInt(rng.between(0, Number(maxTs) + 2));
      const a = rng.int(raws.length);
      const b = rng.int(raws.length);
      const bounded = round % 3 !== 0;
      const req = {
        ts,
        ...(bounded ? { start: raws[Math.min(a, b)]!, end: raws[Math.max(a, b)]! } : {}),
        ...(round % 4 === 1 ? { limit: rng.between(1, 300) } : {}),
        keyOnly: round % 5 === 2,
      };
      const js = await kernels.js.storage.scan(req);
      const wasm = await kernels.wasm.storage.scan(req);
      t.deepEqual(show(wasm), show(js), `round ${round} (SEED=${SEED})`);
      // The model: a point get of every key in range, in order, up to the limit.
      const inRange = raws.filter((r) => !bounded || (Buffer.compare(r, req.start!) >= 0 && Buffer.compare(r, req.end!) < 0));
      const model: KvPair[] = [];
      for (const r of inRange) {
        if (req.limit !== undefined && model.length >= req.limit) break;
        const v = await kernels.js.storage.get(r, ts);
        if (v !== undefined) model.push({ key: r as KvPair['key'], value: req.keyOnly ? new Uint8Array(0) : v });
      }
      t.deepEqual(show(js), show(model), `round ${round} vs point gets (SEED=${SEED})`);
      if (js.length > 0) nonEmpty++;
      // Reverse: batched through the same kernel (whole user keys per batch, taken last first).
      const rreq = { ...req, reverse: true };
      const rjs = await kernels.js.storage.scan(rreq);
      const rwasm = await kernels.wasm.storage.scan(rreq);
      t.deepEqual(show(rwasm), show(rjs), `round ${round} reverse (SEED=${SEED})`);
      const rmodel: KvPair[] = [];
      for (let i = inRange.length - 1; i >= 0; i--) {
        if (req.limit !== undefined && rmodel.length >= req.limit) break;
        const v = await kernels.js.storage.get(inRange[i]!, ts);
        if (v !== undefined) rmodel.push({ key: inRange[i]! as KvPair['key'], value: req.keyOnly ? new Uint8Array(0) : v });
      }
      t.deepEqual(show(rjs), show(rmodel), `round ${round} reverse vs point gets (SEED=${SEED})`);
    }
    t.true(nonEmpty >= 6, `only ${nonEmpty} scans found anything`);
  } finally {
    await kernels.js.stop();
    await kernels.wasm.stop();
  }
});

test('a corrupt write record fails the scan with CORRUPTED through either hot path', async (t) => {
  const engine = new ReferenceEngine();
  const enc = codec.encodeBytes(Buffer.from('k'));
  await engine.write(new WriteBatch().put('write', tsCfKey(enc, 5n), Uint8Array.of(0x50, 0x81)));
  for (const kind of ['js', 'wasm'] as const) {
    const k = await startKernel(engine, kind);
    try {
      const err = await t.throwsAsync(k.storage.scan({ ts: 10n }));
      t.is((err as { code?: string }).code, 'CORRUPTED', kind);
    } finally {
      await k.stop();
    }
  }
});
