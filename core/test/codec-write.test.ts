import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { deepStrictEqual } from 'node:assert/strict';
import * as codec from '../src/codec/index.js';
import { CorruptedError, InvalidArgumentError } from '../src/errors.js';
import { SEED, mustDecodeOrCorrupt, mustHold } from './codec-helpers.js';

// The Write record, the write-CF value (FORMATS.md section 4).

function mustCorrupt(t: ExecutionContext, hex: string, pattern: RegExp, offset: number): void {
  const e = t.throws(() => codec.decodeWrite(fromHex(hex)), { instanceOf: CorruptedError }, hex);
  t.regex(e?.message ?? '', /^Write record: /);
  t.regex(e?.message ?? '', pattern, hex);
  t.regex(e?.message ?? '', new RegExp(`at offset ${offset}$`), hex);
  t.is(e?.details['offset'], offset, hex);
}

/** Encodes `w`, checks the bytes, decodes them back and checks the result equals `w`. */
function mustRoundTrip(t: ExecutionContext, w: codec.Write, hex: string): void {
  const bytes = codec.encodeWrite(w);
  t.is(toHex(bytes), hex.replace(/\s+/g, ''));
  t.deepEqual(codec.decodeWrite(bytes), w);
}

const { toHex, fromHex, newWrite } = codec;
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const write = (over: Partial<codec.Write>): codec.Write => ({ ...newWrite('Put', 1n), ...over });

test('FORMATS 4 worked example: Put 456 "short_value", overlapped, gc_fence 2345678', (t) => {
  mustRoundTrip(
    t,
    write({ startTs: 456n, shortValue: utf8('short_value'), hasOverlappedRollback: true, gcFence: 2345678n }),
    '50 c803 76 0b 73686f72745f76616c7565 52 46 000000000023cace',
  );
});

test('FORMATS 4: the head alone, for every write type', (t) => {
  mustRoundTrip(t, newWrite('Put', 1n), '50 01');
  mustRoundTrip(t, newWrite('Delete', 1n), '44 01');
  mustRoundTrip(t, newWrite('Lock', 128n), '4c 8001');
  mustRoundTrip(t, newWrite('Rollback', 0n), '52 00');
  mustRoundTrip(t, newWrite('Put', codec.U64_MAX), '50 ffffffffffffffffff01');
});

test('FORMATS 4: each optional field alone', (t) => {
  mustRoundTrip(t, write({ shortValue: new Uint8Array(0) }), '50 01 76 00');
  mustRoundTrip(t, write({ shortValue: utf8('abc') }), '50 01 76 03 616263');
  mustRoundTrip(t, write({ shortValue: new Uint8Array(255).fill(7) }), '50 01 76 ff' + '07'.repeat(255));
  mustRoundTrip(t, write({ hasOverlappedRollback: true }), '50 01 52');
  mustRoundTrip(t, write({ gcFence: 0n }), '50 01 46 0000000000000000');
  mustRoundTrip(t, write({ gcFence: 5n }), '50 01 46 0000000000000005');
  mustRoundTrip(t, write({ gcFence: codec.U64_MAX }), '50 01 46 ffffffffffffffff');
  mustRoundTrip(t, write({ lastChange: codec.LAST_CHANGE_NOT_EXIST }), '50 01 6c 0000000000000000 01');
  mustRoundTrip(t, write({ lastChange: codec.lastChangeExist(0x1234n, 300n) }), '50 01 6c 0000000000001234 ac02');
  mustRoundTrip(t, write({ txnSource: 1n }), '50 01 53 01');
  mustRoundTrip(t, write({ txnSource: 300n }), '50 01 53 ac02');
});

test('FORMATS 4: all fields together, in the writer order', (t) => {
  mustRoundTrip(
    t,
    {
      writeType: 'Lock',
      startTs: 456n,
      shortValue: utf8('v'),
      hasOverlappedRollback: true,
      gcFence: 9n,
      lastChange: codec.lastChangeExist(100n, 2n),
      txnSource: 1n,
    },
    '4c c803 76 01 76 52 46 0000000000000009 6c 0000000000000064 02 53 01',
  );
});

test('FORMATS 4: gc_fence Some(0) and None stay distinct', (t) => {
  t.is(codec.decodeWrite(fromHex('50 01 46 0000000000000000')).gcFence, 0n);
  t.is(codec.decodeWrite(fromHex('50 01')).gcFence, undefined);
});

test('FORMATS 4: protected rollback is 52 <ts> 76 01 70', (t) => {
  const p = codec.newRollback(5n, true);
  t.is(toHex(codec.encodeWrite(p)), '5205760170');
  t.true(codec.isProtectedRollback(p));
  t.true(codec.isProtectedRollback(codec.decodeWrite(fromHex('52 05 76 01 70'))));
  const u = codec.newRollback(5n, false);
  t.is(toHex(codec.encodeWrite(u)), '5205');
  t.false(codec.isProtectedRollback(u));
  // Only a Rollback with exactly "p" is protected.
  t.false(codec.isProtectedRollback(codec.decodeWrite(fromHex('50 05 76 01 70'))));
  t.false(codec.isProtectedRollback(codec.decodeWrite(fromHex('52 05 76 02 7070'))));
  t.false(codec.isProtectedRollback(codec.decodeWrite(fromHex('52 05 76 01 71'))));
});

test('FORMATS 4: check_gc_fence_as_latest_version is false iff fence = Some(t), t != 0, t <= readTs', (t) => {
  const cases: [bigint | undefined, bigint, boolean][] = [
    [undefined, 0n, true],
    [undefined, codec.U64_MAX, true],
    [0n, 0n, true],
    [0n, 100n, true],
    [10n, 9n, true],
    [10n, 10n, false],
    [10n, 11n, false],
    [10n, codec.U64_MAX, false],
  ];
  for (const [gcFence, readTs, expected] of cases) {
    t.is(codec.checkGcFenceAsLatestVersion(write({ gcFence }), readTs), expected, `fence ${gcFence} read ${readTs}`);
  }
});

test('FORMATS 4: an unknown tag stops parsing and keeps what was read (forward compatibility)', (t) => {
  const base = codec.encodeWrite(write({ shortValue: utf8('v'), gcFence: 3n }));
  const withTrailer = Uint8Array.of(...base, ...utf8('unknown'));
  t.deepEqual(codec.decodeWrite(withTrailer), write({ shortValue: utf8('v'), gcFence: 3n }));
  // Known tags after the unknown one are not applied, even valid ones.
  t.deepEqual(codec.decodeWrite(fromHex('50 01 75 52 53 05')), newWrite('Put', 1n));
  // Lock's lower-case 's' is not Write's txn_source tag.
  t.deepEqual(codec.decodeWrite(fromHex('50 01 73 05')), newWrite('Put', 1n));
});

test('FORMATS 4 [INFERRED]: tags are accepted in any order and a repeated tag overwrites', (t) => {
  const w = codec.decodeWrite(fromHex('50 01 53 05 52 76 01 61 46 0000000000000001 46 0000000000000002'));
  t.deepEqual(w, write({ txnSource: 5n, hasOverlappedRollback: true, shortValue: utf8('a'), gcFence: 2n }));
  t.is(toHex(codec.encodeWrite(w)), '5001' + '760161' + '52' + '460000000000000002' + '5305');
});

test('FORMATS 4: LastChange from (ts, versions): (0,0) Unknown, (0,n) NotExist, (ts,n) Exist', (t) => {
  t.deepEqual(codec.decodeWrite(fromHex('50 01 6c 0000000000000000 00')).lastChange, { kind: 'Unknown' });
  t.deepEqual(codec.decodeWrite(fromHex('50 01 6c 0000000000000000 07')).lastChange, { kind: 'NotExist' });
  t.deepEqual(codec.decodeWrite(fromHex('50 01 6c 0000000000000009 07')).lastChange, { kind: 'Exist', ts: 9n, versions: 7n });
  // TiKV's make_exist asserts versions > 0: ts > 0 with 0 versions is corruption here.
  mustCorrupt(t, '50 01 6c 0000000000000009 00', /last_change: ts 9 with 0 versions/, 3);
});

test('FORMATS 4: malformed records are CorruptedError naming the field and offset', (t) => {
  mustCorrupt(t, '', /write type: empty input/, 0);
  mustCorrupt(t, '58 01', /write type: unknown type byte 0x58/, 0);
  mustCorrupt(t, '53 01', /unknown type byte 0x53/, 0);
  mustCorrupt(t, '50', /start_ts: varint runs past the end of input/, 1);
  mustCorrupt(t, '50 8080', /start_ts: varint runs past the end/, 1);
  mustCorrupt(t, '50 ffffffffffffffffff02', /start_ts: varint overflow/, 1);
  mustCorrupt(t, '50 01 76', /short value length: unexpected end of input/, 3);
  // TiKV panics here; the length says 5 bytes but only 2 remain.
  mustCorrupt(t, '50 01 76 05 6162', /short value: unexpected end of input \(need 5 bytes, 2 left\)/, 4);
  mustCorrupt(t, '50 01 46 00000000', /gc_fence: unexpected end of input \(need 8 bytes, 4 left\)/, 3);
  mustCorrupt(t, '50 01 6c 00000000000000', /last_change ts: unexpected end/, 3);
  mustCorrupt(t, '50 01 6c 0000000000000000', /last_change versions: varint runs past the end/, 11);
  mustCorrupt(t, '50 01 53', /txn_source: varint runs past the end/, 3);
  mustCorrupt(t, '50 01 53 80808080808080808080', /txn_source: varint overflow/, 3);
});

test('encodeWriteInto packs records into one buffer; encodedWriteLength validates and sizes', (t) => {
  const a = write({ startTs: 456n, shortValue: utf8('short_value'), hasOverlappedRollback: true, gcFence: 2345678n });
  const b = codec.newRollback(5n, true);
  const out = new Uint8Array(codec.encodedWriteLength(a) + codec.encodedWriteLength(b) + 1);
  const mid = codec.encodeWriteInto(a, out, 0);
  t.is(codec.encodeWriteInto(b, out, mid), out.length - 1);
  t.is(toHex(out), toHex(codec.encodeWrite(a)) + '5205760170' + '00');
  t.throws(() => codec.encodeWriteInto(b, out, out.length - 4), { instanceOf: RangeError });
  t.throws(() => codec.encodedWriteLength(write({ shortValue: new Uint8Array(256) })), { instanceOf: InvalidArgumentError });
});

test('decodeWrite returns the short value as a view into the input', (t) => {
  const bytes = fromHex('50 01 76 03 616263');
  const v = codec.decodeWrite(bytes).shortValue!;
  t.is(v.buffer, bytes.buffer);
  t.is(v.byteOffset, 4);
});

test('caller mistakes are TypeError or InvalidArgumentError (FORMATS 7.5: no silent truncation)', (t) => {
  t.throws(() => codec.encodeWrite(write({ shortValue: new Uint8Array(256) })), { instanceOf: InvalidArgumentError, message: /256 bytes exceeds 255/ });
  t.throws(() => codec.encodeWrite(write({ startTs: -1n })), { instanceOf: InvalidArgumentError, message: /startTs/ });
  t.throws(() => codec.encodeWrite(write({ startTs: 1n << 64n })), { instanceOf: InvalidArgumentError });
  t.throws(() => codec.encodeWrite(write({ gcFence: -1n })), { instanceOf: InvalidArgumentError, message: /gcFence/ });
  t.throws(() => codec.encodeWrite(write({ txnSource: 1n << 64n })), { instanceOf: InvalidArgumentError, message: /txnSource/ });
  t.throws(() => codec.encodeWrite(write({ lastChange: { kind: 'Exist', ts: 0n, versions: 1n } })), { instanceOf: InvalidArgumentError });
  t.throws(() => codec.encodeWrite(write({ lastChange: { kind: 'Exist', ts: 1n, versions: 0n } })), { instanceOf: InvalidArgumentError });
  t.throws(() => codec.lastChangeExist(5n, 0n), { instanceOf: InvalidArgumentError });
  t.throws(() => codec.encodeWrite(write({ writeType: 'Pessimistic' as codec.WriteType })), { instanceOf: TypeError });
  t.throws(() => codec.encodeWrite(write({ startTs: 1 as unknown as bigint })), { instanceOf: TypeError });
  t.throws(() => codec.encodeWrite(write({ hasOverlappedRollback: 1 as unknown as boolean })), { instanceOf: TypeError });
  t.throws(() => codec.encodeWrite(write({ shortValue: 'abc' as unknown as Uint8Array })), { instanceOf: TypeError });
  t.throws(() => codec.encodeWrite(write({ lastChange: { kind: 'Maybe' } as unknown as codec.LastChange })), { instanceOf: TypeError });
  t.throws(() => codec.decodeWrite('50 01' as unknown as Uint8Array), { instanceOf: TypeError });
});

const u64 = fc.oneof(fc.bigInt({ min: 0n, max: codec.U64_MAX }), fc.bigInt({ min: 0n, max: 300n }));
const positiveU64 = fc.bigInt({ min: 1n, max: codec.U64_MAX });
const lastChangeArb: fc.Arbitrary<codec.LastChange> = fc.oneof(
  fc.constant(codec.LAST_CHANGE_UNKNOWN),
  fc.constant(codec.LAST_CHANGE_NOT_EXIST),
  fc.tuple(positiveU64, fc.oneof(positiveU64, fc.bigInt({ min: 1n, max: 5n }))).map(([ts, versions]) => codec.lastChangeExist(ts, versions)),
);
const writeArb: fc.Arbitrary<codec.Write> = fc.record({
  writeType: fc.constantFrom<codec.WriteType>('Put', 'Delete', 'Lock', 'Rollback'),
  startTs: u64,
  shortValue: fc.option(fc.uint8Array({ maxLength: 255 }), { nil: undefined }),
  hasOverlappedRollback: fc.boolean(),
  gcFence: fc.option(u64, { nil: undefined }),
  lastChange: lastChangeArb,
  txnSource: u64,
  // fast-check builds records without a prototype; strict equality with decoded objects needs one.
}).map((w) => ({ ...w }));

test('property: decodeWrite inverts encodeWrite, and re-encoding a decoded record gives the same bytes', (t) => {
  mustHold(
    t,
    fc.property(writeArb, (w) => {
      const bytes = codec.encodeWrite(w);
      const back = codec.decodeWrite(bytes);
      deepStrictEqual(back, w);
      deepStrictEqual(codec.encodeWrite(back), bytes);
    }),
    500,
  );
});

/** Valid encodings with a few bytes overwritten, then cut at a random point. */
function damaged(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(valid, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }), fc.nat())
    .map(([bytes, edits, cut]) => {
      const b = bytes.slice();
      for (const [p, v] of edits) if (b.length > 0) b[p % b.length] = v;
      return b.subarray(0, cut % (b.length + 1));
    });
}

test('fuzz: random and damaged bytes into decodeWrite give a Write or a CorruptedError, nothing else', (t) => {
  const head = fc.constantFrom(0x50, 0x44, 0x4c, 0x52);
  const tagged = fc
    .tuple(head, fc.array(fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x76, 0x52, 0x46, 0x6c, 0x53, 0x80, 0xff)), { maxLength: 40 }))
    .map(([h, rest]) => Uint8Array.of(h, ...rest));
  const input = fc.oneof(fc.uint8Array({ maxLength: 40 }), tagged, damaged(writeArb.map((w) => codec.encodeWrite(w))));
  mustHold(
    t,
    fc.property(input, (bytes) => {
      mustDecodeOrCorrupt(() => codec.decodeWrite(bytes));
    }),
    3000,
  );
});
