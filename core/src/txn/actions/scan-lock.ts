/**
 * scanLock (TiKV `ScanLock` command): locks with startTs <= maxTs in [start, end), for GC's lock
 * resolution and for tools. Read-only: it records nothing.
 */
import type { EncodedKey } from '../../codec/index.js';
import type { LockEntry, MvccReader } from '../mvcc/reader.js';
import { assertTs } from './common.js';

export interface ScanLockArgs {
  readonly maxTs: bigint;
  readonly start?: EncodedKey;
  readonly end?: EncodedKey;
  /** 0 or absent: all. */
  readonly limit?: number;
}

export function scanLock(reader: MvccReader, args: ScanLockArgs): { locks: LockEntry[]; hasMore: boolean } {
  assertTs('maxTs', args.maxTs);
  const filter = (lock: { startTs: bigint }) => lock.startTs <= args.maxTs;
  return reader.scanLocks({ start: args.start, end: args.end, limit: args.limit, filter });
}
