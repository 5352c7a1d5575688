export * from './ts.js';
export * from './region.js';
export { RegionMap, planSplit } from './region-map.js';
export type { JobValue, JobRecord } from './jobs.js';
export { TsoAllocator, DEFAULT_TSO_WINDOW_MS } from './tso.js';
export * from './placement.js';
export * from './plugin.js';
