// The transaction layer (DESIGN.md section 5): modifies, MVCC reader and txn, actions, and the
// scheduler's command contract.
export * from './modify.js';
export * from './mvcc/index.js';
export * from './actions/index.js';
export * from './scheduler/index.js';
export * from './latches.js';
export * from './commands/index.js';
export * from './storage/index.js';
export * from './client/index.js';
