/**
 * MvccReader (TiKV `src/storage/mvcc/reader/reader.rs` and `point_getter.rs`): reads locks,
 * write records and values of one snapshot. Pure over an EngineReader: give it an
 * EngineSnapshot so that every read of one command sees one point in time.
 */
import { decodeBytes } from '../../codec/index.js';
import { U64_MAX } from '../../codec/index.js';
import type { Lock, SharedLocks } from '../../codec/index.js';
import type { EncodedKey } from '../../codec/index.js';
import { checkGcFenceAsLatestVersion, decodeWrite, type Write } from '../../codec/index.js';
import type { EngineIterator, EngineReader } from '../../engine/engine.js';
import { CorruptedError } from '../../errors.js';
import type { HotPath } from '../../hotpath/hotpath.js';
import { dataRange, lockCfKey, lockCfUserKey, splitCfKey, tsCfKey, versionsUpperBound } from './keys.js';
import { keyIsLockedError } from './errors.js';
import { checkLockConflict, type ReadLockOptions } from './lock-check.js';
import { decodeLockRecord, type LockRecord } from './lock-record.js';
import { scanRange, scanRangePage, type KvPage, type KvPair, type ScanOptions } from './scanner.js';

/** A write record and the ts it is keyed at (the commit ts; a Rollback's own start ts). */
export interface CommittedWrite {
  readonly commitTs: bigint;
  readonly write: Write;
}

/**
 * An existing write keyed at exactly the start ts a rollback wants (a later txn committed at
 * that ts), so the rollback must be recorded as a flag on it instead. `gcFence` is the commit ts
 * of the next newer Put/Delete, 0n if none (TiKV `OverlappedWrite`).
 */
export interface OverlappedWrite {
  readonly write: Write;
  readonly gcFence: bigint;
}

/** What the write CF says about one txn on one key (TiKV `TxnCommitRecord`). */
export type TxnCommitRecord =
  | { readonly kind: 'single'; readonly commitTs: bigint; readonly write: Write }
  | { readonly kind: 'overlappedRollback'; readonly commitTs: bigint }
  | { readonly kind: 'none'; readonly overlappedWrite?: OverlappedWrite };

export interface PointGetOptions extends ReadLockOptions {
  /** Return an empty value for a present key without loading it. */
  readonly keyOnly?: boolean;
}

export interface LockEntry {
  readonly key: EncodedKey;
  readonly lock: Lock;
  /** True when `lock` is one sub-lock of a SharedLocks record on `key` (FORMATS.md 5.3). */
  readonly shared?: boolean;
}

export interface ScanLocksOptions {
  readonly start?: EncodedKey;
  readonly end?: EncodedKey;
  readonly filter?: (lock: Lock, key: EncodedKey) => boolean;
  /** Most locks returned; 0 or absent means all. */
  readonly limit?: number;
}

/** Everything stored for one key (TiKV `MvccInfo`), for tools and tests; newest first. */
export interface MvccInfo {
  /** The key's Lock record, when it holds a plain one. */
  readonly lock?: Lock;
  /** The key's SharedLocks record, when it holds one (then `lock` is absent). */
  readonly sharedLocks?: SharedLocks;
  readonly writes: CommittedWrite[];
  readonly values: Array<{ readonly startTs: bigint; readonly value: Uint8Array }>;
}

export class MvccReader {
  readonly snapshot: EngineReader;

  constructor(snapshot: EngineReader) {
    this.snapshot = snapshot;
  }

  /**
   * The Lock record of `key`, for the write actions. A SharedLocks record (held by one or more
   * txns in shared mode) is KEY_IS_LOCKED carrying its oldest sub-lock: core's actions do not
   * take, commit or release shared locks, so a write meeting one must wait like any conflict.
   */
  loadLock(key: EncodedKey): Lock | undefined {
    const rec = this.loadLockRecord(key);
    if (rec === undefined) return undefined;
    if (rec.shared === undefined) return rec.locks[0];
    const oldest = rec.locks[0];
    if (oldest === undefined) return undefined; // an empty SharedLocks record holds nothing
    throw keyIsLockedError(decodeBytes(key).raw, oldest);
  }

  /** The lock-CF record of `key` in either form (a Lock, or SharedLocks with its sub-locks). */
  loadLockRecord(key: EncodedKey): LockRecord | undefined {
    const v = this.snapshot.get('lock', lockCfKey(key));
    return v === undefined ? undefined : decodeLockRecord(v);
  }

  /** The value of a Put: its short value, or the default-CF value at key@startTs. */
  loadData(key: EncodedKey, write: Write): Uint8Array {
    if (write.shortValue !== undefined) return write.shortValue;
    const v = this.snapshot.get('default', tsCfKey(key, write.startTs));
    if (v === undefined) {
      // TiKV `default_not_found_error`: a committed Put without its value is corruption.
      throw new CorruptedError(`default CF value missing for a Put of txn ${write.startTs}`, { key, startTs: write.startTs });
    }
    return v;
  }

  /** An iterator over the versions of `key` with ts <= `ts`, newest first, positioned on the first. */
  private versions(key: EncodedKey, ts: bigint): EngineIterator {
    const it = this.snapshot.iterator('write', { lower: tsCfKey(key, ts), upper: versionsUpperBound(key) });
    it.first();
    return it;
  }

  /** The newest write record of `key` keyed at a ts <= `ts`, of any type (TiKV `seek_write`). */
  seekWrite(key: EncodedKey, ts: bigint): CommittedWrite | undefined {
    const it = this.versions(key, ts);
    try {
      if (!it.valid()) return undefined;
      return { commitTs: splitCfKey(it.key()).ts, write: decodeWrite(it.value()) };
    } finally {
      it.close();
    }
  }

  /**
   * The Put a read at `ts` sees, skipping Lock and Rollback records; undefined if the newest
   * relevant record is a Delete, there is none, or a record's gc_fence is at or below
   * `gcFenceLimit` (TiKV `get_write_with_commit_ts`). No lock check.
   */
  getWrite(key: EncodedKey, ts: bigint, gcFenceLimit: bigint | undefined = ts): CommittedWrite | undefined {
    const it = this.versions(key, ts);
    try {
      for (let ok = it.valid(); ok; ok = it.next()) {
        const write = decodeWrite(it.value());
        if (gcFenceLimit !== undefined && !checkGcFenceAsLatestVersion(write, gcFenceLimit)) return undefined;
        if (write.writeType === 'Put') return { commitTs: splitCfKey(it.key()).ts, write };
        if (write.writeType === 'Delete') return undefined;
      }
      return undefined;
    } finally {
      it.close();
    }
  }

  /** The value visible at `ts` ignoring locks. */
  getValueAt(key: EncodedKey, ts: bigint, keyOnly = false): Uint8Array | undefined {
    const found = this.getWrite(key, ts);
    if (found === undefined) return undefined;
    return keyOnly ? new Uint8Array(0) : this.loadData(key, found.write);
  }

  /** A snapshot-isolation point get (TiKV `PointGetter::get`): KEY_IS_LOCKED for a blocking lock. */
  get(key: EncodedKey, ts: bigint, options?: PointGetOptions): Uint8Array | undefined {
    if (options?.isolation !== 'RC') {
      const rec = this.loadLockRecord(key);
      if (rec !== undefined) for (const lock of rec.locks) checkLockConflict(lock, () => decodeBytes(key).raw, ts, options);
    }
    return this.getValueAt(key, ts, options?.keyOnly === true);
  }

  /**
   * Finds txn `startTs`'s record on `key` (TiKV `get_txn_commit_record`). All versions down to
   * startTs are walked: a pessimistic txn with a small start ts may commit after a txn with a
   * larger one, so its record need not be the newest.
   */
  getTxnCommitRecord(key: EncodedKey, startTs: bigint): TxnCommitRecord {
    const it = this.versions(key, U64_MAX);
    try {
      let gcFence = 0n;
      for (let ok = it.valid(); ok; ok = it.next()) {
        const commitTs = splitCfKey(it.key()).ts;
        const write = decodeWrite(it.value());
        if (write.startTs === startTs) return { kind: 'single', commitTs, write };
        if (commitTs === startTs) {
          if (write.hasOverlappedRollback) return { kind: 'overlappedRollback', commitTs };
          return { kind: 'none', overlappedWrite: { write, gcFence } };
        }
        if (write.writeType === 'Put' || write.writeType === 'Delete') gcFence = commitTs;
        if (commitTs < startTs) break;
      }
      return { kind: 'none' };
    } finally {
      it.close();
    }
  }

  /**
   * Locks in [start, end) that pass `filter`, in key order; `hasMore` if `limit` cut the list.
   * A SharedLocks record gives one entry per sub-lock that passes (start_ts order, `shared`
   * set). A record is never split across pages: one that would overrun `limit` ends the page
   * (hasMore), unless the page is still empty, in which case all its passing sub-locks are
   * returned even past `limit`, so a caller paging from the last key it saw loses none.
   */
  scanLocks(options: ScanLocksOptions = {}): { locks: LockEntry[]; hasMore: boolean } {
    const limit = options.limit ?? 0;
    if (!Number.isInteger(limit) || limit < 0) throw new TypeError(`scanLocks: limit must be a non-negative integer, got ${limit}`);
    const it = this.snapshot.iterator('lock', dataRange(options.start, options.end));
    try {
      const locks: LockEntry[] = [];
      for (let ok = it.first(); ok; ok = it.next()) {
        const key = lockCfUserKey(it.key()).slice() as EncodedKey;
        const rec = decodeLockRecord(it.value());
        if (rec.shared === undefined) {
          const lock = rec.locks[0]!;
          if (options.filter !== undefined && !options.filter(lock, key)) continue;
          locks.push({ key, lock });
        } else {
          const passing = options.filter === undefined ? rec.locks : rec.locks.filter((l) => options.filter!(l, key));
          if (passing.length === 0) continue;
          if (limit > 0 && locks.length > 0 && locks.length + passing.length > limit) return { locks, hasMore: true };
          for (const lock of passing) locks.push({ key, lock, shared: true });
        }
        if (limit > 0 && locks.length >= limit) return { locks, hasMore: it.next() };
      }
      return { locks, hasMore: false };
    } finally {
      it.close();
    }
  }

  /**
   * Key-ordered pairs visible at `options.ts` in [start, end), with the lock checks of a point
   * get. `hotPath` runs the forward scan's batch step (default: the TS reference).
   */
  scan(options: ScanOptions, hotPath?: HotPath): KvPair[] {
    return scanRange(this, options, hotPath);
  }

  /**
   * `scan` with the pairs packed in one buffer (KvPage): no KvPair object per key. Pass `into`
   * to refill a page read earlier (its buffers are reused; see scanRangePage).
   */
  scanPage(options: ScanOptions, hotPath?: HotPath, into?: KvPage): KvPage {
    return scanRangePage(this, options, hotPath, into);
  }

  /** Every write record of `key` keyed at a ts <= `maxTs`, newest first. */
  scanWrites(key: EncodedKey, maxTs: bigint = U64_MAX): CommittedWrite[] {
    const out: CommittedWrite[] = [];
    const it = this.versions(key, maxTs);
    try {
      for (let ok = it.valid(); ok; ok = it.next()) out.push({ commitTs: splitCfKey(it.key()).ts, write: decodeWrite(it.value()) });
    } finally {
      it.close();
    }
    return out;
  }

  /** The distinct user keys with write records in [start, end), in order (for GC and tools). */
  scanWriteKeys(start?: EncodedKey, end?: EncodedKey): EncodedKey[] {
    const keys: EncodedKey[] = [];
    const it = this.snapshot.iterator('write', dataRange(start, end));
    try {
      for (let ok = it.first(); ok; ) {
        const key = splitCfKey(it.key()).key.slice() as EncodedKey;
        keys.push(key);
        // The key at ts 0 is its oldest possible version: the next entry is another user key.
        ok = it.seek(versionsUpperBound(key));
      }
    } finally {
      it.close();
    }
    return keys;
  }

  mvccByKey(key: EncodedKey): MvccInfo {
    const rec = this.loadLockRecord(key);
    const writes = this.scanWrites(key);
    const values: Array<{ startTs: bigint; value: Uint8Array }> = [];
    const dit = this.snapshot.iterator('default', { lower: tsCfKey(key, U64_MAX), upper: versionsUpperBound(key) });
    try {
      for (let ok = dit.first(); ok; ok = dit.next()) values.push({ startTs: splitCfKey(dit.key()).ts, value: dit.value() });
    } finally {
      dit.close();
    }
    if (rec === undefined) return { writes, values };
    return rec.shared === undefined ? { lock: rec.locks[0]!, writes, values } : { sharedLocks: rec.shared, writes, values };
  }
}
