/**
 * The snapshot-isolation lock check of a read (TiKV `Lock::check_ts_conflict`, SI branch).
 */
import { U64_MAX } from '../../codec/index.js';
import type { Lock } from '../../codec/index.js';
import { keyIsLockedError } from './errors.js';

export type IsolationLevel = 'SI' | 'RC';

export interface ReadLockOptions {
  /**
   * Start timestamps whose locks the read ignores (TiKV `bypass_locks`): a transaction reading
   * its own writes passes its own startTs; a client that learned a txn's min_commit_ts was
   * pushed past its read passes that txn's startTs.
   */
  readonly bypassLocks?: readonly bigint[];
  /** 'RC' reads ignore locks entirely. Default 'SI'. */
  readonly isolation?: IsolationLevel;
}

/**
 * Throws KEY_IS_LOCKED when `lock` may hide a version a read at `readTs` must see. A lock does
 * not block the read when: it started after the read; it is a Lock or Pessimistic lock (they
 * never commit a value); its min_commit_ts is past the read (its commit ts will be too); the
 * caller bypasses it; or the read is at u64 max of the lock's own primary (an autocommit
 * point get of the latest committed value), unless it is async commit.
 */
export function checkLockConflict(lock: Lock, rawKey: () => Uint8Array, readTs: bigint, options: ReadLockOptions | undefined): void {
  if (lock.startTs > readTs || lock.lockType === 'Lock' || lock.lockType === 'Pessimistic') return;
  if (lock.minCommitTs > readTs) return;
  const bypass = options?.bypassLocks;
  if (bypass !== undefined && bypass.includes(lock.startTs)) return;
  const raw = rawKey();
  if (readTs === U64_MAX && !lock.useAsyncCommit && sameBytes(raw, lock.primary)) return;
  throw keyIsLockedError(raw, lock);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
