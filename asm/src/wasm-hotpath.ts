// @hot-path
import { instantiateSync } from '@assemblyscript/loader';
import {
  FLASHBACK_MAX_WRITE_SIZE,
  HOT_BATCH_MAX,
  checkEncodeKeysArgs,
  checkFlashbackBatchArgs,
  flashbackBatchBound,
  checkScanBatchArgs,
  checkScanEntriesArgs,
  encodedKeysBound,
  throwOffsetsOrder,
  type EncodeKeysOptions,
  type FlashbackBatchInput,
  type FlashbackBatchResult,
  type HotPath,
  type PackedBatch,
  type PackedEntries,
  type ScanBatchResult,
  type ScanEntriesResult,
} from '@flashkv/core';
import { flashKvModule, type WasmMemory } from './wasm-module.js';

/** What asm/assembly/index.ts exports (the runtime's own exports are not used). */
interface FlashKvExports {
  readonly memory: WasmMemory;
  reserve(inBytes: number, outBytes: number): number;
  tsPtr(): number;
  inOffsetsPtr(): number;
  outOffsetsPtr(): number;
  valueOffsetsPtr(): number;
  groupStartPtr(): number;
  visiblePtr(): number;
  opKeyStartPtr(): number;
  opKeyEndPtr(): number;
  opValueStartPtr(): number;
  opValueEndPtr(): number;
  opCfPtr(): number;
  outDataPtr(): number;
  inDataPtr(): number;
  entryOffsetsPtr(): number;
  pairOffsetsPtr(): number;
  pairGroupPtr(): number;
  longPairPtr(): number;
  scanPairCount(): number;
  scanLongCount(): number;
  mvccScanEntries(count: number, readTs: bigint, flags: number): number;
  inCap(): number;
  outCap(): number;
  encodeKeys(count: number, flags: number): number;
  /** readTs crosses as an i64: a bigint in, no conversion on our side. */
  mvccScanBatch(count: number, readTs: bigint): number;
  /** Timestamps cross as i64 bigints; the op count and write size come back in out-offsets[0..1]. */
  flashbackBatch(count: number, valuesAt: number, startTs: bigint, commitTs: bigint, maxWriteSize: number): number;
}

/** flashbackBatch's result: one object per instance, its views replaced when memory moves. */
interface MutableFlashbackResult {
  buf: Uint8Array;
  opCount: number;
  keysTaken: number;
  writeSize: number;
  cf: Uint8Array;
  keyStart: Uint32Array;
  keyEnd: Uint32Array;
  valueStart: Uint32Array;
  valueEnd: Uint32Array;
}

/** mvccScanEntries' result: one object per instance, its views replaced when memory moves. */
interface MutableScanEntriesResult {
  groups: number;
  groupStart: Int32Array;
  visible: Int32Array;
  pairs: number;
  pairGroup: Int32Array;
  data: Uint8Array;
  offsets: Uint32Array;
  longs: number;
  longPair: Int32Array;
}

/** Below this many keys the offsets are copied element by element rather than with one `set`. */
const SMALL_BATCH = 16;

// Flag bits of the WASM encodeKeys.
const FLAG_TS = 1;
const FLAG_DATA_PREFIX = 2;

/**
 * Largest input plus output one call may reserve. A region that grows at least doubles, and the
 * stub runtime caps one block just under 1 GiB; with this limit the block stays below ~760 MiB
 * (the output bound is at least 9/8 of the input, so input alone stays under ~121 MiB).
 */
export const WASM_BATCH_BYTES_MAX = 256 * 1024 * 1024;

export function createWasmHotPath(): WasmHotPath {
  return new WasmHotPath();
}

/**
 * HotPath over the AssemblyScript build. Per call: three `set`s into the scratch block (keys,
 * offsets, timestamps), one call, and the result is returned as views into WASM memory, so
 * reading it costs no copy. Those views stay valid until the next call on this instance, as the
 * contract says: the next call overwrites the output region, and if it has to grow memory the old
 * views are detached (zero length) rather than left pointing at stale bytes.
 */
export class WasmHotPath implements HotPath {
  readonly kind = 'wasm' as const;
  readonly #exports: FlashKvExports;
  readonly #memory: WasmMemory;
  #buffer!: ArrayBuffer;
  #bytes!: Uint8Array;
  #words!: Uint32Array;
  #ts!: BigUint64Array;
  #outData!: Uint8Array;
  #outOffsets!: Uint32Array;
  #groupStart!: Int32Array;
  #visible!: Int32Array;
  #inOffsetsIndex = 0;
  #outOffsetsIndex = 0;
  #tsPtr = 0;
  readonly #flashback: MutableFlashbackResult = {
    buf: new Uint8Array(0),
    opCount: 0,
    keysTaken: 0,
    writeSize: 0,
    cf: new Uint8Array(0),
    keyStart: new Uint32Array(0),
    keyEnd: new Uint32Array(0),
    valueStart: new Uint32Array(0),
    valueEnd: new Uint32Array(0),
  };
  readonly #entries: MutableScanEntriesResult = {
    groups: 0,
    groupStart: new Int32Array(0),
    visible: new Int32Array(0),
    pairs: 0,
    pairGroup: new Int32Array(0),
    data: new Uint8Array(0),
    offsets: new Uint32Array(0),
    longs: 0,
    longPair: new Int32Array(0),
  };
  #entryOffsetsIndex = 0;
  #valueOffsetsIndex = 0;
  #inDataPtr = 0;
  #outDataPtr = 0;
  #inCap = 0;
  #outCap = 0;

  constructor() {
    // Offsets and timestamps are copied in as native-order typed arrays, and wasm memory is
    // little-endian, so on a big-endian host every number would arrive byte-swapped.
    if (new Uint8Array(Uint32Array.of(1).buffer)[0] !== 1) {
      throw new Error('@flashkv/asm: the WASM hot path needs a little-endian host; use FLASHKV_HOTPATH=js');
    }
    // The raw instance exports: the loader's demangled wrappers add a rest-args call per export.
    const { instance } = instantiateSync<Record<string, unknown>>(flashKvModule() as never, {});
    this.#exports = instance.exports as unknown as FlashKvExports;
    this.#memory = this.#exports.memory;
    this.#exports.reserve(0, 0);
    this.#refreshViews();
  }

  /** Current size of this instance's linear memory, in bytes (for tests and diagnostics). */
  get memoryBytes(): number {
    return this.#memory.buffer.byteLength;
  }

  encodeKeys(input: PackedBatch, ts: BigUint64Array | null, options?: EncodeKeysOptions): PackedBatch {
    checkEncodeKeysArgs(input, ts);
    let { data, offsets } = input;
    const count = input.count;
    const start = offsets[0]!;
    const end = offsets[count]!;
    const inBytes = end - start;
    const prefix = options?.dataPrefix === true;
    const bound = encodedKeysBound(count, inBytes, prefix, ts !== null);
    if (inBytes > this.#inCap || bound > this.#outCap) {
      if (inBytes + bound > WASM_BATCH_BYTES_MAX) {
        throw new RangeError(`encodeKeys: batch needs ${inBytes + bound} bytes of WASM scratch, more than ${WASM_BATCH_BYTES_MAX}`);
      }
      // Growing memory detaches views into it, and the input may be one (a previous result).
      const mem = this.#memory.buffer;
      if (data.buffer === mem) data = data.slice();
      if (offsets.buffer === mem) offsets = offsets.slice(0, count + 1);
      if (ts !== null && ts.buffer === mem) ts = ts.slice(0, count);
      this.#exports.reserve(inBytes, bound);
      this.#refreshViews();
    } else if (this.#memory.buffer !== this.#buffer) {
      this.#refreshViews();
    }

    this.#bytes.set(start === 0 && end === data.length ? data : data.subarray(start, end), this.#inDataPtr);
    const words = this.#words;
    const at = this.#inOffsetsIndex;
    if (count < SMALL_BATCH) {
      // TypedArray#set has a fixed cost (~30 ns in Node 20) that dominates a few offsets.
      for (let i = 0; i <= count; i++) words[at + i] = offsets[i]!;
    } else {
      words.set(offsets.length === count + 1 ? offsets : offsets.subarray(0, count + 1), at);
    }
    let flags = prefix ? FLAG_DATA_PREFIX : 0;
    if (ts !== null) {
      // BigUint64Array to BigUint64Array is a byte copy: no bigint is created.
      this.#ts.set(ts.length === count ? ts : ts.subarray(0, count));
      flags |= FLAG_TS;
    }
    if (this.#exports.encodeKeys(count, flags) < 0) throwOffsetsOrder(offsets, count);
    return { data: this.#outData, offsets: this.#outOffsets, count };
  }

  /**
   * Keys go to the in-data region and values to the out-data region (the scan writes no bytes
   * out, so that region is free), each with one `set`, plus their offsets; one call; the group
   * starts and visible indices are returned as views into WASM memory, valid until the next
   * call on this instance.
   */
  mvccScanBatch(keys: PackedBatch, values: PackedBatch, readTs: bigint): ScanBatchResult {
    checkScanBatchArgs(keys, values, readTs);
    const count = keys.count;
    let kd = keys.data;
    let ko = keys.offsets;
    let vd = values.data;
    let vo = values.offsets;
    const kStart = ko[0]!;
    const kEnd = ko[count]!;
    const vStart = vo[0]!;
    const vEnd = vo[count]!;
    const kBytes = kEnd - kStart;
    const vBytes = vEnd - vStart;
    if (kBytes > this.#inCap || vBytes > this.#outCap) {
      if (kBytes + vBytes > WASM_BATCH_BYTES_MAX) {
        throw new RangeError(`mvccScanBatch: batch needs ${kBytes + vBytes} bytes of WASM scratch, more than ${WASM_BATCH_BYTES_MAX}`);
      }
      // Growing memory detaches views into it, and an input may be one (an encodeKeys result).
      const mem = this.#memory.buffer;
      if (kd.buffer === mem) kd = kd.slice();
      if (ko.buffer === mem) ko = ko.slice(0, count + 1);
      if (vd.buffer === mem) vd = vd.slice();
      if (vo.buffer === mem) vo = vo.slice(0, count + 1);
      this.#exports.reserve(kBytes, vBytes);
      this.#refreshViews();
    } else if (this.#memory.buffer !== this.#buffer) {
      this.#refreshViews();
    }
    const bytes = this.#bytes;
    const words = this.#words;
    // Keys first: an input that is a view of the out-data region (an encodeKeys result) is read
    // before the values overwrite it; `set` within one buffer copies as if through a temporary.
    bytes.set(kStart === 0 && kEnd === kd.length ? kd : kd.subarray(kStart, kEnd), this.#inDataPtr);
    words.set(ko.length === count + 1 ? ko : ko.subarray(0, count + 1), this.#inOffsetsIndex);
    bytes.set(vStart === 0 && vEnd === vd.length ? vd : vd.subarray(vStart, vEnd), this.#outDataPtr);
    words.set(vo.length === count + 1 ? vo : vo.subarray(0, count + 1), this.#valueOffsetsIndex);
    const groups = this.#exports.mvccScanBatch(count, readTs);
    return { groups, groupStart: this.#groupStart, visible: this.#visible };
  }

  /**
   * The entries' bytes go to the in-data region and their offsets to the entry-offsets region
   * (two `set`s), one call; pairs come back in the out-data region (raw keys and short values
   * never outgrow the entries they come from) and, like the rest of the result, are views into
   * WASM memory valid until the next call on this instance.
   */
  mvccScanEntries(entries: PackedEntries, readTs: bigint, flags: number): ScanEntriesResult {
    checkScanEntriesArgs(entries, readTs, flags);
    const count = entries.count;
    let d = entries.data;
    let off = entries.offsets;
    const start = off[0]!;
    const end = off[2 * count]!;
    const bytes = end - start;
    if (bytes > this.#inCap || bytes > this.#outCap) {
      if (2 * bytes > WASM_BATCH_BYTES_MAX) {
        throw new RangeError(`mvccScanEntries: batch needs ${2 * bytes} bytes of WASM scratch, more than ${WASM_BATCH_BYTES_MAX}`);
      }
      // Growing memory detaches views into it, and the input may be one (a previous result).
      const mem = this.#memory.buffer;
      if (d.buffer === mem) d = d.slice();
      if (off.buffer === mem) off = off.slice(0, 2 * count + 1);
      this.#exports.reserve(bytes, bytes);
      this.#refreshViews();
    } else if (this.#memory.buffer !== this.#buffer) {
      this.#refreshViews();
    }
    // Bytes before offsets: an input in the out-data region is read before anything is written.
    this.#bytes.set(start === 0 && end === d.length ? d : d.subarray(start, end), this.#inDataPtr);
    const n = 2 * count + 1;
    this.#words.set(off.length === n ? off : off.subarray(0, n), this.#entryOffsetsIndex);
    const e = this.#exports;
    const r = this.#entries;
    r.groups = e.mvccScanEntries(count, readTs, flags);
    r.pairs = e.scanPairCount();
    r.longs = e.scanLongCount();
    return r;
  }

  /**
   * Key bytes go to the in-data region with the value bytes after them (8-aligned), key and
   * value ends to the in-offsets and value-offsets regions, kind bytes to the ts region: five
   * `set`s, one call. The ops are written to the out-data region and returned as views into WASM
   * memory (one result object per instance, updated in place), valid until the next call.
   */
  flashbackBatch(input: FlashbackBatchInput, startTs: bigint, commitTs: bigint, maxWriteSize: number = FLASHBACK_MAX_WRITE_SIZE): FlashbackBatchResult {
    checkFlashbackBatchArgs(input, startTs, commitTs, maxWriteSize);
    const count = input.count;
    let { keys, values, keyEnd, valueEnd, oldKind } = input;
    const kBytes = count === 0 ? 0 : keyEnd[count - 1]!;
    const vBytes = count === 0 ? 0 : valueEnd[count - 1]!;
    const valuesAt = (kBytes + 7) & ~7;
    const inBytes = valuesAt + vBytes;
    const bound = flashbackBatchBound(input);
    if (inBytes > this.#inCap || bound > this.#outCap) {
      if (inBytes + bound > WASM_BATCH_BYTES_MAX) {
        throw new RangeError(`flashbackBatch: batch needs ${inBytes + bound} bytes of WASM scratch, more than ${WASM_BATCH_BYTES_MAX}`);
      }
      // Growing memory detaches views into it, and an input may be one (a previous result).
      const mem = this.#memory.buffer;
      if (keys.buffer === mem) keys = keys.slice(0, kBytes);
      if (values.buffer === mem) values = values.slice(0, vBytes);
      if (keyEnd.buffer === mem) keyEnd = keyEnd.slice(0, count);
      if (valueEnd.buffer === mem) valueEnd = valueEnd.slice(0, count);
      if (oldKind.buffer === mem) oldKind = oldKind.slice(0, count);
      this.#exports.reserve(inBytes, bound);
      this.#refreshViews();
    } else if (this.#memory.buffer !== this.#buffer) {
      this.#refreshViews();
    }
    const bytes = this.#bytes;
    const words = this.#words;
    bytes.set(kBytes === keys.length ? keys : keys.subarray(0, kBytes), this.#inDataPtr);
    bytes.set(vBytes === values.length ? values : values.subarray(0, vBytes), this.#inDataPtr + valuesAt);
    words.set(keyEnd.length === count ? keyEnd : keyEnd.subarray(0, count), this.#inOffsetsIndex);
    words.set(valueEnd.length === count ? valueEnd : valueEnd.subarray(0, count), this.#valueOffsetsIndex);
    bytes.set(oldKind.length === count ? oldKind : oldKind.subarray(0, count), this.#tsPtr);
    const r = this.#flashback;
    r.keysTaken = this.#exports.flashbackBatch(count, valuesAt, startTs, commitTs, maxWriteSize) >>> 0;
    r.opCount = words[this.#outOffsetsIndex]!;
    r.writeSize = words[this.#outOffsetsIndex + 1]!;
    return r;
  }

  #refreshViews(): void {
    const e = this.#exports;
    const buf = this.#memory.buffer;
    this.#buffer = buf;
    this.#bytes = new Uint8Array(buf);
    this.#words = new Uint32Array(buf);
    // Pointers come back as i32; `>>> 0` keeps them right above 2 GiB.
    this.#inOffsetsIndex = (e.inOffsetsPtr() >>> 0) / 4;
    this.#inDataPtr = e.inDataPtr() >>> 0;
    this.#outDataPtr = e.outDataPtr() >>> 0;
    this.#valueOffsetsIndex = (e.valueOffsetsPtr() >>> 0) / 4;
    this.#groupStart = new Int32Array(buf, e.groupStartPtr() >>> 0, HOT_BATCH_MAX);
    this.#visible = new Int32Array(buf, e.visiblePtr() >>> 0, HOT_BATCH_MAX);
    this.#inCap = e.inCap() >>> 0;
    this.#outCap = e.outCap() >>> 0;
    this.#ts = new BigUint64Array(buf, e.tsPtr() >>> 0, HOT_BATCH_MAX);
    this.#outData = new Uint8Array(buf, e.outDataPtr() >>> 0, this.#outCap);
    this.#outOffsets = new Uint32Array(buf, e.outOffsetsPtr() >>> 0, HOT_BATCH_MAX + 1);
    this.#outOffsetsIndex = (e.outOffsetsPtr() >>> 0) / 4;
    this.#tsPtr = e.tsPtr() >>> 0;
    this.#entryOffsetsIndex = (e.entryOffsetsPtr() >>> 0) / 4;
    const se = this.#entries;
    se.groupStart = this.#groupStart;
    se.visible = this.#visible;
    se.pairGroup = new Int32Array(buf, e.pairGroupPtr() >>> 0, HOT_BATCH_MAX);
    se.longPair = new Int32Array(buf, e.longPairPtr() >>> 0, HOT_BATCH_MAX);
    se.offsets = new Uint32Array(buf, e.pairOffsetsPtr() >>> 0, 2 * HOT_BATCH_MAX + 1);
    se.data = this.#outData;
    const ops = 2 * HOT_BATCH_MAX;
    const r = this.#flashback;
    r.buf = this.#outData;
    r.cf = new Uint8Array(buf, e.opCfPtr() >>> 0, ops);
    r.keyStart = new Uint32Array(buf, e.opKeyStartPtr() >>> 0, ops);
    r.keyEnd = new Uint32Array(buf, e.opKeyEndPtr() >>> 0, ops);
    r.valueStart = new Uint32Array(buf, e.opValueStartPtr() >>> 0, ops);
    r.valueEnd = new Uint32Array(buf, e.opValueEndPtr() >>> 0, ops);
  }
}
