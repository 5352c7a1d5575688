import { HOT_BATCH_MAX, type PackedBatch } from './hotpath.js';

/*
 * Argument checks shared by every `encodeKeys` implementation, so the TS reference and the WASM
 * path reject the same inputs with the same errors (the differential tests compare both).
 * Wrong types are TypeErrors, values out of range RangeErrors (STYLE.md: programmer mistakes
 * are plain errors, not KvErrors).
 */

/**
 * Checks everything except the order of the inner offsets, which costs a pass over the batch:
 * each implementation checks that during its own pass and calls `throwOffsetsOrder` on failure.
 * Afterwards `offsets[0] <= offsets[count] <= data.length` holds.
 */
export function checkEncodeKeysArgs(input: PackedBatch, ts: BigUint64Array | null): void {
  if (input === null || typeof input !== 'object') throw new TypeError('encodeKeys: input must be a PackedBatch');
  const { data, offsets, count } = input;
  if (!(data instanceof Uint8Array)) throw new TypeError('encodeKeys: input.data must be a Uint8Array');
  if (!(offsets instanceof Uint32Array)) throw new TypeError('encodeKeys: input.offsets must be a Uint32Array');
  if (!Number.isInteger(count)) throw new TypeError(`encodeKeys: input.count must be an integer, got ${String(count)}`);
  if (count < 0 || count > HOT_BATCH_MAX) {
    throw new RangeError(`encodeKeys: input.count ${count} is outside 0..${HOT_BATCH_MAX}`);
  }
  if (offsets.length < count + 1) {
    throw new RangeError(`encodeKeys: input.offsets has ${offsets.length} entries, a batch of ${count} needs ${count + 1}`);
  }
  const start = offsets[0]!;
  const end = offsets[count]!;
  if (start > end) throw new RangeError(`encodeKeys: input.offsets[0] = ${start} is after input.offsets[${count}] = ${end}`);
  if (end > data.length) {
    throw new RangeError(`encodeKeys: input.offsets[${count}] = ${end} is past the end of input.data (${data.length} bytes)`);
  }
  if (ts !== null) {
    if (!(ts instanceof BigUint64Array)) throw new TypeError('encodeKeys: ts must be a BigUint64Array or null');
    if (ts.length < count) throw new RangeError(`encodeKeys: ts has ${ts.length} entries, the batch has ${count} keys`);
  }
}

/** Throws the RangeError for the first `i` with `offsets[i] > offsets[i + 1]` (below `count`). */
export function throwOffsetsOrder(offsets: Uint32Array, count: number): never {
  for (let i = 0; i < count; i++) {
    if (offsets[i]! > offsets[i + 1]!) {
      throw new RangeError(`encodeKeys: input.offsets must not decrease, but offsets[${i}] = ${offsets[i]} > offsets[${i + 1}] = ${offsets[i + 1]}`);
    }
  }
  throw new Error(`encodeKeys: throwOffsetsOrder called on ordered offsets (count ${count})`);
}

/**
 * An upper bound on the output bytes for a batch whose keys total `rawBytes`: each key takes
 * `prefix + 9 * (floor(n / 8) + 1) + tsBytes`, and the floors sum to at most `rawBytes / 8`.
 */
export function encodedKeysBound(count: number, rawBytes: number, dataPrefix: boolean, withTs: boolean): number {
  return Math.floor(rawBytes / 8) * 9 + count * (9 + (dataPrefix ? 1 : 0) + (withTs ? 8 : 0));
}
