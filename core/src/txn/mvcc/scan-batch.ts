// @hot-path
/**
 * The inner step of an MVCC scan at a read ts (TiKV `ForwardScanner` with `LatestKvPolicy`):
 * given a run of up to HOT_BATCH_MAX write-CF entries in engine order, pick for each user key
 * the version a snapshot read at `readTs` sees. Inputs and outputs are flat (packed bytes,
 * offsets, index arrays) so a WASM build can take the same arguments (DESIGN.md section 10).
 *
 * Per user key, versions come newest first (the key suffix is ~commitTs). Versions with
 * commitTs > readTs are skipped. Among the rest, newest first: a record whose gc_fence is set
 * and <= readTs ends the search with nothing visible (GC removed the version that overwrote
 * it, FORMATS.md 4); Put is the visible version; Delete means nothing is visible; Lock and
 * Rollback records are skipped.
 *
 * Nothing is allocated per call beyond two module scratch arrays, and no bigint per entry:
 * ts comparisons are bytewise on the encoded forms.
 *
 * This is the TS reference behind `HotPath.mvccScanBatch` (createJsHotPath); the WASM build in
 * @flashkv/asm mirrors it decision for decision, including which malformed entries it reports
 * (an entry is only parsed when its version is <= readTs and its key is still undecided).
 */
import { SCAN_FIRST_DECIDED, SCAN_KEY_ONLY, SCAN_NONE, SCAN_UNDECIDED, type PackedBatch, type ScanEntriesOutput } from '../../hotpath/hotpath.js';
import type { PackedEntries } from '../../engine/entry-batch.js';

export { SCAN_NONE, SCAN_UNDECIDED };

const TS_LEN = 8;
const TYPE_PUT = 0x50;
const TYPE_DELETE = 0x44;
const TYPE_LOCK = 0x4c;
const TYPE_ROLLBACK = 0x52;
const TAG_SHORT_VALUE = 0x76;
const TAG_OVERLAPPED_ROLLBACK = 0x52;
const TAG_GC_FENCE = 0x46;
const TAG_LAST_CHANGE = 0x6c;
const TAG_TXN_SOURCE = 0x53;

// ~readTs and readTs, big-endian, filled once per call. Safe as module state: JS is
// single-threaded and this function does not re-enter.
const readTsDesc = new Uint8Array(TS_LEN);
const readTsAsc = new Uint8Array(TS_LEN);
const readTsView = new DataView(readTsAsc.buffer);

/** Result of scanning one write record: 0 skip (Lock/Rollback), 1 Put, 2 Delete, 3 fenced, -1 corrupt. */
const REC_SKIP = 0;
const REC_PUT = 1;
const REC_DELETE = 2;
const REC_FENCED = 3;
const REC_CORRUPT = -1;

/** Skips a var_u64 at `at`; returns the offset after it, or -1 if it runs past `end` or over 10 bytes. */
function skipVarint(data: Uint8Array, at: number, end: number): number {
  for (let n = 0; n < 10; n++) {
    if (at >= end) return -1;
    if ((data[at++]! & 0x80) === 0) return at;
  }
  return -1;
}

// Where the last short value classify() met starts (-1: none) and its length. Module state for
// the same reason as the ts buffers above.
let shortAt = -1;
let shortLen = 0;

function classify(data: Uint8Array, from: number, end: number): number {
  shortAt = -1;
  if (from >= end) return REC_CORRUPT;
  const type = data[from]!;
  let kind: number;
  if (type === TYPE_PUT) kind = REC_PUT;
  else if (type === TYPE_DELETE) kind = REC_DELETE;
  else if (type === TYPE_LOCK || type === TYPE_ROLLBACK) kind = REC_SKIP;
  else return REC_CORRUPT;
  let at = skipVarint(data, from + 1, end);
  if (at < 0) return REC_CORRUPT;
  // Tagged fields, read only to find a gc_fence; an unknown tag ends the record (FORMATS.md 4).
  while (at < end) {
    const tag = data[at++]!;
    if (tag === TAG_SHORT_VALUE) {
      if (at >= end) return REC_CORRUPT;
      shortLen = data[at]!;
      shortAt = at + 1;
      at += 1 + shortLen;
      if (at > end) return REC_CORRUPT;
    } else if (tag === TAG_OVERLAPPED_ROLLBACK) {
      // flag without payload
    } else if (tag === TAG_GC_FENCE) {
      if (at + TS_LEN > end) return REC_CORRUPT;
      // Fenced iff fence != 0 and fence <= readTs: compare big-endian bytes.
      let zero = true;
      let cmp = 0;
      for (let j = 0; j < TS_LEN; j++) {
        const b = data[at + j]!;
        if (b !== 0) zero = false;
        if (cmp === 0 && b !== readTsAsc[j]!) cmp = b < readTsAsc[j]! ? -1 : 1;
      }
      if (!zero && cmp <= 0) return REC_FENCED;
      at += TS_LEN;
    } else if (tag === TAG_LAST_CHANGE) {
      if (at + TS_LEN > end) return REC_CORRUPT;
      at = skipVarint(data, at + TS_LEN, end);
      if (at < 0) return REC_CORRUPT;
    } else if (tag === TAG_TXN_SOURCE) {
      at = skipVarint(data, at, end);
      if (at < 0) return REC_CORRUPT;
    } else {
      break;
    }
  }
  return kind;
}

/**
 * `keys` are write-CF engine keys (any prefix, then the encoded user key, then u64be(~commitTs)),
 * `values` the Write records at the same indices, `count` <= HOT_BATCH_MAX entries in engine order.
 * For each run of entries with one user key (a group) writes `groupStart[g]` (index of its first
 * entry) and `visible[g]` (index of the visible Put, SCAN_NONE, or SCAN_UNDECIDED for a last group
 * still undecided). Returns the group count, or -(i + 1) if entry i is malformed (key shorter than
 * the ts, or a Write record that does not parse).
 */
export function mvccScanBatch(keys: PackedBatch, values: PackedBatch, readTs: bigint, groupStart: Int32Array, visible: Int32Array): number {
  const count = keys.count;
  const kd = keys.data;
  const ko = keys.offsets;
  const vd = values.data;
  const vo = values.offsets;
  readTsView.setBigUint64(0, readTs);
  for (let j = 0; j < TS_LEN; j++) readTsDesc[j] = ~readTsAsc[j]! & 0xff;
  let groups = 0;
  let decided = false;
  let prevFrom = 0;
  let prevUserLen = -1;
  for (let i = 0; i < count; i++) {
    const from = ko[i]!;
    const keyLen = ko[i + 1]! - from;
    const userLen = keyLen - TS_LEN;
    if (userLen < 0) return -(i + 1);
    let same = userLen === prevUserLen;
    if (same) {
      for (let j = 0; j < userLen; j++) {
        if (kd[from + j] !== kd[prevFrom + j]) {
          same = false;
          break;
        }
      }
    }
    if (!same) {
      if (groups > 0 && !decided) visible[groups - 1] = SCAN_NONE;
      groupStart[groups] = i;
      visible[groups] = SCAN_UNDECIDED;
      groups++;
      decided = false;
    }
    prevFrom = from;
    prevUserLen = userLen;
    if (decided) continue;
    // commitTs <= readTs iff ~commitTs >= ~readTs, bytewise.
    const tsAt = from + userLen;
    let cmp = 0;
    for (let j = 0; j < TS_LEN; j++) {
      const b = kd[tsAt + j]!;
      if (b !== readTsDesc[j]!) {
        cmp = b < readTsDesc[j]! ? -1 : 1;
        break;
      }
    }
    if (cmp < 0) continue;
    const rec = classify(vd, vo[i]!, vo[i + 1]!);
    if (rec === REC_CORRUPT) return -(i + 1);
    if (rec === REC_SKIP) continue;
    visible[groups - 1] = rec === REC_PUT ? i : SCAN_NONE;
    decided = true;
  }
  return groups;
}

const KEY_PREFIX = 1;
const GROUP_SIZE = 9;
const FULL_GROUP = 0xff;

/**
 * Decodes the memcomparable key in `data[from, end)` (FORMATS.md 1.1: 8 bytes and a marker per
 * group, zero padding in the final group) into `out` at `o`. The final group must end exactly at
 * `end`. Returns the offset after the raw bytes, or -1 if the encoding is malformed.
 */
function decodeKeyInto(data: Uint8Array, from: number, end: number, out: Uint8Array, o: number): number {
  let at = from;
  for (;;) {
    if (at + GROUP_SIZE > end) return -1;
    const marker = data[at + 8]!;
    if (marker === FULL_GROUP) {
      for (let j = 0; j < 8; j++) out[o + j] = data[at + j]!;
      o += 8;
      at += GROUP_SIZE;
      continue;
    }
    const pad = FULL_GROUP - marker;
    if (pad > 8) return -1;
    const real = 8 - pad;
    for (let j = real; j < 8; j++) if (data[at + j] !== 0) return -1;
    for (let j = 0; j < real; j++) out[o + j] = data[at + j]!;
    return at + GROUP_SIZE === end ? o + real : -1;
  }
}

/**
 * The batched scan step that also emits its results: `mvccScanBatch`'s grouping and visibility
 * rules over `entries` (<= HOT_BATCH_MAX write-CF entries packed key, value, key, value: data
 * keys, one prefix byte, encoded user key, u64be(~commitTs)), and for each group with a visible
 * Put, one pair in `out`: the raw user key (the encoded key decoded) and the short value (empty
 * with SCAN_KEY_ONLY; empty and listed in `out.longPair` when the Put keeps its value in the
 * default CF). With SCAN_FIRST_DECIDED the first group continues a key an earlier batch already
 * decided: it emits nothing and its `visible` is SCAN_NONE. `out.data` must hold at least the
 * entries' bytes (offsets[2 count] - offsets[0]). Returns the group count, or -(i + 1) when entry
 * i is malformed: a key shorter than the ts, a Write record that does not parse (as in
 * mvccScanBatch), or a visible Put whose key does not decode.
 */
export function mvccScanEntries(entries: PackedEntries, readTs: bigint, flags: number, out: ScanEntriesOutput): number {
  const count = entries.count;
  const d = entries.data;
  const off = entries.offsets;
  const groupStart = out.groupStart;
  const visible = out.visible;
  const pairGroup = out.pairGroup;
  const po = out.offsets;
  const longPair = out.longPair;
  const od = out.data;
  const keyOnly = (flags & SCAN_KEY_ONLY) !== 0;
  readTsView.setBigUint64(0, readTs);
  for (let j = 0; j < TS_LEN; j++) readTsDesc[j] = ~readTsAsc[j]! & 0xff;
  let groups = 0;
  let pairs = 0;
  let longs = 0;
  let o = 0;
  po[0] = 0;
  let decided = false;
  let prevFrom = 0;
  let prevUserLen = -1;
  for (let i = 0; i < count; i++) {
    const from = off[2 * i]!;
    const userLen = off[2 * i + 1]! - from - TS_LEN;
    if (userLen < 0) return -(i + 1);
    let same = userLen === prevUserLen;
    if (same) {
      for (let j = 0; j < userLen; j++) {
        if (d[from + j] !== d[prevFrom + j]) {
          same = false;
          break;
        }
      }
    }
    if (!same) {
      if (groups > 0 && !decided) visible[groups - 1] = SCAN_NONE;
      groupStart[groups] = i;
      visible[groups] = SCAN_UNDECIDED;
      groups++;
      decided = false;
      if (groups === 1 && (flags & SCAN_FIRST_DECIDED) !== 0) {
        visible[0] = SCAN_NONE;
        decided = true;
      }
    }
    prevFrom = from;
    prevUserLen = userLen;
    if (decided) continue;
    const tsAt = from + userLen;
    let cmp = 0;
    for (let j = 0; j < TS_LEN; j++) {
      const b = d[tsAt + j]!;
      if (b !== readTsDesc[j]!) {
        cmp = b < readTsDesc[j]! ? -1 : 1;
        break;
      }
    }
    if (cmp < 0) continue;
    const rec = classify(d, off[2 * i + 1]!, off[2 * i + 2]!);
    if (rec === REC_CORRUPT) return -(i + 1);
    if (rec === REC_SKIP) continue;
    decided = true;
    if (rec !== REC_PUT) {
      visible[groups - 1] = SCAN_NONE;
      continue;
    }
    visible[groups - 1] = i;
    o = decodeKeyInto(d, from + KEY_PREFIX, from + userLen, od, o);
    if (o < 0) return -(i + 1);
    po[2 * pairs + 1] = o;
    if (!keyOnly) {
      if (shortAt >= 0) {
        for (let j = 0; j < shortLen; j++) od[o + j] = d[shortAt + j]!;
        o += shortLen;
      } else {
        longPair[longs++] = pairs;
      }
    }
    pairGroup[pairs] = groups - 1;
    pairs++;
    po[2 * pairs] = o;
  }
  out.pairs = pairs;
  out.longs = longs;
  return groups;
}
