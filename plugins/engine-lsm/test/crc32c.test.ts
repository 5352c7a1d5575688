import test from 'ava';
import { crc32c, crc32cUpdate, maskCrc, unmaskCrc } from '../src/crc32c.js';
import { enc, randomBytes, rng, testSeed } from './helpers.js';

// Vectors from RFC 3720 appendix B.4 (iSCSI uses CRC-32C).
test('RFC 3720 vectors', (t) => {
  t.is(crc32c(enc('123456789')), 0xe3069283);
  t.is(crc32c(new Uint8Array(32)), 0x8a9136aa);
  t.is(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  const inc = new Uint8Array(32);
  for (let i = 0; i < 32; i++) inc[i] = i;
  t.is(crc32c(inc), 0x46dd794e);
  const dec = new Uint8Array(32);
  for (let i = 0; i < 32; i++) dec[i] = 31 - i;
  t.is(crc32c(dec), 0x113fdb5c);
  t.is(crc32c(new Uint8Array(0)), 0);
});

function bitwise(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of data) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return ~c >>> 0;
}

test('slicing-by-8 equals the bitwise definition, and updates compose', (t) => {
  const seed = testSeed(7);
  const r = rng(seed);
  for (let i = 0; i < 200; i++) {
    const data = randomBytes(r, Math.floor(r() * 100));
    const cut = Math.floor(r() * (data.length + 1));
    t.is(crc32c(data), bitwise(data), `seed ${seed} len ${data.length}`);
    t.is(crc32cUpdate(crc32c(data, 0, cut), data, cut), crc32c(data), `seed ${seed}`);
  }
});

test('long runs at every alignment (the word-at-a-time path) equal the bitwise definition', (t) => {
  const seed = testSeed(11);
  const r = rng(seed);
  for (let i = 0; i < 60; i++) {
    const buf = randomBytes(r, 200 + Math.floor(r() * 5000));
    const from = Math.floor(r() * 9);
    const view = buf.subarray(from);
    const start = Math.floor(r() * 7);
    const end = view.length - Math.floor(r() * 7);
    t.is(crc32c(view, start, end), bitwise(view.subarray(start, end)), `seed ${seed} from ${from} start ${start} end ${end}`);
  }
});

test('mask round-trips and changes the value', (t) => {
  for (const v of [0, 1, 0xe3069283, 0xffffffff]) {
    t.is(unmaskCrc(maskCrc(v)), v);
    t.not(maskCrc(v), v);
  }
});
