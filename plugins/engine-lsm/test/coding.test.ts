import test from 'ava';
import { ByteWriter, getU32, getU64, getVarint, putU32, putU64, putVarint, varintLen } from '../src/coding.js';

test('fixed-width round trips', (t) => {
  const b = new Uint8Array(8);
  for (const v of [0, 1, 0x7fffffff, 0xffffffff]) {
    putU32(b, 0, v);
    t.is(getU32(b, 0), v);
  }
  for (const v of [0, 1, 2 ** 32, 2 ** 53 - 1, 123456789012345]) {
    putU64(b, 0, v);
    t.is(getU64(b, 0), v);
  }
});

test('varints round trip and report truncation', (t) => {
  const b = new Uint8Array(16);
  for (const v of [0, 1, 127, 128, 300, 2 ** 21, 2 ** 35 + 7, 2 ** 53 - 1]) {
    const end = putVarint(b, 0, v);
    t.is(end, varintLen(v));
    const cur = { pos: 0 };
    t.is(getVarint(b, cur), v);
    t.is(cur.pos, end);
    if (end > 1) t.is(getVarint(b, { pos: 0 }, end - 1), -1);
  }
});

test('ByteWriter grows and take() detaches', (t) => {
  const w = new ByteWriter(2);
  for (let i = 0; i < 100; i++) w.byte(i);
  w.bytes(new Uint8Array([7, 8, 9]), 1);
  const copy = w.take();
  t.is(copy.length, 102);
  t.is(copy[99], 99);
  t.deepEqual([...copy.subarray(100)], [8, 9]);
  w.reset();
  w.byte(42);
  t.is(copy[0], 0);
});
