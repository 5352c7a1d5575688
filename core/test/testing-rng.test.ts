import test from 'ava';
import { Rng, testSeed } from '../src/testing/index.js';

test('Rng is xoshiro128** over a splitmix32-expanded seed (known answers)', (t) => {
  // Expected values from an independent implementation of the published algorithms.
  const one = new Rng(1);
  t.deepEqual(
    Array.from({ length: 6 }, () => one.u32()),
    [2442144158, 3238099751, 3819917871, 2104621829, 2021136066, 4223536128],
  );
  const dead = new Rng(0xdeadbeef);
  t.deepEqual(
    Array.from({ length: 6 }, () => dead.u32()),
    [2306529437, 2576298207, 1250671110, 2699168992, 2319502352, 3183738783],
  );
});

test('Rng replays from its seed and differs across seeds', (t) => {
  const draw = (seed: number): number[] => {
    const r = new Rng(seed);
    return [r.u32(), r.int(1000), r.float(), r.between(-5, 5), ...r.bytes(7)];
  };
  t.deepEqual(draw(42), draw(42));
  t.notDeepEqual(draw(42), draw(43));
  t.is(new Rng(7).seed, 7);
  t.is(new Rng(-1).seed, 0xffffffff, 'seeds are taken as unsigned 32-bit');
  t.throws(() => new Rng(1.5), { instanceOf: TypeError });
});

test('Rng draws stay in range and are close to uniform', (t) => {
  const r = new Rng(0xc0ffee);
  const buckets = new Array<number>(6).fill(0);
  let floatsOk = true;
  let betweenOk = true;
  for (let i = 0; i < 60000; i++) {
    buckets[r.int(6)]!++;
    const f = r.float();
    if (!(f >= 0 && f < 1)) floatsOk = false;
    const v = r.between(3, 5);
    if (v < 3 || v > 5 || !Number.isInteger(v)) betweenOk = false;
  }
  t.true(floatsOk, 'float() in [0, 1)');
  t.true(betweenOk, 'between() inclusive integer');
  for (const count of buckets) t.true(count > 9500 && count < 10500, `bucket count ${count} of 60000 / 6`);
  t.is(r.int(1), 0);
  t.throws(() => r.int(0), { instanceOf: TypeError });
  t.throws(() => r.int(2.5), { instanceOf: TypeError });
  t.throws(() => r.between(2, 1), { instanceOf: TypeError });
});

test('Rng chance, bytes, pick, shuffle and fork', (t) => {
  const r = new Rng(99);
  t.false(Array.from({ length: 1000 }, () => r.chance(0)).some(Boolean));
  t.true(Array.from({ length: 1000 }, () => r.chance(1)).every(Boolean));
  const hits = Array.from({ length: 10000 }, () => r.chance(0.25)).filter(Boolean).length;
  t.true(hits > 2300 && hits < 2700, `chance(0.25) hit ${hits} of 10000`);
  t.is(r.bytes(0).length, 0);
  const bytes = r.bytes(4099);
  t.is(bytes.length, 4099);
  t.true(new Set(bytes).size > 250, 'bytes() covers the byte range');
  const seen = new Set(Array.from({ length: 200 }, () => r.pick(['a', 'b', 'c'])));
  t.deepEqual([...seen].sort(), ['a', 'b', 'c']);
  t.throws(() => r.pick([]), { instanceOf: TypeError });
  const items = Array.from({ length: 50 }, (_, i) => i);
  const shuffled = r.shuffle(items.slice());
  t.notDeepEqual(shuffled, items);
  t.deepEqual(shuffled.slice().sort((x, y) => x - y), items);
  const a = new Rng(5);
  const b = new Rng(5);
  const fa = a.fork();
  const fb = b.fork();
  t.is(fa.u32(), fb.u32(), 'forks of equal generators are equal');
  t.not(a.u32(), fa.u32(), 'a fork draws its own stream');
});

test('testSeed reads SEED in decimal or hex and refuses anything else', (t) => {
  const saved = process.env['SEED'];
  try {
    process.env['SEED'] = '12345';
    t.is(testSeed(), 12345);
    process.env['SEED'] = ' 0xFF ';
    t.is(testSeed(), 255);
    for (const bad of ['abc', '-1', '1.5', '4294967296', '0x']) {
      process.env['SEED'] = bad;
      t.throws(() => testSeed(), { instanceOf: TypeError }, bad);
    }
    delete process.env['SEED'];
    const fresh = testSeed();
    t.true(Number.isInteger(fresh) && fresh >= 0 && fresh <= 0xffffffff);
  } finally {
    if (saved === undefined) delete process.env['SEED'];
    else process.env['SEED'] = saved;
  }
});
