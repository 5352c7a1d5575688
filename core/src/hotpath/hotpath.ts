/**
 * The hot-path contract (DESIGN.md sections 3 and 10): batch kernels with one TS reference
 * implementation in core and one WASM implementation in @flashkv/asm that give identical bytes.
 * Batches are packed: one buffer plus offsets, so a WASM implementation copies in once,
 * calls once and reads offsets back.
 */
import type { FlashbackBatchInput, FlashbackBatchResult } from './flashback-batch.js';
import type { PackedEntries } from '../engine/entry-batch.js';

/** Most items one hot-path call takes (TiKV's FLASHBACK_BATCH_SIZE, and our scan batch). */
export const HOT_BATCH_MAX = 256;

/**
 * Item i is `data.subarray(offsets[i], offsets[i + 1])`; `offsets.length >= count + 1`.
 * `data` may extend past `offsets[count]` (a reused output buffer does).
 */
export interface PackedBatch {
  readonly data: Uint8Array;
  readonly offsets: Uint32Array;
  readonly count: number;
}

export interface EncodeKeysOptions {
  /** Prefix every output with the data-key byte 'z' (0x7A). Default false. */
  readonly dataPrefix?: boolean;
}

export interface HotPath {
  readonly kind: 'js' | 'wasm';
  /**
   * Encodes `input.count` (<= HOT_BATCH_MAX) raw user keys to timestamped keys:
   * [0x7A if dataPrefix] ++ encodeBytes(raw) ++ u64be(~ts[i]) (FORMATS.md sections 1.1 and 3).
   * With `ts` null no timestamp is appended. The result lives in buffers the implementation
   * reuses: it is valid until the next call on the same HotPath.
   */
  encodeKeys(input: PackedBatch, ts: BigUint64Array | null, options?: EncodeKeysOptions): PackedBatch;
  /**
   * The inner step of an MVCC forward scan (`mvccScanBatch` in core/src/txn/mvcc/scan-batch.ts
   * is the reference and documents the rules): `keys` are `count` (<= HOT_BATCH_MAX) write-CF
   * keys in engine order ('z' ++ encoded user key ++ u64be(~commitTs)), `values` the Write
   * records at the same indices. Groups the entries by user key and picks, per group, the Put a
   * read at `readTs` sees. `groups < 0` means entry `-(groups + 1)` is malformed (then the
   * arrays hold nothing meaningful). Like encodeKeys, the arrays live in buffers the
   * implementation reuses: valid until the next call on the same HotPath.
   */
  mvccScanBatch(keys: PackedBatch, values: PackedBatch, readTs: bigint): ScanBatchResult;
  /**
   * The FlashbackWrite step for one batch (`flashbackBatchReference` in ./flashback-batch.ts is
   * the reference and documents the rules): `input.count` (<= HOT_BATCH_MAX) keys with their
   * values as of the flashback version become write-CF Put/Delete records at commitTs with
   * start_ts `startTs`, plus default-CF copies at startTs for values over 255 bytes, for the
   * longest prefix that fits `maxWriteSize` (default FLASHBACK_MAX_WRITE_SIZE). Like the others,
   * the result's arrays and `buf` live in buffers the implementation reuses: valid until the next
   * call on the same HotPath (copy `buf` before handing the ops to anything that keeps them).
   */
  flashbackBatch(input: FlashbackBatchInput, startTs: bigint, commitTs: bigint, maxWriteSize?: number): FlashbackBatchResult;
  /**
   * Optional: the forward scan's batch step with its results emitted (`mvccScanEntries` in
   * core/src/txn/mvcc/scan-batch.ts is the reference and documents the rules): `entries` are
   * `count` (<= HOT_BATCH_MAX) write-CF entries as an engine's readBatch packs them; the result
   * adds to mvccScanBatch's groups one pair per visible Put (raw key, short value) packed in one
   * buffer. `flags`: SCAN_KEY_ONLY, SCAN_FIRST_DECIDED. The scanner uses it when present and
   * falls back to mvccScanBatch otherwise. Results live in reused buffers, valid until the next
   * call on the same HotPath.
   */
  mvccScanEntries?(entries: PackedEntries, readTs: bigint, flags: number): ScanEntriesResult;
}

/** mvccScanEntries flag: emit empty values (no value is copied or looked up). */
export const SCAN_KEY_ONLY = 1;
/** mvccScanEntries flag: the first group continues a key an earlier batch decided; skip it. */
export const SCAN_FIRST_DECIDED = 2;

/**
 * mvccScanEntries' result: the groups of ScanBatchResult plus `pairs` emitted pairs, in key order.
 * Pair p's raw key is `data[offsets[2p], offsets[2p + 1])` and its value
 * `data[offsets[2p + 1], offsets[2p + 2])`, `offsets[0]` is 0; `pairGroup[p]` is its group.
 * `longPair[0..longs)` are the pairs whose Put keeps its value in the default CF: their value is
 * empty here and the caller loads it (the Write record is entry `visible[pairGroup[p]]`).
 */
export interface ScanEntriesResult extends ScanBatchResult {
  readonly pairs: number;
  readonly pairGroup: Int32Array;
  readonly data: Uint8Array;
  readonly offsets: Uint32Array;
  readonly longs: number;
  readonly longPair: Int32Array;
}

/** The reference's output buffers (reused across calls by the TS HotPath). */
export interface ScanEntriesOutput {
  readonly groupStart: Int32Array;
  readonly visible: Int32Array;
  readonly pairGroup: Int32Array;
  readonly offsets: Uint32Array;
  readonly longPair: Int32Array;
  data: Uint8Array;
  pairs: number;
  longs: number;
}

/** `visible[g]`: the key has no visible version at readTs (deleted, only newer versions, or fenced). */
export const SCAN_NONE = -1;
/** `visible[g]`: the batch ended before the key was decided; its older versions start the next batch. */
export const SCAN_UNDECIDED = -2;

/**
 * Per group g < groups: `groupStart[g]` is the index of its first (newest) entry, `visible[g]`
 * the index of the visible Put, SCAN_NONE, or SCAN_UNDECIDED (only the last group can be).
 * The arrays may be longer than `groups`.
 */
export interface ScanBatchResult {
  readonly groups: number;
  readonly groupStart: Int32Array;
  readonly visible: Int32Array;
}

/** Packs byte strings into one buffer (for callers that hold separate arrays). */
export function packBatch(items: readonly Uint8Array[]): PackedBatch {
  let total = 0;
  for (const it of items) total += it.length;
  const data = new Uint8Array(total);
  const offsets = new Uint32Array(items.length + 1);
  let at = 0;
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    data.set(it, at);
    at += it.length;
    offsets[i + 1] = at;
  }
  return { data, offsets, count: items.length };
}

/** Copies item i out of a packed batch. */
export function batchItem(batch: PackedBatch, i: number): Uint8Array {
  if (i < 0 || i >= batch.count) throw new RangeError(`item ${i} out of range 0..${batch.count - 1}`);
  return batch.data.slice(batch.offsets[i]!, batch.offsets[i + 1]!);
}
