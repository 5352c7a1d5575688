import 'reflect-metadata';
import test from 'ava';
import fc from 'fast-check';
import { HOT_BATCH_MAX, batchItem, codec, createJsHotPath, isKvError, packBatch, type HotPath, type PackedBatch } from '@flashkv/core';
import { createWasmHotPath, loadHotPath, hotPathKindFromEnv, HOTPATH_ENV, WASM_BATCH_BYTES_MAX } from '@flashkv/asm';

// Differential tests (STYLE.md habit 7): the WASM build against the TS reference in core.

const SEED = process.env.SEED === undefined ? 7_340_033 : Number(process.env.SEED);
const U64_MAX = 2n ** 64n - 1n;

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}

/** Items of a result as hex strings, copied out (results are only valid until the next call). */
function mustHexItems(batch: PackedBatch): string[] {
  const out: string[] = [];
  for (let i = 0; i < batch.count; i++) out.push(hex(batchItem(batch, i)));
  if (batch.offsets[0] !== 0) throw new Error(`output offsets[0] is ${batch.offsets[0]}, expected 0`);
  return out;
}

interface Case {
  readonly keys: Uint8Array[];
  readonly ts: bigint[];
  readonly withTs: boolean;
  readonly dataPrefix: boolean;
  /** Junk bytes before the first key, so input offsets start above 0. */
  readonly lead: number;
  /** Extra trailing entries in offsets and ts beyond the batch. */
  readonly spare: number;
}

/** Packs a case the way a caller with a larger shared buffer would. */
function mustPack(c: Case): { input: PackedBatch; ts: BigUint64Array | null } {
  const packed = packBatch(c.keys);
  const data = new Uint8Array(c.lead + packed.data.length + c.spare).fill(0xee);
  data.set(packed.data, c.lead);
  const offsets = new Uint32Array(c.keys.length + 1 + c.spare).fill(0xffffffff);
  for (let i = 0; i <= c.keys.length; i++) offsets[i] = packed.offsets[i]! + c.lead;
  const ts = c.withTs ? BigUint64Array.from([...c.ts.slice(0, c.keys.length), ...Array<bigint>(c.spare).fill(U64_MAX)]) : null;
  return { input: { data, offsets, count: c.keys.length }, ts };
}

const keyArb = fc
  .oneof(fc.constantFrom(0, 7, 8, 9, 15, 16, 17), fc.integer({ min: 0, max: 40 }))
  .chain((n) => fc.uint8Array({ minLength: n, maxLength: n }));
const u64Arb = fc.oneof(fc.constantFrom(0n, U64_MAX, 1000n), fc.bigInt({ min: 0n, max: U64_MAX }));
const caseArb: fc.Arbitrary<Case> = fc.record({
  keys: fc.oneof(
    fc.array(keyArb, { maxLength: 8 }),
    fc.array(keyArb, { maxLength: HOT_BATCH_MAX, size: 'max' }),
    fc.array(keyArb, { minLength: HOT_BATCH_MAX, maxLength: HOT_BATCH_MAX }),
  ),
  ts: fc.array(u64Arb, { minLength: HOT_BATCH_MAX, maxLength: HOT_BATCH_MAX }),
  withTs: fc.boolean(),
  dataPrefix: fc.boolean(),
  lead: fc.integer({ min: 0, max: 3 }),
  spare: fc.integer({ min: 0, max: 2 }),
});

function agreesWithReference(js: HotPath, wasm: HotPath, c: Case): boolean {
  const { input, ts } = mustPack(c);
  const want = mustHexItems(js.encodeKeys(input, ts, { dataPrefix: c.dataPrefix }));
  const got = mustHexItems(wasm.encodeKeys(input, ts, { dataPrefix: c.dataPrefix }));
  if (want.length !== c.keys.length) throw new Error(`reference returned ${want.length} items for ${c.keys.length} keys`);
  if (got.length !== want.length) return false;
  if (!got.every((g, i) => g === want[i])) return false;
  // And against the codec's one-key-at-a-time composition, an implementation neither shares.
  return c.keys.every((raw, i) => {
    let k: Uint8Array = codec.encodeBytes(raw);
    if (c.withTs) k = codec.appendTs(k, c.ts[i]!);
    if (c.dataPrefix) k = codec.dataKey(k);
    return hex(k) === got[i];
  });
}

test('WASM output is byte-identical to the TS reference on random batches', (t) => {
  // One instance of each for every run, so reuse across calls of varying size is covered too.
  const js = createJsHotPath();
  const wasm = createWasmHotPath();
  const run = fc.check(
    fc.property(caseArb, (c) => agreesWithReference(js, wasm, c)),
    { seed: SEED, numRuns: 120 },
  );
  if (run.failed) t.fail(`SEED=${SEED} replays this: ${fc.defaultReportMessage(run)}`);
  else t.pass();
});

test('FORMATS.md section 3 worked example through WASM: "z"@1000', (t) => {
  const out = createWasmHotPath().encodeKeys(packBatch([new TextEncoder().encode('z')]), BigUint64Array.of(1000n));
  t.is(out.count, 1);
  t.is(hex(batchItem(out, 0)), '7a 00 00 00 00 00 00 00 f8 ff ff ff ff ff ff fc 17');
});

test('a batch larger than the initial memory grows it, detaches old results, and still matches', (t) => {
  const js = createJsHotPath();
  const wasm = createWasmHotPath();
  const before = wasm.memoryBytes;
  const small = packBatch([Uint8Array.of(1, 2, 3)]);
  const earlier = wasm.encodeKeys(small, null);
  t.is(hex(batchItem(earlier, 0)), '01 02 03 00 00 00 00 00 fa');

  // 256 keys of 1000 bytes: ~256 KB in and ~290 KB out, several times one 64 KiB page.
  const keys = Array.from({ length: HOT_BATCH_MAX }, (_, i) => {
    const k = new Uint8Array(1000 + (i % 9));
    for (let j = 0; j < k.length; j++) k[j] = (i * 31 + j) & 0xff;
    return k;
  });
  const ts = BigUint64Array.from(keys, (_, i) => BigInt(i) * 0x0101_0101_0101n);
  const big = packBatch(keys);
  t.true(big.data.length > before, `batch of ${big.data.length} bytes should exceed the initial ${before}`);
  const got = mustHexItems(wasm.encodeKeys(big, ts, { dataPrefix: true }));
  t.true(wasm.memoryBytes > before, `memory grew from ${before} to ${wasm.memoryBytes}`);
  t.deepEqual(got, mustHexItems(js.encodeKeys(big, ts, { dataPrefix: true })));
  // The earlier result's views were into the old memory: detached, not silently stale.
  t.is(earlier.data.length, 0);

  // After the relayout, small and big batches keep agreeing.
  t.deepEqual(mustHexItems(wasm.encodeKeys(small, BigUint64Array.of(7n))), mustHexItems(js.encodeKeys(small, BigUint64Array.of(7n))));
  t.deepEqual(mustHexItems(wasm.encodeKeys(big, null)), mustHexItems(js.encodeKeys(big, null)));
});

test('reuse across calls: each result is correct until the next call, which overwrites it', (t) => {
  const wasm = createWasmHotPath();
  const js = createJsHotPath();
  const a = packBatch([Uint8Array.of(0xaa), Uint8Array.of(0xbb, 0xbb)]);
  const b = packBatch([Uint8Array.of(0xcc)]);
  const first = wasm.encodeKeys(a, BigUint64Array.of(1n, 2n));
  const firstHex = mustHexItems(first);
  t.deepEqual(firstHex, mustHexItems(js.encodeKeys(a, BigUint64Array.of(1n, 2n))));
  const second = wasm.encodeKeys(b, null);
  t.deepEqual(mustHexItems(second), ['cc 00 00 00 00 00 00 00 f8']);
  // Same output region: the first result now shows the second call's bytes.
  t.is(hex(batchItem(first, 0)), 'cc 00 00 00 00 00 00 00 f8');
  t.is(first.data.buffer, second.data.buffer);
});

test('a previous result passed back in is read before it is overwritten, with and without growth', (t) => {
  const wasm = createWasmHotPath();
  const js = createJsHotPath();
  const keys = [Uint8Array.of(1), new Uint8Array(17).fill(2), new Uint8Array(0)];
  let w: PackedBatch = packBatch(keys);
  let j: PackedBatch = packBatch(keys);
  // Each round feeds the previous output back in; keys grow ~9/8 per round plus 9-17 bytes, so the
  // later rounds need more scratch than the initial layout holds and take the grow path.
  for (let round = 0; round < 60; round++) {
    const ts = BigUint64Array.of(BigInt(round), U64_MAX, 0n);
    w = wasm.encodeKeys(w, ts, { dataPrefix: round % 2 === 0 });
    j = js.encodeKeys(j, ts, { dataPrefix: round % 2 === 0 });
    const wh = mustHexItems(w);
    const jh = mustHexItems(j);
    if (wh.join('|') !== jh.join('|')) {
      t.fail(`round ${round}: WASM and TS reference differ`);
      return;
    }
  }
  t.true(w.offsets[w.count]! > 64 * 1024, `final output of ${w.offsets[w.count]} bytes should have forced growth`);
});

test('both implementations reject the same bad input with the same error', (t) => {
  const js = createJsHotPath();
  const wasm = createWasmHotPath();
  const bad: [string, () => [PackedBatch, BigUint64Array | null]][] = [
    ['count above HOT_BATCH_MAX', () => [packBatch(Array.from({ length: HOT_BATCH_MAX + 1 }, () => Uint8Array.of(1))), null]],
    ['negative count', () => [{ data: new Uint8Array(0), offsets: Uint32Array.of(0), count: -1 }, null]],
    ['fractional count', () => [{ data: new Uint8Array(0), offsets: Uint32Array.of(0, 0), count: 0.5 }, null]],
    ['offsets too short', () => [{ data: Uint8Array.of(1, 2), offsets: Uint32Array.of(0, 1), count: 2 }, null]],
    ['last offset past data', () => [{ data: Uint8Array.of(1), offsets: Uint32Array.of(0, 5), count: 1 }, null]],
    ['first offset after last', () => [{ data: Uint8Array.of(1, 2), offsets: Uint32Array.of(2, 1), count: 1 }, null]],
    // Decreases mid-batch while offsets[0] <= offsets[count] <= data.length: only a full pass finds it.
    ['offsets decrease inside', () => [{ data: new Uint8Array(10), offsets: Uint32Array.of(0, 9, 2, 10), count: 3 }, null]],
    ['offset jumps past the end inside', () => [{ data: new Uint8Array(10), offsets: Uint32Array.of(0, 4000, 5, 10), count: 3 }, null]],
    ['ts too short', () => [packBatch([Uint8Array.of(1), Uint8Array.of(2)]), BigUint64Array.of(1n)]],
    ['ts of the wrong type', () => [packBatch([Uint8Array.of(1)]), [1n] as unknown as BigUint64Array]],
    ['data of the wrong type', () => [{ data: [1] as unknown as Uint8Array, offsets: Uint32Array.of(0, 1), count: 1 }, null]],
  ];
  for (const [what, make] of bad) {
    const [input, ts] = make();
    const e1 = t.throws(() => js.encodeKeys(input, ts), undefined, `reference, ${what}`);
    const e2 = t.throws(() => wasm.encodeKeys(input, ts), undefined, `wasm, ${what}`);
    t.true(e1 instanceof TypeError || e1 instanceof RangeError, `${what}: ${String(e1)}`);
    t.is(e2?.constructor, e1?.constructor, what);
    t.is(e2?.message, e1?.message, what);
  }
  // Rejections leave the WASM instance usable.
  t.deepEqual(mustHexItems(wasm.encodeKeys(packBatch([Uint8Array.of(9)]), null)), ['09 00 00 00 00 00 00 00 f8']);
});

test('a batch needing more scratch than WASM_BATCH_BYTES_MAX is a RangeError, and the instance stays usable', (t) => {
  const wasm = createWasmHotPath();
  // One key whose input plus output bound (9/8 of it, plus 18) passes the limit by about 1 MiB.
  const n = Math.ceil((WASM_BATCH_BYTES_MAX + (1 << 20)) / (1 + 9 / 8));
  const huge = { data: new Uint8Array(n), offsets: Uint32Array.of(0, n), count: 1 };
  t.throws(() => wasm.encodeKeys(huge, null), { instanceOf: RangeError, message: /bytes of WASM scratch/ });
  t.true(wasm.memoryBytes < 1 << 20, `no memory was reserved for the rejected batch (${wasm.memoryBytes} bytes)`);
  t.deepEqual(mustHexItems(wasm.encodeKeys(packBatch([Uint8Array.of(1)]), null)), ['01 00 00 00 00 00 00 00 f8']);
});

test('FLASHKV_HOTPATH selects the implementation; unset or empty means wasm', (t) => {
  t.is(loadHotPath('auto', {}).kind, 'wasm');
  t.is(loadHotPath('auto', { [HOTPATH_ENV]: '' }).kind, 'wasm');
  t.is(loadHotPath('auto', { [HOTPATH_ENV]: 'js' }).kind, 'js');
  t.is(loadHotPath('auto', { [HOTPATH_ENV]: 'wasm' }).kind, 'wasm');
  // An explicit choice wins over the environment.
  t.is(loadHotPath('js', { [HOTPATH_ENV]: 'wasm' }).kind, 'js');
  t.is(loadHotPath('wasm', { [HOTPATH_ENV]: 'js' }).kind, 'wasm');
  t.throws(() => loadHotPath('fast' as 'js'), { instanceOf: TypeError, message: /'js', 'wasm' or 'auto'/ });

  // The default argument reads process.env (synchronous: no other test runs in between).
  const saved = process.env[HOTPATH_ENV];
  try {
    process.env[HOTPATH_ENV] = 'js';
    t.is(loadHotPath().kind, 'js');
    delete process.env[HOTPATH_ENV];
    t.is(loadHotPath().kind, 'wasm');
  } finally {
    if (saved === undefined) delete process.env[HOTPATH_ENV];
    else process.env[HOTPATH_ENV] = saved;
  }
});

test('an unknown FLASHKV_HOTPATH is an INVALID_ARGUMENT error naming the value', (t) => {
  for (const value of ['WASM', 'asm', 'js ', 'auto']) {
    const err = t.throws(() => loadHotPath('auto', { [HOTPATH_ENV]: value }));
    t.true(isKvError(err, 'INVALID_ARGUMENT'), String(err));
    t.true(err!.message.includes(JSON.stringify(value)), err!.message);
    t.throws(() => hotPathKindFromEnv({ [HOTPATH_ENV]: value }), { message: /must be "js" or "wasm"/ });
  }
});

test('separate instances do not share memory', (t) => {
  const a = createWasmHotPath();
  const b = createWasmHotPath();
  const ra = a.encodeKeys(packBatch([Uint8Array.of(0xa1)]), null);
  const rb = b.encodeKeys(packBatch([Uint8Array.of(0xb2)]), null);
  t.not(ra.data.buffer, rb.data.buffer);
  t.is(hex(batchItem(ra, 0)), 'a1 00 00 00 00 00 00 00 f8');
  t.is(hex(batchItem(rb, 0)), 'b2 00 00 00 00 00 00 00 f8');
});
