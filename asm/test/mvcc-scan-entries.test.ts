import 'reflect-metadata';
import test from 'ava';
import fc from 'fast-check';
import {
  HOT_BATCH_MAX,
  SCAN_FIRST_DECIDED,
  SCAN_KEY_ONLY,
  SCAN_NONE,
  SCAN_UNDECIDED,
  codec,
  createJsHotPath,
  tsCfKey,
  type HotPath,
  type PackedEntries,
  type ScanEntriesResult,
} from '@flashkv/core';
import { createWasmHotPath } from '@flashkv/asm';

// Differential tests for HotPath.mvccScanEntries (the batched scan step that emits pairs): the
// WASM build against the TS reference, both against a naive model built on decodeWrite and
// decodeBytes, damaged keys and records give the same error index, argument errors match.

const SEED = process.env.SEED === undefined ? 7_340_033 : Number(process.env.SEED);
const U64_MAX = 2n ** 64n - 1n;

interface Entry {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

interface Outcome {
  readonly groups: number;
  readonly groupStart: number[];
  readonly visible: number[];
  readonly pairs: Array<{ group: number; key: string; value: string; long: boolean }>;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Copies a result out (it is only valid until the next call on the same HotPath). */
function outcomeOf(r: ScanEntriesResult): Outcome {
  const n = Math.max(r.groups, 0);
  const pairs: Outcome['pairs'] = [];
  if (r.groups >= 0) {
    const longs = new Set(r.longPair.subarray(0, r.longs));
    for (let p = 0; p < r.pairs; p++) {
      const o = r.offsets;
      pairs.push({ group: r.pairGroup[p]!, key: hex(r.data.subarray(o[2 * p]!, o[2 * p + 1]!)), value: hex(r.data.subarray(o[2 * p + 1]!, o[2 * p + 2]!)), long: longs.has(p) });
    }
    if (r.offsets[0] !== 0) throw new Error('pair offsets must start at 0');
  }
  return { groups: r.groups, groupStart: [...r.groupStart.subarray(0, n)], visible: [...r.visible.subarray(0, n)], pairs };
}

/** Packs key, value, key, value with `lead` junk bytes in front, so offsets start above 0. */
function mustPack(entries: readonly Entry[], lead: number): PackedEntries {
  let total = lead;
  for (const e of entries) total += e.key.length + e.value.length;
  const data = new Uint8Array(total + 5).fill(0xee);
  const offsets = new Uint32Array(2 * entries.length + 3).fill(0xffffffff);
  let at = lead;
  offsets[0] = at;
  entries.forEach((e, i) => {
    data.set(e.key, at);
    at += e.key.length;
    offsets[2 * i + 1] = at;
    data.set(e.value, at);
    at += e.value.length;
    offsets[2 * i + 2] = at;
  });
  return { data, offsets, count: entries.length };
}

function mustRun(hp: HotPath, entries: readonly Entry[], readTs: bigint, flags: number, lead: number): Outcome {
  return outcomeOf(hp.mvccScanEntries!(mustPack(entries, lead), readTs, flags));
}

/** The rules written the obvious way over decoded records (see mvcc-scan-batch.test.ts), plus the pairs. */
function naiveModel(entries: readonly Entry[], readTs: bigint, flags: number): Outcome {
  const groupStart: number[] = [];
  const visible: number[] = [];
  const pairs: Outcome['pairs'] = [];
  let prev = '';
  let decided = true;
  entries.forEach((e, i) => {
    const user = hex(e.key.subarray(0, e.key.length - 8));
    if (i === 0 || user !== prev) {
      if (!decided) visible[visible.length - 1] = SCAN_NONE;
      groupStart.push(i);
      visible.push(SCAN_UNDECIDED);
      decided = i === 0 && (flags & SCAN_FIRST_DECIDED) !== 0;
      if (decided) visible[0] = SCAN_NONE;
      prev = user;
    }
    if (decided) return;
    const commitTs = U64_MAX - new DataView(e.key.buffer, e.key.byteOffset + e.key.length - 8).getBigUint64(0);
    if (commitTs > readTs) return;
    const w = codec.decodeWrite(e.value);
    const g = visible.length - 1;
    if (!codec.checkGcFenceAsLatestVersion(w, readTs) || w.writeType === 'Delete') {
      visible[g] = SCAN_NONE;
      decided = true;
    } else if (w.writeType === 'Put') {
      visible[g] = i;
      decided = true;
      const raw = codec.decodeBytes(e.key.subarray(1, e.key.length - 8)).raw;
      const keyOnly = (flags & SCAN_KEY_ONLY) !== 0;
      pairs.push({ group: g, key: hex(raw), value: keyOnly || w.shortValue === undefined ? '' : hex(w.shortValue), long: !keyOnly && w.shortValue === undefined });
    }
  });
  return { groups: groupStart.length, groupStart, visible, pairs };
}

// ---- generators (as in mvcc-scan-batch.test.ts: small timestamps so versions, read ts and fences meet)

const u64Arb = fc.oneof(fc.constantFrom(0n, 1n, U64_MAX), fc.bigInt({ min: 0n, max: U64_MAX }));
const smallTsArb = fc.oneof({ weight: 4, arbitrary: fc.bigInt({ min: 0n, max: 64n }) }, { weight: 1, arbitrary: u64Arb });
const rawKeyArb = fc
  .oneof(fc.constantFrom(0, 1, 7, 8, 9, 15, 16, 17, 24), fc.integer({ min: 0, max: 30 }))
  .chain((n) => fc.uint8Array({ minLength: n, maxLength: n, max: 3 }));
const shortValueArb = fc.option(
  fc.oneof(fc.constantFrom(0, 1, 255), fc.integer({ min: 0, max: 40 })).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
  { nil: undefined },
);
const writeArb: fc.Arbitrary<codec.Write> = fc
  .record({
    type: fc.constantFrom<codec.WriteType>('Put', 'Put', 'Delete', 'Lock', 'Rollback'),
    startTs: u64Arb,
    shortValue: shortValueArb,
    overlapped: fc.boolean(),
    gcFence: fc.option(smallTsArb, { nil: undefined, freq: 3 }),
    txnSource: fc.oneof(fc.constant(0n), u64Arb),
  })
  .map((r) => ({ ...codec.newWrite(r.type, r.startTs, r.shortValue), hasOverlappedRollback: r.overlapped, gcFence: r.gcFence, txnSource: r.txnSource }));

const entriesArb: fc.Arbitrary<Entry[]> = fc
  .uniqueArray(rawKeyArb, { minLength: 1, maxLength: 12, selector: (k) => hex(k) })
  .chain((raws) =>
    fc.tuple(...raws.map((raw) => fc.uniqueArray(fc.tuple(smallTsArb, writeArb), { minLength: 1, maxLength: 30, selector: ([ts]) => ts }).map((versions) => ({ raw, versions })))),
  )
  .map((perKey) => {
    const out: Entry[] = [];
    for (const { raw, versions } of perKey) {
      const enc = codec.encodeBytes(raw);
      for (const [ts, w] of versions) out.push({ key: tsCfKey(enc, ts), value: codec.encodeWrite(w) });
    }
    return out.sort((a, b) => Buffer.compare(a.key, b.key));
  });

/** A batch cut out of the entries: it may start and end in the middle of a key's versions. */
const batchArb = fc.tuple(entriesArb, fc.nat(), fc.nat()).map(([entries, a, b]) => {
  const from = a % entries.length;
  return entries.slice(from, from + Math.min(entries.length - from, (b % HOT_BATCH_MAX) + 1));
});

const wasm = createWasmHotPath();
const js = createJsHotPath();

function check<T>(prop: fc.IRawProperty<T>, numRuns: number): void {
  try {
    fc.assert(prop, { seed: SEED, numRuns });
  } catch (e) {
    throw new Error(`replay with SEED=${SEED}: ${(e as Error).message}`);
  }
}

test('well-formed batches, every flag: wasm equals the TS reference, and both equal the naive model', (t) => {
  t.log(`seed ${SEED}`);
  let pairs = 0;
  check(
    fc.property(batchArb, smallTsArb, fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 9 }), (entries, readTs, flags, lead) => {
      const want = naiveModel(entries, readTs, flags);
      const a = mustRun(js, entries, readTs, flags, lead);
      const b = mustRun(wasm, entries, readTs, flags, lead);
      t.deepEqual(a, want, `js differs from the model (SEED=${SEED})`);
      t.deepEqual(b, a, `wasm differs from js (SEED=${SEED})`);
      pairs += a.pairs.length;
    }),
    300,
  );
  t.true(pairs > 100, `the generator must produce visible Puts (got ${pairs})`);
});

test('full 256-entry batches with 3 versions per key: both agree with the model across read timestamps', (t) => {
  const entries: Entry[] = [];
  for (let k = 0; entries.length < HOT_BATCH_MAX; k++) {
    const enc = codec.encodeBytes(Buffer.from(`key-${String(k).padStart(6, '0')}`));
    for (const ts of [30n, 20n, 10n]) {
      if (entries.length < HOT_BATCH_MAX) entries.push({ key: tsCfKey(enc, ts), value: codec.encodeWrite(codec.newWrite('Put', ts - 1n, Buffer.from(`v${k}@${ts}`))) });
    }
  }
  for (const readTs of [5n, 10n, 25n, 30n, U64_MAX]) {
    for (const flags of [0, SCAN_KEY_ONLY, SCAN_FIRST_DECIDED]) {
      const want = naiveModel(entries, readTs, flags);
      t.deepEqual(mustRun(js, entries, readTs, flags, 0), want);
      t.deepEqual(mustRun(wasm, entries, readTs, flags, 0), want);
    }
  }
  // 256 entries = 85 whole keys + 1 version of the 86th: at ts 25 every key shows its ts-20 value
  // and the last one is still undecided.
  const r = mustRun(wasm, entries, 25n, 0, 0);
  t.is(r.groups, 86);
  t.is(r.pairs.length, 85);
  t.is(r.visible[85], SCAN_UNDECIDED);
  t.is(Buffer.from(r.pairs[0]!.value, 'hex').toString(), 'v0@20');
});

test('damaged keys and records: wasm reports the same result or error index as the reference', (t) => {
  t.log(`seed ${SEED}`);
  let errors = 0;
  check(
    fc.property(batchArb, smallTsArb, fc.integer({ min: 0, max: 3 }), fc.nat(), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean(), (entries, readTs, flags, which, pos, byte, inKey) => {
      const i = which % entries.length;
      const e = entries[i]!;
      const target = inKey ? e.key.slice() : e.value.slice();
      if (target.length > 0) target[pos % target.length] = byte;
      const damaged = entries.map((x, j) => (j === i ? (inKey ? { key: target, value: x.value } : { key: x.key, value: target }) : x));
      const a = mustRun(js, damaged, readTs, flags, 3);
      const b = mustRun(wasm, damaged, readTs, flags, 3);
      t.deepEqual(b, a, `wasm differs from js on a damaged batch (SEED=${SEED})`);
      if (a.groups < 0) errors++;
    }),
    400,
  );
  t.true(errors > 10, `damage must hit parsed bytes sometimes (got ${errors} errors)`);
});

test('each malformed shape gives the same negative code from both', (t) => {
  const enc = codec.encodeBytes(Buffer.from('abc'));
  const put = codec.encodeWrite(codec.newWrite('Put', 1n, Buffer.from('v')));
  const good = { key: tsCfKey(enc, 5n), value: put };
  const badMarker = tsCfKey(enc, 4n);
  badMarker[9] = 0xf0; // pad 15 > 8
  const badPad = tsCfKey(codec.encodeBytes(Buffer.from('ab')), 4n);
  badPad[3] = 7; // a non-zero pad byte
  // 'z' + encode('abc') + one stray byte + ts: the encoding ends before the ts does.
  const withPrefix = tsCfKey(Uint8Array.of(...codec.encodeBytes(Buffer.from('abc')), 1) as never, 4n);
  const cases: Array<[string, Entry[], number]> = [
    ['key shorter than a ts', [good, { key: new Uint8Array(5), value: put }], -2],
    ['unknown write type', [good, { key: tsCfKey(codec.encodeBytes(Buffer.from('b')), 3n), value: Uint8Array.of(0x58, 1) }], -2],
    ['a visible Put whose key marker means pad > 8', [{ key: badMarker, value: put }], -1],
    ['a visible Put with a non-zero pad byte', [{ key: badPad, value: put }], -1],
    ['a visible Put with bytes after the final group', [{ key: withPrefix, value: put }], -1],
  ];
  for (const [name, entries, code] of cases) {
    t.is(mustRun(js, entries, 10n, 0, 0).groups, code, name);
    t.is(mustRun(wasm, entries, 10n, 0, 0).groups, code, name);
  }
  // A damaged key that is never visible (above readTs) is not decoded: no error.
  t.is(mustRun(js, [{ key: badMarker, value: put }], 3n, 0, 0).groups, 1);
  t.is(mustRun(wasm, [{ key: badMarker, value: put }], 3n, 0, 0).groups, 1);
});

test('argument errors are identical; wasm results are views reused per call; a result may be passed back in', (t) => {
  const enc = codec.encodeBytes(Buffer.from('k'));
  const entries = [{ key: tsCfKey(enc, 2n), value: codec.encodeWrite(codec.newWrite('Put', 1n, new Uint8Array(200).fill(7))) }];
  const packed = mustPack(entries, 0);
  for (const hp of [js, wasm]) {
    t.throws(() => hp.mvccScanEntries!({ ...packed, count: HOT_BATCH_MAX + 1 }, 5n, 0), { instanceOf: RangeError, message: /outside 0\.\.256/ });
    t.throws(() => hp.mvccScanEntries!({ ...packed, offsets: Uint32Array.of(0, 5, 3) }, 5n, 0), { instanceOf: RangeError, message: /must not decrease/ });
    t.throws(() => hp.mvccScanEntries!({ ...packed, data: packed.data.subarray(0, 4) }, 5n, 0), { instanceOf: RangeError, message: /past the end/ });
    t.throws(() => hp.mvccScanEntries!(packed, 5 as unknown as bigint, 0), { instanceOf: TypeError });
    t.throws(() => hp.mvccScanEntries!(packed, 5n, 4), { instanceOf: RangeError, message: /flags/ });
    const r = hp.mvccScanEntries!(packed, 5n, 0);
    t.is(r.pairs, 1);
    // The emitted bytes (raw key then value) passed back in as an entry batch: the key is not a
    // write-CF key, so this is a malformed batch, but it must be read before it is overwritten.
    const again = hp.mvccScanEntries!({ data: r.data, offsets: Uint32Array.of(0, 1, r.offsets[2]!), count: 1 }, 5n, 0);
    t.is(again.groups, -1);
  }
  // Memory growth: a batch of big records moves wasm memory; the next result is still right.
  const big: Entry[] = [];
  for (let i = 0; i < 200; i++) {
    big.push({ key: tsCfKey(codec.encodeBytes(new Uint8Array(4000).fill(i)), 2n), value: codec.encodeWrite(codec.newWrite('Put', 1n, new Uint8Array(255).fill(i))) });
  }
  t.deepEqual(mustRun(wasm, big, 5n, 0, 0), mustRun(js, big, 5n, 0, 0));
});
