/** The in-place readers of the row cutter against core's codec, on seeded random keys and write records. */
import test from 'ava';
import { codec } from '@flashkv/core';
import { Rng, testSeed } from '@flashkv/core/testing';
import { decodeWriteInto, RawKeys, TsReader, type WriteFields } from '../src/cdc.js';

const TYPES = ['Put', 'Delete', 'Lock', 'Rollback'] as const;

function randomBytes(r: Rng, max: number): Uint8Array {
  const b = new Uint8Array(r.int(max + 1));
  for (let i = 0; i < b.length; i++) b[i] = r.chance(0.3) ? 0 : r.int(256);
  return b;
}

function randomTs(r: Rng): bigint {
  switch (r.int(4)) {
    case 0:
      return BigInt(r.int(200));
    case 1:
      return BigInt(r.int(2 ** 30)) * BigInt(r.int(2 ** 30));
    case 2:
      return (BigInt(1_700_000_000_000 + r.int(1e9)) << 18n) + BigInt(r.int(1 << 18));
    default:
      return 0xffff_ffff_ffff_ffffn - BigInt(r.int(1000));
  }
}

test('write records: the in-place reader agrees with codec.decodeWrite (type, start ts, short value, overlapped rollback)', (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const r = new Rng(seed);
  const ts = new TsReader();
  const into: WriteFields = { writeType: 'Put', startTs: 0n, shortValue: undefined, hasOverlappedRollback: false };
  let fast = 0;
  for (let i = 0; i < 5000; i++) {
    const startTs = r.chance(0.3) ? 424_242n : randomTs(r);
    const type = TYPES[r.int(TYPES.length)]!;
    let w = codec.newWrite(type, startTs, r.chance(0.7) ? randomBytes(r, 255) : undefined);
    if (r.chance(0.1)) w = { ...w, hasOverlappedRollback: true };
    if (r.chance(0.1)) w = { ...w, gcFence: randomTs(r) };
    const bytes = codec.encodeWrite(w);
    const want = codec.decodeWrite(bytes);
    const got = decodeWriteInto(bytes, ts, into);
    if (got === into) fast++;
    const show = (x: WriteFields) => `${x.writeType} ${x.startTs} ${x.shortValue === undefined ? '-' : Buffer.from(x.shortValue).toString('hex')} ${x.hasOverlappedRollback}`;
    if (show(got) !== show(want)) t.fail(`record ${Buffer.from(bytes).toString('hex')}: got ${show(got)}, want ${show(want)} (SEED=${seed})`);
  }
  t.true(fast > 3000, `${fast} read in place`);
  t.throws(() => decodeWriteInto(Uint8Array.of(0x50, 0x80), ts, into), { message: /start_ts|varint|EOF|end/i });
  t.throws(() => decodeWriteInto(Uint8Array.of(0x50, 0x01, 0x76, 0x09, 0x01), ts, into));
});

test('commit ts and raw keys: the batch readers agree with codec.splitTs and codec.toRaw', (t) => {
  const seed = testSeed();
  t.log(`SEED=${seed}`);
  const r = new Rng(seed);
  const ts = new TsReader();
  const raw = new RawKeys(4);
  for (let i = 0; i < 5000; i++) {
    const key = randomBytes(r, 40);
    const commitTs = r.chance(0.3) ? 77n : randomTs(r);
    const k = codec.dataKey(codec.appendTs(codec.encodeBytes(key), commitTs));
    t.is(ts.commitTs(k), codec.splitTs(k.subarray(1)).ts);
    const encoded = k.subarray(1, k.length - 8);
    const got = raw.of(encoded);
    if (Buffer.compare(got, codec.toRaw(encoded)) !== 0) t.fail(`key ${Buffer.from(key).toString('hex')} (SEED=${seed})`);
  }
  // Keys decoded earlier stay intact as later ones fill (and outgrow) the buffer.
  const keys = Array.from({ length: 300 }, () => randomBytes(r, 30));
  const views = keys.map((key) => raw.of(codec.encodeBytes(key)));
  t.deepEqual(views.map((v) => Buffer.from(v).toString('hex')), keys.map((k) => Buffer.from(k).toString('hex')));
  // A corrupt key is reported by the codec.
  t.throws(() => raw.of(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 0xf0)));
  t.throws(() => raw.of(Uint8Array.of(1, 2, 3)));
});
