import test from 'ava';
import { Rng, testSeed } from '@flashkv/core/testing';
import type { LsmOptions } from '../src/engine.js';
import { mustTempDir } from './helpers.js';
import { lsmSteps, runLsmDifferential } from './lsm-diff.js';

/**
 * Metamorphic differential test of engine-lsm against engine-memory: one seeded step list
 * (puts, deletes, deleteRange, cross-family batches, snapshots held across flushes and
 * compactions, bounded iterators moved both ways, flushes, full compactions, clean reopens
 * and power cuts that drop unsynced bytes) played under several option sets.
 *
 * `SEED=n` replays; `LSM_DIFF_OPS=n` sets the steps per option set (long mode, e.g. 3000000);
 * `LSM_DIFF_SETS=a,b` runs only the named option sets.
 */
const LONG = process.env['LSM_DIFF_OPS'] !== undefined;
const STEPS = LONG ? Number(process.env['LSM_DIFF_OPS']) : 1500;
const SEED = process.env['SEED'] !== undefined && process.env['SEED'].trim() !== '' ? testSeed() : 0x6c736d;
const ONLY = process.env['LSM_DIFF_SETS']?.split(',');

// Long runs spend their time on reads and writes: the costly whole-engine steps are rarer.
const LONG_RATES = { crashPercent: 0.05, reopenPercent: 0.02, flushPercent: 0.2, compactPercent: 0.03, checkPercent: 0.1 } as const;

/** In long mode, a line on stderr every 100,000 steps, so a run of hours can be watched. */
function* progress<T>(name: string, steps: Iterable<T>): Generator<T> {
  const started = performance.now();
  let n = 0;
  for (const s of steps) {
    yield s;
    if (LONG && ++n % 100_000 === 0) process.stderr.write(`${name}: ${n} steps, ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
  }
}

const small = { l0CompactionTrigger: 2, levelBaseBytes: 4096, levelMultiplier: 2, targetFileSize: 2048 } as const;
// The worker set does real fsyncs (a worker cannot share CrashFS), so it plays fewer steps by default.
const SETS: { name: string; crash: boolean; steps?: number; engine: Omit<LsmOptions, 'dir' | 'fs'> }[] = [
  { name: 'large-memtable', crash: true, engine: { memtableBytes: 256 * 1024, compactionThread: 'inline' } },
  {
    name: 'tiny-memtable-small-blocks-no-bloom',
    crash: true,
    engine: { memtableBytes: 1024, table: { blockSize: 128, restartInterval: 2, bloomBitsPerKey: 0 }, blockCacheBytes: 2048, ...small, compactionThread: 'inline' },
  },
  {
    name: 'stalls-one-immutable',
    crash: true,
    engine: { memtableBytes: 2048, maxImmutableMemtables: 1, maxGroupBytes: 64, table: { blockSize: 512, bloomBitsPerKey: 16 }, ...small, l0StopWritesTrigger: 3, compactionThread: 'inline' },
  },
  { name: 'compaction-worker', crash: false, steps: LONG ? STEPS : 500, engine: { memtableBytes: 1536, table: { blockSize: 256 }, ...small, compactionThread: 'worker' } },
];

for (const set of SETS) {
  if (ONLY !== undefined && !ONLY.includes(set.name)) continue;
  test(`differential against engine-memory: ${set.name}`, async (t) => {
    if (LONG) t.timeout(24 * 3600 * 1000);
    const { dir, cleanup } = mustTempDir('diff');
    t.teardown(cleanup);
    const steps = set.steps ?? STEPS;
    t.log(`seed ${SEED} (replay with SEED=${SEED}), ${steps} steps`);
    const started = performance.now();
    const r = await runLsmDifferential({ seed: SEED, steps: progress(set.name, lsmSteps(new Rng(SEED), steps, LONG ? LONG_RATES : {})), dir, engine: set.engine, crash: set.crash });
    const ms = performance.now() - started;
    t.log(`${JSON.stringify(r)} in ${(ms / 1000).toFixed(1)} s`);
    const played = Object.values(r.counts).reduce((a, b) => a + b, 0);
    t.is(played, steps);
    t.true(r.flushes > 0, 'the run flushed memtables');
    if (set.crash) t.true(r.counts.crash > 0, 'the run crashed at least once');
  });
}
