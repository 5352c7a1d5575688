import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { deepStrictEqual, ok } from 'node:assert/strict';
import * as codec from '../src/codec/index.js';
import { CorruptedError, InvalidArgumentError } from '../src/errors.js';
import { SEED, mustDecodeOrCorrupt, mustHold } from './codec-helpers.js';

// The Lock record and SharedLocks, the lock-CF values (FORMATS.md section 5).

function mustCorrupt(t: ExecutionContext, decode: (b: Uint8Array) => unknown, hex: string, pattern: RegExp, offset: number): void {
  const e = t.throws(() => decode(fromHex(hex)), { instanceOf: CorruptedError }, hex);
  t.regex(e?.message ?? '', pattern, hex);
  t.regex(e?.message ?? '', new RegExp(`at offset ${offset}$`), hex);
  t.is(e?.details['offset'], offset, hex);
}

/** Encodes `lock`, checks the bytes, decodes them back and checks the result equals `lock`. */
function mustRoundTrip(t: ExecutionContext, lock: codec.Lock, hex: string): void {
  const bytes = codec.encodeLock(lock);
  t.is(toHex(bytes), hex.replace(/\s+/g, ''));
  t.deepEqual(codec.decodeLock(bytes), lock);
}

const { toHex, fromHex, newLock } = codec;
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const HEAD = '50 04 706b 01 0a';
const lock = (over: Partial<codec.Lock>): codec.Lock => newLock({ lockType: 'Put', primary: utf8('pk'), startTs: 1n, ttl: 10n, ...over });
const u64hex = (v: bigint): string => toHex(codec.encodeU64(v));

test('FORMATS 5 worked example: Put primary "pk" ts 1 ttl 10', (t) => {
  mustRoundTrip(t, lock({}), HEAD);
});

test('FORMATS 5.1: every lock type byte', (t) => {
  mustRoundTrip(t, lock({ lockType: 'Delete' }), '44 04 706b 01 0a');
  mustRoundTrip(t, lock({ lockType: 'Lock' }), '4c 04 706b 01 0a');
  mustRoundTrip(t, lock({ lockType: 'Pessimistic' }), '53 04 706b 01 0a');
  mustRoundTrip(t, lock({ primary: new Uint8Array(0), startTs: codec.U64_MAX, ttl: 0n }), '50 00 ffffffffffffffffff01 00');
  mustRoundTrip(t, lock({ primary: new Uint8Array(64).fill(1) }), '50 8001' + '01'.repeat(64) + '01 0a');
});

test('FORMATS 5.1: each optional field alone', (t) => {
  mustRoundTrip(t, lock({ shortValue: new Uint8Array(0) }), `${HEAD} 76 00`);
  mustRoundTrip(t, lock({ shortValue: utf8('val') }), `${HEAD} 76 03 76616c`);
  mustRoundTrip(t, lock({ forUpdateTs: 5n }), `${HEAD} 66 ${u64hex(5n)}`);
  mustRoundTrip(t, lock({ txnSize: 3n }), `${HEAD} 74 ${u64hex(3n)}`);
  mustRoundTrip(t, lock({ minCommitTs: 7n }), `${HEAD} 63 ${u64hex(7n)}`);
  mustRoundTrip(t, lock({ useAsyncCommit: true }), `${HEAD} 61 00`);
  mustRoundTrip(t, lock({ useAsyncCommit: true, secondaries: [utf8('s1'), new Uint8Array(0)] }), `${HEAD} 61 02 04 7331 00`);
  mustRoundTrip(t, lock({ rollbackTs: [1n, 2n] }), `${HEAD} 72 02 ${u64hex(1n)} ${u64hex(2n)}`);
  mustRoundTrip(t, lock({ lastChange: codec.LAST_CHANGE_NOT_EXIST }), `${HEAD} 6c ${u64hex(0n)} 01`);
  mustRoundTrip(t, lock({ lastChange: codec.lastChangeExist(4n, 2n) }), `${HEAD} 6c ${u64hex(4n)} 02`);
  mustRoundTrip(t, lock({ txnSource: 300n }), `${HEAD} 73 ac02`);
  mustRoundTrip(t, lock({ isLockedWithConflict: true }), `${HEAD} 46`);
  mustRoundTrip(t, lock({ generation: 9n }), `${HEAD} 67 ${u64hex(9n)}`);
});

test('FORMATS 5.1: all fields together, in the writer order', (t) => {
  mustRoundTrip(
    t,
    {
      lockType: 'Put',
      primary: utf8('pk'),
      startTs: 456n,
      ttl: 1000n,
      shortValue: utf8('x'),
      forUpdateTs: 10n,
      txnSize: 2n,
      minCommitTs: 11n,
      useAsyncCommit: true,
      secondaries: [utf8('sk')],
      rollbackTs: [3n],
      lastChange: codec.lastChangeExist(4n, 2n),
      txnSource: 5n,
      isLockedWithConflict: true,
      generation: 6n,
    },
    `50 04706b c803 e807 76 01 78 66 ${u64hex(10n)} 74 ${u64hex(2n)} 63 ${u64hex(11n)} 61 01 04 736b ` +
      `72 01 ${u64hex(3n)} 6c ${u64hex(4n)} 02 73 05 46 67 ${u64hex(6n)}`,
  );
});

test('FORMATS 5.2 [INFERRED]: ttl is optional; a record ending after start_ts has every default', (t) => {
  t.deepEqual(codec.decodeLock(fromHex('50 04 706b 01')), lock({ ttl: 0n }));
  t.is(toHex(codec.encodeLock(codec.decodeLock(fromHex('50 04 706b 01')))), '5004706b0100', 'ttl is always written');
});

test('FORMATS 5.2: a missing start_ts fails, as tested with 4c 04 70 6b', (t) => {
  mustCorrupt(t, codec.decodeLock, '4c 04 70 6b', /^Lock record: start_ts: varint runs past the end of input/, 4);
  mustCorrupt(t, codec.decodeLockStartTs, '4c 04 70 6b', /start_ts: varint runs past the end/, 4);
});

test('FORMATS 5.2: an unknown tag stops parsing and keeps what was read', (t) => {
  // 'T' (0x54) is reserved; what follows it, even known tags, is ignored.
  t.deepEqual(codec.decodeLock(fromHex(`${HEAD} 46 54 67 ${u64hex(9n)}`)), lock({ isLockedWithConflict: true }));
  t.deepEqual(codec.decodeLock(Uint8Array.of(...fromHex(`${HEAD} 63 ${u64hex(7n)}`), ...utf8('unknown'))), lock({ minCommitTs: 7n }));
  // Write's upper-case 'S' is not Lock's txn_source tag.
  t.deepEqual(codec.decodeLock(fromHex(`${HEAD} 53 05`)), lock({}));
});

test('FORMATS 5.2 [INFERRED]: tags in any order; a repeated tag overwrites; "a" with count 0 sets the flag', (t) => {
  const l = codec.decodeLock(fromHex(`${HEAD} 46 67 ${u64hex(1n)} 61 00 66 ${u64hex(2n)} 72 01 ${u64hex(8n)} 72 01 ${u64hex(9n)}`));
  t.deepEqual(l, lock({ isLockedWithConflict: true, generation: 1n, useAsyncCommit: true, forUpdateTs: 2n, rollbackTs: [9n] }));
  const a = codec.decodeLock(fromHex(`${HEAD} 61 01 02 61 61 02 02 62 02 63`));
  t.deepEqual(a.secondaries, [utf8('b'), utf8('c')]);
});

test('FORMATS 5.2: decodeLockType reads the first byte only; decodeLockStartTs skips the primary', (t) => {
  t.is(codec.decodeLockType(fromHex('50')), 'Put');
  t.is(codec.decodeLockType(fromHex('44 ff ff')), 'Delete');
  t.is(codec.decodeLockType(fromHex('4c')), 'Lock');
  t.is(codec.decodeLockType(fromHex('53')), 'Pessimistic');
  t.is(codec.decodeLockType(fromHex('48 68 00')), 'Shared');
  mustCorrupt(t, codec.decodeLockType, '', /lock type: empty input/, 0);
  mustCorrupt(t, codec.decodeLockType, '52', /unknown type byte 0x52/, 0);
  t.is(codec.decodeLockStartTs(fromHex(HEAD)), 1n);
  t.is(codec.decodeLockStartTs(codec.encodeLock(lock({ primary: new Uint8Array(200), startTs: codec.U64_MAX }))), codec.U64_MAX);
  mustCorrupt(t, codec.decodeLockStartTs, '48 68 00', /SharedLocks record/, 0);
  mustCorrupt(t, codec.decodeLockStartTs, '50 06 706b', /primary: compact-bytes length 3 exceeds the 2 bytes left/, 1);
});

test('FORMATS 5.2: malformed Lock records are CorruptedError naming the field and offset', (t) => {
  const d = codec.decodeLock;
  mustCorrupt(t, d, '', /lock type: empty input/, 0);
  mustCorrupt(t, d, '58 00 01', /unknown type byte 0x58/, 0);
  mustCorrupt(t, d, '48 68 00', /SharedLocks record; decode it with decodeSharedLocks/, 0);
  mustCorrupt(t, d, '50', /primary: varint runs past the end/, 1);
  mustCorrupt(t, d, '50 01', /primary: negative compact-bytes length/, 1);
  mustCorrupt(t, d, '50 0a 70', /primary: compact-bytes length 5 exceeds the 1 bytes left/, 1);
  mustCorrupt(t, d, '50 04 706b 01 80', /ttl: varint runs past the end/, 5);
  mustCorrupt(t, d, `${HEAD} 76 04 6162`, /short value: unexpected end of input \(need 4 bytes, 2 left\)/, 8);
  mustCorrupt(t, d, `${HEAD} 76`, /short value length: unexpected end/, 7);
  mustCorrupt(t, d, `${HEAD} 66 0000`, /for_update_ts: unexpected end/, 7);
  mustCorrupt(t, d, `${HEAD} 74`, /txn_size: unexpected end/, 7);
  mustCorrupt(t, d, `${HEAD} 63 00`, /min_commit_ts: unexpected end/, 7);
  mustCorrupt(t, d, `${HEAD} 61`, /secondaries count: varint runs past the end/, 7);
  mustCorrupt(t, d, `${HEAD} 61 05 00`, /secondaries: count 5 exceeds the 1 bytes left/, 7);
  mustCorrupt(t, d, `${HEAD} 61 ffffffffffffffff7f`, /secondaries count: value \d+ is too large/, 7);
  mustCorrupt(t, d, `${HEAD} 61 02 04 7331 04 73`, /secondary: compact-bytes length 2 exceeds the 1 bytes left/, 11);
  mustCorrupt(t, d, `${HEAD} 72 02 ${u64hex(1n)}`, /rollback_ts: 2 timestamps need 16 bytes, 8 left/, 7);
  mustCorrupt(t, d, `${HEAD} 6c ${u64hex(3n)} 00`, /last_change: ts 3 with 0 versions/, 7);
  mustCorrupt(t, d, `${HEAD} 73 80`, /txn_source: varint runs past the end/, 7);
  mustCorrupt(t, d, `${HEAD} 67 01`, /generation: unexpected end/, 7);
});

test('encodeLockInto packs records into one buffer; encodedLockLength validates and sizes', (t) => {
  const a = lock({ useAsyncCommit: true, secondaries: [utf8('s1')] });
  const out = new Uint8Array(codec.encodedLockLength(a) + 7);
  t.is(codec.encodeLockInto(a, out, 2), out.length - 5);
  t.is(toHex(out), '0000' + `${HEAD} 61 01 04 7331`.replace(/ /g, '') + '0000000000');
  t.throws(() => codec.encodeLockInto(a, out, 8), { instanceOf: RangeError });
  t.throws(() => codec.encodedLockLength(lock({ secondaries: [utf8('s')] })), { instanceOf: InvalidArgumentError });
});

test('decodeLock returns primary, short value and secondaries as views into the input', (t) => {
  const bytes = codec.encodeLock(lock({ shortValue: utf8('v'), useAsyncCommit: true, secondaries: [utf8('s')] }));
  const l = codec.decodeLock(bytes);
  t.is(l.primary.buffer, bytes.buffer);
  t.is(l.shortValue!.buffer, bytes.buffer);
  t.is(l.secondaries[0]!.buffer, bytes.buffer);
});

test('caller mistakes in Lock are TypeError or InvalidArgumentError (FORMATS 7.5)', (t) => {
  t.throws(() => codec.encodeLock(lock({ lockType: 'Shared' as codec.LockType })), { instanceOf: TypeError, message: /encodeSharedLocks/ });
  t.throws(() => codec.encodeLock(lock({ lockType: 'Rollback' as codec.LockType })), { instanceOf: TypeError });
  t.throws(() => codec.encodeLock(lock({ secondaries: [utf8('s')] })), { instanceOf: InvalidArgumentError, message: /useAsyncCommit/ });
  t.throws(() => codec.encodeLock(lock({ shortValue: new Uint8Array(256) })), { instanceOf: InvalidArgumentError });
  t.throws(() => codec.encodeLock(lock({ ttl: -1n })), { instanceOf: InvalidArgumentError, message: /ttl/ });
  t.throws(() => codec.encodeLock(lock({ startTs: 1n << 64n })), { instanceOf: InvalidArgumentError, message: /startTs/ });
  t.throws(() => codec.encodeLock(lock({ rollbackTs: [1n, -2n] })), { instanceOf: InvalidArgumentError, message: /rollbackTs/ });
  t.throws(() => codec.encodeLock(lock({ generation: 1n << 64n })), { instanceOf: InvalidArgumentError, message: /generation/ });
  t.throws(() => codec.encodeLock(lock({ txnSize: -1n })), { instanceOf: InvalidArgumentError, message: /txnSize/ });
  t.throws(() => codec.encodeLock(lock({ primary: 'pk' as unknown as Uint8Array })), { instanceOf: TypeError });
  t.throws(() => codec.encodeLock(lock({ useAsyncCommit: true, secondaries: ['s' as unknown as Uint8Array] })), { instanceOf: TypeError });
  t.throws(() => codec.encodeLock(lock({ ttl: 10 as unknown as bigint })), { instanceOf: TypeError });
});

test('writeTypeOfLock: Put, Delete and Lock commit to themselves; Pessimistic has no write type', (t) => {
  t.is(codec.writeTypeOfLock('Put'), 'Put');
  t.is(codec.writeTypeOfLock('Delete'), 'Delete');
  t.is(codec.writeTypeOfLock('Lock'), 'Lock');
  t.is(codec.writeTypeOfLock('Pessimistic'), undefined);
});

// SharedLocks (FORMATS 5.3)

const sharedSeg = (startTs: bigint, lockType: codec.LockType = 'Lock'): codec.Lock =>
  newLock({ lockType, primary: utf8('pk'), startTs, ttl: 3n });

test('FORMATS 5.3: SharedLocks::new() is 48 68 00, and 48 alone is also an empty set', (t) => {
  t.is(toHex(codec.encodeSharedLocks(codec.newSharedLocks())), '486800');
  for (const hex of ['486800', '48']) {
    const s = codec.decodeSharedLocks(fromHex(hex));
    t.false(s.shrinkOnly);
    t.is(s.locks.size, 0);
  }
});

test('FORMATS 5.3: the flags byte is written only when non-zero; bit 0 is SHRINK_ONLY', (t) => {
  const s = { shrinkOnly: true, locks: new Map<bigint, codec.Lock>() };
  t.is(toHex(codec.encodeSharedLocks(s)), '4869016800');
  t.true(codec.decodeSharedLocks(fromHex('48 69 01 68 00')).shrinkOnly);
  t.false(codec.decodeSharedLocks(fromHex('48 69 00 68 00')).shrinkOnly);
  t.true(codec.decodeSharedLocks(fromHex('48 68 00 69 01')).shrinkOnly, 'tags in any order');
  mustCorrupt(t, codec.decodeSharedLocks, '48 69 02 68 00', /flags: unknown flag bits in 0x02/, 2);
  mustCorrupt(t, codec.decodeSharedLocks, '48 69 81', /unknown flag bits in 0x81/, 2);
  mustCorrupt(t, codec.decodeSharedLocks, '48 69', /flags: unexpected end/, 2);
});

test('FORMATS 5.3: one segment has a canonical form; each segment is a compact-bytes Lock record', (t) => {
  const seg = sharedSeg(5n);
  const s = { shrinkOnly: false, locks: new Map([[5n, seg]]) };
  t.is(toHex(codec.encodeSharedLocks(s)), '48 68 01 0c 4c04706b0503'.replace(/ /g, ''));
  const back = codec.decodeSharedLocks(fromHex('48 68 01 0c 4c04706b0503'));
  t.deepEqual([...back.locks.entries()], [[5n, seg]]);
});

test('FORMATS 5.3: segments are accepted in any order and keyed by their own start_ts', (t) => {
  const a = codec.encodeLock(sharedSeg(7n));
  const b = codec.encodeLock(sharedSeg(3n, 'Pessimistic'));
  const c = (x: Uint8Array): string => toHex(codec.encodeCompactBytes(x));
  const ab = codec.decodeSharedLocks(fromHex(`48 68 02 ${c(a)} ${c(b)}`));
  const ba = codec.decodeSharedLocks(fromHex(`48 68 02 ${c(b)} ${c(a)}`));
  for (const s of [ab, ba]) {
    t.is(s.locks.size, 2);
    t.deepEqual(s.locks.get(7n), sharedSeg(7n));
    t.deepEqual(s.locks.get(3n), sharedSeg(3n, 'Pessimistic'));
  }
  // Two segments of one start_ts: the later replaces the earlier, like a HashMap insert.
  const later = codec.encodeLock(newLock({ lockType: 'Lock', primary: utf8('other'), startTs: 7n }));
  const dup = codec.decodeSharedLocks(fromHex(`48 68 02 ${c(a)} ${c(later)}`));
  t.is(dup.locks.size, 1);
  t.deepEqual(dup.locks.get(7n)?.primary, utf8('other'));
});

test('FORMATS 5.3: an unknown tag stops parsing', (t) => {
  const s = codec.decodeSharedLocks(fromHex('48 68 00 7a 69 01'));
  t.false(s.shrinkOnly);
  t.is(s.locks.size, 0);
});

test('FORMATS 5.3: malformed SharedLocks are CorruptedError', (t) => {
  const d = codec.decodeSharedLocks;
  const c = (x: Uint8Array): string => toHex(codec.encodeCompactBytes(x));
  mustCorrupt(t, d, '', /lock type: empty input/, 0);
  mustCorrupt(t, d, HEAD, /type byte 0x50 is not 0x48/, 0);
  mustCorrupt(t, d, '48 68', /segment count: varint runs past the end/, 2);
  mustCorrupt(t, d, '48 68 03 00', /segments: count 3 exceeds the 1 bytes left/, 2);
  mustCorrupt(t, d, '48 68 01 0a 4c04', /segment: compact-bytes length 5 exceeds the 2 bytes left/, 3);
  mustCorrupt(t, d, '48 68 01 00', /segment 0: Lock record: lock type: empty input/, 3);
  mustCorrupt(t, d, `48 68 02 ${c(codec.encodeLock(sharedSeg(1n)))} 08 4c04706b`, /segment 1: .*start_ts: varint runs past the end/, 10);
  mustCorrupt(t, d, `48 68 01 ${c(codec.encodeLock(lock({})))}`, /segment 0: lock type Put cannot be shared/, 3);
  mustCorrupt(t, d, `48 68 01 ${c(fromHex('486800'))}`, /segment 0: .*SharedLocks record/, 3);
});

test('caller mistakes in SharedLocks are TypeError or InvalidArgumentError', (t) => {
  const bad = (locks: Map<bigint, codec.Lock>): void => void codec.encodeSharedLocks({ shrinkOnly: false, locks });
  t.throws(() => bad(new Map([[1n, lock({ startTs: 1n })]])), { instanceOf: InvalidArgumentError, message: /type Put/ });
  t.throws(() => bad(new Map([[2n, sharedSeg(1n)]])), { instanceOf: InvalidArgumentError, message: /keyed by 2 has startTs 1/ });
  t.throws(() => codec.encodeSharedLocks({ shrinkOnly: false, locks: [] as unknown as Map<bigint, codec.Lock> }), { instanceOf: TypeError });
  t.throws(() => codec.encodeSharedLocks({ shrinkOnly: 1 as unknown as boolean, locks: new Map() }), { instanceOf: TypeError });
});

const u64 = fc.oneof(fc.bigInt({ min: 0n, max: codec.U64_MAX }), fc.bigInt({ min: 0n, max: 300n }));
const positiveU64 = fc.bigInt({ min: 1n, max: codec.U64_MAX });
const lastChangeArb: fc.Arbitrary<codec.LastChange> = fc.oneof(
  fc.constant(codec.LAST_CHANGE_UNKNOWN),
  fc.constant(codec.LAST_CHANGE_NOT_EXIST),
  fc.tuple(positiveU64, fc.oneof(positiveU64, fc.bigInt({ min: 1n, max: 5n }))).map(([ts, versions]) => codec.lastChangeExist(ts, versions)),
);
const lockArbOf = (types: codec.LockType[]): fc.Arbitrary<codec.Lock> =>
  fc
    .record({
      lockType: fc.constantFrom(...types),
      primary: fc.uint8Array({ maxLength: 70 }),
      startTs: u64,
      ttl: u64,
      shortValue: fc.option(fc.uint8Array({ maxLength: 255 }), { nil: undefined }),
      forUpdateTs: u64,
      txnSize: u64,
      minCommitTs: u64,
      useAsyncCommit: fc.boolean(),
      secondaries: fc.array(fc.uint8Array({ maxLength: 20 }), { maxLength: 4 }),
      rollbackTs: fc.array(u64, { maxLength: 4 }),
      lastChange: lastChangeArb,
      txnSource: u64,
      isLockedWithConflict: fc.boolean(),
      generation: u64,
    })
    // fast-check builds records without a prototype; strict equality with decoded objects needs one.
    .map((l) => ({ ...l, secondaries: l.useAsyncCommit ? l.secondaries : [] }));
const lockArb = lockArbOf(['Put', 'Delete', 'Lock', 'Pessimistic']);
const sharedArb: fc.Arbitrary<codec.SharedLocks> = fc
  .tuple(fc.boolean(), fc.uniqueArray(lockArbOf(['Lock', 'Pessimistic']), { maxLength: 4, selector: (l) => l.startTs }))
  .map(([shrinkOnly, locks]) => ({ shrinkOnly, locks: new Map(locks.map((l) => [l.startTs, l])) }));

test('property: decodeLock inverts encodeLock, re-encoding is canonical, and the detectors agree', (t) => {
  mustHold(
    t,
    fc.property(lockArb, (l) => {
      const bytes = codec.encodeLock(l);
      const back = codec.decodeLock(bytes);
      deepStrictEqual(back, l);
      deepStrictEqual(codec.encodeLock(back), bytes);
      ok(codec.decodeLockType(bytes) === l.lockType);
      ok(codec.decodeLockStartTs(bytes) === l.startTs);
    }),
    500,
  );
});

test('property: SharedLocks round-trip whatever order the segments are written in', (t) => {
  mustHold(
    t,
    fc.property(sharedArb, (s) => {
      const bytes = codec.encodeSharedLocks(s);
      const back = codec.decodeSharedLocks(bytes);
      deepStrictEqual(back.shrinkOnly, s.shrinkOnly);
      deepStrictEqual(new Map(back.locks), new Map(s.locks));
      // The same set written in reverse order decodes to the same map.
      const reversed = { shrinkOnly: s.shrinkOnly, locks: new Map([...s.locks].reverse()) };
      deepStrictEqual(new Map(codec.decodeSharedLocks(codec.encodeSharedLocks(reversed)).locks), new Map(s.locks));
      ok(codec.decodeLockType(bytes) === 'Shared');
    }),
    200,
  );
});

function damaged(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(valid, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }), fc.nat())
    .map(([bytes, edits, cut]) => {
      const b = bytes.slice();
      for (const [p, v] of edits) if (b.length > 0) b[p % b.length] = v;
      return b.subarray(0, cut % (b.length + 1));
    });
}

test('fuzz: random and damaged bytes into every lock decoder give a value or a CorruptedError, nothing else', (t) => {
  const tagByte = fc.oneof(
    fc.integer({ min: 0, max: 255 }),
    fc.constantFrom(0x76, 0x66, 0x74, 0x63, 0x61, 0x72, 0x6c, 0x73, 0x46, 0x67, 0x68, 0x69, 0x80, 0x00, 0x01, 0x02),
  );
  const tagged = fc
    .tuple(fc.constantFrom(0x50, 0x44, 0x4c, 0x53, 0x48), fc.array(tagByte, { maxLength: 40 }))
    .map(([h, rest]) => Uint8Array.of(h, ...rest));
  const input = fc.oneof(
    fc.uint8Array({ maxLength: 40 }),
    tagged,
    damaged(lockArb.map((l) => codec.encodeLock(l))),
    damaged(sharedArb.map((s) => codec.encodeSharedLocks(s))),
  );
  mustHold(
    t,
    fc.property(input, (bytes) => {
      mustDecodeOrCorrupt(() => codec.decodeLock(bytes));
      mustDecodeOrCorrupt(() => codec.decodeLockType(bytes));
      mustDecodeOrCorrupt(() => codec.decodeLockStartTs(bytes));
      mustDecodeOrCorrupt(() => codec.decodeSharedLocks(bytes));
    }),
    3000,
  );
});
