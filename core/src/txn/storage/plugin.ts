import { localConsensus } from '../../consensus/plugin.js';
import { definePlugin, type Plugin } from '../../kernel/plugin.js';
import { CORE_VERSION } from '../../kernel/plan.js';
import { CONSENSUS, HOTPATH, PLACEMENT, STORAGE } from '../../kernel/tokens.js';
import { localPlacement, type LocalPlacementPluginOptions } from '../../placement/plugin.js';
import { txnClient, type TxnClientPluginOptions } from '../client/plugin.js';
import { Storage } from './storage.js';

export interface StoragePluginOptions {
  readonly maxPending?: number;
  readonly sync?: boolean;
}

export const STORAGE_PLUGIN_NAME = '@flashkv/core:storage';

/**
 * The Storage API as a plugin: requires CONSENSUS (LocalConsensus or raft) and PLACEMENT,
 * provides STORAGE. Scans use HOTPATH (e.g. @flashkv/asm's WASM) when a plugin provides it,
 * else the TS reference: the hot path is an optimisation, never a dependency. Its command registry is `storage.registry`; a plugin that adds commands
 * requires STORAGE and registers into it in its own register().
 */
export function storage(options: StoragePluginOptions = {}): Plugin {
  let instance: Storage | undefined;
  return definePlugin({
    name: STORAGE_PLUGIN_NAME,
    version: CORE_VERSION,
    requires: [CONSENSUS, PLACEMENT],
    optional: [HOTPATH],
    provides: [STORAGE],
    register(ctx) {
      const hotPath = ctx.tryResolve(HOTPATH);
      instance = new Storage({
        ...(hotPath !== undefined ? { hotPath } : {}),
        consensus: ctx.resolve(CONSENSUS),
        placement: ctx.resolve(PLACEMENT),
        ...(options.maxPending !== undefined ? { maxPending: options.maxPending } : {}),
        ...(options.sync !== undefined ? { sync: options.sync } : {}),
      });
      ctx.provide(STORAGE, instance);
    },
  });
}

export interface DefaultTxnPluginsOptions {
  readonly placement?: LocalPlacementPluginOptions;
  readonly storage?: StoragePluginOptions;
  readonly client?: TxnClientPluginOptions;
}

/**
 * The transactional layer of a build without raft: placement, LocalConsensus, Storage and the
 * TxnClient. Add an engine plugin (it provides ENGINE) and optionally a CLOCK provider:
 * `Kernel.start({ plugins: [memoryEngine(), ...defaultTxnPlugins()] })`, then
 * `kernel.storage` and `kernel.client()`. A raft build replaces `localConsensus()` with raft.
 */
export function defaultTxnPlugins(options: DefaultTxnPluginsOptions = {}): Plugin[] {
  return [localPlacement(options.placement), localConsensus(), storage(options.storage), txnClient(options.client)];
}
