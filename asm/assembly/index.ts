// @hot-path
// FlashKV hot paths in WebAssembly (DESIGN.md section 10). The JS side (asm/src) copies a packed
// batch into one scratch block with one `set` per array, calls once, and reads the output
// straight from this module's memory; nothing here allocates per key or per call.

// Mirrors HOT_BATCH_MAX in core/src/hotpath/hotpath.ts.
const HOT_BATCH_MAX: u32 = 256;

// Scratch layout, from the block's start. Timestamps come first so the BigUint64Array view the
// JS side writes them through is 8-byte aligned; offsets are padded to keep what follows aligned.
const TS_BYTES: usize = <usize>HOT_BATCH_MAX << 3;
const OFFSETS_BYTES: usize = ((<usize>(HOT_BATCH_MAX + 1) << 2) + 15) & ~15;
const FIXED_BYTES: usize = TS_BYTES + 2 * OFFSETS_BYTES;
// The final group of a key is read with one 8-byte load, which may run up to 7 bytes past the
// last input key; the block keeps this much readable slack after the input region.
const OVERREAD_SLACK: usize = 8;
const MIN_CAPACITY: u32 = 4096;

const DATA_PREFIX: u8 = 0x7a; // 'z'
const FULL_GROUP_MARKER: u8 = 0xff;
const FINAL_MARKER_BASE: u32 = 0xf7; // + real bytes in the final group (FORMATS.md 1.1)

const FLAG_TS: u32 = 1;
const FLAG_DATA_PREFIX: u32 = 2;

// The scratch block comes from the runtime's allocator rather than a hand-placed region, so a
// caller of the exported `__new` can never be handed bytes inside it. With the stub runtime a
// realloc of the last block grows in place.
let scratch: usize = 0;
let inCapacity: u32 = 0;
let outCapacity: u32 = 0;
let tsRegion: usize = 0;
let inOffsetsRegion: usize = 0;
let outOffsetsRegion: usize = 0;
let outDataRegion: usize = 0;
let inDataRegion: usize = 0;

/**
 * Makes room for `inBytes` of input keys and `outBytes` of output. Returns 1 when the layout
 * moved (the JS side must re-read the region pointers and rebuild its views), else 0.
 * A region that grows at least doubles, so a growing workload relayouts O(log n) times.
 */
export function reserve(inBytes: u32, outBytes: u32): u32 {
  if (scratch != 0 && inBytes <= inCapacity && outBytes <= outCapacity) return 0;
  // Only the region that is short grows, so one region's growth never inflates the other.
  let newIn = inBytes <= inCapacity ? inCapacity : max<u32>(inBytes, inCapacity << 1);
  let newOut = outBytes <= outCapacity ? outCapacity : max<u32>(outBytes, outCapacity << 1);
  newIn = (max<u32>(newIn, MIN_CAPACITY) + 15) & ~15;
  newOut = (max<u32>(newOut, MIN_CAPACITY << 1) + 15) & ~15;
  const size = FIXED_BYTES + <usize>newOut + <usize>newIn + OVERREAD_SLACK;
  scratch = scratch == 0 ? heap.alloc(size) : heap.realloc(scratch, size);
  inCapacity = newIn;
  outCapacity = newOut;
  tsRegion = scratch;
  inOffsetsRegion = tsRegion + TS_BYTES;
  outOffsetsRegion = inOffsetsRegion + OFFSETS_BYTES;
  outDataRegion = outOffsetsRegion + OFFSETS_BYTES;
  inDataRegion = outDataRegion + <usize>newOut;
  return 1;
}

export function tsPtr(): usize {
  return tsRegion;
}
export function inOffsetsPtr(): usize {
  return inOffsetsRegion;
}
export function outOffsetsPtr(): usize {
  return outOffsetsRegion;
}
export function outDataPtr(): usize {
  return outDataRegion;
}
export function inDataPtr(): usize {
  return inDataRegion;
}
export function inCap(): u32 {
  return inCapacity;
}
export function outCap(): u32 {
  return outCapacity;
}

/**
 * Encodes `count` keys already copied in: input offsets (count + 1 of them, as the caller had
 * them), the key bytes from offsets[0] to offsets[count], and `count` timestamps when
 * FLAG_TS is set. Writes [0x7A] ++ encodeBytes(raw) ++ u64be(~ts) per key into the output
 * region and output offsets relative to it. Returns the output length, or -1 when the offsets
 * decrease somewhere (nothing past the offending key is read; the JS side names the index).
 */
export function encodeKeys(count: u32, flags: u32): i32 {
  const withTs = (flags & FLAG_TS) != 0;
  const withPrefix = (flags & FLAG_DATA_PREFIX) != 0;
  const inOffsets = inOffsetsRegion;
  const outOffsets = outOffsetsRegion;
  const outStart = outDataRegion;
  let prev = load<u32>(inOffsets);
  const end = load<u32>(inOffsets + (<usize>count << 2));
  const src0 = inDataRegion - <usize>prev;
  let o = outStart;
  for (let i: usize = 0; i < <usize>count; i++) {
    const next = load<u32>(inOffsets + ((i + 1) << 2));
    // Keeps every read inside the copied bytes and every write inside the bound the JS side
    // reserved, even for offsets that only go wrong in the middle of the batch.
    if (next < prev || next > end) return -1;
    store<u32>(outOffsets + (i << 2), <u32>(o - outStart));
    if (withPrefix) {
      store<u8>(o, DATA_PREFIX);
      o += 1;
    }
    let src = src0 + <usize>prev;
    let n = next - prev;
    while (n >= 8) {
      store<u64>(o, load<u64>(src, 0, 1), 0, 1);
      store<u8>(o, FULL_GROUP_MARKER, 8);
      o += 9;
      src += 8;
      n -= 8;
    }
    let last: u64 = 0;
    // Wasm is little-endian: the first n bytes of the load are its low n bytes.
    if (n != 0) last = load<u64>(src, 0, 1) & ((<u64>1 << (<u64>n << 3)) - 1);
    store<u64>(o, last, 0, 1);
    store<u8>(o, <u8>(FINAL_MARKER_BASE + n), 8);
    o += 9;
    if (withTs) {
      store<u64>(o, bswap<u64>(~load<u64>(tsRegion + (i << 3))), 0, 1);
      o += 8;
    }
    prev = next;
  }
  const total = <u32>(o - outStart);
  store<u32>(outOffsets + (<usize>count << 2), total);
  return <i32>total;
}
