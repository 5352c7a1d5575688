export * from './ts.js';
export * from './region.js';
export { RegionMap, planSplit } from './region-map.js';
export type { JobValue, JobRecord } from './jobs.js';
export { TsoAllocator, DEFAULT_TSO_WINDOW_MS } from './tso.js';
export * from './placement.js';
export * from './plugin.js';
export { encodeJobRecord, decodeJobRecord } from './jobs.js';
/** The placement key layout, for a consensus that replicates placement state under the same keys (raft's meta group). */
export * as placementKeys from './keys.js';
/** The Placement contract's argument checks, for another Placement (raft's meta group) to refuse the same inputs alike. */
export * as placementArgs from './args.js';
