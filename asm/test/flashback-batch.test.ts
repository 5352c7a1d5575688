import 'reflect-metadata';
import test from 'ava';
import fc from 'fast-check';
import {
  FLASHBACK_MAX_WRITE_SIZE,
  FLASHBACK_OLD_ABSENT,
  FLASHBACK_OLD_PUT,
  FLASHBACK_OUT_DEFAULT_CF,
  FLASHBACK_OUT_WRITE_CF,
  HOT_BATCH_MAX,
  codec,
  createJsHotPath,
  tsCfKey,
  type FlashbackBatchInput,
  type FlashbackBatchResult,
  type HotPath,
} from '@flashkv/core';
import { createWasmHotPath } from '@flashkv/asm';

// Differential tests (STYLE.md habit 7) for HotPath.flashbackBatch: the WASM kernel against the
// TS reference byte for byte (the whole used output region, not only the ops), and both against
// the ops built key by key with core's codec (encodeWrite of Put/Delete at S, data keys at C/S).

const SEED = process.env.SEED === undefined ? 7_340_033 : Number(process.env.SEED);
const U64_MAX = 2n ** 64n - 1n;

interface Row {
  readonly key: Uint8Array;
  /** The value as of the version; undefined = absent. */
  readonly old: Uint8Array | undefined;
  /** Kind byte to write for an absent key: 0, or another non-Put byte (also absent). */
  readonly absentKind: number;
}

interface Case {
  readonly rows: readonly Row[];
  readonly startTs: bigint;
  readonly commitTs: bigint;
  readonly maxWriteSize: number;
  /** Spare bytes after the used part of each input array (inputs are reused, oversized buffers). */
  readonly slack: number;
}

interface Outcome {
  readonly keysTaken: number;
  readonly opCount: number;
  readonly writeSize: number;
  readonly ops: string[];
  /** Output bytes from 0 to the end of the last op (shared parts included). */
  readonly region: string;
}

function mustInput(c: Case): FlashbackBatchInput {
  let kBytes = 0;
  let vBytes = 0;
  for (const r of c.rows) {
    kBytes += r.key.length;
    vBytes += r.old?.length ?? 0;
  }
  const n = c.rows.length;
  const input: FlashbackBatchInput = {
    count: n,
    keys: new Uint8Array(kBytes + c.slack).fill(0xee),
    keyEnd: new Uint32Array(n + c.slack).fill(0xffffffff),
    oldKind: new Uint8Array(n + c.slack).fill(FLASHBACK_OLD_PUT),
    values: new Uint8Array(vBytes + c.slack).fill(0xdd),
    valueEnd: new Uint32Array(n + c.slack).fill(0xffffffff),
  };
  let k = 0;
  let v = 0;
  c.rows.forEach((r, i) => {
    input.keys.set(r.key, k);
    k += r.key.length;
    input.keyEnd[i] = k;
    input.oldKind[i] = r.old === undefined ? r.absentKind : FLASHBACK_OLD_PUT;
    if (r.old !== undefined) {
      input.values.set(r.old, v);
      v += r.old.length;
    }
    input.valueEnd[i] = v;
  });
  return input;
}

function outcomeOf(r: FlashbackBatchResult): Outcome {
  const ops: string[] = [];
  let end = 0;
  for (let j = 0; j < r.opCount; j++) {
    const cf = r.cf[j] === FLASHBACK_OUT_WRITE_CF ? 'write' : r.cf[j] === FLASHBACK_OUT_DEFAULT_CF ? 'default' : `cf${r.cf[j]}`;
    ops.push(`${cf}:${r.keyStart[j]}:${codec.toHex(r.buf.subarray(r.keyStart[j]!, r.keyEnd[j]!))}=${r.valueStart[j]}:${codec.toHex(r.buf.subarray(r.valueStart[j]!, r.valueEnd[j]!))}`);
    end = Math.max(end, r.valueEnd[j]!);
  }
  return { keysTaken: r.keysTaken, opCount: r.opCount, writeSize: r.writeSize, ops, region: codec.toHex(r.buf.subarray(0, end)) };
}

/** The expected ops (cf:key=value, no offsets) built with core's codec, and the write size. */
function mustModel(c: Case): { taken: number; ops: string[]; size: number } {
  const ops: string[] = [];
  let size = 0;
  let taken = 0;
  for (const r of c.rows) {
    const long = r.old !== undefined && r.old.length > 255;
    const w = r.old === undefined ? codec.newWrite('Delete', c.startTs) : codec.newWrite('Put', c.startTs, long ? undefined : r.old);
    const wk = tsCfKey(r.key as codec.EncodedKey, c.commitTs);
    const wv = codec.encodeWrite(w);
    let keySize = wk.length + wv.length;
    const dk = long ? tsCfKey(r.key as codec.EncodedKey, c.startTs) : undefined;
    if (dk !== undefined) keySize += dk.length + r.old!.length;
    if (taken > 0 && size + keySize > c.maxWriteSize) break;
    ops.push(`write:${codec.toHex(wk)}=${codec.toHex(wv)}`);
    if (dk !== undefined) ops.push(`default:${codec.toHex(dk)}=${codec.toHex(r.old!)}`);
    size += keySize;
    taken++;
  }
  return { taken, ops, size };
}

function withoutOffsets(ops: readonly string[]): string[] {
  return ops.map((o) => o.replace(/^(\w+):\d+:([0-9a-f]*)=\d+:/, '$1:$2='));
}

const tsArb = fc.oneof(
  fc.constantFrom(0n, 1n, 127n, 128n, 16_383n, 16_384n, 2n ** 63n - 1n, 2n ** 63n, U64_MAX - 1n, U64_MAX),
  fc.bigInt({ min: 0n, max: U64_MAX }),
  fc.bigInt({ min: 1n, max: 2n ** 50n }),
);
const valueArb = fc.oneof(
  { weight: 6, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 40 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 250, maxLength: 260 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 256, maxLength: 3000 }) },
);
const rowArb: fc.Arbitrary<Row> = fc.record({
  key: fc.uint8Array({ minLength: 0, maxLength: 40 }),
  old: fc.option(valueArb, { nil: undefined, freq: 4 }),
  absentKind: fc.constantFrom(FLASHBACK_OLD_ABSENT, FLASHBACK_OLD_ABSENT, 2, 0xff),
});
const caseArb: fc.Arbitrary<Case> = fc.record({
  rows: fc.array(rowArb, { minLength: 0, maxLength: HOT_BATCH_MAX }),
  startTs: tsArb,
  commitTs: tsArb,
  maxWriteSize: fc.oneof(fc.constant(FLASHBACK_MAX_WRITE_SIZE), fc.integer({ min: 0, max: 4000 }), fc.constant(0xffff_ffff)),
  slack: fc.integer({ min: 0, max: 9 }),
});

/** Runs a property with the test's seed; a failure names the seed that replays it. */
function mustCheck<T>(arb: fc.Arbitrary<T>, numRuns: number, body: (v: T) => void): void {
  try {
    fc.assert(fc.property(arb, body), { seed: SEED, numRuns });
  } catch (e) {
    throw new Error(`replay with SEED=${SEED}: ${(e as Error).message}`);
  }
}

test('random batches: wasm equals the TS reference byte for byte, and both equal the codec-built ops', (t) => {
  const js = createJsHotPath();
  const wasm = createWasmHotPath();
  let cut = 0;
  let long = 0;
  mustCheck(caseArb, 300, (c) => {
    const input = mustInput(c);
    const a = outcomeOf(js.flashbackBatch(input, c.startTs, c.commitTs, c.maxWriteSize));
    const b = outcomeOf(wasm.flashbackBatch(input, c.startTs, c.commitTs, c.maxWriteSize));
    if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`wasm ${JSON.stringify(b)} != js ${JSON.stringify(a)}`);
    const m = mustModel(c);
    if (a.keysTaken !== m.taken) throw new Error(`took ${a.keysTaken} keys, the model ${m.taken}`);
    if (a.writeSize !== m.size) throw new Error(`write size ${a.writeSize}, the model ${m.size}`);
    if (JSON.stringify(withoutOffsets(a.ops)) !== JSON.stringify(m.ops)) throw new Error(`ops ${JSON.stringify(a.ops)} != model ${JSON.stringify(m.ops)}`);
    if (m.taken < c.rows.length) cut++;
    // A limit exactly equal to the size of the first j keys takes exactly j keys (the limit is inclusive).
    if (c.rows.length >= 2) {
      const j = 1 + (c.rows.length >> 1);
      const exact = mustModel({ ...c, rows: c.rows.slice(0, j), maxWriteSize: 0xffff_ffff }).size;
      const ea = outcomeOf(js.flashbackBatch(input, c.startTs, c.commitTs, exact));
      const eb = outcomeOf(wasm.flashbackBatch(input, c.startTs, c.commitTs, exact));
      if (JSON.stringify(ea) !== JSON.stringify(eb)) throw new Error(`exact limit ${exact}: wasm ${JSON.stringify(eb)} != js ${JSON.stringify(ea)}`);
      if (ea.keysTaken !== j || ea.writeSize !== exact) throw new Error(`exact limit ${exact}: took ${ea.keysTaken} keys (${ea.writeSize} bytes), want ${j}`);
    }
    if (a.ops.some((o) => o.startsWith('default'))) long++;
  });
  // The generator must reach the interesting shapes, or the agreement above says little.
  t.true(cut > 10, `batches cut by maxWriteSize: ${cut}`);
  t.true(long > 10, `batches with long values: ${long}`);
});

test('full 256-key batches at the default 32 KiB limit agree, and the result is reused per call', (t) => {
  const js = createJsHotPath();
  const wasm = createWasmHotPath();
  const fullArb = fc.record({
    rows: fc.array(rowArb, { minLength: HOT_BATCH_MAX, maxLength: HOT_BATCH_MAX }),
    startTs: tsArb,
    commitTs: tsArb,
    maxWriteSize: fc.constant(FLASHBACK_MAX_WRITE_SIZE),
    slack: fc.constant(0),
  });
  let prev: FlashbackBatchResult | undefined;
  mustCheck(fullArb, 40, (c) => {
    const input = mustInput(c);
    const a = outcomeOf(js.flashbackBatch(input, c.startTs, c.commitTs));
    const r = wasm.flashbackBatch(input, c.startTs, c.commitTs);
    if (prev !== undefined && r !== prev) throw new Error('wasm returned a new result object');
    prev = r;
    const b = outcomeOf(r);
    if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`wasm ${JSON.stringify(b)} != js ${JSON.stringify(a)}`);
    if (JSON.stringify(withoutOffsets(a.ops)) !== JSON.stringify(mustModel(c).ops)) throw new Error('ops differ from the codec-built model');
  });
  t.pass();
});

test('wasm memory grows for a batch of big values; a result passed back in as input still agrees', (t) => {
  const js = createJsHotPath();
  const wasm = createWasmHotPath();
  const before = wasm.memoryBytes;
  const big = new Uint8Array(3_000_000).map((_, i) => (i * 31) & 0xff);
  const c: Case = {
    rows: [
      { key: Uint8Array.of(1, 2, 3), old: big, absentKind: 0 },
      { key: Uint8Array.of(4), old: undefined, absentKind: 0 },
    ],
    startTs: 5n,
    commitTs: 9n,
    maxWriteSize: 0xffff_ffff,
    slack: 0,
  };
  const input = mustInput(c);
  const a = outcomeOf(js.flashbackBatch(input, c.startTs, c.commitTs, c.maxWriteSize));
  const b = outcomeOf(wasm.flashbackBatch(input, c.startTs, c.commitTs, c.maxWriteSize));
  t.true(wasm.memoryBytes > before);
  t.deepEqual(b, a);
  t.is(a.opCount, 3);
  t.deepEqual(withoutOffsets(a.ops), mustModel(c).ops);

  // Feed each implementation its own output views as input: the keys are the output buffer.
  for (const hp of [js, wasm] as HotPath[]) {
    const r = hp.flashbackBatch(mustInput({ ...c, rows: [{ key: Uint8Array.of(7, 7), old: Uint8Array.of(1), absentKind: 0 }] }), 1n, 2n);
    const keyEnd = Uint32Array.of(r.keyEnd[0]!);
    const self: FlashbackBatchInput = { count: 1, keys: r.buf, keyEnd, oldKind: Uint8Array.of(FLASHBACK_OLD_PUT), values: r.buf, valueEnd: Uint32Array.of(4) };
    const want = mustModel({ rows: [{ key: r.buf.slice(0, keyEnd[0]!), old: r.buf.slice(0, 4), absentKind: 0 }], startTs: 3n, commitTs: 4n, maxWriteSize: FLASHBACK_MAX_WRITE_SIZE, slack: 0 });
    t.deepEqual(withoutOffsets(outcomeOf(hp.flashbackBatch(self, 3n, 4n)).ops), want.ops, hp.kind);
  }
});

test('argument errors are identical from both', (t) => {
  const js = createJsHotPath();
  const wasm = createWasmHotPath();
  const good = mustInput({ rows: [{ key: Uint8Array.of(1), old: Uint8Array.of(2), absentKind: 0 }, { key: Uint8Array.of(3), old: undefined, absentKind: 0 }], startTs: 1n, commitTs: 2n, maxWriteSize: 1, slack: 0 });
  const bad: Array<[string, () => [FlashbackBatchInput, bigint, bigint, number]]> = [
    ['count over 256', () => [{ ...good, count: HOT_BATCH_MAX + 1 }, 1n, 2n, 100]],
    ['fractional count', () => [{ ...good, count: 1.5 }, 1n, 2n, 100]],
    ['decreasing keyEnd', () => [{ ...good, keyEnd: Uint32Array.of(1, 0) }, 1n, 2n, 100]],
    ['keyEnd past keys', () => [{ ...good, keyEnd: Uint32Array.of(1, 9) }, 1n, 2n, 100]],
    ['valueEnd past values', () => [{ ...good, valueEnd: Uint32Array.of(5, 5) }, 1n, 2n, 100]],
    ['short oldKind', () => [{ ...good, oldKind: Uint8Array.of(1) }, 1n, 2n, 100]],
    ['keys not bytes', () => [{ ...good, keys: [1, 3] as unknown as Uint8Array }, 1n, 2n, 100]],
    ['startTs negative', () => [good, -1n, 2n, 100]],
    ['commitTs over u64', () => [good, 1n, U64_MAX + 1n, 100]],
    ['commitTs a number', () => [good, 1n, 2 as unknown as bigint, 100]],
    ['maxWriteSize negative', () => [good, 1n, 2n, -1]],
  ];
  for (const [name, args] of bad) {
    const e1 = t.throws(() => js.flashbackBatch(...args()), undefined, name);
    const e2 = t.throws(() => wasm.flashbackBatch(...args()), undefined, name);
    t.is(e2?.constructor, e1?.constructor, name);
    t.is(e2?.message, e1?.message, name);
  }
  // The same input is accepted once fixed, and maxWriteSize 1 still takes the first key alone.
  t.is(js.flashbackBatch(good, 1n, 2n, 1).keysTaken, 1);
  t.is(wasm.flashbackBatch(good, 1n, 2n, 1).keysTaken, 1);
});
