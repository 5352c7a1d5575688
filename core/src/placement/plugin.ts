import { systemClock } from '../clock.js';
import { definePlugin, type Plugin } from '../kernel/plugin.js';
import { CORE_VERSION } from '../kernel/plan.js';
import { CLOCK, ENGINE, PLACEMENT } from '../kernel/tokens.js';
import { LocalPlacement } from './placement.js';

export interface LocalPlacementPluginOptions {
  /** How far ahead of use the TSO high-water mark is persisted. Default 3000 ms. */
  readonly tsoWindowMs?: number;
  /** Store of the first region's peer when an empty engine is bootstrapped. Default 1. */
  readonly storeId?: number;
}

/**
 * The embedded placement as a plugin: requires ENGINE, uses CLOCK when a plugin provides one
 * (tests provide a ManualClock), else the system clock, and provides PLACEMENT. Region changes
 * go to the kernel's event catalogue. At stop it waits for its in-flight writes, so the engine,
 * which stops after it, is never closed under one.
 */
export function localPlacement(options: LocalPlacementPluginOptions = {}): Plugin {
  let placement: LocalPlacement | undefined;
  return definePlugin({
    name: '@flashkv/core:placement',
    version: CORE_VERSION,
    requires: [ENGINE],
    optional: [CLOCK],
    provides: [PLACEMENT],
    async register(ctx) {
      placement = await LocalPlacement.open({
        engine: ctx.resolve(ENGINE),
        clock: ctx.tryResolve(CLOCK) ?? systemClock,
        events: ctx.events,
        ...(options.tsoWindowMs !== undefined ? { tsoWindowMs: options.tsoWindowMs } : {}),
        ...(options.storeId !== undefined ? { storeId: options.storeId } : {}),
      });
      ctx.provide(PLACEMENT, placement);
    },
    async stop() {
      await placement?.drain();
    },
  });
}
