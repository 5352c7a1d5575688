export * from './errors.js';
export * from './engine/index.js';
export * from './hotpath/index.js';
export * from './kernel/index.js';
export * as codec from './codec/index.js';
export * from './clock.js';
export * from './placement/index.js';
export * from './txn/latches.js';
export * from './txn/scheduler/index.js';
