// @flashkv/raft: the pure raft core (src/core) and the multi-raft store with RaftConsensus (src/store).
export * from './core/index.js';
export * from './store/index.js';
