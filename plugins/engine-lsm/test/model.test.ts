import test from 'ava';
import { LsmEngine, type LsmOptions } from '../src/engine.js';
import { FAMILIES, Model, randomBatch, scanAll } from './model.js';
import { mustTempDir, rng, testSeed } from './helpers.js';

/**
 * Seeded operations against a naive model, with snapshots held across writes and
 * close-and-reopen in the middle. Printed seed replays with SEED=n.
 */
async function mustMatchModel(t: import('ava').ExecutionContext, seed: number, steps: number, extra: Partial<LsmOptions>) {
  const { dir, cleanup } = mustTempDir('model');
  t.teardown(cleanup);
  const r = rng(seed);
  let engine = await LsmEngine.open({ dir, ...extra });
  const model = new Model();
  const snaps: { snap: ReturnType<LsmEngine['snapshot']>; model: Model }[] = [];
  const check = (what: string) => {
    for (const cf of FAMILIES) {
      const want = model.entries(cf);
      t.deepEqual(scanAll(engine, cf), want, `seed ${seed} ${what} forward ${cf}`);
      t.deepEqual(scanAll(engine, cf, true), want, `seed ${seed} ${what} reverse ${cf}`);
      for (const [k, v] of want) t.is(Model.hex(engine.get(cf, Buffer.from(k, 'hex'))!), v);
    }
    for (const s of snaps) for (const cf of FAMILIES) t.deepEqual(scanAll(s.snap, cf), s.model.entries(cf), `seed ${seed} ${what} snapshot ${cf}`);
  };
  try {
    for (let i = 0; i < steps; i++) {
      const roll = r();
      if (roll < 0.8) {
        const b = randomBatch(r, 6);
        await engine.write(b, { sync: r() < 0.1 });
        model.apply(b.ops);
      } else if (roll < 0.88) {
        snaps.push({ snap: engine.snapshot(), model: model.copy() });
      } else if (roll < 0.94 && snaps.length > 0) {
        snaps.splice(Math.floor(r() * snaps.length), 1)[0]!.snap.release();
      } else if (roll < 0.97) {
        check(`step ${i}`);
      } else {
        for (const s of snaps.splice(0)) s.snap.release();
        await engine.close();
        engine = await LsmEngine.open({ dir, ...extra });
      }
    }
    check('end');
  } finally {
    await engine.close();
  }
}

test('model: default options', async (t) => {
  await mustMatchModel(t, testSeed(1234), 500, {});
});

test('model: tiny memtables flushed to many level-0 SSTs, small blocks', async (t) => {
  await mustMatchModel(t, testSeed(99), 500, { memtableBytes: 2048, table: { blockSize: 256, restartInterval: 4 } });
});

test('model: one immutable memtable at most (writes stall behind flushes)', async (t) => {
  await mustMatchModel(t, testSeed(7), 400, { memtableBytes: 1024, maxImmutableMemtables: 1 });
});

test('model: tiny levels, compaction inline (obsolete versions dropped under snapshots)', async (t) => {
  await mustMatchModel(t, testSeed(55), 800, {
    memtableBytes: 1024,
    l0CompactionTrigger: 2,
    levelBaseBytes: 4096,
    levelMultiplier: 2,
    targetFileSize: 2048,
    compactionThread: 'inline',
  });
});
