import { definePlugin, ENGINE, type Plugin } from '@flashkv/core';
import { LsmEngine, type LsmOptions } from './engine.js';

/**
 * The engine as a kernel plugin: provides ENGINE, opened (and its WAL replayed) in register,
 * closed in stop. `lsmEngine({ dir })` is the whole configuration a store needs.
 */
export function lsmEngine(options: LsmOptions): Plugin {
  if (options === null || typeof options !== 'object' || typeof options.dir !== 'string' || options.dir === '') {
    throw new TypeError('lsmEngine needs { dir: string }');
  }
  let engine: LsmEngine | undefined;
  return definePlugin({
    name: '@flashkv/engine-lsm',
    version: '0.1.0',
    provides: [ENGINE],
    async register(ctx) {
      engine = await LsmEngine.open(options);
      ctx.provide(ENGINE, engine);
    },
    async stop() {
      await engine?.close();
    },
  });
}
