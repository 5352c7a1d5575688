export { prewrite, commitOnePc, type Mutation, type MutationOp, type PrewriteResult, type TxnProps } from './prewrite.js';
export { commit } from './commit.js';
export { cleanup } from './cleanup.js';
export { rollback } from './rollback.js';
export {
  checkTxnStatus,
  checkTxnStatusLockExists,
  checkTxnStatusMissingLock,
  collapsePrevRollback,
  makeRollback,
  rollbackLock,
  type CheckTxnStatusArgs,
  type MissingLockAction,
  type TxnStatus,
} from './check-txn-status.js';
export { acquirePessimisticLock, type AcquirePessimisticLockArgs, type AcquirePessimisticLockResult } from './acquire-pessimistic-lock.js';
export { pessimisticRollback } from './pessimistic-rollback.js';
export { txnHeartBeat } from './txn-heart-beat.js';
export { resolveLock, locksOfTxn } from './resolve-lock.js';
export { scanLock, type ScanLockArgs } from './scan-lock.js';
export { gc, type GcInfo } from './gc.js';
export { checkDataConstraint } from './check-data-constraint.js';
