import test from 'ava';
import fc from 'fast-check';
import { BatchPacker, HOT_BATCH_MAX, batchItem, codec, compareBytes, createJsHotPath, packBatch, type PackedBatch } from '@flashkv/core';

// Tests of the TS reference alone; asm/test/encode-keys.test.ts checks the WASM build against it.

const SEED = process.env.SEED === undefined ? 20240611 : Number(process.env.SEED);

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}

function bytes(h: string): Uint8Array {
  const clean = h.replace(/\s+/g, '');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function mustItems(batch: PackedBatch): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < batch.count; i++) out.push(batchItem(batch, i));
  return out;
}

function mustEncodeOne(raw: Uint8Array, ts: bigint | null, dataPrefix = false): Uint8Array {
  const hp = createJsHotPath();
  const out = hp.encodeKeys(packBatch([raw]), ts === null ? null : BigUint64Array.of(ts), { dataPrefix });
  if (out.count !== 1) throw new Error(`expected one output, got ${out.count}`);
  return batchItem(out, 0);
}

test('FORMATS.md section 3 worked example: from_raw("z").append_ts(1000)', (t) => {
  t.is(hex(mustEncodeOne(new TextEncoder().encode('z'), 1000n)), '7a 00 00 00 00 00 00 00 f8 ff ff ff ff ff ff fc 17');
});

test('FORMATS.md section 1.1 layout for 01..09 and the final-group markers', (t) => {
  t.is(hex(mustEncodeOne(bytes('010203040506070809'), null)), '01 02 03 04 05 06 07 08 ff 09 00 00 00 00 00 00 00 f8');
  t.is(hex(mustEncodeOne(new Uint8Array(0), null)), '00 00 00 00 00 00 00 00 f7');
  for (let r = 0; r <= 7; r++) {
    const raw = new Uint8Array(8 + r).fill(0xab);
    const enc = mustEncodeOne(raw, null);
    t.is(enc.length, 18, `length for n=${8 + r}`);
    t.is(enc[8], 0xff, `full-group marker for n=${8 + r}`);
    t.is(enc[17], 0xf7 + r, `final marker for n=${8 + r}`);
    t.true(enc.subarray(9 + r, 17).every((b) => b === 0), `padding for n=${8 + r}`);
  }
});

test('timestamps: 0 encodes to ff*8, u64 max to 00*8, and the data prefix comes first', (t) => {
  t.is(hex(mustEncodeOne(new Uint8Array(0), 0n)), '00 00 00 00 00 00 00 00 f7 ff ff ff ff ff ff ff ff');
  t.is(hex(mustEncodeOne(new Uint8Array(0), 2n ** 64n - 1n)), '00 00 00 00 00 00 00 00 f7 00 00 00 00 00 00 00 00');
  t.is(
    hex(mustEncodeOne(bytes('61'), 0x0102030405060708n, true)),
    '7a 61 00 00 00 00 00 00 00 f8 fe fd fc fb fa f9 f8 f7',
  );
});

test('a batch keeps input order, and a later call reuses (and overwrites) the output', (t) => {
  const hp = createJsHotPath();
  const keys = ['b', '', 'a', 'abcdefghij', 'b'].map((s) => new TextEncoder().encode(s));
  const ts = BigUint64Array.of(5n, 6n, 7n, 8n, 9n);
  const first = hp.encodeKeys(packBatch(keys), ts, { dataPrefix: true });
  t.is(first.count, keys.length);
  t.is(first.offsets[0], 0);
  const got = mustItems(first).map(hex);
  const want = keys.map((k, i) => hex(mustEncodeOne(k, ts[i]!, true)));
  t.deepEqual(got, want);

  const second = hp.encodeKeys(packBatch([bytes('ffff')]), null);
  t.is(second.count, 1);
  t.is(hex(batchItem(second, 0)), 'ff ff 00 00 00 00 00 00 f9');
  // The first result shared the same buffers, as the contract's lifetime rule allows.
  t.is(hex(batchItem(first, 0)), 'ff ff 00 00 00 00 00 00 f9');
});

test('a previous result can be passed back in as the next input', (t) => {
  const hp = createJsHotPath();
  const keys = [bytes('01'), bytes('0203040506070809'), new Uint8Array(0)];
  const first = hp.encodeKeys(packBatch(keys), BigUint64Array.of(1n, 2n, 3n), { dataPrefix: true });
  const want = mustItems(first).map((k) => hex(mustEncodeOne(k, null)));
  const second = hp.encodeKeys(first, null);
  t.deepEqual(mustItems(second).map(hex), want);
});

test('input offsets need not start at 0, and offsets/ts may be longer than the batch', (t) => {
  const hp = createJsHotPath();
  const data = bytes('ee ee 01 02 03 04 05 06 07 08 09 ee');
  const offsets = Uint32Array.of(2, 3, 11, 11, 999);
  const out = hp.encodeKeys({ data, offsets, count: 3 }, BigUint64Array.of(1n, 2n, 3n, 4n));
  t.deepEqual(mustItems(out).map(hex), [
    hex(mustEncodeOne(bytes('01'), 1n)),
    hex(mustEncodeOne(bytes('0203040506070809'), 2n)),
    hex(mustEncodeOne(new Uint8Array(0), 3n)),
  ]);
});

test('output grows past its initial buffer for large keys', (t) => {
  const hp = createJsHotPath();
  const keys = Array.from({ length: HOT_BATCH_MAX }, (_, i) => new Uint8Array(1000).fill(i & 0xff));
  const out = hp.encodeKeys(packBatch(keys), null);
  t.is(out.count, HOT_BATCH_MAX);
  t.is(out.offsets[HOT_BATCH_MAX], HOT_BATCH_MAX * ((Math.floor(1000 / 8) + 1) * 9));
  const last = batchItem(out, HOT_BATCH_MAX - 1);
  t.is(last[0], (HOT_BATCH_MAX - 1) & 0xff);
  t.is(last[last.length - 1], 0xf7);
});

test('encoding preserves order: raw a < b gives a@x < b@y, and the same key sorts newer ts first', (t) => {
  const key = fc.uint8Array({ maxLength: 24 });
  const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
  const hp = createJsHotPath();
  const run = fc.check(
    fc.property(key, key, u64, u64, fc.boolean(), (a, b, ta, tb, prefix) => {
      const out = hp.encodeKeys(packBatch([a, b]), BigUint64Array.of(ta, tb), { dataPrefix: prefix });
      const ea = batchItem(out, 0);
      const eb = batchItem(out, 1);
      const raw = compareBytes(a, b);
      const enc = compareBytes(ea, eb);
      if (raw !== 0) return Math.sign(raw) === Math.sign(enc);
      return Math.sign(enc) === Math.sign(tb < ta ? -1 : tb > ta ? 1 : 0);
    }),
    { seed: SEED, numRuns: 500 },
  );
  if (run.failed) t.fail(`SEED=${SEED}: ${fc.defaultReportMessage(run)}`);
  else t.pass();
});

test('each output equals the codec composition dataKey(appendTs(encodeBytes(raw), ts))', (t) => {
  const hp = createJsHotPath();
  const keyArb = fc.oneof(fc.constantFrom(0, 7, 8, 9, 15, 16, 17), fc.integer({ min: 0, max: 40 })).chain((n) => fc.uint8Array({ minLength: n, maxLength: n }));
  const itemArb = fc.record({ raw: keyArb, ts: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) });
  const run = fc.check(
    fc.property(fc.array(itemArb, { maxLength: 64 }), fc.boolean(), fc.boolean(), (items, withTs, dataPrefix) => {
      const ts = withTs ? BigUint64Array.from(items, (it) => it.ts) : null;
      const out = hp.encodeKeys(packBatch(items.map((it) => it.raw)), ts, { dataPrefix });
      if (out.count !== items.length) return false;
      return items.every((it, i) => {
        let want: Uint8Array = codec.encodeBytes(it.raw);
        if (withTs) want = codec.appendTs(want, it.ts);
        if (dataPrefix) want = codec.dataKey(want);
        return hex(batchItem(out, i)) === hex(want);
      });
    }),
    { seed: SEED, numRuns: 200 },
  );
  if (run.failed) t.fail(`SEED=${SEED}: ${fc.defaultReportMessage(run)}`);
  else t.pass();
});

test('input validation: types are TypeErrors, sizes and offsets RangeErrors', (t) => {
  const hp = createJsHotPath();
  const one = packBatch([bytes('01')]);
  t.throws(() => hp.encodeKeys(null as unknown as PackedBatch, null), { instanceOf: TypeError });
  t.throws(() => hp.encodeKeys({ ...one, data: [1] as unknown as Uint8Array }, null), { instanceOf: TypeError });
  t.throws(() => hp.encodeKeys({ ...one, offsets: [0, 1] as unknown as Uint32Array }, null), { instanceOf: TypeError });
  t.throws(() => hp.encodeKeys({ ...one, count: 0.5 }, null), { instanceOf: TypeError });
  t.throws(() => hp.encodeKeys(one, [1n] as unknown as BigUint64Array), { instanceOf: TypeError });
  t.throws(() => hp.encodeKeys({ ...one, count: -1 }, null), { instanceOf: RangeError });

  const tooMany = packBatch(Array.from({ length: HOT_BATCH_MAX + 1 }, () => bytes('01')));
  t.throws(() => hp.encodeKeys(tooMany, null), { instanceOf: RangeError, message: /outside 0\.\.256/ });
  t.throws(() => hp.encodeKeys({ ...one, count: 2 }, null), { instanceOf: RangeError, message: /needs 3/ });
  t.throws(() => hp.encodeKeys({ data: bytes('01'), offsets: Uint32Array.of(0, 2), count: 1 }, null), {
    instanceOf: RangeError,
    message: /past the end/,
  });
  t.throws(() => hp.encodeKeys({ data: bytes('0102'), offsets: Uint32Array.of(2, 0), count: 1 }, null), {
    instanceOf: RangeError,
  });
  t.throws(() => hp.encodeKeys({ data: bytes('010203'), offsets: Uint32Array.of(0, 3, 1, 3), count: 3 }, null), {
    instanceOf: RangeError,
    message: /offsets\[1\] = 3 > offsets\[2\] = 1/,
  });
  t.throws(() => hp.encodeKeys(packBatch([bytes('01'), bytes('02')]), BigUint64Array.of(1n)), {
    instanceOf: RangeError,
    message: /ts has 1 entries/,
  });
  // A rejected call leaves the HotPath usable.
  t.is(hex(batchItem(hp.encodeKeys(one, null), 0)), '01 00 00 00 00 00 00 00 f8');
});

test('an empty batch gives an empty result', (t) => {
  const out = createJsHotPath().encodeKeys(packBatch([]), BigUint64Array.of(), { dataPrefix: true });
  t.is(out.count, 0);
  t.is(out.offsets[0], 0);
});

test('BatchPacker packs like packBatch, reuses its buffer, and grows for large items', (t) => {
  const packer = new BatchPacker(16);
  const small = [bytes('01'), new Uint8Array(0), bytes('0203')];
  const a = packer.pack(small);
  t.deepEqual(mustItems(a).map(hex), small.map(hex));
  t.is(a.offsets[a.count], 3);

  const big = [new Uint8Array(40).fill(7), bytes('08'), new Uint8Array(33).fill(9)];
  const b = packer.pack(big);
  t.deepEqual(mustItems(b).map(hex), big.map(hex));
  t.true(b.data.length >= 74);

  const c = packer.pack(small);
  t.is(c.data, b.data, 'the grown buffer is reused');
  // Encoding a packed batch gives the same bytes as encoding packBatch's copy.
  const hp1 = createJsHotPath();
  const hp2 = createJsHotPath();
  const ts = BigUint64Array.of(1n, 2n, 3n);
  t.deepEqual(mustItems(hp1.encodeKeys(packer.pack(big), ts)).map(hex), mustItems(hp2.encodeKeys(packBatch(big), ts)).map(hex));
});

test('BatchPacker rejects more than HOT_BATCH_MAX items and non-byte items', (t) => {
  t.throws(() => new BatchPacker(-1), { instanceOf: TypeError });
  t.deepEqual(mustItems(new BatchPacker(0).pack([bytes('0102')])).map(hex), ['01 02']);
  const packer = new BatchPacker();
  t.throws(() => packer.pack(Array.from({ length: HOT_BATCH_MAX + 1 }, () => bytes('01'))), { instanceOf: RangeError });
  t.throws(() => packer.pack([bytes('01'), 'x' as unknown as Uint8Array]), { instanceOf: TypeError, message: /item 1/ });
  t.deepEqual(mustItems(packer.pack([bytes('05')])).map(hex), ['05']);
});
