import {
  CLOCK,
  CONSENSUS,
  definePlugin,
  HOTPATH,
  FLASHBACK,
  PLACEMENT,
  RESOLVED_TS,
  STORAGE,
  systemClock,
  type Plugin,
} from '@flashkv/core';
import { registerFlashbackCommands } from './commands.js';
import { FlashbackService, type FlashbackServiceOptions } from './orchestrator.js';

export const FLASHBACK_PLUGIN_NAME = '@flashkv/flashback';

export type FlashbackPluginOptions = Omit<FlashbackServiceOptions, 'storage' | 'placement' | 'consensus' | 'clock' | 'events' | 'resolvedTs'> & {
  /**
   * Resume every unfinished flashback job when the plugin starts (default true): a job whose
   * orchestrator crashed continues with its persisted start_ts/commit_ts. The runs are not
   * awaited by start; `resume(jobId)` returns the run in flight.
   */
  readonly resumeOnStart?: boolean;
};

/**
 * The flashback plugin: registers the store-level flashback commands into Storage's registry
 * (so `storage.prepareFlashbackToVersion` / `flashbackToVersion` work) and provides the FLASHBACK
 * orchestrator. Uses CLOCK and RESOLVED_TS (CDC) when a plugin provides them.
 */
export function flashback(options: FlashbackPluginOptions = {}): Plugin {
  let service: FlashbackService | undefined;
  return definePlugin({
    name: FLASHBACK_PLUGIN_NAME,
    version: '0.1.0',
    requires: [STORAGE, PLACEMENT, CONSENSUS],
    optional: [CLOCK, RESOLVED_TS, HOTPATH],
    provides: [FLASHBACK],
    register(ctx) {
      const storage = ctx.resolve(STORAGE);
      registerFlashbackCommands(storage, ctx.tryResolve(HOTPATH));
      const resolvedTs = ctx.tryResolve(RESOLVED_TS);
      service = new FlashbackService({
        ...options,
        storage,
        placement: ctx.resolve(PLACEMENT),
        consensus: ctx.resolve(CONSENSUS),
        clock: ctx.tryResolve(CLOCK) ?? systemClock,
        events: ctx.events,
        ...(resolvedTs !== undefined ? { resolvedTs } : {}),
      });
      ctx.provide(FLASHBACK, service);
    },
    start() {
      if (options.resumeOnStart === false || service === undefined) return;
      for (const id of service.unfinishedJobs()) {
        // Failures surface on the run's `done`; nothing here may reject start.
        service.resume(id).done.catch(() => undefined);
      }
    },
    async stop() {
      await service?.close();
    },
  });
}
