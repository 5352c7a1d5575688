import test from 'ava';
import { WriteBatch } from '@flashkv/core';
import { LsmEngine } from '../src/engine.js';
import { BlockCache } from '../src/sstable/block-cache.js';
import { mustTempDir, rng, testSeed } from './helpers.js';

const key = (i: number) => new TextEncoder().encode(`key${String(i).padStart(7, '0')}`);
const valueOf = (i: number) => new Uint8Array(60).fill(i & 0xff).map((b, j) => (j === 0 ? (i >>> 8) & 0xff : b));

async function fill(engine: LsmEngine, n: number): Promise<void> {
  for (let i = 0; i < n; i += 100) {
    const b = new WriteBatch();
    for (let j = i; j < Math.min(n, i + 100); j++) b.put('default', key(j), valueOf(j));
    await engine.write(b);
  }
}

test('a worker flush puts the new table blocks in the block cache: reads of flushed keys then miss nothing', async (t) => {
  const { dir, cleanup } = mustTempDir('warm');
  t.teardown(cleanup);
  const engine = await LsmEngine.open({ dir, compactionThread: 'worker', l0CompactionTrigger: 1000 });
  t.teardown(() => engine.close());
  await fill(engine, 5000);
  await engine.flush();
  t.is(engine.levelFiles()[0]!.length, 1);
  t.true(engine.cache.bytes > 5000 * 60, `cache holds ${engine.cache.bytes} bytes`);
  const misses = engine.cache.misses;
  for (let i = 0; i < 5000; i += 7) t.deepEqual(engine.get('default', key(i)), valueOf(i));
  t.is(engine.cache.misses, misses, 'every block was already cached');
});

test('without prepopulateBlockCache a flushed table starts uncached', async (t) => {
  const { dir, cleanup } = mustTempDir('warm');
  t.teardown(cleanup);
  const engine = await LsmEngine.open({ dir, compactionThread: 'worker', l0CompactionTrigger: 1000, prepopulateBlockCache: false });
  t.teardown(() => engine.close());
  await fill(engine, 2000);
  await engine.flush();
  t.is(engine.cache.bytes, 0);
  t.deepEqual(engine.get('default', key(1234)), valueOf(1234));
  t.true(engine.cache.misses > 0);
});

test('point reads through a small cache recycle block buffers without disturbing open iterators', async (t) => {
  const seed = testSeed(0x5eed);
  const r = rng(seed);
  const { dir, cleanup } = mustTempDir('recycle');
  t.teardown(cleanup);
  // 64 KiB of cache over ~1 MB of blocks: nearly every read evicts a block and reuses its buffer.
  const engine = await LsmEngine.open({ dir, compactionThread: 'inline', memtableBytes: 256 * 1024, blockCacheBytes: 64 * 1024, l0CompactionTrigger: 1000 });
  t.teardown(() => engine.close());
  const n = 12000;
  await fill(engine, n);
  await engine.flush();
  t.true(engine.levelFiles()[0]!.length > 1);
  const it = engine.iterator('default');
  let at = 0;
  t.true(it.first());
  for (let round = 0; round < 40; round++) {
    // The iterator's current block and value views must stay intact across reads that churn the cache.
    const k = it.key();
    const v = it.value();
    for (let i = 0; i < 50; i++) {
      const j = Math.floor(r() * n);
      t.deepEqual(engine.get('default', key(j)), valueOf(j), `seed ${seed}: get ${j}`);
    }
    t.deepEqual(k, key(at), `seed ${seed}: iterator key at ${at}`);
    t.deepEqual(v, valueOf(at), `seed ${seed}: iterator value at ${at}`);
    const step = 1 + Math.floor(r() * 300);
    for (let s = 0; s < step && at < n - 1; s++) {
      t.true(it.next());
      at++;
    }
  }
  it.close();
  t.true(engine.cache.bytes <= 64 * 1024);
});

test('block cache reuses the buffers of evicted point-read blocks and never those handed out by get', (t) => {
  const c = new BlockCache(8 * 1024);
  const owner = new Map();
  const a = c.take(3000);
  c.set(owner, 0, a.subarray(0, 2990), a, true);
  const b = c.take(3000);
  c.set(owner, 4096, b.subarray(0, 2990), b, true);
  t.truthy(c.get(owner, 4096), 'handed out: no longer recyclable');
  const d = c.take(3000);
  c.set(owner, 8192, d.subarray(0, 2990), d, true); // evicts offset 0 (recyclable)
  t.is(owner.has(0), false);
  const e = c.take(3000);
  t.is(e, a, 'the evicted recyclable buffer comes back');
  c.set(owner, 12288, e.subarray(0, 2990), e, true); // evicts offset 4096 (handed out)
  t.is(owner.has(4096), false);
  const f = c.take(3000);
  t.not(f, b, 'a buffer handed out by get is never reused');
  t.true(c.bytes <= 8 * 1024);
});
