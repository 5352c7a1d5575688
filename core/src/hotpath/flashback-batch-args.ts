import { HOT_BATCH_MAX } from './hotpath.js';
import type { FlashbackBatchInput } from './flashback-batch.js';

/*
 * Argument checks shared by every `flashbackBatch` implementation, so the TS reference and the
 * WASM path reject the same inputs with the same errors. The end offsets are checked in full:
 * the WASM kernel copies from them and must never be handed one outside what was copied in.
 */

const U64_MAX = 0xffff_ffff_ffff_ffffn;

function checkEnds(name: string, ends: unknown, count: number, bytes: Uint8Array, bytesName: string): void {
  if (!(ends instanceof Uint32Array)) throw new TypeError(`flashbackBatch: input.${name} must be a Uint32Array`);
  if (ends.length < count) throw new RangeError(`flashbackBatch: input.${name} has ${ends.length} entries, the batch has ${count} keys`);
  let prev = 0;
  for (let i = 0; i < count; i++) {
    const e = ends[i]!;
    if (e < prev) throw new RangeError(`flashbackBatch: input.${name} must not decrease, but ${name}[${i}] = ${e} < ${prev}`);
    prev = e;
  }
  if (prev > bytes.length) throw new RangeError(`flashbackBatch: input.${name}[${count - 1}] = ${prev} is past the end of input.${bytesName} (${bytes.length} bytes)`);
}

function checkTs(name: string, ts: unknown): void {
  if (typeof ts !== 'bigint') throw new TypeError(`flashbackBatch: ${name} must be a bigint`);
  if (ts < 0n || ts > U64_MAX) throw new RangeError(`flashbackBatch: ${name} ${ts} is outside the u64 range`);
}

/** Afterwards `0 <= keyEnd[0] <= ... <= keyEnd[count-1] <= keys.length`, the same for values. */
export function checkFlashbackBatchArgs(input: FlashbackBatchInput, startTs: bigint, commitTs: bigint, maxWriteSize: number): void {
  if (input === null || typeof input !== 'object') throw new TypeError('flashbackBatch: input must be a FlashbackBatchInput');
  const { count, keys, values, oldKind } = input;
  if (!Number.isInteger(count)) throw new TypeError(`flashbackBatch: input.count must be an integer, got ${String(count)}`);
  if (count < 0 || count > HOT_BATCH_MAX) throw new RangeError(`flashbackBatch: input.count ${count} is outside 0..${HOT_BATCH_MAX}`);
  if (!(keys instanceof Uint8Array)) throw new TypeError('flashbackBatch: input.keys must be a Uint8Array');
  if (!(values instanceof Uint8Array)) throw new TypeError('flashbackBatch: input.values must be a Uint8Array');
  if (!(oldKind instanceof Uint8Array)) throw new TypeError('flashbackBatch: input.oldKind must be a Uint8Array');
  if (oldKind.length < count) throw new RangeError(`flashbackBatch: input.oldKind has ${oldKind.length} entries, the batch has ${count} keys`);
  checkEnds('keyEnd', input.keyEnd, count, keys, 'keys');
  checkEnds('valueEnd', input.valueEnd, count, values, 'values');
  checkTs('startTs', startTs);
  checkTs('commitTs', commitTs);
  if (!Number.isInteger(maxWriteSize) || maxWriteSize < 0 || maxWriteSize > 0xffff_ffff) {
    throw new RangeError(`flashbackBatch: maxWriteSize must be an integer in 0..2^32-1, got ${String(maxWriteSize)}`);
  }
}
