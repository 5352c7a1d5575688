/**
 * Lock-CF records as flashback sees them (FLASHBACK.md a.4.1): a key holds either one Lock
 * record or a SharedLocks record (FORMATS.md 5.3, type 'H') with one sub-lock per transaction.
 * RollbackLock treats every sub-lock like a lock of its own (rolled back at its own ts; the
 * flashback's own ts skipped the same way), so a range scan yields each key with the locks on
 * it that are not the flashback's.
 */
import { codec, lockCfKey, lockCfUserKey, dataRange, type EngineReader } from '@flashkv/core';

type EncodedKey = codec.EncodedKey;
type Lock = codec.Lock;

const TYPE_SHARED = 0x48; // 'H'

/** The lock-CF record of one key: its locks (one, or the sub-locks in start_ts order). */
export interface KeyLocks {
  readonly key: EncodedKey;
  /** Undefined for a plain Lock record; the record itself for a SharedLocks one. */
  readonly shared: codec.SharedLocks | undefined;
  readonly locks: readonly Lock[];
}

function decodeRecord(key: EncodedKey, v: Uint8Array): KeyLocks {
  if (v.length > 0 && v[0] === TYPE_SHARED) {
    const shared = codec.decodeSharedLocks(v);
    const locks = [...shared.locks.values()].sort((a, b) => (a.startTs < b.startTs ? -1 : a.startTs > b.startTs ? 1 : 0));
    return { key, shared, locks };
  }
  return { key, shared: undefined, locks: [codec.decodeLock(v)] };
}

/** The lock-CF record of `key`, or undefined. */
export function loadKeyLocks(snapshot: EngineReader, key: EncodedKey): KeyLocks | undefined {
  const v = snapshot.get('lock', lockCfKey(key));
  return v === undefined ? undefined : decodeRecord(key, v);
}

/**
 * Keys of [start, end) holding a lock whose ts is not `skipTs` (a SharedLocks record counts when
 * any sub-lock's does), in key order, at most `limit` (0: no limit). Each entry lists only
 * those locks.
 */
export function scanKeyLocks(snapshot: EngineReader, start: EncodedKey | undefined, end: EncodedKey | undefined, skipTs: bigint | undefined, limit: number): KeyLocks[] {
  const it = snapshot.iterator('lock', dataRange(start, end));
  try {
    const out: KeyLocks[] = [];
    for (let ok = it.first(); ok; ok = it.next()) {
      const key = lockCfUserKey(it.key()).slice() as EncodedKey;
      const rec = decodeRecord(key, it.value());
      const locks = skipTs === undefined ? rec.locks : rec.locks.filter((l) => l.startTs !== skipTs);
      if (locks.length === 0) continue;
      out.push(locks.length === rec.locks.length ? rec : { key, shared: rec.shared, locks });
      if (limit > 0 && out.length === limit) break;
    }
    return out;
  } finally {
    it.close();
  }
}
