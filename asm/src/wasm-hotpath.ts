// @hot-path
import { instantiateSync } from '@assemblyscript/loader';
import {
  HOT_BATCH_MAX,
  checkEncodeKeysArgs,
  encodedKeysBound,
  throwOffsetsOrder,
  type EncodeKeysOptions,
  type HotPath,
  type PackedBatch,
} from '@flashkv/core';
import { flashKvModule, type WasmMemory } from './wasm-module.js';

/** What asm/assembly/index.ts exports (the runtime's own exports are not used). */
interface FlashKvExports {
  readonly memory: WasmMemory;
  reserve(inBytes: number, outBytes: number): number;
  tsPtr(): number;
  inOffsetsPtr(): number;
  outOffsetsPtr(): number;
  outDataPtr(): number;
  inDataPtr(): number;
  inCap(): number;
  outCap(): number;
  encodeKeys(count: number, flags: number): number;
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
  #inOffsetsIndex = 0;
  #inDataPtr = 0;
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

  #refreshViews(): void {
    const e = this.#exports;
    const buf = this.#memory.buffer;
    this.#buffer = buf;
    this.#bytes = new Uint8Array(buf);
    this.#words = new Uint32Array(buf);
    // Pointers come back as i32; `>>> 0` keeps them right above 2 GiB.
    this.#inOffsetsIndex = (e.inOffsetsPtr() >>> 0) / 4;
    this.#inDataPtr = e.inDataPtr() >>> 0;
    this.#inCap = e.inCap() >>> 0;
    this.#outCap = e.outCap() >>> 0;
    this.#ts = new BigUint64Array(buf, e.tsPtr() >>> 0, HOT_BATCH_MAX);
    this.#outData = new Uint8Array(buf, e.outDataPtr() >>> 0, this.#outCap);
    this.#outOffsets = new Uint32Array(buf, e.outOffsetsPtr() >>> 0, HOT_BATCH_MAX + 1);
  }
}
