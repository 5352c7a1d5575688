// @hot-path
import type { ColumnFamily } from '@flashkv/core';

/**
 * Column families are a one-byte prefix of every stored key (DESIGN.md section 8): one LSM,
 * one WAL, so a batch that spans families is one WAL record and lands atomically. The byte
 * values are part of the on-disk format.
 */
export const CF_ID: Readonly<Record<ColumnFamily, number>> = { default: 0, lock: 1, write: 2, raft: 3 };
export const CF_NAMES: readonly ColumnFamily[] = ['default', 'lock', 'write', 'raft'];

/** Kinds of internal entries; the values are part of the WAL and SST formats. */
export const KIND_DELETE = 0;
export const KIND_PUT = 1;
/** Only in WAL batch records: expanded into point deletes when applied (see README). */
export const KIND_DELETE_RANGE = 2;

/** Larger than any sequence number: (key, MAX_SEQ) sorts before every version of key. */
export const MAX_SEQ = Number.MAX_SAFE_INTEGER;

/**
 * Internal order: prefixed user key ascending, then sequence number DESCENDING, so the newest
 * version of a key comes first and a read at snapshot s stops at the first version <= s.
 * Seq -1 sorts after every version (used to seek past a whole key).
 */
export function compareInternal(ak: Uint8Array, aseq: number, bk: Uint8Array, bseq: number): number {
  const n = ak.length < bk.length ? ak.length : bk.length;
  for (let i = 0; i < n; i++) {
    const d = ak[i]! - bk[i]!;
    if (d !== 0) return d;
  }
  if (ak.length !== bk.length) return ak.length - bk.length;
  return bseq - aseq;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
