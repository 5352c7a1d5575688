import test, { type ExecutionContext } from 'ava';
import { ENGINE, Kernel, WriteBatch, isKvError, type EngineIterator, type StorageEngine } from '@flashkv/core';
import { Rng, bytes, latin1, testSeed, u32be } from '@flashkv/core/testing';
import { MemoryEngine, memoryEngine } from '../src/index.js';

/**
 * What the shared conformance and differential suites do not reach: the plugin, buffers the
 * caller reuses, and bounded iteration over trees deep enough that the once-per-leaf bound
 * check meets leaves that straddle a bound.
 */

function seeded(t: ExecutionContext): Rng {
  const seed = testSeed();
  t.log(`seed ${seed} (replay with SEED=${seed})`);
  return new Rng(seed);
}

async function mustWrite(engine: StorageEngine, fill: (b: WriteBatch) => void): Promise<void> {
  const b = new WriteBatch();
  fill(b);
  await engine.write(b);
}

/** Every key from a positioned iterator stepping forward (or backward) until it runs off. */
function mustDrain(it: EngineIterator, forward: boolean): string[] {
  const out: string[] = [];
  for (let ok = it.valid(); ok; ok = forward ? it.next() : it.prev()) out.push(latin1(it.key()));
  return out;
}

test('memoryEngine() provides ENGINE to a kernel and closes it when the kernel stops', async (t) => {
  const kernel = await Kernel.start({ plugins: [memoryEngine({ leafSize: 8 })] });
  const engine = kernel.resolve(ENGINE);
  t.true(engine instanceof MemoryEngine);
  t.deepEqual(engine.capabilities, { persistent: false, deleteRange: true, batchRead: true });
  await mustWrite(engine, (b) => b.put('write', bytes('k'), bytes('v')));
  t.is(latin1(engine.get('write', bytes('k'))!), 'v');
  await kernel.stop();
  const err = t.throws(() => engine.get('write', bytes('k')));
  t.true(isKvError(err, 'ENGINE_CLOSED'));
  // A second kernel from the same factory call starts from an empty engine.
  const plugin = memoryEngine();
  const k1 = await Kernel.start({ plugins: [plugin] });
  await mustWrite(k1.resolve(ENGINE), (b) => b.put('default', bytes('a'), bytes('1')));
  await k1.stop();
  const k2 = await Kernel.start({ plugins: [plugin] });
  t.is(k2.resolve(ENGINE).get('default', bytes('a')), undefined);
  await k2.stop();
});

test('memoryEngine() and MemoryEngine reject bad options with TypeError', (t) => {
  t.throws(() => memoryEngine(null as never), { instanceOf: TypeError });
  t.throws(() => new MemoryEngine({ leafSize: 2 }), { instanceOf: TypeError });
  t.throws(() => new MemoryEngine({ branchSize: 3.5 }), { instanceOf: TypeError });
});

test('keys and values are copied: the caller may reuse its buffers once write resolves', async (t) => {
  const engine = new MemoryEngine({ leafSize: 4, branchSize: 4 });
  const key = new Uint8Array(4);
  const value = new Uint8Array(8);
  for (let i = 0; i < 300; i++) {
    key.set(u32be(i));
    value.fill(i & 0xff);
    await mustWrite(engine, (b) => b.put('default', key, value).put('lock', key, value.subarray(0, 1 + (i % 8))));
  }
  key.fill(0xee);
  value.fill(0xee);
  t.is(engine.count('default'), 300);
  t.is(engine.count('lock'), 300);
  for (let i = 0; i < 300; i += 7) {
    t.deepEqual([...engine.get('default', u32be(i))!], Array(8).fill(i & 0xff), `default ${i}`);
    t.is(engine.get('lock', u32be(i))!.length, 1 + (i % 8), `lock ${i}`);
  }
  // A value handed out earlier keeps its bytes when the key is overwritten or deleted.
  const before = engine.get('default', u32be(5))!;
  await mustWrite(engine, (b) => b.put('default', u32be(5), bytes('new')).deleteRange('default', u32be(0), u32be(5)));
  t.deepEqual([...before], Array(8).fill(5));
  t.is(latin1(engine.get('default', u32be(5))!), 'new');
  t.is(engine.count('default'), 295);
  await engine.close();
});

test('bounded iterators agree with the model over many leaves, in both directions', async (t) => {
  const rng = seeded(t);
  const engine = new MemoryEngine({ leafSize: 4, branchSize: 4 });
  const keys: string[] = [];
  await mustWrite(engine, (b) => {
    for (let i = 0; i < 2000; i++) {
      b.put('raft', u32be(i * 3), u32be(i));
      keys.push(latin1(u32be(i * 3)));
    }
  });
  const snap = engine.snapshot();
  // Later writes must not leak into iterators made before them or into the snapshot.
  const live = engine.iterator('raft', { lower: u32be(0), upper: u32be(100_000) });
  await mustWrite(engine, (b) => b.deleteRange('raft', u32be(0), u32be(3000)).put('raft', u32be(1), bytes('x')));
  t.true(live.first());
  t.is(latin1(live.key()), keys[0]);
  live.close();

  for (let round = 0; round < 120; round++) {
    const lo = rng.int(6100) - 50;
    const hi = lo + rng.int(rng.chance(0.3) ? 30 : 3000);
    const lower = rng.chance(0.15) ? undefined : u32be(Math.max(lo, 0));
    const upper = rng.chance(0.15) ? undefined : u32be(Math.max(hi, 0));
    const inRange = keys.filter((k) => (lower === undefined || k >= latin1(lower)) && (upper === undefined || k < latin1(upper)));
    const it = snap.iterator('raft', { ...(lower ? { lower } : {}), ...(upper ? { upper } : {}) });
    const what = `round ${round} [${lo}, ${hi})`;
    it.first();
    t.deepEqual(mustDrain(it, true), inRange, `${what} forward`);
    it.last();
    t.deepEqual(mustDrain(it, false), [...inRange].reverse(), `${what} backward`);
    // Seeks clamp to the bounds: below lower lands on the first entry, at or past upper
    // seekForPrev lands on the last.
    const probe = u32be(Math.max(0, lo + rng.int(hi - lo + 100) - 50));
    const ge = inRange.find((k) => k >= latin1(probe));
    t.is(it.seek(probe) ? latin1(it.key()) : undefined, ge, `${what} seek`);
    const le = [...inRange].reverse().find((k) => k <= latin1(probe));
    t.is(it.seekForPrev(probe) ? latin1(it.key()) : undefined, le, `${what} seekForPrev`);
    it.close();
  }
  snap.release();
  await engine.close();
});
