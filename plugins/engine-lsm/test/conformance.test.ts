import test from 'ava';
import type { StorageEngine } from '@flashkv/core';
import { runEngineConformance, runEngineDifferential } from '@flashkv/core/testing';
import { LsmEngine, type LsmOptions } from '../src/engine.js';
import { mustTempDir } from './helpers.js';

const cleanups: (() => void)[] = [];
test.after.always(() => {
  for (const c of cleanups.splice(0)) c();
});

/** Factory and reopen for one option set; reopen opens the same directory again. */
function lsm(options: Omit<LsmOptions, 'dir'>) {
  const dirs = new WeakMap<StorageEngine, string>();
  return {
    factory: async (): Promise<StorageEngine> => {
      const { dir, cleanup } = mustTempDir('conf');
      cleanups.push(cleanup);
      const e = await LsmEngine.open({ dir, ...options });
      dirs.set(e, dir);
      return e;
    },
    reopen: async (engine: StorageEngine): Promise<StorageEngine> => {
      const dir = dirs.get(engine)!;
      await engine.close();
      const e = await LsmEngine.open({ dir, ...options });
      dirs.set(e, dir);
      return e;
    },
  };
}

runEngineConformance({ name: 'engine-lsm', ...lsm({}) });
// The same suite with memtables so small that nearly every test reads through SSTs.
runEngineConformance({ name: 'engine-lsm tiny memtables', ...lsm({ memtableBytes: 512, table: { blockSize: 128, restartInterval: 2 } }) });

// Metamorphic: the same seeded steps under several option sets, with reopen in the middle.
runEngineDifferential({ name: 'engine-lsm default', seed: 101, ops: 800, ...lsm({}) });
runEngineDifferential({ name: 'engine-lsm tiny memtables', seed: 101, ops: 800, ...lsm({ memtableBytes: 1024, table: { blockSize: 200 } }) });
runEngineDifferential({ name: 'engine-lsm stall', seed: 202, ops: 800, ...lsm({ memtableBytes: 700, maxImmutableMemtables: 1, maxGroupBytes: 64 }) });
runEngineDifferential({
  name: 'engine-lsm compaction in a worker',
  seed: 303,
  ops: 800,
  ...lsm({ memtableBytes: 1024, l0CompactionTrigger: 2, levelBaseBytes: 4096, levelMultiplier: 2, targetFileSize: 2048 }),
});
