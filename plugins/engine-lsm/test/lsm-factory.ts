import test from 'ava';
import type { StorageEngine } from '@flashkv/core';
import { LsmEngine, type LsmOptions } from '../src/engine.js';
import { mustTempDir } from './helpers.js';

const cleanups: (() => void)[] = [];
test.after.always(() => {
  for (const c of cleanups.splice(0)) c();
});

/** Factory and reopen for one option set; reopen opens the same directory again. */
export function lsm(options: Omit<LsmOptions, 'dir'>) {
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

