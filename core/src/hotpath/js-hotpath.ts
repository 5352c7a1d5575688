// @hot-path
import { checkEncodeKeysArgs, throwOffsetsOrder } from './encode-keys-args.js';
import { HOT_BATCH_MAX, type EncodeKeysOptions, type HotPath, type PackedBatch, type ScanBatchResult, type ScanEntriesOutput, type ScanEntriesResult } from './hotpath.js';
import { checkScanBatchArgs, checkScanEntriesArgs } from './scan-batch-args.js';
import type { PackedEntries } from '../engine/entry-batch.js';
import { checkFlashbackBatchArgs } from './flashback-batch-args.js';
import {
  FLASHBACK_MAX_WRITE_SIZE,
  flashbackBatchBound,
  flashbackBatchReference,
  newFlashbackBatchOutput,
  type FlashbackBatchInput,
  type FlashbackBatchOutput,
  type FlashbackBatchResult,
} from './flashback-batch.js';
// The scan kernel lives beside the scanner it serves; only its runtime function is used here.
import { mvccScanBatch, mvccScanEntries } from '../txn/mvcc/scan-batch.js';

/*
 * The TS reference for the hot path (DESIGN.md section 10): the behaviour the WASM build must
 * match byte for byte, and the baseline it is measured against, so it is written to be fast in
 * plain TypeScript: output goes straight into buffers reused across calls, nothing is allocated
 * per key, and timestamps are read as 32-bit halves because turning a u64 into a bigint would
 * allocate one per key.
 */

const DATA_PREFIX = 0x7a; // 'z', TiKV's keys::DATA_PREFIX
const FULL_GROUP_MARKER = 0xff;
/** Marker of a final group holding 0 real bytes; r real bytes give 0xF7 + r (FORMATS.md 1.1). */
const FINAL_MARKER_BASE = 0xf7;

/** BigUint64Array elements are in platform byte order; this picks the high and low 32-bit words. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const HI_WORD = LITTLE_ENDIAN ? 1 : 0;
const LO_WORD = LITTLE_ENDIAN ? 0 : 1;

const INITIAL_OUTPUT_BYTES = 8192;

export function createJsHotPath(): HotPath {
  return new JsHotPath();
}

class JsHotPath implements HotPath {
  readonly kind = 'js' as const;
  #out = new Uint8Array(INITIAL_OUTPUT_BYTES);
  readonly #outOffsets = new Uint32Array(HOT_BATCH_MAX + 1);
  readonly #groupStart = new Int32Array(HOT_BATCH_MAX);
  readonly #visible = new Int32Array(HOT_BATCH_MAX);
  /** flashbackBatch's reused output; `buf` grows (doubling) when a batch's bound exceeds it. */
  readonly #flashback: FlashbackBatchOutput = newFlashbackBatchOutput(INITIAL_OUTPUT_BYTES, HOT_BATCH_MAX);

  flashbackBatch(input: FlashbackBatchInput, startTs: bigint, commitTs: bigint, maxWriteSize: number = FLASHBACK_MAX_WRITE_SIZE): FlashbackBatchResult {
    checkFlashbackBatchArgs(input, startTs, commitTs, maxWriteSize);
    const out = this.#flashback;
    const bound = flashbackBatchBound(input);
    if (bound > out.buf.length) {
      let size = out.buf.length * 2;
      while (size < bound) size *= 2;
      // The old buffer may be the input (a previous result passed back in), so it is replaced, not reused.
      out.buf = new Uint8Array(size);
    } else if (input.keys.buffer === out.buf.buffer || input.values.buffer === out.buf.buffer) {
      // A previous result passed back in lives in the buffer this call overwrites.
      input = { ...input, keys: input.keys.slice(), values: input.values.slice() };
    }
    flashbackBatchReference(input, startTs, commitTs, out, maxWriteSize);
    return out;
  }

  /** mvccScanEntries' output; one object per instance, `data` replaced when a batch outgrows it. */
  readonly #entriesOut: ScanEntriesOutput & { groups: number } = {
    groups: 0,
    groupStart: this.#groupStart,
    visible: this.#visible,
    pairGroup: new Int32Array(HOT_BATCH_MAX),
    offsets: new Uint32Array(2 * HOT_BATCH_MAX + 1),
    longPair: new Int32Array(HOT_BATCH_MAX),
    data: new Uint8Array(INITIAL_OUTPUT_BYTES),
    pairs: 0,
    longs: 0,
  };

  mvccScanEntries(entries: PackedEntries, readTs: bigint, flags: number): ScanEntriesResult {
    checkScanEntriesArgs(entries, readTs, flags);
    const out = this.#entriesOut;
    const bound = entries.offsets[2 * entries.count]! - entries.offsets[0]!;
    if (bound > out.data.length || entries.data.buffer === out.data.buffer) {
      // Raw keys and short values never outgrow the entries they come from. A previous result
      // passed back in lives in the buffer this call writes, so that case gets a fresh one too.
      let size = out.data.length;
      while (size < bound) size *= 2;
      out.data = new Uint8Array(size);
    }
    out.pairs = 0;
    out.longs = 0;
    out.groups = mvccScanEntries(entries, readTs, flags, out);
    return out;
  }

  mvccScanBatch(keys: PackedBatch, values: PackedBatch, readTs: bigint): ScanBatchResult {
    checkScanBatchArgs(keys, values, readTs);
    const groups = mvccScanBatch(keys, values, readTs, this.#groupStart, this.#visible);
    return { groups, groupStart: this.#groupStart, visible: this.#visible };
  }

  encodeKeys(input: PackedBatch, ts: BigUint64Array | null, options?: EncodeKeysOptions): PackedBatch {
    checkEncodeKeysArgs(input, ts);
    let { data, offsets } = input;
    const count = input.count;
    // A previous result passed back in lives in the buffers this call overwrites.
    if (data.buffer === this.#out.buffer) data = data.slice();
    if (offsets.buffer === this.#outOffsets.buffer) offsets = offsets.slice(0, count + 1);
    const prefix = options?.dataPrefix === true ? 1 : 0;
    const tsBytes = ts === null ? 0 : 8;

    // Sizing pass: exact output length, and the offsets-order check before anything is written.
    let total = 0;
    for (let i = 0; i < count; i++) {
      const from = offsets[i]!;
      const to = offsets[i + 1]!;
      if (to < from) throwOffsetsOrder(offsets, count);
      total += prefix + ((to - from) >>> 3) * 9 + 9 + tsBytes;
    }
    if (total > this.#out.length) this.#grow(total);

    const out = this.#out;
    const outOffsets = this.#outOffsets;
    const tsWords = ts === null ? null : new Uint32Array(ts.buffer, ts.byteOffset, count * 2);
    let o = 0;
    for (let i = 0; i < count; i++) {
      outOffsets[i] = o;
      if (prefix !== 0) out[o++] = DATA_PREFIX;
      let s = offsets[i]!;
      const end = offsets[i + 1]!;
      // Unrolled byte copies, and the ts below as plain byte stores: in V8 both measured about
      // twice as fast as an inner loop and DataView.setUint32 (bench suite codec).
      while (end - s >= 8) {
        out[o] = data[s]!;
        out[o + 1] = data[s + 1]!;
        out[o + 2] = data[s + 2]!;
        out[o + 3] = data[s + 3]!;
        out[o + 4] = data[s + 4]!;
        out[o + 5] = data[s + 5]!;
        out[o + 6] = data[s + 6]!;
        out[o + 7] = data[s + 7]!;
        out[o + 8] = FULL_GROUP_MARKER;
        o += 9;
        s += 8;
      }
      const r = end - s;
      // Zero the whole group (the buffer is reused), then copy the r real bytes over it.
      out[o] = 0;
      out[o + 1] = 0;
      out[o + 2] = 0;
      out[o + 3] = 0;
      out[o + 4] = 0;
      out[o + 5] = 0;
      out[o + 6] = 0;
      out[o + 7] = 0;
      for (let k = 0; k < r; k++) out[o + k] = data[s + k]!;
      out[o + 8] = FINAL_MARKER_BASE + r;
      o += 9;
      if (tsWords !== null) {
        // u64be(~ts) from the two 32-bit halves.
        const hi = ~tsWords[2 * i + HI_WORD]!;
        const lo = ~tsWords[2 * i + LO_WORD]!;
        out[o] = hi >>> 24;
        out[o + 1] = hi >>> 16;
        out[o + 2] = hi >>> 8;
        out[o + 3] = hi;
        out[o + 4] = lo >>> 24;
        out[o + 5] = lo >>> 16;
        out[o + 6] = lo >>> 8;
        out[o + 7] = lo;
        o += 8;
      }
    }
    outOffsets[count] = o;
    return { data: out, offsets: outOffsets, count };
  }

  #grow(needed: number): void {
    let size = this.#out.length * 2;
    while (size < needed) size *= 2;
    this.#out = new Uint8Array(size);
  }
}
