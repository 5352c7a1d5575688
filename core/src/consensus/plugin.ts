import { definePlugin, type Plugin } from '../kernel/plugin.js';
import { CONSENSUS, ENGINE, EVENTS, PLACEMENT } from '../kernel/tokens.js';
import { LocalConsensus } from './local-consensus.js';

export const LOCAL_CONSENSUS_PLUGIN_NAME = '@flashkv/core/local-consensus';

/** The embedded default consensus as a plugin: one store, regions from placement, no replication. */
export function localConsensus(): Plugin {
  return definePlugin({
    name: LOCAL_CONSENSUS_PLUGIN_NAME,
    version: '0.1.0',
    requires: [ENGINE, PLACEMENT],
    provides: [CONSENSUS],
    register(ctx) {
      ctx.provide(CONSENSUS, new LocalConsensus({ engine: ctx.resolve(ENGINE), placement: ctx.resolve(PLACEMENT), events: ctx.resolve(EVENTS) }));
    },
  });
}
