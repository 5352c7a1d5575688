// @flashkv/raft: the pure raft core (src/core), the multi-raft store with RaftConsensus and an
// in-process cluster (src/store), and the `raft()` kernel plugin.
export * from './core/index.js';
export * from './store/index.js';
export { raft, RAFT_PLUGIN_NAME, type RaftPluginOptions } from './plugin.js';
export * from './net/index.js';
export * from './placement/index.js';
