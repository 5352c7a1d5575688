import { HOTPATH, definePlugin, type Plugin } from '@flashkv/core';
import { loadHotPath, type HotPathChoice } from './load-hotpath.js';

export const HOTPATH_PLUGIN_NAME = '@flashkv/asm';
export const HOTPATH_PLUGIN_VERSION = '0.1.0';

export interface HotPathPluginOptions {
  /** Default 'auto': FLASHKV_HOTPATH, else wasm. */
  readonly choice?: HotPathChoice;
  /** Environment read for 'auto'; default process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Provides HOTPATH. The implementation is picked (and the WASM instantiated) in register, so a
 * bad FLASHKV_HOTPATH fails kernel start naming this plugin instead of failing the first batch.
 */
export function hotPath(options: HotPathPluginOptions = {}): Plugin {
  const choice = options.choice ?? 'auto';
  const env = options.env ?? process.env;
  return definePlugin({
    name: HOTPATH_PLUGIN_NAME,
    version: HOTPATH_PLUGIN_VERSION,
    provides: [HOTPATH],
    register(ctx) {
      ctx.provide(HOTPATH, loadHotPath(choice, env));
    },
  });
}
