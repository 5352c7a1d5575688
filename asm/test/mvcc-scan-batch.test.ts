import 'reflect-metadata';
import test from 'ava';
import fc from 'fast-check';
import {
  HOT_BATCH_MAX,
  SCAN_NONE,
  SCAN_UNDECIDED,
  codec,
  createJsHotPath,
  packBatch,
  tsCfKey,
  type HotPath,
  type PackedBatch,
  type ScanBatchResult,
} from '@flashkv/core';
import { createWasmHotPath } from '@flashkv/asm';

// Differential tests (STYLE.md habit 7) for HotPath.mvccScanBatch: the WASM build against the
// TS reference, and both against a naive model built on decodeWrite for well-formed batches.

const SEED = process.env.SEED === undefined ? 4_194_319 : Number(process.env.SEED);
const U64_MAX = 2n ** 64n - 1n;

interface Entry {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

interface Outcome {
  readonly groups: number;
  readonly groupStart: number[];
  readonly visible: number[];
}

/** Copies a result out (it is only valid until the next call on the same HotPath). */
function outcomeOf(r: ScanBatchResult): Outcome {
  const n = Math.max(r.groups, 0);
  return { groups: r.groups, groupStart: [...r.groupStart.subarray(0, n)], visible: [...r.visible.subarray(0, n)] };
}

/** Packs with `lead` junk bytes in front, so the offsets start above 0 as a shared buffer's do. */
function mustPackAt(items: readonly Uint8Array[], lead: number): PackedBatch {
  const p = packBatch(items);
  const data = new Uint8Array(lead + p.data.length + 3).fill(0xee);
  data.set(p.data, lead);
  const offsets = new Uint32Array(items.length + 2).fill(0xffffffff);
  for (let i = 0; i <= items.length; i++) offsets[i] = p.offsets[i]! + lead;
  return { data, offsets, count: items.length };
}

function mustRun(hp: HotPath, entries: readonly Entry[], readTs: bigint, lead: number): Outcome {
  const keys = mustPackAt(
    entries.map((e) => e.key),
    lead,
  );
  const values = mustPackAt(
    entries.map((e) => e.value),
    lead + 1,
  );
  return outcomeOf(hp.mvccScanBatch(keys, values, readTs));
}

/**
 * The rules of a forward scan, written the obvious way over decoded records: per user key,
 * newest first, versions above readTs are skipped; a gc fence at or below readTs, a Delete, or
 * a Put decides; Lock and Rollback are passed over; the batch's last key stays undecided.
 */
function naiveModel(entries: readonly Entry[], readTs: bigint): Outcome {
  const groupStart: number[] = [];
  const visible: number[] = [];
  let prev = '';
  let decided = true;
  entries.forEach((e, i) => {
    const user = Buffer.from(e.key.subarray(0, e.key.length - 8)).toString('hex');
    if (i === 0 || user !== prev) {
      if (!decided) visible[visible.length - 1] = SCAN_NONE;
      groupStart.push(i);
      visible.push(SCAN_UNDECIDED);
      decided = false;
      prev = user;
    }
    if (decided) return;
    const commitTs = U64_MAX - new DataView(e.key.buffer, e.key.byteOffset + e.key.length - 8).getBigUint64(0);
    if (commitTs > readTs) return;
    const w = codec.decodeWrite(e.value);
    if (!codec.checkGcFenceAsLatestVersion(w, readTs)) {
      visible[visible.length - 1] = SCAN_NONE;
      decided = true;
    } else if (w.writeType === 'Put' || w.writeType === 'Delete') {
      visible[visible.length - 1] = w.writeType === 'Put' ? i : SCAN_NONE;
      decided = true;
    }
  });
  return { groups: groupStart.length, groupStart, visible };
}

// ---- generators

const u64Arb = fc.oneof(fc.constantFrom(0n, 1n, U64_MAX, U64_MAX - 1n), fc.bigInt({ min: 0n, max: U64_MAX }));
/** Small timestamps so versions, read ts and fences often meet. */
const smallTsArb = fc.oneof({ weight: 4, arbitrary: fc.bigInt({ min: 0n, max: 64n }) }, { weight: 1, arbitrary: u64Arb });
/** Raw key lengths around the 8-byte groups of the memcomparable encoding. */
const rawKeyArb = fc
  .oneof(fc.constantFrom(0, 1, 7, 8, 9, 15, 16, 17, 24), fc.integer({ min: 0, max: 30 }))
  .chain((n) => fc.uint8Array({ minLength: n, maxLength: n, max: 3 }));
const shortValueArb = fc.option(
  fc.oneof(fc.constantFrom(0, 1, 255), fc.integer({ min: 0, max: 40 })).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
  { nil: undefined },
);
const writeArb: fc.Arbitrary<codec.Write> = fc
  .record({
    type: fc.constantFrom<codec.WriteType>('Put', 'Delete', 'Lock', 'Rollback'),
    startTs: u64Arb,
    shortValue: shortValueArb,
    overlapped: fc.boolean(),
    gcFence: fc.option(smallTsArb, { nil: undefined, freq: 3 }),
    lastChange: fc.oneof(
      fc.constant(codec.LAST_CHANGE_UNKNOWN),
      fc.constant(codec.LAST_CHANGE_NOT_EXIST),
      fc.tuple(fc.bigInt({ min: 1n, max: U64_MAX }), fc.bigInt({ min: 1n, max: 1000n })).map(([ts, n]) => codec.lastChangeExist(ts, n)),
    ),
    txnSource: fc.oneof(fc.constant(0n), u64Arb),
  })
  .map((r) => ({
    ...codec.newWrite(r.type, r.startTs, r.shortValue),
    hasOverlappedRollback: r.overlapped,
    gcFence: r.gcFence,
    lastChange: r.lastChange,
    txnSource: r.txnSource,
  }));

/** Entries of several user keys in engine order, many versions each. */
const entriesArb: fc.Arbitrary<Entry[]> = fc
  .uniqueArray(rawKeyArb, { minLength: 1, maxLength: 12, selector: (k) => Buffer.from(k).toString('hex') })
  .chain((raws) =>
    fc.tuple(
      ...raws.map((raw) =>
        fc.uniqueArray(fc.tuple(smallTsArb, writeArb), { minLength: 1, maxLength: 30, selector: ([ts]) => ts }).map((versions) => ({ raw, versions })),
      ),
    ),
  )
  .map((perKey) => {
    const out: Entry[] = [];
    for (const { raw, versions } of perKey) {
      const enc = codec.encodeBytes(raw);
      for (const [ts, w] of versions) out.push({ key: tsCfKey(enc, ts), value: codec.encodeWrite(w) });
    }
    // Engine order: bytewise on the write-CF key (newest version of a key first).
    return out.sort((a, b) => Buffer.compare(a.key, b.key));
  });

/** A batch cut out of the entries: it may start and end in the middle of a key's versions. */
const batchArb = fc.tuple(entriesArb, fc.nat(), fc.nat()).map(([entries, a, b]) => {
  const from = a % entries.length;
  const len = Math.min(entries.length - from, (b % HOT_BATCH_MAX) + 1);
  return entries.slice(from, from + len);
});

const wasm = createWasmHotPath();
const js = createJsHotPath();

function mustAgree(t: { deepEqual: (a: unknown, b: unknown, m?: string) => void }, entries: readonly Entry[], readTs: bigint, lead: number): Outcome {
  const a = mustRun(js, entries, readTs, lead);
  const b = mustRun(wasm, entries, readTs, lead);
  t.deepEqual(b, a, `wasm and js differ (SEED=${SEED}, readTs ${readTs}, lead ${lead})`);
  return a;
}

/** Runs a property with the test's seed; a failure names the seed that replays it. */
function check<T>(prop: fc.IRawProperty<T>, numRuns: number): void {
  try {
    fc.assert(prop, { seed: SEED, numRuns });
  } catch (e) {
    throw new Error(`replay with SEED=${SEED}: ${(e as Error).message}`);
  }
}

test('well-formed batches: wasm equals the TS reference, and both equal the naive model', (t) => {
  check(
    fc.property(batchArb, smallTsArb, fc.integer({ min: 0, max: 5 }), (entries, readTs, lead) => {
      const ref = mustRun(js, entries, readTs, lead);
      const got = mustRun(wasm, entries, readTs, lead);
      const model = naiveModel(entries, readTs);
      if (JSON.stringify(got) !== JSON.stringify(ref)) throw new Error(`wasm ${JSON.stringify(got)} != js ${JSON.stringify(ref)}`);
      if (JSON.stringify(ref) !== JSON.stringify(model)) throw new Error(`js ${JSON.stringify(ref)} != model ${JSON.stringify(model)}`);
    }),
    300,
  );
  t.pass();
});

test('full 256-entry batches of many versions per key agree across read timestamps', (t) => {
  check(
    fc.property(entriesArb, fc.array(smallTsArb, { minLength: 4, maxLength: 4 }), (entries, readTss) => {
      const batch = entries.slice(0, HOT_BATCH_MAX);
      for (const readTs of [...readTss, 0n, U64_MAX]) {
        const ref = mustRun(js, batch, readTs, 0);
        const got = mustRun(wasm, batch, readTs, 0);
        if (JSON.stringify(got) !== JSON.stringify(ref)) throw new Error(`wasm ${JSON.stringify(got)} != js ${JSON.stringify(ref)} at readTs ${readTs}`);
      }
    }),
    100,
  );
  t.pass();
});

/** A record damaged one of several ways; undamaged records stay, so the first bad index matters. */
const damageArb = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('byte' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('append' as const), tail: fc.uint8Array({ minLength: 1, maxLength: 12 }) }),
  fc.record({ kind: fc.constant('junk' as const), bytes: fc.uint8Array({ maxLength: 20 }) }),
  fc.record({ kind: fc.constant('shortKey' as const), len: fc.integer({ min: 0, max: 7 }) }),
);

test('damaged records and keys: wasm reports the same result or error index as the reference', (t) => {
  let negatives = 0;
  check(
    fc.property(
      batchArb,
      fc.array(fc.tuple(fc.nat(), damageArb), { minLength: 1, maxLength: 4 }),
      smallTsArb,
      fc.integer({ min: 0, max: 3 }),
      (entries, damages, readTs, lead) => {
        const batch = entries.map((e) => ({ ...e }));
        for (const [pick, d] of damages) {
          const i = pick % batch.length;
          const e = batch[i]!;
          const v = e.value;
          if (d.kind === 'truncate') batch[i] = { key: e.key, value: v.slice(0, d.at % (v.length + 1)) };
          else if (d.kind === 'byte') {
            const w = v.slice();
            if (w.length > 0) w[d.at % w.length] = d.byte;
            batch[i] = { key: e.key, value: w };
          } else if (d.kind === 'append') batch[i] = { key: e.key, value: Uint8Array.from([...v, ...d.tail]) };
          else if (d.kind === 'junk') batch[i] = { key: e.key, value: d.bytes };
          else batch[i] = { key: e.key.slice(0, d.len), value: v };
        }
        const ref = mustRun(js, batch, readTs, lead);
        const got = mustRun(wasm, batch, readTs, lead);
        if (ref.groups < 0) negatives++;
        if (JSON.stringify(got) !== JSON.stringify(ref)) throw new Error(`wasm ${JSON.stringify(got)} != js ${JSON.stringify(ref)}`);
      },
    ),
    400,
  );
  // The damage must actually reach the error path, or this test would prove nothing about it.
  t.true(negatives > 20, `only ${negatives} damaged batches were reported malformed`);
});

test('each malformed shape gives the same negative code from both', (t) => {
  const put = (start: bigint, v?: string) => codec.encodeWrite(codec.newWrite('Put', start, v === undefined ? undefined : Buffer.from(v)));
  const key = (raw: string, ts: bigint) => tsCfKey(codec.encodeBytes(Buffer.from(raw)), ts);
  const ok: Entry = { key: key('a', 3n), value: put(1n, 'ok') };
  const cases: Array<[string, Entry, number]> = [
    ['empty record', { key: key('b', 3n), value: new Uint8Array(0) }, -2],
    ['unknown type byte', { key: key('b', 3n), value: Uint8Array.of(0x58, 1) }, -2],
    ['start ts varint runs off the end', { key: key('b', 3n), value: Uint8Array.of(0x50, 0x81) }, -2],
    ['start ts varint over 10 bytes', { key: key('b', 3n), value: Uint8Array.of(0x50, ...Array<number>(10).fill(0x80), 1) }, -2],
    ['short value tag without length', { key: key('b', 3n), value: Uint8Array.of(0x50, 1, 0x76) }, -2],
    ['short value longer than the record', { key: key('b', 3n), value: Uint8Array.of(0x50, 1, 0x76, 3, 9, 9) }, -2],
    ['gc fence cut short', { key: key('b', 3n), value: Uint8Array.of(0x50, 1, 0x46, 0, 0, 0) }, -2],
    ['last change cut short', { key: key('b', 3n), value: Uint8Array.of(0x50, 1, 0x6c, 0, 0, 0, 0, 0, 0, 0, 1) }, -2],
    ['txn source varint runs off', { key: key('b', 3n), value: Uint8Array.of(0x44, 1, 0x53, 0xff) }, -2],
    ['key shorter than its ts', { key: Uint8Array.of(0x7a, 1, 2), value: put(1n) }, -2],
  ];
  for (const [name, bad, code] of cases) {
    const entries = [ok, bad];
    const a = mustAgree(t, entries, 10n, 1);
    t.is(a.groups, code, name);
  }
  // A malformed record that is never parsed (its version is newer than readTs) is not reported,
  // by either: only what the scan needs is read.
  const hidden = mustAgree(t, [ok, { key: key('b', 50n), value: Uint8Array.of(0x58) }, { key: key('b', 4n), value: put(2n, 'b') }], 10n, 0);
  t.deepEqual(hidden, { groups: 2, groupStart: [0, 1], visible: [0, 2] });
  // A fence at or below readTs decides before a later damaged field is looked at, in both.
  const fenced = Uint8Array.of(0x50, 1, 0x46, 0, 0, 0, 0, 0, 0, 0, 5, 0x76, 9);
  t.deepEqual(mustAgree(t, [{ key: key('c', 7n), value: fenced }], 10n, 0), { groups: 1, groupStart: [0], visible: [SCAN_NONE] });
  t.is(mustAgree(t, [{ key: key('c', 7n), value: fenced }], 4n, 0).groups, 1); // version 7 > readTs 4: not parsed
  t.is(mustAgree(t, [{ key: key('c', 3n), value: fenced }], 4n, 0).groups, -1); // fence 5 > 4: the bad 'v' is reached
});

test('argument errors are identical: count mismatch, decreasing or out-of-range offsets, bad readTs', (t) => {
  const k = packBatch([tsCfKey(codec.encodeBytes(Buffer.from('a')), 1n)]);
  const v = packBatch([codec.encodeWrite(codec.newWrite('Put', 1n))]);
  const bad: Array<[string, () => [PackedBatch, PackedBatch, bigint]]> = [
    ['count mismatch', () => [k, packBatch([]), 1n]],
    ['too many', () => [{ data: new Uint8Array(0), offsets: new Uint32Array(258), count: 257 }, { data: new Uint8Array(0), offsets: new Uint32Array(258), count: 257 }, 1n]],
    ['decreasing offsets', () => [{ data: k.data, offsets: Uint32Array.of(5, 2), count: 1 }, v, 1n]],
    ['offsets past data', () => [k, { data: v.data, offsets: Uint32Array.of(0, 999), count: 1 }, 1n]],
    ['short offsets', () => [{ data: k.data, offsets: Uint32Array.of(0), count: 1 }, v, 1n]],
    ['negative readTs', () => [k, v, -1n]],
    ['readTs past u64', () => [k, v, U64_MAX + 1n]],
    ['number readTs', () => [k, v, 1 as unknown as bigint]],
    ['data not bytes', () => [{ data: [1, 2] as unknown as Uint8Array, offsets: k.offsets, count: 1 }, v, 1n]],
  ];
  for (const [name, args] of bad) {
    const e1 = t.throws(() => js.mvccScanBatch(...args()), undefined, `js: ${name}`);
    const e2 = t.throws(() => wasm.mvccScanBatch(...args()), undefined, `wasm: ${name}`);
    t.is(e2?.constructor, e1?.constructor, name);
    t.is(e2?.message, e1?.message, name);
  }
});

test('wasm: results are views reused per call; inputs may be views of its own memory; memory grows for big records', (t) => {
  const hp = createWasmHotPath();
  const enc = codec.encodeBytes(Buffer.from('key'));
  const big = new Uint8Array(255).fill(7);
  // 256 versions with 255-byte short values: ~66 KB of records, far past the initial scratch.
  const entries: Entry[] = Array.from({ length: HOT_BATCH_MAX }, (_, i) => ({
    key: tsCfKey(enc, BigInt(1000 - i)),
    value: codec.encodeWrite(codec.newWrite(i % 2 === 0 ? 'Lock' : 'Put', BigInt(i), big)),
  }));
  const before = hp.memoryBytes;
  const r = mustRun(hp, entries, 900n, 2);
  t.true(hp.memoryBytes > before);
  t.deepEqual(r, { groups: 1, groupStart: [0], visible: [101] });
  t.deepEqual(r, mustRun(js, entries, 900n, 2));
  // encodeKeys output fed straight in as the scan's keys (a view into WASM memory).
  const raws = ['a', 'a', 'b'].map((s) => Buffer.from(s));
  const keys = hp.encodeKeys(packBatch(raws), BigUint64Array.of(9n, 4n, 2n), { dataPrefix: true });
  const values = packBatch([codec.encodeWrite(codec.newWrite('Delete', 8n)), codec.encodeWrite(codec.newWrite('Put', 3n)), codec.encodeWrite(codec.newWrite('Put', 1n))]);
  const res = outcomeOf(hp.mvccScanBatch(keys, values, 5n));
  t.deepEqual(res, { groups: 2, groupStart: [0, 2], visible: [1, 2] });
  // An empty batch is zero groups.
  t.is(hp.mvccScanBatch(packBatch([]), packBatch([]), 1n).groups, 0);
});
