import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import * as codec from '../src/codec/index.js';
import { compareBytes } from '../src/engine/engine.js';
import { CorruptedError, InvalidArgumentError } from '../src/errors.js';
import { SEED, mustDecodeOrCorrupt, mustHold } from './codec-helpers.js';

// Integer encodings, varints and compact bytes (FORMATS.md section 2).

function mustCorrupt(t: ExecutionContext, fn: () => unknown, pattern: RegExp, offset: number): void {
  const e = t.throws(fn, { instanceOf: CorruptedError });
  t.is(e?.code, 'CORRUPTED');
  t.regex(e?.message ?? '', pattern);
  t.regex(e?.message ?? '', new RegExp(`at offset ${offset}\\b`));
  t.is(e?.details['offset'], offset);
}

const { toHex, fromHex } = codec;
const u64 = fc.oneof(fc.bigInt({ min: 0n, max: codec.U64_MAX }), fc.bigInt({ min: 0n, max: 1n << 20n }));
const i64 = fc.bigInt({ min: codec.I64_MIN, max: codec.I64_MAX });

/** Textbook LEB128 on bigints, the reference for differential checks (protobuf uint64 varint). */
function naiveLeb128(v: bigint): string {
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) b |= 0x80;
    out.push(b);
  } while (v !== 0n);
  return toHex(Uint8Array.from(out));
}

test('FORMATS 2: encode_u64 / encode_u64_desc are big-endian of v and of !v', (t) => {
  t.is(toHex(codec.encodeU64(0n)), '0000000000000000');
  t.is(toHex(codec.encodeU64(0x0102030405060708n)), '0102030405060708');
  t.is(toHex(codec.encodeU64(codec.U64_MAX)), 'ffffffffffffffff');
  t.is(toHex(codec.encodeU64Desc(0n)), 'ffffffffffffffff');
  t.is(toHex(codec.encodeU64Desc(1000n)), 'fffffffffffffc17');
  t.is(codec.decodeU64(fromHex('0102030405060708')), 0x0102030405060708n);
  t.is(codec.decodeU64Desc(fromHex('fffffffffffffc17')), 1000n);
  t.is(codec.decodeU64(fromHex('aa 0000000000000102'), 1), 0x102n, 'reads at the offset');
});

test('FORMATS 2: encode_i64 flips the sign bit; i64::MIN is 00..00', (t) => {
  t.is(toHex(codec.encodeI64(codec.I64_MIN)), '0000000000000000');
  t.is(toHex(codec.encodeI64(-1n)), '7fffffffffffffff');
  t.is(toHex(codec.encodeI64(0n)), '8000000000000000');
  t.is(toHex(codec.encodeI64(1n)), '8000000000000001');
  t.is(toHex(codec.encodeI64(codec.I64_MAX)), 'ffffffffffffffff');
  t.is(codec.decodeI64(fromHex('0000000000000000')), codec.I64_MIN);
  t.is(codec.decodeI64(fromHex('7fffffffffffffff')), -1n);
});

test('fixed-width decoders fail with CorruptedError on short input', (t) => {
  mustCorrupt(t, () => codec.decodeU64(new Uint8Array(7)), /need 8 bytes, 7 left/, 0);
  mustCorrupt(t, () => codec.decodeU64Desc(new Uint8Array(0)), /need 8 bytes, 0 left/, 0);
  mustCorrupt(t, () => codec.decodeI64(new Uint8Array(10), 3), /need 8 bytes, 7 left/, 3);
});

test('FORMATS 2: var_u64 vectors match protobuf uint64 varints', (t) => {
  const vectors: [bigint, string][] = [
    [0n, '00'],
    [1n, '01'],
    [127n, '7f'],
    [128n, '8001'],
    [300n, 'ac02'],
    [456n, 'c803'],
    [16383n, 'ff7f'],
    [16384n, '808001'],
    [(1n << 53n) - 1n, 'ffffffffffffff0f'],
    [1n << 56n, '808080808080808001'],
    [1n << 63n, '80808080808080808001'],
    [codec.U64_MAX, 'ffffffffffffffffff01'],
  ];
  for (const [v, hex] of vectors) {
    t.is(toHex(codec.encodeVarU64(v)), hex, `encode ${v}`);
    t.is(naiveLeb128(v), hex, `reference ${v}`);
    t.deepEqual(codec.decodeVarU64(fromHex(hex)), { value: v, next: hex.length / 2 });
    t.is(codec.varU64Length(v), hex.length / 2);
  }
});

test('FORMATS 2: non-minimal varints are accepted: 80 80 80 00 -> 0', (t) => {
  t.deepEqual(codec.decodeVarU64(fromHex('80808000')), { value: 0n, next: 4 });
  t.deepEqual(codec.decodeVarU64(fromHex('ff' + '80'.repeat(8) + '00')), { value: 127n, next: 10 });
});

test('FORMATS 2: the 10th varint byte must be 00 or 01, otherwise overflow', (t) => {
  t.deepEqual(codec.decodeVarU64(fromHex('80808080808080808001')), { value: 1n << 63n, next: 10 });
  t.deepEqual(codec.decodeVarU64(fromHex('80808080808080808000')), { value: 0n, next: 10 });
  mustCorrupt(t, () => codec.decodeVarU64(fromHex('80808080808080808002')), /overflow: 10th byte is 0x02/, 0);
  mustCorrupt(t, () => codec.decodeVarU64(fromHex('ffffffffffffffffff7f')), /overflow/, 0);
  mustCorrupt(t, () => codec.decodeVarU64(fromHex('ffffffffffffffffff81 00')), /overflow/, 0);
  mustCorrupt(t, () => codec.decodeVarU64(fromHex('aa 80808080808080808002'), 1), /overflow/, 1);
});

test('FORMATS 2: running out of bytes in a varint is EOF', (t) => {
  mustCorrupt(t, () => codec.decodeVarU64(new Uint8Array(0)), /past the end/, 0);
  mustCorrupt(t, () => codec.decodeVarU64(fromHex('80')), /past the end/, 0);
  mustCorrupt(t, () => codec.decodeVarU64(fromHex('ffffffffffffffffff')), /past the end/, 0);
  mustCorrupt(t, () => codec.decodeVarU64(fromHex('01 8080'), 1), /past the end/, 1);
  t.deepEqual(codec.decodeVarU64(fromHex('01 7f'), 1), { value: 127n, next: 2 });
});

test('FORMATS 2: var_i64 is zigzag then LEB128', (t) => {
  const vectors: [bigint, string][] = [
    [0n, '00'],
    [-1n, '01'],
    [1n, '02'],
    [-64n, '7f'],
    [63n, '7e'],
    [64n, '8001'],
    [codec.I64_MAX, 'feffffffffffffffff01'],
    [codec.I64_MIN, 'ffffffffffffffffff01'],
  ];
  for (const [v, hex] of vectors) {
    t.is(toHex(codec.encodeVarI64(v)), hex, `encode ${v}`);
    t.deepEqual(codec.decodeVarI64(fromHex(hex)), { value: v, next: hex.length / 2 }, `decode ${hex}`);
  }
});

test('FORMATS 2: compact bytes: "" -> 00, "hello" -> 0a 68 65 6c 6c 6f', (t) => {
  t.is(toHex(codec.encodeCompactBytes(new Uint8Array(0))), '00');
  const hello = new TextEncoder().encode('hello');
  t.is(toHex(codec.encodeCompactBytes(hello)), '0a68656c6c6f');
  const d = codec.decodeCompactBytes(fromHex('0a68656c6c6f ff'));
  t.deepEqual(d.value, hello);
  t.is(d.next, 6);
  t.is(toHex(codec.encodeCompactBytes(new Uint8Array(64))), '8001' + '00'.repeat(64));
  t.is(codec.compactBytesLength(64), 66);
});

test('compact bytes: a negative or too-long length is corruption', (t) => {
  mustCorrupt(t, () => codec.decodeCompactBytes(fromHex('01')), /negative compact-bytes length/, 0);
  mustCorrupt(t, () => codec.decodeCompactBytes(fromHex('0a 6865')), /length 5 exceeds the 2 bytes left/, 0);
  mustCorrupt(t, () => codec.decodeCompactBytes(fromHex('ffffffffffffffffff01')), /too large/, 0);
  mustCorrupt(t, () => codec.decodeCompactBytes(new Uint8Array(0)), /past the end/, 0);
});

test('caller mistakes: out-of-range values are InvalidArgumentError, wrong types TypeError', (t) => {
  t.throws(() => codec.encodeVarU64(-1n), { instanceOf: InvalidArgumentError });
  t.throws(() => codec.encodeVarU64(1n << 64n), { instanceOf: InvalidArgumentError });
  t.throws(() => codec.encodeU64(1n << 64n), { instanceOf: InvalidArgumentError });
  t.throws(() => codec.encodeU64Desc(-5n), { instanceOf: InvalidArgumentError });
  t.throws(() => codec.encodeI64(codec.I64_MAX + 1n), { instanceOf: InvalidArgumentError });
  t.throws(() => codec.encodeVarI64(codec.I64_MIN - 1n), { instanceOf: InvalidArgumentError });
  t.throws(() => codec.encodeVarU64(3 as unknown as bigint), { instanceOf: TypeError });
  t.throws(() => codec.encodeCompactBytes('x' as unknown as Uint8Array), { instanceOf: TypeError });
  t.throws(() => codec.decodeVarU64(new Uint8Array(2), 3), { instanceOf: RangeError });
  t.throws(() => codec.decodeVarU64(new Uint8Array(2), -1), { instanceOf: RangeError });
});

test('ByteReader.varU64Number reads lengths as numbers and rejects values above 2^53 - 1', (t) => {
  const r = new codec.ByteReader(fromHex('ac02 ffffffffffffff0f 8080808080808010'), 'test');
  t.is(r.varU64Number('a'), 300);
  t.is(r.varU64Number('b'), Number.MAX_SAFE_INTEGER);
  const e = t.throws(() => r.varU64Number('c'), { instanceOf: CorruptedError });
  t.regex(e?.message ?? '', /^test: c: value 9007199254740992 is too large at offset 10$/);
});

test('encodeVarU64Into: the number path equals the bigint path, at an offset', (t) => {
  mustHold(
    t,
    fc.property(fc.maxSafeNat(), (n) => {
      const a = new Uint8Array(12);
      const b = new Uint8Array(12);
      const end = codec.encodeVarU64Into(n, a, 1);
      return (
        end - 1 === codec.varU64LengthNumber(n) &&
        codec.encodeVarU64Into(BigInt(n), b, 1) === end &&
        toHex(a) === toHex(b) &&
        a[0] === 0 &&
        toHex(a.subarray(1, end)) === toHex(codec.encodeVarU64(BigInt(n)))
      );
    }),
  );
  const out = new Uint8Array(10);
  t.is(codec.encodeVarU64Into(codec.U64_MAX, out, 0), 10);
  t.is(toHex(out), 'ffffffffffffffffff01');
  t.throws(() => codec.encodeVarU64Into(300, new Uint8Array(2), 1), { instanceOf: RangeError, message: /need 2 bytes at offset 1 of a 2-byte buffer/ });
  t.throws(() => codec.encodeVarU64Into(-1, out, 0), { instanceOf: InvalidArgumentError });
  t.throws(() => codec.encodeVarU64Into(2 ** 53, out, 0), { instanceOf: InvalidArgumentError });
  t.throws(() => codec.encodeVarU64Into(1.5, out, 0), { instanceOf: InvalidArgumentError });
  t.throws(() => codec.encodeVarU64Into(-1n, out, 0), { instanceOf: InvalidArgumentError });
});

test('decodeVarU64Number: lengths as numbers, CorruptedError above 2^53 - 1', (t) => {
  t.deepEqual(codec.decodeVarU64Number(fromHex('00 ac02'), 1), { value: 300, next: 3 });
  t.deepEqual(codec.decodeVarU64Number(fromHex('ffffffffffffff0f')), { value: Number.MAX_SAFE_INTEGER, next: 8 });
  mustCorrupt(t, () => codec.decodeVarU64Number(fromHex('8080808080808010')), /too large/, 0);
  mustCorrupt(t, () => codec.decodeVarU64Number(fromHex('80808080808080808002')), /overflow/, 0);
});

test('property: var_u64 round-trips and equals textbook LEB128', (t) => {
  mustHold(
    t,
    fc.property(u64, fc.uint8Array({ maxLength: 4 }), (v, suffix) => {
      const enc = codec.encodeVarU64(v);
      const d = codec.decodeVarU64(Uint8Array.of(...enc, ...suffix));
      return toHex(enc) === naiveLeb128(v) && d.value === v && d.next === enc.length && enc.length === codec.varU64Length(v);
    }),
    1000,
  );
});

test('property: var_i64, u64, u64 desc and i64 round-trip; fixed-width encodings keep (or reverse) order', (t) => {
  mustHold(
    t,
    fc.property(i64, i64, u64, u64, (a, b, x, y) => {
      const za = codec.encodeVarI64(a);
      if (codec.decodeVarI64(za).value !== a) return false;
      if (codec.decodeI64(codec.encodeI64(a)) !== a) return false;
      if (codec.decodeU64(codec.encodeU64(x)) !== x || codec.decodeU64Desc(codec.encodeU64Desc(x)) !== x) return false;
      const cmp = (p: bigint, q: bigint): number => (p < q ? -1 : p > q ? 1 : 0);
      return (
        Math.sign(compareBytes(codec.encodeI64(a), codec.encodeI64(b))) === cmp(a, b) &&
        Math.sign(compareBytes(codec.encodeU64(x), codec.encodeU64(y))) === cmp(x, y) &&
        Math.sign(compareBytes(codec.encodeU64Desc(x), codec.encodeU64Desc(y))) === -cmp(x, y)
      );
    }),
    1000,
  );
});

test('property: compact bytes round-trip with the value as a view into the input', (t) => {
  mustHold(
    t,
    fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      const enc = codec.encodeCompactBytes(b);
      const d = codec.decodeCompactBytes(enc);
      return compareBytes(d.value, b) === 0 && d.next === enc.length && d.value.buffer === enc.buffer;
    }),
  );
});

test('fuzz: random bytes into every number decoder give only CorruptedError', (t) => {
  const byte = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x80, 0xff, 0x00, 0x01, 0x02));
  mustHold(
    t,
    fc.property(fc.array(byte, { maxLength: 24 }), (a) => {
      const bytes = Uint8Array.from(a);
      mustDecodeOrCorrupt(() => codec.decodeVarU64(bytes));
      mustDecodeOrCorrupt(() => codec.decodeVarI64(bytes));
      mustDecodeOrCorrupt(() => codec.decodeCompactBytes(bytes));
      mustDecodeOrCorrupt(() => codec.decodeU64(bytes));
      mustDecodeOrCorrupt(() => codec.decodeU64Desc(bytes));
      mustDecodeOrCorrupt(() => codec.decodeI64(bytes));
    }),
    2000,
  );
});
