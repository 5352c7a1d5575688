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
// mvccScanBatch: value offsets, then one i32 per group for its first entry and its visible one.
const GROUP_BYTES: usize = <usize>HOT_BATCH_MAX << 2;
// flashbackBatch: up to two ops per key, four u32 offsets and one cf byte per op.
const FB_OPS: usize = <usize>HOT_BATCH_MAX << 1;
const FB_OP_WORDS_BYTES: usize = FB_OPS << 2;
const FB_BYTES: usize = 4 * FB_OP_WORDS_BYTES + FB_OPS;
// mvccScanEntries: entry offsets (key, value, key, value, ...), pair offsets the same way, and
// one i32 per pair for its group and per default-CF pair for its index.
const ENTRY_OFFSETS_BYTES: usize = ((<usize>(2 * HOT_BATCH_MAX + 1) << 2) + 15) & ~15;
const SE_BYTES: usize = 2 * ENTRY_OFFSETS_BYTES + 2 * GROUP_BYTES;
const FIXED_BYTES: usize = TS_BYTES + 3 * OFFSETS_BYTES + 2 * GROUP_BYTES + FB_BYTES + SE_BYTES;
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
let valueOffsetsRegion: usize = 0;
let groupStartRegion: usize = 0;
let visibleRegion: usize = 0;
let opKeyStartRegion: usize = 0;
let opKeyEndRegion: usize = 0;
let opValueStartRegion: usize = 0;
let opValueEndRegion: usize = 0;
let opCfRegion: usize = 0;
let outDataRegion: usize = 0;
let inDataRegion: usize = 0;
let entryOffsetsRegion: usize = 0;
let pairOffsetsRegion: usize = 0;
let pairGroupRegion: usize = 0;
let longPairRegion: usize = 0;

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
  valueOffsetsRegion = outOffsetsRegion + OFFSETS_BYTES;
  groupStartRegion = valueOffsetsRegion + OFFSETS_BYTES;
  visibleRegion = groupStartRegion + GROUP_BYTES;
  opKeyStartRegion = visibleRegion + GROUP_BYTES;
  opKeyEndRegion = opKeyStartRegion + FB_OP_WORDS_BYTES;
  opValueStartRegion = opKeyEndRegion + FB_OP_WORDS_BYTES;
  opValueEndRegion = opValueStartRegion + FB_OP_WORDS_BYTES;
  opCfRegion = opValueEndRegion + FB_OP_WORDS_BYTES;
  // FB_OPS keeps 16-byte alignment (512 bytes).
  entryOffsetsRegion = opCfRegion + FB_OPS;
  pairOffsetsRegion = entryOffsetsRegion + ENTRY_OFFSETS_BYTES;
  pairGroupRegion = pairOffsetsRegion + ENTRY_OFFSETS_BYTES;
  longPairRegion = pairGroupRegion + GROUP_BYTES;
  outDataRegion = longPairRegion + GROUP_BYTES;
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
export function valueOffsetsPtr(): usize {
  return valueOffsetsRegion;
}
export function groupStartPtr(): usize {
  return groupStartRegion;
}
export function visiblePtr(): usize {
  return visibleRegion;
}
export function opKeyStartPtr(): usize {
  return opKeyStartRegion;
}
export function opKeyEndPtr(): usize {
  return opKeyEndRegion;
}
export function opValueStartPtr(): usize {
  return opValueStartRegion;
}
export function opValueEndPtr(): usize {
  return opValueEndRegion;
}
export function opCfPtr(): usize {
  return opCfRegion;
}
export function outDataPtr(): usize {
  return outDataRegion;
}
export function inDataPtr(): usize {
  return inDataRegion;
}
export function entryOffsetsPtr(): usize {
  return entryOffsetsRegion;
}
export function pairOffsetsPtr(): usize {
  return pairOffsetsRegion;
}
export function pairGroupPtr(): usize {
  return pairGroupRegion;
}
export function longPairPtr(): usize {
  return longPairRegion;
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

// ---- mvccScanBatch: the mirror of core/src/txn/mvcc/scan-batch.ts (the TS reference). Every
// decision, and which malformed entry is reported, must match it; the differential tests in
// asm/test/mvcc-scan-batch.test.ts hold the two together.

const TS_LEN: usize = 8;
const SCAN_NONE: i32 = -1;
const SCAN_UNDECIDED: i32 = -2;

const TYPE_PUT: u8 = 0x50; // 'P'
const TYPE_DELETE: u8 = 0x44; // 'D'
const TYPE_LOCK: u8 = 0x4c; // 'L'
const TYPE_ROLLBACK: u8 = 0x52; // 'R'
const TAG_SHORT_VALUE: u8 = 0x76; // 'v'
const TAG_OVERLAPPED_ROLLBACK: u8 = 0x52; // 'R'
const TAG_GC_FENCE: u8 = 0x46; // 'F'
const TAG_LAST_CHANGE: u8 = 0x6c; // 'l'
const TAG_TXN_SOURCE: u8 = 0x53; // 'S'

const REC_SKIP: i32 = 0;
const REC_PUT: i32 = 1;
const REC_DELETE: i32 = 2;
const REC_FENCED: i32 = 3;
const REC_CORRUPT: i32 = -1;

/** Skips a var_u64 at `at`: the address after it, or 0 if it runs to `end` or over 10 bytes. */
@inline
function skipVarint(at: usize, end: usize): usize {
  for (let n = 0; n < 10; n++) {
    if (at >= end) return 0;
    const b = load<u8>(at);
    at++;
    if ((b & 0x80) == 0) return at;
  }
  return 0;
}

/** The Write record in [at, end): skip (Lock/Rollback), Put, Delete, fenced at readTs, or corrupt. */
// Where the last short value classify() met starts (0: none) and its length.
let shortAt: usize = 0;
let shortLen: usize = 0;

function classify(at: usize, end: usize, readTs: u64): i32 {
  shortAt = 0;
  if (at >= end) return REC_CORRUPT;
  const type = load<u8>(at);
  let kind: i32;
  if (type == TYPE_PUT) kind = REC_PUT;
  else if (type == TYPE_DELETE) kind = REC_DELETE;
  else if (type == TYPE_LOCK || type == TYPE_ROLLBACK) kind = REC_SKIP;
  else return REC_CORRUPT;
  at = skipVarint(at + 1, end);
  if (at == 0) return REC_CORRUPT;
  // Tagged fields, read only to find a gc_fence; an unknown tag ends the record (FORMATS.md 4).
  while (at < end) {
    const tag = load<u8>(at);
    at++;
    if (tag == TAG_SHORT_VALUE) {
      if (at >= end) return REC_CORRUPT;
      shortLen = <usize>load<u8>(at);
      shortAt = at + 1;
      at += 1 + shortLen;
      if (at > end) return REC_CORRUPT;
    } else if (tag == TAG_OVERLAPPED_ROLLBACK) {
      // a flag without payload
    } else if (tag == TAG_GC_FENCE) {
      if (at + TS_LEN > end) return REC_CORRUPT;
      const fence = bswap<u64>(load<u64>(at, 0, 1));
      if (fence != 0 && fence <= readTs) return REC_FENCED;
      at += TS_LEN;
    } else if (tag == TAG_LAST_CHANGE) {
      if (at + TS_LEN > end) return REC_CORRUPT;
      at = skipVarint(at + TS_LEN, end);
      if (at == 0) return REC_CORRUPT;
    } else if (tag == TAG_TXN_SOURCE) {
      at = skipVarint(at, end);
      if (at == 0) return REC_CORRUPT;
    } else {
      break;
    }
  }
  return kind;
}

/**
 * `n` bytes at `a` and `b` equal. Both are user-key prefixes followed by their 8-byte ts, so the
 * masked 8-byte load of a final partial word stays inside the key.
 */
@inline
function sameBytes(a: usize, b: usize, n: usize): bool {
  while (n >= 8) {
    if (load<u64>(a, 0, 1) != load<u64>(b, 0, 1)) return false;
    a += 8;
    b += 8;
    n -= 8;
  }
  if (n == 0) return true;
  // Little-endian: the first n bytes of a load are its low n bytes.
  const mask: u64 = (<u64>1 << (<u64>n << 3)) - 1;
  return ((load<u64>(a, 0, 1) ^ load<u64>(b, 0, 1)) & mask) == 0;
}

/**
 * Picks the visible version per user key among `count` write-CF entries already copied in:
 * keys and their offsets in the in-data / in-offsets regions, Write records and their offsets
 * in the out-data / value-offsets regions (offsets as the caller had them, checked on the JS side
 * to be non-decreasing and inside what was copied). Writes the group starts and visible indices
 * and returns the group count, or -(i + 1) for the first malformed entry i, as the reference does.
 */
export function mvccScanBatch(count: u32, readTs: u64): i32 {
  const kOffsets = inOffsetsRegion;
  const vOffsets = valueOffsetsRegion;
  const kBase = inDataRegion - <usize>load<u32>(kOffsets);
  const vBase = outDataRegion - <usize>load<u32>(vOffsets);
  // commitTs <= readTs iff ~commitTs >= ~readTs, and the key holds ~commitTs big-endian.
  const readDesc = ~readTs;
  let groups: i32 = 0;
  let decided = false;
  let prevKey: usize = 0;
  let prevUserLen: i32 = -1;
  let kFrom = load<u32>(kOffsets);
  for (let i: u32 = 0; i < count; i++) {
    const kTo = load<u32>(kOffsets + ((<usize>i + 1) << 2));
    const userLen = <i32>(kTo - kFrom) - <i32>TS_LEN;
    if (userLen < 0) return -(<i32>i + 1);
    const key = kBase + <usize>kFrom;
    kFrom = kTo;
    if (userLen != prevUserLen || !sameBytes(key, prevKey, <usize>userLen)) {
      if (groups > 0 && !decided) store<i32>(visibleRegion + (<usize>(groups - 1) << 2), SCAN_NONE);
      store<i32>(groupStartRegion + (<usize>groups << 2), <i32>i);
      store<i32>(visibleRegion + (<usize>groups << 2), SCAN_UNDECIDED);
      groups++;
      decided = false;
    }
    prevKey = key;
    prevUserLen = userLen;
    if (decided) continue;
    if (bswap<u64>(load<u64>(key + <usize>userLen, 0, 1)) < readDesc) continue;
    const vAt = vOffsets + (<usize>i << 2);
    const rec = classify(vBase + <usize>load<u32>(vAt), vBase + <usize>load<u32>(vAt, 4), readTs);
    if (rec == REC_CORRUPT) return -(<i32>i + 1);
    if (rec == REC_SKIP) continue;
    store<i32>(visibleRegion + (<usize>(groups - 1) << 2), rec == REC_PUT ? <i32>i : SCAN_NONE);
    decided = true;
  }
  return groups;
}

// ---- mvccScanEntries: the mirror of mvccScanEntries in core/src/txn/mvcc/scan-batch.ts (the TS
// reference): mvccScanBatch's decisions over interleaved entries, plus the emitted pairs.
// asm/test/mvcc-scan-entries.test.ts holds the two together.

const SCAN_KEY_ONLY: u32 = 1;
const SCAN_FIRST_DECIDED: u32 = 2;
const KEY_PREFIX: usize = 1;
const KEY_GROUP: usize = 9;

let scanPairs: u32 = 0;
let scanLongs: u32 = 0;

export function scanPairCount(): u32 {
  return scanPairs;
}
export function scanLongCount(): u32 {
  return scanLongs;
}

/** Copies `n` bytes; short runs 8 then 1 at a time (the regions never overlap). */
@inline
function copySmall(dst: usize, src: usize, n: usize): void {
  while (n >= 8) {
    store<u64>(dst, load<u64>(src));
    dst += 8;
    src += 8;
    n -= 8;
  }
  while (n > 0) {
    store<u8>(dst, load<u8>(src));
    dst++;
    src++;
    n--;
  }
}

/**
 * Decodes the memcomparable key in [at, end) to `o`: the address after the raw bytes, or 0 if
 * the encoding is malformed (a group past `end`, a marker meaning pad > 8, a non-zero pad byte,
 * or a final group that does not end at `end`).
 */
function decodeKeyInto(at: usize, end: usize, o: usize): usize {
  while (true) {
    if (at + KEY_GROUP > end) return 0;
    const marker = <u32>load<u8>(at, 8);
    if (marker == 0xff) {
      store<u64>(o, load<u64>(at));
      o += 8;
      at += KEY_GROUP;
      continue;
    }
    const pad = 0xff - marker;
    if (pad > 8) return 0;
    const real = 8 - pad;
    const word = load<u64>(at);
    // Little-endian: the pad bytes are the high `pad` bytes of the word.
    if (real < 8 && (word >> (<u64>real << 3)) != 0) return 0;
    copySmall(o, at, <usize>real);
    return at + KEY_GROUP == end ? o + <usize>real : 0;
  }
  return 0;
}

/**
 * The reference's mvccScanEntries over `count` entries already copied in: bytes in the in-data
 * region, their 2 count + 1 offsets (as the caller had them, checked on the JS side) in the
 * entry-offsets region. Pairs go to the out-data region with offsets from 0 in the pair-offsets
 * region; group starts, visible indices, pair groups and default-CF pairs to theirs. Returns the
 * group count or -(i + 1) for malformed entry i; scanPairCount / scanLongCount give the rest.
 */
export function mvccScanEntries(count: u32, readTs: u64, flags: u32): i32 {
  const eo = entryOffsetsRegion;
  const base = inDataRegion - <usize>load<u32>(eo);
  const od = outDataRegion;
  const po = pairOffsetsRegion;
  const keyOnly = (flags & SCAN_KEY_ONLY) != 0;
  const readDesc = ~readTs;
  let groups: i32 = 0;
  let pairs: u32 = 0;
  let longs: u32 = 0;
  let o: usize = od;
  store<u32>(po, 0);
  let decided = false;
  let prevKey: usize = 0;
  let prevUserLen: i32 = -1;
  for (let i: u32 = 0; i < count; i++) {
    const at = eo + (<usize>i << 3);
    const kFrom = load<u32>(at);
    const vFrom = load<u32>(at, 4);
    const userLen = <i32>(vFrom - kFrom) - <i32>TS_LEN;
    if (userLen < 0) return -(<i32>i + 1);
    const key = base + <usize>kFrom;
    if (userLen != prevUserLen || !sameBytes(key, prevKey, <usize>userLen)) {
      if (groups > 0 && !decided) store<i32>(visibleRegion + (<usize>(groups - 1) << 2), SCAN_NONE);
      store<i32>(groupStartRegion + (<usize>groups << 2), <i32>i);
      store<i32>(visibleRegion + (<usize>groups << 2), SCAN_UNDECIDED);
      groups++;
      decided = false;
      if (groups == 1 && (flags & SCAN_FIRST_DECIDED) != 0) {
        store<i32>(visibleRegion, SCAN_NONE);
        decided = true;
      }
    }
    prevKey = key;
    prevUserLen = userLen;
    if (decided) continue;
    if (bswap<u64>(load<u64>(key + <usize>userLen, 0, 1)) < readDesc) continue;
    const rec = classify(base + <usize>vFrom, base + <usize>load<u32>(at, 8), readTs);
    if (rec == REC_CORRUPT) return -(<i32>i + 1);
    if (rec == REC_SKIP) continue;
    decided = true;
    const vis = visibleRegion + (<usize>(groups - 1) << 2);
    if (rec != REC_PUT) {
      store<i32>(vis, SCAN_NONE);
      continue;
    }
    store<i32>(vis, <i32>i);
    o = decodeKeyInto(key + KEY_PREFIX, key + <usize>userLen, o);
    if (o == 0) return -(<i32>i + 1);
    const pp = po + (<usize>pairs << 3);
    store<u32>(pp, <u32>(o - od), 4);
    if (!keyOnly) {
      if (shortAt != 0) {
        copySmall(o, shortAt, shortLen);
        o += shortLen;
      } else {
        store<i32>(longPairRegion + (<usize>longs << 2), <i32>pairs);
        longs++;
      }
    }
    store<i32>(pairGroupRegion + (<usize>pairs << 2), groups - 1);
    pairs++;
    store<u32>(pp, <u32>(o - od), 8);
  }
  scanPairs = pairs;
  scanLongs = longs;
  return groups;
}

// ---- flashbackBatch: the mirror of flashbackBatchReference in core/src/hotpath/flashback-batch.ts
// (the TS reference). The output region must come out byte for byte the same, shared parts at its
// start included; asm/test/flashback-batch.test.ts holds the two together.

const DEFAULT_CF: u8 = 1; // FLASHBACK_OUT_DEFAULT_CF (the write CF is 0)
const OLD_PUT: u8 = 1; // FLASHBACK_OLD_PUT; any other kind byte means absent
const SHORT_VALUE_MAX: u32 = 255;
/** Copies at or above this length go through memory.copy; shorter ones 8 bytes at a time. */
const BULK_COPY_MIN: usize = 64;

/** Copies `n` bytes from `src` to `dst` (regions do not overlap); writes nothing past dst + n. */
@inline
function copyBytes(dst: usize, src: usize, n: usize): void {
  if (n >= BULK_COPY_MIN) {
    memory.copy(dst, src, n);
    return;
  }
  while (n >= 8) {
    store<u64>(dst, load<u64>(src, 0, 1), 0, 1);
    dst += 8;
    src += 8;
    n -= 8;
  }
  while (n != 0) {
    store<u8>(dst, load<u8>(src));
    dst++;
    src++;
    n--;
  }
}

/** Writes `v` as a var_u64 at `at`; returns the address after it. */
@inline
function writeVarint(at: usize, v: u64): usize {
  while (v >= 0x80) {
    store<u8>(at, <u8>(v & 0x7f) | 0x80);
    at++;
    v >>= 7;
  }
  store<u8>(at, <u8>v);
  return at + 1;
}

/**
 * One FlashbackWrite batch of `count` keys already copied in: key ends in the in-offsets region,
 * value ends in the value-offsets region, kind bytes in the ts region, key bytes at the start of
 * the in-data region and value bytes `valuesAt` bytes after it (the JS side checked every end to
 * be non-decreasing and inside what it copied). Writes the ops to the out-data region and the op
 * arrays, the op count and write size to out-offsets[0] and [1], and returns the keys taken.
 */
export function flashbackBatch(count: u32, valuesAt: u32, startTs: u64, commitTs: u64, maxWriteSize: u32): u32 {
  const out0 = outDataRegion;
  const keys = inDataRegion;
  const values = inDataRegion + <usize>valuesAt;
  let o = out0;
  // Shared parts, as the reference lays them out: ~C, ~S, then the Put and Delete record heads.
  const commitDesc = bswap<u64>(~commitTs);
  const startDesc = bswap<u64>(~startTs);
  store<u64>(o, commitDesc, 0, 1);
  store<u64>(o, startDesc, 8, 1);
  o += 16;
  const putHead = o;
  store<u8>(o, TYPE_PUT);
  o = writeVarint(o + 1, startTs);
  const headLen = o - putHead;
  const deleteHead = o;
  store<u8>(o, TYPE_DELETE);
  o = writeVarint(o + 1, startTs);

  let ops: usize = 0;
  let size: u64 = 0;
  let taken: u32 = 0;
  let keyFrom: u32 = 0;
  let valueFrom: u32 = 0;
  for (let i: usize = 0; i < <usize>count; i++) {
    const keyTo = load<u32>(inOffsetsRegion + (i << 2));
    const valueTo = load<u32>(valueOffsetsRegion + (i << 2));
    const klen = <usize>(keyTo - keyFrom);
    const dataKeyLen: usize = klen + TS_LEN + 1;
    const isPut = load<u8>(tsRegion + i) == OLD_PUT;
    const vlen: u32 = isPut ? valueTo - valueFrom : 0;
    const isLong = isPut && vlen > SHORT_VALUE_MAX;
    const isShort = isPut && !isLong;
    const recordLen: usize = headLen + (isShort ? <usize>vlen + 2 : 0);
    const keySize = <u64>(dataKeyLen + recordLen + (isLong ? dataKeyLen + <usize>vlen : <usize>0));
    if (taken > 0 && size + keySize > <u64>maxWriteSize) break;
    const key = keys + <usize>keyFrom;

    // write CF: 'z' + key + ~C -> record
    const w = ops << 2;
    store<u8>(opCfRegion + ops, 0);
    store<u32>(opKeyStartRegion + w, <u32>(o - out0));
    store<u8>(o, DATA_PREFIX);
    copyBytes(o + 1, key, klen);
    o += 1 + klen;
    store<u64>(o, commitDesc, 0, 1);
    o += TS_LEN;
    store<u32>(opKeyEndRegion + w, <u32>(o - out0));
    store<u32>(opValueStartRegion + w, <u32>(o - out0));
    copyBytes(o, isPut ? putHead : deleteHead, headLen);
    o += headLen;
    if (isShort) {
      store<u8>(o, TAG_SHORT_VALUE);
      store<u8>(o, <u8>vlen, 1);
      copyBytes(o + 2, values + <usize>valueFrom, <usize>vlen);
      o += 2 + <usize>vlen;
    }
    store<u32>(opValueEndRegion + w, <u32>(o - out0));
    ops++;

    if (isLong) {
      // default CF: 'z' + key + ~S -> the old value
      const d = ops << 2;
      store<u8>(opCfRegion + ops, DEFAULT_CF);
      store<u32>(opKeyStartRegion + d, <u32>(o - out0));
      store<u8>(o, DATA_PREFIX);
      copyBytes(o + 1, key, klen);
      o += 1 + klen;
      store<u64>(o, startDesc, 0, 1);
      o += TS_LEN;
      store<u32>(opKeyEndRegion + d, <u32>(o - out0));
      store<u32>(opValueStartRegion + d, <u32>(o - out0));
      copyBytes(o, values + <usize>valueFrom, <usize>vlen);
      o += <usize>vlen;
      store<u32>(opValueEndRegion + d, <u32>(o - out0));
      ops++;
    }
    size += keySize;
    taken++;
    keyFrom = keyTo;
    valueFrom = valueTo;
  }
  store<u32>(outOffsetsRegion, <u32>ops);
  store<u32>(outOffsetsRegion, <u32>size, 4);
  return taken;
}
