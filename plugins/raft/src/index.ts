// @flashkv/raft: the pure raft core (src/core). The multi-raft store and transports come later.
export * from './core/index.js';
