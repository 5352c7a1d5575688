import 'reflect-metadata';
import test from 'ava';
import {
  EntryBatch,
  KvPage,
  MvccReader,
  WriteBatch,
  codec,
  createJsHotPath,
  lockCfKey,
  readEntries,
  readEntriesGeneric,
  tsCfKey,
  type EngineIterator,
  type EngineReader,
  type HotPath,
  type KvPair,
  type ScanOptions,
} from '@flashkv/core';
import { Rng, testSeed } from '@flashkv/core/testing';
import { MemoryEngine } from '../src/index.js';

// The batch read (MemoryIterator.readBatch) against the generic fallback, and the MVCC scan's
// batched path (readBatch -> mvccScanEntries -> KvPage) against the same scan through the
// fallback read and through the older per-group path (a HotPath without mvccScanEntries), on
// seeded random data with locks, long values, Lock/Rollback/Delete records and gc fences.

const SEED = testSeed();

/** The same snapshot, with iterators that do not offer readBatch (any engine's shape). */
function withoutReadBatch(snap: EngineReader): EngineReader {
  return {
    get: (cf, key) => snap.get(cf, key),
    iterator(cf, options) {
      const it = snap.iterator(cf, options);
      const plain: EngineIterator = {
        seek: (k) => it.seek(k),
        seekForPrev: (k) => it.seekForPrev(k),
        first: () => it.first(),
        last: () => it.last(),
        next: () => it.next(),
        prev: () => it.prev(),
        valid: () => it.valid(),
        key: () => it.key(),
        value: () => it.value(),
        close: () => it.close(),
      };
      return plain;
    },
  };
}

/** The TS reference without mvccScanEntries: the scanner's per-group path. */
function perGroupHotPath(): HotPath {
  const inner = createJsHotPath();
  return {
    kind: 'js',
    encodeKeys: inner.encodeKeys.bind(inner),
    flashbackBatch: inner.flashbackBatch.bind(inner),
    mvccScanBatch: inner.mvccScanBatch.bind(inner),
  };
}

function show(pairs: readonly KvPair[]): string[] {
  return pairs.map((p) => `${Buffer.from(p.key).toString('hex')}=${Buffer.from(p.value).toString('hex')}`);
}

function outcome(f: () => KvPair[]): string[] | string {
  try {
    return show(f());
  } catch (e) {
    const err = e as { code?: string; message?: string };
    return `error ${err.code ?? ''} ${err.message ?? String(e)}`;
  }
}

async function mustLoad(engine: MemoryEngine, rng: Rng, keys: number, locks: boolean): Promise<Uint8Array[]> {
  const b = new WriteBatch();
  const raws: Uint8Array[] = [];
  for (let i = 0; i < keys; i++) {
    const raw = new Uint8Array(rng.pick([3, 8, 9, 16, 21]));
    new DataView(raw.buffer).setUint16(0, i);
    for (let j = 2; j < raw.length; j++) raw[j] = rng.int(4);
    raws.push(raw);
    const enc = codec.encodeBytes(raw);
    let ts = BigInt(rng.between(40, 60));
    for (let v = rng.between(1, 6); v > 0 && ts > 2n; v--) {
      const type = rng.pick(['Put', 'Put', 'Put', 'Delete', 'Lock', 'Rollback'] as const);
      const large = type === 'Put' && rng.chance(0.1);
      const value = rng.bytes(large ? 300 : rng.int(24));
      const w = codec.newWrite(type, ts - 1n, type === 'Put' && !large ? value : undefined);
      b.put('write', tsCfKey(enc, ts), codec.encodeWrite(rng.chance(0.05) ? { ...w, gcFence: BigInt(rng.between(1, 60)) } : w));
      if (large) b.put('default', tsCfKey(enc, ts - 1n), value);
      ts -= BigInt(rng.between(2, 10));
    }
    if (locks && rng.chance(0.004)) {
      b.put('lock', lockCfKey(enc), codec.encodeLock(codec.newLock({ lockType: 'Put', primary: raw, startTs: BigInt(rng.between(1, 70)), ttl: 100n })));
    }
  }
  await engine.write(b);
  return raws;
}

test('readBatch equals the generic fallback: random bounds, batch sizes and starting points', async (t) => {
  t.log(`seed ${SEED} (SEED=${SEED} replays)`);
  const rng = new Rng(SEED);
  // Small leaves: a batch crosses many leaves and branch boundaries.
  const engine = new MemoryEngine({ leafSize: 8, branchSize: 4 });
  await mustLoad(engine, rng, 400, false);
  const snap = engine.snapshot();
  const a = new EntryBatch(64, 16);
  const b = new EntryBatch(64, 16);
  const dump = (x: EntryBatch) => Array.from({ length: x.count }, (_, i) => `${Buffer.from(x.key(i)).toString('hex')}:${Buffer.from(x.value(i)).toString('hex')}`);
  let total = 0;
  for (let round = 0; round < 60; round++) {
    const lo = rng.chance(0.3) ? undefined : tsCfKey(codec.encodeBytes(rng.bytes(rng.int(4))), BigInt(rng.int(60)));
    const hi = rng.chance(0.3) ? undefined : tsCfKey(codec.encodeBytes(rng.bytes(rng.int(4))), BigInt(rng.int(60)));
    const opts = { ...(lo !== undefined ? { lower: lo } : {}), ...(hi !== undefined ? { upper: hi } : {}) };
    const x = snap.iterator('write', opts);
    const y = snap.iterator('write', opts);
    const start = rng.chance(0.5) ? undefined : tsCfKey(codec.encodeBytes(rng.bytes(rng.int(4))), 30n);
    t.is(start === undefined ? x.first() : x.seek(start), start === undefined ? y.first() : y.seek(start));
    for (;;) {
      const max = rng.between(0, 64);
      const n = readEntries(x, a, max);
      t.is(readEntriesGeneric(y, b, max), n, `seed ${SEED}`);
      t.deepEqual(dump(a), dump(b), `seed ${SEED}`);
      t.is(x.valid(), y.valid());
      if (x.valid()) t.deepEqual(x.key(), y.key());
      total += n;
      // Fewer than asked only at the end of the range.
      if (n < max) t.false(x.valid());
      if (!x.valid()) {
        t.is(readEntries(x, a, 5), 0);
        break;
      }
    }
    x.close();
    y.close();
  }
  t.true(total > 2000, `batches must carry entries (got ${total})`);
  t.throws(() => readEntries(snap.iterator('write'), a, 65), { instanceOf: RangeError });
});

test('MVCC scan: the batched path (readBatch), its generic fallback and the per-group path agree, with locks, limits, keyOnly and long values', async (t) => {
  t.log(`seed ${SEED} (SEED=${SEED} replays)`);
  const rng = new Rng(SEED ^ 0x5bd1e995);
  const engine = new MemoryEngine();
  const raws = await mustLoad(engine, rng, 1500, true);
  const snap = engine.snapshot();
  const batched = new MvccReader(snap);
  const fallback = new MvccReader(withoutReadBatch(snap));
  const perGroup = perGroupHotPath();
  const reused = new KvPage();
  let compared = 0;
  let locked = 0;
  for (let round = 0; round < 80; round++) {
    const sorted = [...raws].sort((p, q) => Buffer.compare(p, q));
    const from = rng.chance(0.3) ? undefined : sorted[rng.int(sorted.length)]!;
    const to = rng.chance(0.3) ? undefined : sorted[rng.int(sorted.length)]!;
    const options: ScanOptions = {
      ts: BigInt(rng.between(1, 70)),
      ...(from !== undefined ? { start: from } : {}),
      ...(to !== undefined ? { end: to } : {}),
      ...(rng.chance(0.5) ? { limit: rng.between(0, 700) } : {}),
      ...(rng.chance(0.3) ? { keyOnly: true } : {}),
      ...(rng.chance(0.2) ? { isolation: 'RC' as const } : {}),
    };
    const want = outcome(() => batched.scan(options, perGroup));
    t.deepEqual(outcome(() => batched.scan(options)), want, `batched, seed ${SEED}, round ${round}`);
    t.deepEqual(outcome(() => fallback.scan(options)), want, `fallback, seed ${SEED}, round ${round}`);
    t.deepEqual(outcome(() => batched.scanPage(options).pairs()), want, `scanPage, seed ${SEED}, round ${round}`);
    // One page refilled round after round (its buffers hold the previous round's pairs).
    t.deepEqual(outcome(() => batched.scanPage(options, undefined, reused).pairs()), want, `scanPage into, seed ${SEED}, round ${round}`);
    if (typeof want === 'string') locked++;
    else compared += want.length;
  }
  t.true(compared > 1000, `scans must return pairs (got ${compared})`);
  t.true(locked > 3, `some scans must meet a lock (got ${locked})`);
});
