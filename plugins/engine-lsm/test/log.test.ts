import test from 'ava';
import { join } from 'node:path';
import { isKvError, type CorruptedError } from '@flashkv/core';
import { nodeFS } from '../src/fs.js';
import { BLOCK_SIZE, HEADER_SIZE } from '../src/wal/log-format.js';
import { readLog } from '../src/wal/log-reader.js';
import { LogWriter } from '../src/wal/log-writer.js';
import { mustTempDir, randomBytes, rng, testSeed } from './helpers.js';

function mustWriteLog(path: string, records: Uint8Array[]): Uint8Array {
  const w = new LogWriter(nodeFS.create(path));
  for (const r of records) {
    w.add(r);
    w.flush();
  }
  w.close();
  return nodeFS.readFile(path);
}

function mustReadAll(buf: Uint8Array, name = 'test.log') {
  const got: Uint8Array[] = [];
  const offsets: number[] = [];
  const res = readLog(buf, name, (r, off) => {
    got.push(r.slice());
    offsets.push(off);
  });
  return { got, offsets, res };
}

test('records of every size round-trip, fragmented across 32 KiB blocks', (t) => {
  const { dir, cleanup } = mustTempDir('log');
  t.teardown(cleanup);
  const seed = testSeed(11);
  const r = rng(seed);
  const sizes = [0, 1, 100, BLOCK_SIZE - HEADER_SIZE, BLOCK_SIZE - HEADER_SIZE - 3, BLOCK_SIZE, 3 * BLOCK_SIZE + 17, 5];
  for (let i = 0; i < 40; i++) sizes.push(Math.floor(r() * 70000));
  const records = sizes.map((n) => randomBytes(r, n));
  const buf = mustWriteLog(join(dir, 'a.log'), records);
  const { got, res } = mustReadAll(buf);
  t.is(res.records, records.length, `seed ${seed}`);
  t.false(res.torn);
  t.is(res.goodEnd <= buf.length, true);
  t.deepEqual(got, records, `seed ${seed}`);
});

test('a writer reopened on a partial block continues the block layout', (t) => {
  const { dir, cleanup } = mustTempDir('log');
  t.teardown(cleanup);
  const p = join(dir, 'a.log');
  const r = rng(3);
  const first = [randomBytes(r, 40000)];
  mustWriteLog(p, first);
  const w = new LogWriter(nodeFS.openAppend(p));
  const second = randomBytes(r, 30000);
  w.add(second);
  w.flush();
  w.close();
  t.deepEqual(mustReadAll(nodeFS.readFile(p)).got, [...first, second]);
});

test('every truncation point is a clean torn tail that keeps exactly the complete records', (t) => {
  const { dir, cleanup } = mustTempDir('log');
  t.teardown(cleanup);
  const r = rng(testSeed(5));
  const records = [randomBytes(r, 10), randomBytes(r, 40000), randomBytes(r, 300), randomBytes(r, 33000)];
  const buf = mustWriteLog(join(dir, 'a.log'), records);
  const ends: number[] = [];
  let at = 0;
  // Offsets where each record completes, found by reading prefixes.
  const cuts: number[] = [];
  for (let cut = 0; cut < buf.length; cut += cut < 100 || buf.length - cut < 100 ? 1 : 1499) cuts.push(cut);
  cuts.push(buf.length);
  for (const cut of cuts) {
    const { got, res } = mustReadAll(buf.subarray(0, cut));
    t.deepEqual(got, records.slice(0, got.length), `cut ${cut}`);
    t.true(res.goodEnd <= cut);
    if (got.length > at) {
      ends.push(cut);
      at = got.length;
    }
    // Re-reading up to goodEnd gives the same records and no tear.
    const again = mustReadAll(buf.subarray(0, res.goodEnd));
    t.is(again.got.length, got.length);
    t.false(again.res.torn);
  }
  t.is(at, records.length);
});

test('zero-filled tail (preallocated or lost pages) is a torn tail', (t) => {
  const { dir, cleanup } = mustTempDir('log');
  t.teardown(cleanup);
  const buf = mustWriteLog(join(dir, 'a.log'), [new Uint8Array([1, 2, 3]), new Uint8Array([4])]);
  const padded = new Uint8Array(buf.length + 5000);
  padded.set(buf);
  const { got, res } = mustReadAll(padded);
  t.is(got.length, 2);
  t.true(res.torn);
  t.is(res.goodEnd, buf.length);
});

test('corruption followed by valid records is a CorruptedError naming file and offset', (t) => {
  const { dir, cleanup } = mustTempDir('log');
  t.teardown(cleanup);
  const records = [new Uint8Array(100).fill(1), new Uint8Array(100).fill(2), new Uint8Array(100).fill(3)];
  const buf = mustWriteLog(join(dir, 'a.log'), records).slice();
  const secondAt = HEADER_SIZE + 100;
  buf[secondAt + HEADER_SIZE + 50] ^= 0x40;
  const err = t.throws(() => mustReadAll(buf, '000007.log')) as CorruptedError;
  t.true(isKvError(err, 'CORRUPTED'));
  t.is(err.details.file, '000007.log');
  t.is(err.details.offset, secondAt);
  t.regex(err.message, /000007\.log.*checksum mismatch at offset 107/);
  // The same damage in the LAST record is just a torn tail.
  const tail = mustWriteLog(join(dir, 'b.log'), records).slice();
  tail[2 * secondAt + HEADER_SIZE + 50] ^= 0x40;
  const { got, res } = mustReadAll(tail);
  t.is(got.length, 2);
  t.true(res.torn);
});

test('damage in one block with valid chunks in a later block is corruption', (t) => {
  const { dir, cleanup } = mustTempDir('log');
  t.teardown(cleanup);
  const r = rng(9);
  const buf = mustWriteLog(join(dir, 'a.log'), [randomBytes(r, 50000), randomBytes(r, 100)]).slice();
  buf[4] ^= 0xff; // length field of the FIRST chunk
  const err = t.throws(() => mustReadAll(buf)) as CorruptedError;
  t.is(err.details.offset, 0);
});
