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
import { SCAN_NONE, SCAN_UNDECIDED, type PackedBatch } from '../../hotpath/hotpath.js';

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

function classify(data: Uint8Array, from: number, end: number): number {
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
      at += 1 + data[at]!;
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
