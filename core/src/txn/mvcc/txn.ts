/**
 * MvccTxn (TiKV `src/storage/mvcc/txn.rs`): the write side of one transaction's command. It
 * only records Modifies with the right keys and CFs (FORMATS.md 3.3); nothing is written until
 * the command hands `modifies` to the layer that applies them.
 */
import { encodeLock, type Lock } from '../../codec/index.js';
import { encodeWrite, type Write } from '../../codec/index.js';
import type { EncodedKey } from '../../codec/index.js';
import { modifySize, type Modify } from '../modify.js';
import { lockCfKey, tsCfKey } from './keys.js';

/** A lock a command removed, for whoever wakes lock waiters (TiKV `ReleasedLock`). */
export interface ReleasedLock {
  readonly key: EncodedKey;
  readonly isPessimisticTxn: boolean;
}

/** A 1PC prewrite's lock, turned into a Write record at the commit ts instead of being stored. */
export interface OnePcLock {
  readonly key: EncodedKey;
  readonly lock: Lock;
  /** The key holds this txn's pessimistic lock, which the commit must remove. */
  readonly unlockPessimistic: boolean;
}

/** A point to roll the txn back to (see `MvccTxn.guard`). */
export interface TxnMark {
  readonly modifies: number;
  readonly onePc: number;
  readonly writeSize: number;
}

export class MvccTxn {
  readonly startTs: bigint;
  readonly modifies: Modify[] = [];
  readonly locksForOnePc: OnePcLock[] = [];
  /** Sum of key and value bytes of `modifies`. */
  writeSize = 0;

  constructor(startTs: bigint) {
    if (typeof startTs !== 'bigint' || startTs < 0n || startTs > 0xffff_ffff_ffff_ffffn) throw new TypeError(`startTs must be a u64 bigint, got ${String(startTs)}`);
    this.startTs = startTs;
  }

  private push(m: Modify): void {
    this.modifies.push(m);
    this.writeSize += modifySize(m);
  }

  putLock(key: EncodedKey, lock: Lock): void {
    this.push({ op: 'put', cf: 'lock', key: lockCfKey(key), value: encodeLock(lock) });
  }

  unlockKey(key: EncodedKey, isPessimisticTxn: boolean): ReleasedLock {
    this.push({ op: 'delete', cf: 'lock', key: lockCfKey(key) });
    return { key, isPessimisticTxn };
  }

  /** A value over 255 bytes, in the default CF at key@startTs. */
  putValue(key: EncodedKey, startTs: bigint, value: Uint8Array): void {
    this.push({ op: 'put', cf: 'default', key: tsCfKey(key, startTs), value });
  }

  deleteValue(key: EncodedKey, startTs: bigint): void {
    this.push({ op: 'delete', cf: 'default', key: tsCfKey(key, startTs) });
  }

  /** A Write record at key@ts: the commit ts, or the txn's own start ts for a Rollback. */
  putWrite(key: EncodedKey, ts: bigint, write: Write): void {
    this.push({ op: 'put', cf: 'write', key: tsCfKey(key, ts), value: encodeWrite(write) });
  }

  deleteWrite(key: EncodedKey, ts: bigint): void {
    this.push({ op: 'delete', cf: 'write', key: tsCfKey(key, ts) });
  }

  putLockForOnePc(key: EncodedKey, lock: Lock, unlockPessimistic: boolean): void {
    this.locksForOnePc.push({ key, lock, unlockPessimistic });
  }

  mark(): TxnMark {
    return { modifies: this.modifies.length, onePc: this.locksForOnePc.length, writeSize: this.writeSize };
  }

  restore(mark: TxnMark): void {
    this.modifies.length = mark.modifies;
    this.locksForOnePc.length = mark.onePc;
    this.writeSize = mark.writeSize;
  }

  /**
   * Runs one action: if it throws, whatever it recorded is dropped, so a failed action never
   * leaves a partial write behind for the caller to apply by mistake.
   */
  guard<T>(action: () => T): T {
    const mark = this.mark();
    try {
      return action();
    } catch (e) {
      this.restore(mark);
      throw e;
    }
  }
}
