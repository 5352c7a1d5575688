import { interval } from 'rxjs';
import { definePlugin, ENGINE, PLACEMENT, RESOLVED_TS, STORAGE, type Plugin, type Token } from '@flashkv/core';
import { CdcService, type Cdc, type CdcServiceOptions } from './cdc.js';

export const CDC_PLUGIN_NAME = '@flashkv/cdc';

/** The CDC service (DESIGN.md section 7). */
export const CDC: Token<Cdc> = Symbol('flashkv.cdc');

export type CdcPluginOptions = Pick<CdcServiceOptions, 'maxPendingEvents' | 'schedule' | 'ticker' | 'scanChunk'> & {
  /** Resolved-ts period when no `ticker` is given. Default 1000 ms (TiKV's advance-ts-interval is 1 s). */
  readonly tickMs?: number;
};

/**
 * The CDC plugin: provides CDC and RESOLVED_TS (the flashback orchestrator waits on the latter).
 * Uses Storage's 1PC fence when STORAGE is provided, so 1PC commits cannot slip under resolved ts.
 */
export function cdc(options: CdcPluginOptions = {}): Plugin {
  let service: CdcService | undefined;
  return definePlugin({
    name: CDC_PLUGIN_NAME,
    version: '0.1.0',
    requires: [ENGINE, PLACEMENT],
    optional: [STORAGE],
    provides: [CDC, RESOLVED_TS],
    register(ctx) {
      const storage = ctx.tryResolve(STORAGE);
      service = new CdcService({
        engine: ctx.resolve(ENGINE),
        placement: ctx.resolve(PLACEMENT),
        events: ctx.events,
        ticker: options.ticker ?? interval(options.tickMs ?? 1000),
        ...(storage !== undefined ? { fence: storage.fence } : {}),
        ...(options.schedule !== undefined ? { schedule: options.schedule } : {}),
        ...(options.maxPendingEvents !== undefined ? { maxPendingEvents: options.maxPendingEvents } : {}),
        ...(options.scanChunk !== undefined ? { scanChunk: options.scanChunk } : {}),
      });
      ctx.provide(CDC, service);
      ctx.provide(RESOLVED_TS, service);
    },
    start() {
      service?.start();
    },
    stop() {
      service?.stop();
    },
  });
}
