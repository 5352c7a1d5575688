// The transaction layer (DESIGN.md section 5): modifies, MVCC reader and txn, actions, and the
// scheduler's command contract.
export * from './modify.js';
export * from './mvcc/index.js';
export * from './actions/index.js';
export * from './scheduler/index.js';
export * from './latches.js';
