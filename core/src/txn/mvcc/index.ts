export { MvccTxn, type OnePcLock, type ReleasedLock, type TxnMark } from './txn.js';
export {
  MvccReader,
  type CommittedWrite,
  type LockEntry,
  type MvccInfo,
  type OverlappedWrite,
  type PointGetOptions,
  type ScanLocksOptions,
  type TxnCommitRecord,
} from './reader.js';
export { KvPage, type KvPair, type ScanOptions } from './scanner.js';
export { SCAN_NONE, SCAN_UNDECIDED, mvccScanBatch, mvccScanEntries } from './scan-batch.js';
export { checkLockConflict, type IsolationLevel, type ReadLockOptions } from './lock-check.js';
export { dataRange, lockCfKey, lockCfUserKey, splitCfKey, tsCfKey, versionsUpperBound } from './keys.js';
export {
  alreadyExistError,
  committedError,
  invalidTxnTsoError,
  keyIsLockedError,
  txnLockNotFoundError,
  txnNotFoundError,
  writeConflictError,
  type WriteConflictInfo,
} from './errors.js';
