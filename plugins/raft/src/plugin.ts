import { CLOCK, CONSENSUS, ENGINE, PLACEMENT, definePlugin, type Plugin, type StorageEngine } from '@flashkv/core';
import { RaftCluster } from './store/cluster.js';
import type { StoreRaftOptions } from './store/store.js';
import type { TickSource } from './store/ticker.js';
import type { SplitCheckOptions } from './store/split-check.js';
import type { LeaderBalanceOptions } from './store/leader-balance.js';

export const RAFT_PLUGIN_NAME = '@flashkv/raft';

export interface RaftPluginOptions {
  /** Stores in this process. Store 1 runs on the kernel's ENGINE. Default 3. */
  readonly stores?: number;
  /** The engine of store `storeId` >= 2 (each store needs its own). Required when stores > 1. */
  readonly engineFor?: (storeId: number) => StorageEngine | Promise<StorageEngine>;
  readonly raft?: StoreRaftOptions;
  /** Default: a tick every 100 ms of wall time. */
  readonly tickSource?: TickSource;
  readonly seed?: number;
  readonly logGcThreshold?: number;
  /** Size-based split (RaftCluster's `splitCheck`): off unless given. */
  readonly splitCheck?: SplitCheckOptions;
  /** Leader balancing (RaftCluster's `leaderBalance`): off unless given. */
  readonly leaderBalance?: LeaderBalanceOptions;
  /**
   * Placement on raft (issue 8 item 5): the plugin also provides PLACEMENT, served by a meta raft
   * group with a voter on every store (TSO, directory, safe point, pauses, jobs survive losing
   * any one store). Use instead of core's `localPlacement()`. `true` or the meta group's options.
   */
  readonly placementOnRaft?: boolean | { readonly tsoWindowMs?: number; readonly logGcThreshold?: number };
}

/**
 * Raft consensus for N stores in one process (DESIGN.md section 9): provides CONSENSUS, a
 * client that routes each request to the region's leader. Split ids come from PLACEMENT's
 * `allocId`. The first start bootstraps one region over the whole key space with a peer on every
 * store. With `placementOnRaft` the plugin provides PLACEMENT too, replicated in a meta raft group;
 * otherwise placement is the kernel's own (e.g. `localPlacement()`, not replicated).
 */
export function raft(options: RaftPluginOptions = {}): Plugin {
  let cluster: RaftCluster | undefined;
  const n = options.stores ?? 3;
  if (!Number.isInteger(n) || n < 1) throw new TypeError(`raft: stores must be a positive integer, got ${String(options.stores)}`);
  const onRaft = options.placementOnRaft !== undefined && options.placementOnRaft !== false;
  if (n > 1 && !options.engineFor) throw new TypeError('raft: engineFor(storeId) is required for more than one store');
  return definePlugin({
    name: RAFT_PLUGIN_NAME,
    version: '0.1.0',
    requires: onRaft ? [ENGINE] : [ENGINE, PLACEMENT],
    optional: onRaft ? [CLOCK] : [],
    provides: onRaft ? [CONSENSUS, PLACEMENT] : [CONSENSUS],
    async register(ctx) {
      const engines: StorageEngine[] = [ctx.resolve(ENGINE)];
      for (let s = 2; s <= n; s++) engines.push(await options.engineFor!(s));
      const metaOptions = typeof options.placementOnRaft === 'object' ? options.placementOnRaft : {};
      const clock = onRaft ? ctx.tryResolve(CLOCK) : undefined;
      const placement = onRaft ? undefined : ctx.resolve(PLACEMENT);
      cluster = await RaftCluster.start({
        engines,
        ...(placement ? { allocId: () => placement.allocId(), directory: placement } : { metaPlacement: { ...metaOptions, ...(clock ? { clock } : {}) } }),
        events: ctx.events,
        ...(options.raft ? { raft: options.raft } : {}),
        ...(options.tickSource ? { tickSource: options.tickSource } : {}),
        ...(options.seed !== undefined ? { seed: options.seed } : {}),
        ...(options.logGcThreshold !== undefined ? { logGcThreshold: options.logGcThreshold } : {}),
        ...(options.splitCheck ? { splitCheck: options.splitCheck } : {}),
        ...(options.leaderBalance ? { leaderBalance: options.leaderBalance } : {}),
      });
      ctx.provide(CONSENSUS, cluster.consensus);
      if (cluster.placement) ctx.provide(PLACEMENT, cluster.placement);
    },
    async stop() {
      await cluster?.stop();
    },
  });
}
