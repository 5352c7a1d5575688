import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import * as codec from '../src/codec/index.js';
import { compareBytes } from '../src/engine/engine.js';
import { CorruptedError, InvalidArgumentError } from '../src/errors.js';
import { SEED, mustDecodeOrCorrupt, mustHold } from './codec-helpers.js';

// Memcomparable bytes (FORMATS.md section 1) and keys with timestamps (section 3).

function mustCorrupt(t: ExecutionContext, fn: () => unknown, reason: string, offset: number): void {
  const e = t.throws(fn, { instanceOf: CorruptedError });
  t.is(e?.code, 'CORRUPTED');
  t.is(e?.details['reason'], reason, e?.message);
  t.is(e?.details['offset'], offset, e?.message);
  t.regex(e?.message ?? '', new RegExp(`offset ${offset}\\b`));
}

const { toHex, fromHex } = codec;
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const u64 = fc.bigInt({ min: 0n, max: codec.U64_MAX });
const rawKey = fc.uint8Array({ maxLength: 40 });

test('FORMATS 1.1: layout for n = 9, raw 01..09', (t) => {
  t.is(toHex(codec.encodeBytes(fromHex('010203040506070809'))), '0102030405060708ff' + '0900000000000000f8');
  t.is(codec.encodedLength(9), 18);
});

test('FORMATS 1.1 marker table: every final-group size, ascending and descending', (t) => {
  const table = [
    [0, 0xf7, 0x08],
    [1, 0xf8, 0x07],
    [2, 0xf9, 0x06],
    [3, 0xfa, 0x05],
    [4, 0xfb, 0x04],
    [5, 0xfc, 0x03],
    [6, 0xfd, 0x02],
    [7, 0xfe, 0x01],
  ] as const;
  for (const [r, asc, desc] of table) {
    for (const full of [0, 1, 2]) {
      const raw = new Uint8Array(full * 8 + r).fill(0xab);
      const enc = codec.encodeBytes(raw);
      t.is(enc.length, (full + 1) * 9);
      t.is(enc.length, codec.encodedLength(raw.length));
      for (let g = 0; g < full; g++) t.is(enc[g * 9 + 8], 0xff, `full-group marker, r=${r}`);
      t.is(enc[enc.length - 1], asc, `asc final marker, r=${r}`);
      // Padding is 0x00 ascending, 0xFF descending.
      for (let j = r; j < 8; j++) t.is(enc[full * 9 + j], 0x00);
      const dsc = codec.encodeBytesDesc(raw);
      for (let g = 0; g < full; g++) t.is(dsc[g * 9 + 8], 0x00, `full-group desc marker, r=${r}`);
      t.is(dsc[dsc.length - 1], desc, `desc final marker, r=${r}`);
      for (let j = r; j < 8; j++) t.is(dsc[full * 9 + j], 0xff);
    }
  }
});

test('FORMATS 1.1: empty and 8-byte raw keys end with an all-zero group marked F7', (t) => {
  t.is(toHex(codec.encodeBytes(new Uint8Array(0))), '0000000000000000f7');
  t.is(toHex(codec.encodeBytes(utf8('abcdefgh'))), '6162636465666768ff' + '0000000000000000f7');
  t.is(toHex(codec.encodeBytesDesc(new Uint8Array(0))), 'ffffffffffffffff08');
});

test('FORMATS 1.2: descending encoding is the bitwise NOT of the ascending one', (t) => {
  const raw = fromHex('00 01 fe ff 7a 10 20 30 40 50');
  const asc = codec.encodeBytes(raw);
  const desc = codec.encodeBytesDesc(raw);
  t.is(desc.length, asc.length);
  for (let i = 0; i < asc.length; i++) t.is(desc[i], ~asc[i]! & 0xff);
});

test('FORMATS 1.3: decodeBytes returns the raw bytes and the rest as a view', (t) => {
  const enc = fromHex('0102030405060708ff 0900000000000000f8 aabbcc');
  const { raw, rest } = codec.decodeBytes(enc);
  t.is(toHex(raw), '010203040506070809');
  t.is(toHex(rest), 'aabbcc');
  t.is(rest.buffer, enc.buffer, 'rest is a subarray, not a copy');
  t.is(rest.byteOffset, 18);
  const d = codec.decodeBytes(codec.encodeBytesDesc(utf8('hello world')), true);
  t.deepEqual(d.raw, utf8('hello world'));
  t.is(d.rest.length, 0);
});

test('FORMATS 1.3: EOF when a chunk is shorter than 9 bytes before the final group', (t) => {
  mustCorrupt(t, () => codec.decodeBytes(new Uint8Array(0)), 'EOF', 0);
  mustCorrupt(t, () => codec.decodeBytes(fromHex('0000000000000000')), 'EOF', 0);
  // A full group, then nothing.
  mustCorrupt(t, () => codec.decodeBytes(fromHex('0102030405060708ff')), 'EOF', 9);
  // A full group, then a short chunk that does hold a valid-looking final marker.
  mustCorrupt(t, () => codec.decodeBytes(fromHex('0102030405060708ff 09000000f8')), 'EOF', 9);
  mustCorrupt(t, () => codec.decodeBytes(fromHex('ffffffffffffffff00'), true), 'EOF', 9);
});

test('FORMATS 1.3: KeyPadding for markers meaning pad > 8, ascending 00..F6 and descending 09..FF', (t) => {
  for (const m of [0x00, 0x01, 0x7f, 0xf0, 0xf6]) {
    mustCorrupt(t, () => codec.decodeBytes(Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, m)), 'KeyPadding', 8);
  }
  for (const m of [0x09, 0x10, 0x80, 0xfe, 0xff]) {
    // 0xFF desc after a full group (00) is also pad > 8.
    mustCorrupt(t, () => codec.decodeBytes(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, m), true), 'KeyPadding', 8);
  }
  // Ascending and descending markers are not interchangeable.
  mustCorrupt(t, () => codec.decodeBytes(codec.encodeBytes(utf8('abc')), true), 'KeyPadding', 8);
});

test('FORMATS 1.3: KeyPadding when a padding byte is not the pad byte; the offset names the byte', (t) => {
  // r = 3 (marker FA): bytes 3..7 are padding.
  mustCorrupt(t, () => codec.decodeBytes(fromHex('6162630000000100fa')), 'KeyPadding', 6);
  // In the second chunk, with an all-zero-group marker F7 but a non-zero byte.
  mustCorrupt(t, () => codec.decodeBytes(fromHex('0102030405060708ff 0000000000000001f7')), 'KeyPadding', 16);
  // Descending padding must be 0xFF.
  mustCorrupt(t, () => codec.decodeBytes(fromHex('9e9d9cfffffffffe05'), true), 'KeyPadding', 7);
});

test('FORMATS 1.4: isEncodedFrom checks length, group count and every group exactly', (t) => {
  for (const s of ['', 'a', 'abcdefg', 'abcdefgh', 'abcdefghi', 'a much longer key than one group']) {
    const raw = utf8(s);
    const enc = codec.encodeBytes(raw);
    t.true(codec.isEncodedFrom(enc, raw), s);
    t.false(codec.isEncodedFrom(enc.subarray(0, enc.length - 1), raw));
    t.false(codec.isEncodedFrom(codec.appendTs(enc, 1n), raw));
    for (let i = 0; i < enc.length; i++) {
      const bad = enc.slice();
      bad[i] ^= 0x01;
      t.false(codec.isEncodedFrom(bad, raw), `${s}: byte ${i} flipped`);
    }
  }
});

test('FORMATS 3 worked example: from_raw("z").append_ts(1000)', (t) => {
  const expected = '7a00000000000000f8' + 'fffffffffffffc17';
  t.is(toHex(codec.appendTs(codec.encodeBytes(utf8('z')), 1000n)), expected);
  t.is(toHex(codec.encodeTsKey(utf8('z'), 1000n)), expected);
  const { key, ts } = codec.splitTs(fromHex(expected));
  t.is(ts, 1000n);
  t.is(toHex(key), '7a00000000000000f8');
  t.deepEqual(codec.toRaw(fromHex(expected)), utf8('z'), 'to_raw ignores the ts suffix');
});

test('FORMATS 3: appendTs works on non-encoded bytes, as test_append_ts does with "abc"', (t) => {
  const k = codec.appendTs(utf8('abc'), 0n);
  t.is(toHex(k), '616263ffffffffffffffff');
  t.is(codec.decodeTs(k), 0n);
  t.is(toHex(codec.truncateTs(k)), '616263');
});

test('FORMATS 3.1: ts = u64::MAX encodes to 8x00 and ts = 0 to 8xFF', (t) => {
  t.is(toHex(codec.appendTs(new Uint8Array(0), codec.U64_MAX)), '0000000000000000');
  t.is(toHex(codec.appendTs(new Uint8Array(0), 0n)), 'ffffffffffffffff');
  t.is(codec.decodeTs(fromHex('0000000000000000')), codec.U64_MAX);
  t.is(codec.decodeTs(fromHex('ffffffffffffffff')), 0n);
  // A TSO ts: physical ms << 18 | logical.
  const tso = (1_700_000_000_000n << 18n) | 5n;
  t.is(codec.decodeTs(codec.encodeTsKey(utf8('k'), tso)), tso);
});

test('FORMATS 3: decodeTs, truncateTs and splitTs fail with KeyLength below 8 bytes', (t) => {
  for (const len of [0, 1, 7]) {
    const k = new Uint8Array(len);
    mustCorrupt(t, () => codec.decodeTs(k), 'KeyLength', 0);
    mustCorrupt(t, () => codec.truncateTs(k), 'KeyLength', 0);
    mustCorrupt(t, () => codec.splitTs(k), 'KeyLength', 0);
  }
  t.is(codec.truncateTs(new Uint8Array(8)).length, 0);
});

test('FORMATS 3: truncateTs and splitTs return views of the input', (t) => {
  const k = codec.encodeTsKey(utf8('key'), 42n);
  const truncated = codec.truncateTs(k);
  t.is(truncated.buffer, k.buffer);
  t.is(truncated.length, 9);
  t.is(codec.splitTs(k).key.buffer, k.buffer);
});

test('FORMATS 3: isUserKeyEq needs exactly 8 more bytes and ignores their value', (t) => {
  const user = codec.encodeBytes(utf8('user'));
  t.true(codec.isUserKeyEq(codec.appendTs(user, 7n), user));
  t.true(codec.isUserKeyEq(codec.appendTs(user, codec.U64_MAX), user));
  t.false(codec.isUserKeyEq(user, user), 'no ts');
  t.false(codec.isUserKeyEq(Uint8Array.of(...codec.appendTs(user, 7n), 0), user), '9 extra bytes');
  t.false(codec.isUserKeyEq(codec.encodeTsKey(utf8('usex'), 7n), user), 'different user key');
  t.true(codec.isUserKeyEq(new Uint8Array(8), new Uint8Array(0)));
});

test('FORMATS 3: fromRawMaybeUnbounded is undefined only for the empty key', (t) => {
  t.is(codec.fromRawMaybeUnbounded(new Uint8Array(0)), undefined);
  t.is(toHex(codec.fromRawMaybeUnbounded(utf8('a'))!), '6100000000000000f8');
});

test('FORMATS 3.3: dataKey prepends z and originKey strips it', (t) => {
  const k = codec.encodeTsKey(utf8('z'), 1000n);
  const d = codec.dataKey(k);
  t.is(toHex(d), '7a' + toHex(k));
  t.deepEqual(codec.originKey(d), k);
  t.is(codec.originKey(d).buffer, d.buffer);
  t.is(codec.DATA_PREFIX, 0x7a);
  t.is(codec.originKey(Uint8Array.of(0x7a)).length, 0);
  mustCorrupt(t, () => codec.originKey(new Uint8Array(0)), 'DataPrefix', 0);
  mustCorrupt(t, () => codec.originKey(Uint8Array.of(0x01, 0x02)), 'DataPrefix', 0);
});

test('caller mistakes are TypeError or InvalidArgumentError, never truncation', (t) => {
  const key = codec.encodeBytes(utf8('k'));
  t.throws(() => codec.appendTs(key, -1n), { instanceOf: InvalidArgumentError });
  t.throws(() => codec.appendTs(key, 1n << 64n), { instanceOf: InvalidArgumentError });
  t.throws(() => codec.encodeTsKey(utf8('k'), codec.U64_MAX + 1n), { instanceOf: InvalidArgumentError });
  t.throws(() => codec.appendTs(key, 5 as unknown as bigint), { instanceOf: TypeError });
  t.throws(() => codec.encodeBytes('abc' as unknown as Uint8Array), { instanceOf: TypeError });
  t.throws(() => codec.decodeBytes([1, 2] as unknown as Uint8Array), { instanceOf: TypeError });
  t.throws(() => codec.decodeTs(null as unknown as Uint8Array), { instanceOf: TypeError });
});

test('encodeBytesInto / encodeTsKeyInto write padding into a reused buffer, return the end, check room', (t) => {
  const out = new Uint8Array(40).fill(0xee);
  const end = codec.encodeBytesInto(utf8('abc'), out, 3);
  t.is(end, 12);
  t.is(toHex(out.subarray(3, 12)), '6162630000000000fa');
  t.is(out[2], 0xee);
  t.is(out[12], 0xee);
  out.fill(0xee);
  t.is(codec.encodeTsKeyInto(utf8('z'), 1000n, out, 1), 18);
  t.is(toHex(out.subarray(0, 19)), 'ee' + '7a00000000000000f8' + 'fffffffffffffc17' + 'ee');
  t.throws(() => codec.encodeBytesInto(utf8('abc'), new Uint8Array(9), 1), { instanceOf: RangeError, message: /need 9 bytes at offset 1/ });
  t.throws(() => codec.encodeTsKeyInto(utf8('abc'), 1n, new Uint8Array(16), 0), { instanceOf: RangeError });
  t.throws(() => codec.encodeTsKeyInto(utf8('abc'), -1n, new Uint8Array(32), 0), { instanceOf: InvalidArgumentError });
  t.throws(() => codec.encodeBytesInto(utf8('abc'), out, -1), { instanceOf: RangeError });
});

test('property: decodeBytes inverts encodeBytes and encodeBytesDesc, leaving any suffix as rest', (t) => {
  mustHold(
    t,
    fc.property(rawKey, fc.uint8Array({ maxLength: 12 }), (raw, suffix) => {
      const asc = codec.encodeBytes(raw);
      const joined = Uint8Array.of(...asc, ...suffix);
      const d = codec.decodeBytes(joined);
      const dd = codec.decodeBytes(Uint8Array.of(...codec.encodeBytesDesc(raw), ...suffix), true);
      return (
        compareBytes(d.raw, raw) === 0 &&
        compareBytes(d.rest, suffix) === 0 &&
        compareBytes(dd.raw, raw) === 0 &&
        compareBytes(dd.rest, suffix) === 0 &&
        asc.length === codec.encodedLength(raw.length) &&
        asc.length % 9 === 0 &&
        codec.isEncodedFrom(asc, raw)
      );
    }),
  );
});

test('property: encoding preserves order (ascending) and reverses it (descending)', (t) => {
  // Keys from a small alphabet so that shared prefixes and equal keys are common.
  const key = fc.uint8Array({ maxLength: 20 }).map((a) => a.map((b) => b % 3 === 0 ? 0 : b % 3 === 1 ? 0xff : b));
  mustHold(
    t,
    fc.property(key, key, (a, b) => {
      const raw = Math.sign(compareBytes(a, b));
      return (
        Math.sign(compareBytes(codec.encodeBytes(a), codec.encodeBytes(b))) === raw &&
        Math.sign(compareBytes(codec.encodeBytesDesc(a), codec.encodeBytesDesc(b))) === -raw
      );
    }),
    1000,
  );
});

test('property: no encoding is a proper prefix of another (prefix-free)', (t) => {
  mustHold(
    t,
    fc.property(rawKey, rawKey, (a, b) => {
      const ea = codec.encodeBytes(a);
      const eb = codec.encodeBytes(b);
      if (compareBytes(a, b) === 0) return compareBytes(ea, eb) === 0;
      const [short, long] = ea.length <= eb.length ? [ea, eb] : [eb, ea];
      return short.length === long.length || compareBytes(short, long.subarray(0, short.length)) !== 0;
    }),
    1000,
  );
  // The adversarial pairs: a raw key and its extensions by zero bytes.
  for (let n = 0; n < 20; n++) {
    const a = codec.encodeBytes(new Uint8Array(n));
    const b = codec.encodeBytes(new Uint8Array(n + 1));
    t.true(compareBytes(a, b) < 0);
    t.notDeepEqual(b.subarray(0, a.length), a);
  }
});

test('property (FORMATS 3.1): a@t1 < b@t2 whenever a < b, and for one key the larger ts sorts first', (t) => {
  const key = fc.uint8Array({ maxLength: 17 }).map((a) => a.map((b) => b & 0x81));
  mustHold(
    t,
    fc.property(key, key, u64, u64, (a, b, t1, t2) => {
      const ka = codec.encodeTsKey(a, t1);
      const kb = codec.encodeTsKey(b, t2);
      const raw = compareBytes(a, b);
      if (raw !== 0) return Math.sign(compareBytes(ka, kb)) === Math.sign(raw);
      return Math.sign(compareBytes(ka, kb)) === (t1 > t2 ? -1 : t1 < t2 ? 1 : 0);
    }),
    1000,
  );
});

test('property: appendTs / encodeTsKey / splitTs / decodeTs / truncateTs agree', (t) => {
  mustHold(
    t,
    fc.property(rawKey, u64, (raw, ts) => {
      const enc = codec.encodeBytes(raw);
      const k = codec.appendTs(enc, ts);
      const split = codec.splitTs(k);
      return (
        compareBytes(k, codec.encodeTsKey(raw, ts)) === 0 &&
        split.ts === ts &&
        codec.decodeTs(k) === ts &&
        compareBytes(split.key, enc) === 0 &&
        compareBytes(codec.truncateTs(k), enc) === 0 &&
        codec.isUserKeyEq(k, enc) &&
        compareBytes(codec.toRaw(k), raw) === 0 &&
        compareBytes(codec.originKey(codec.dataKey(k)), k) === 0
      );
    }),
  );
});

test('fuzz: random bytes into decodeBytes / decodeTs / splitTs / originKey give only CorruptedError', (t) => {
  // Bytes biased towards markers and padding so that many inputs get past the first chunk.
  const byte = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x00, 0xff, 0xf7, 0xf8, 0xfe, 0x08, 0x01));
  const input = fc.array(byte, { maxLength: 60 }).map((a) => Uint8Array.from(a));
  mustHold(
    t,
    fc.property(input, fc.boolean(), (bytes, desc) => {
      mustDecodeOrCorrupt(() => codec.decodeBytes(bytes, desc));
      mustDecodeOrCorrupt(() => codec.decodeTs(bytes));
      mustDecodeOrCorrupt(() => codec.splitTs(bytes));
      mustDecodeOrCorrupt(() => codec.truncateTs(bytes));
      mustDecodeOrCorrupt(() => codec.toRaw(bytes));
      mustDecodeOrCorrupt(() => codec.originKey(bytes));
    }),
    2000,
  );
});

test('fuzz: valid encodings with one byte changed or cut decode or fail with CorruptedError only', (t) => {
  mustHold(
    t,
    fc.property(rawKey, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean(), (raw, pos, value, desc) => {
      const enc = desc ? codec.encodeBytesDesc(raw) : codec.encodeBytes(raw);
      const changed = enc.slice();
      changed[pos % changed.length] = value;
      mustDecodeOrCorrupt(() => codec.decodeBytes(changed, desc));
      mustDecodeOrCorrupt(() => codec.decodeBytes(enc.subarray(0, pos % enc.length), desc));
    }),
    1000,
  );
});
