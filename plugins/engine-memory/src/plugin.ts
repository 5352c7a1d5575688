import { definePlugin, ENGINE, type Plugin } from '@flashkv/core';
import { MemoryEngine, type MemoryEngineOptions } from './engine.js';

/**
 * The engine as a kernel plugin (DESIGN.md section 2): provides ENGINE, made in register and
 * closed in stop. Each start of a kernel gets a fresh, empty engine: nothing is persistent.
 */
export function memoryEngine(options: MemoryEngineOptions = {}): Plugin {
  if (options === null || typeof options !== 'object') throw new TypeError('memoryEngine options must be an object');
  let engine: MemoryEngine | undefined;
  return definePlugin({
    name: '@flashkv/engine-memory',
    version: '0.1.0',
    provides: [ENGINE],
    register(ctx) {
      engine = new MemoryEngine(options);
      ctx.provide(ENGINE, engine);
    },
    async stop() {
      await engine?.close();
      engine = undefined;
    },
  });
}
