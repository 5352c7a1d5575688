export * from './types.js';
export { encodeConfChange, decodeConfChange } from './conf-change.js';
export { LogCompactedError, LogUnavailableError, MemoryStorage, type InitialState, type Storage } from './storage.js';
export { RaftLog } from './raft-log.js';
export { Inflights, Progress, type ProgressState } from './progress.js';
export { ProgressTracker, type VoteResult } from './tracker.js';
export { Raft, type RaftConfig, type RaftStatus, type ReadOnlyOption, type Rng } from './raft.js';
export { RawNode, type Ready } from './raw-node.js';
export { bootstrapStorage } from './bootstrap.js';
