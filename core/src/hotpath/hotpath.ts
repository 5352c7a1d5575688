/**
 * The hot-path contract (DESIGN.md sections 3 and 10): batch kernels with one TS reference
 * implementation in core and one WASM implementation in @flashkv/asm that give identical bytes.
 * Batches are packed: one buffer plus offsets, so a WASM implementation copies in once,
 * calls once and reads offsets back.
 */

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
