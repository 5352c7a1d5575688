/**
 * Range scans at a read ts (TiKV `src/storage/mvcc/reader/scanner/forward.rs` and backward.rs).
 *
 * Forward: write-CF entries are read in engine order into batches of up to HOT_BATCH_MAX and
 * the HotPath's `mvccScanBatch` (TS reference or WASM, DESIGN.md section 10) picks the visible
 * version of each user key; a lock-CF cursor walks alongside
 * so every key the scan passes (including keys that only have a lock) gets the lock check of a
 * point get. Locks past the last key returned are not checked, as in TiKV.
 *
 * With a HotPath that has `mvccScanEntries` (both built-in ones do), the forward scan is batched
 * end to end instead: the engine iterator fills one packed buffer per 256 entries (`readEntries`:
 * the engine's `readBatch` when it has one, else a generic loop), the kernel picks the visible
 * versions and emits raw keys and short values into one buffer, and the page of results is built
 * from those buffers with one copy per batch (`KvPage`); pairs are views into the page.
 *
 * Reverse, with `mvccScanEntries`: the write CF is read backwards into a staging batch of up to
 * 256 entries; the lowest user key of a cut batch may be missing its newer versions, so its
 * entries are left for the next batch (the iterator is put back on them). The staged entries
 * are copied in forward order into the kernel's batch, which then holds only whole user keys,
 * and the kernel's pairs are taken from the last one down. A user key with more versions than a
 * batch holds is resolved like a point get. Without `mvccScanEntries` (`scanBackward`, the
 * per-key path and the reference the batched one is tested against): user keys are found
 * walking the write CF backwards, one seek per key, and each is resolved like a point get.
 *
 * The first blocking lock met throws KEY_IS_LOCKED (TiKV instead reports it per key and goes
 * on; a client resolves and rescans either way).
 */
import { decodeBytes, encodeBytes } from '../../codec/index.js';
import type { RawKey } from '../../codec/index.js';
import { decodeLockRecord } from './lock-record.js';
import { decodeWrite } from '../../codec/index.js';
import { compareBytes, type EngineIterator } from '../../engine/engine.js';
import { EntryBatch, readEntries, readEntriesBackward } from '../../engine/entry-batch.js';
import { CorruptedError } from '../../errors.js';
import {
  HOT_BATCH_MAX,
  SCAN_FIRST_DECIDED,
  SCAN_KEY_ONLY,
  SCAN_NONE,
  SCAN_UNDECIDED,
  type HotPath,
  type PackedBatch,
  type ScanEntriesResult,
} from '../../hotpath/hotpath.js';
import { createJsHotPath } from '../../hotpath/js-hotpath.js';
import { dataRange } from './keys.js';
import { checkLockConflict, type ReadLockOptions } from './lock-check.js';
import type { MvccReader } from './reader.js';
import type { EncodedKey } from '../../codec/index.js';

const TS_LEN = 8;

export interface ScanOptions extends ReadLockOptions {
  /** Raw start key, inclusive; absent or empty means unbounded. */
  readonly start?: Uint8Array;
  /** Raw end key, exclusive; absent or empty means unbounded. */
  readonly end?: Uint8Array;
  readonly ts: bigint;
  /** Most pairs returned; absent means no limit. */
  readonly limit?: number;
  /** Values are returned empty and never loaded. */
  readonly keyOnly?: boolean;
  /** Walk [start, end) from the end down. */
  readonly reverse?: boolean;
}

export interface KvPair {
  readonly key: RawKey;
  readonly value: Uint8Array;
}

/** Growable packed buffers for one batch of keys or values, reused across batches of a scan. */
class Packer {
  data = new Uint8Array(4096);
  readonly offsets = new Uint32Array(HOT_BATCH_MAX + 1);
  count = 0;

  reset(): void {
    this.count = 0;
    this.offsets[0] = 0;
  }

  push(bytes: Uint8Array): void {
    const at = this.offsets[this.count]!;
    const need = at + bytes.length;
    if (need > this.data.length) {
      let size = this.data.length * 2;
      while (size < need) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(this.data.subarray(0, at));
      this.data = grown;
    }
    this.data.set(bytes, at);
    this.count++;
    this.offsets[this.count] = need;
  }

  batch(): PackedBatch {
    return { data: this.data, offsets: this.offsets, count: this.count };
  }

  item(i: number): Uint8Array {
    return this.data.subarray(this.offsets[i]!, this.offsets[i + 1]!);
  }
}

function checkScanOptions(options: ScanOptions): number {
  if (options === null || typeof options !== 'object') throw new TypeError('scan options must be an object');
  if (typeof options.ts !== 'bigint') throw new TypeError('scan: ts must be a bigint');
  for (const b of ['start', 'end'] as const) {
    const v = options[b];
    if (v !== undefined && !(v instanceof Uint8Array)) throw new TypeError(`scan: ${b} must be a Uint8Array`);
  }
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  if (limit !== Number.POSITIVE_INFINITY && (!Number.isInteger(limit) || limit < 0)) {
    throw new TypeError(`scan: limit must be a non-negative integer, got ${limit}`);
  }
  return limit;
}

function rangeOf(options: ScanOptions): { lower: Uint8Array; upper: Uint8Array } {
  const start = options.start !== undefined && options.start.length > 0 ? encodeBytes(options.start) : undefined;
  const end = options.end !== undefined && options.end.length > 0 ? encodeBytes(options.end) : undefined;
  return dataRange(start, end);
}

/** Raw key of a data key ('z' + encoded [+ ts]); the ts, if any, is ignored by the decoder. */
function rawOf(dataKey: Uint8Array): RawKey {
  return decodeBytes(dataKey.subarray(1)).raw;
}

/** The lock check of a scan for the lock under `lockIt`. */
function checkLockAt(lockIt: EngineIterator, options: ScanOptions): void {
  const key = lockIt.key();
  // A SharedLocks record holds Lock/Pessimistic sub-locks, which never block a read; each is
  // still checked as a plain lock would be.
  for (const lock of decodeLockRecord(lockIt.value()).locks) checkLockConflict(lock, () => rawOf(key), options.ts, options);
}

// The TS reference when no HotPath is passed. One instance serves every such scan: a scan runs
// synchronously from its first batch to its last, so no two scans interleave on its buffers.
let defaultHotPath: HotPath | undefined;

/**
 * scanRange with the pairs packed in one KvPage (no KvPair per key): the batched forward or
 * reverse path when the HotPath has mvccScanEntries; otherwise (an older HotPath) scanRange's
 * pairs copied into a page. `into`, when given, is reset and refilled (its buffers are reused,
 * growing as needed), so a caller that reads page after page allocates nothing per page; the
 * views from its earlier `key(i)` / `value(i)` / `pairs()` then show the new contents.
 */
export function scanRangePage(reader: MvccReader, options: ScanOptions, hotPath?: HotPath, into?: KvPage): KvPage {
  const hp = hotPath ?? (defaultHotPath ??= createJsHotPath());
  const page = into ?? new KvPage();
  page.reset();
  if (hp.mvccScanEntries === undefined) {
    for (const p of scanRange(reader, options, hp)) page.push(p.key, p.value);
    return page;
  }
  const limit = checkScanOptions(options);
  if (limit === 0) return page;
  const range = rangeOf(options);
  if (compareBytes(range.lower, range.upper) >= 0) return page;
  const snapshot = reader.snapshot;
  const writeIt = snapshot.iterator('write', range);
  const lockIt = options.isolation === 'RC' ? undefined : snapshot.iterator('lock', range);
  try {
    if (options.reverse === true) return scanBackwardEntries(reader, writeIt, lockIt, options, limit, hp, page);
    return scanForwardEntries(reader, writeIt, lockIt, options, limit, hp, page);
  } finally {
    writeIt.close();
    lockIt?.close();
  }
}

/** `hotPath` runs the batch step; default the TS reference (createJsHotPath). */
export function scanRange(reader: MvccReader, options: ScanOptions, hotPath?: HotPath): KvPair[] {
  const limit = checkScanOptions(options);
  if (limit === 0) return [];
  const range = rangeOf(options);
  if (compareBytes(range.lower, range.upper) >= 0) return [];
  const snapshot = reader.snapshot;
  const writeIt = snapshot.iterator('write', range);
  const lockIt = options.isolation === 'RC' ? undefined : snapshot.iterator('lock', range);
  try {
    const hp = hotPath ?? (defaultHotPath ??= createJsHotPath());
    if (options.reverse === true) {
      if (hp.mvccScanEntries !== undefined) return scanBackwardEntries(reader, writeIt, lockIt, options, limit, hp).pairs();
      return scanBackward(reader, writeIt, lockIt, options, limit);
    }
    if (hp.mvccScanEntries !== undefined) return scanForwardEntries(reader, writeIt, lockIt, options, limit, hp).pairs();
    return scanForward(reader, writeIt, lockIt, options, limit, hp);
  } finally {
    writeIt.close();
    lockIt?.close();
  }
}

function sameUserKey(a: Uint8Array, aLen: number, b: Uint8Array, bLen: number): boolean {
  if (aLen !== bLen) return false;
  for (let i = 0; i < aLen; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** `a[0, aLen)` compared with all of `b`. */
function comparePrefix(a: Uint8Array, aLen: number, b: Uint8Array): number {
  const n = aLen < b.length ? aLen : b.length;
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return aLen - b.length;
}

function scanForward(reader: MvccReader, writeIt: EngineIterator, lockIt: EngineIterator | undefined, options: ScanOptions, limit: number, hotPath: HotPath): KvPair[] {
  const out: KvPair[] = [];
  const keys = new Packer();
  const values = new Packer();
  const keyOnly = options.keyOnly === true;
  lockIt?.first();
  // The last user key of the previous batch (data key without ts), and whether it was decided.
  let carryKey: Uint8Array | undefined;
  let carryDecided = false;
  let more = writeIt.first();
  while (more) {
    keys.reset();
    values.reset();
    while (more && keys.count < HOT_BATCH_MAX) {
      keys.push(writeIt.key());
      values.push(writeIt.value());
      more = writeIt.next();
    }
    // groupStart and visible are the HotPath's buffers: read before its next call.
    const { groups, groupStart, visible } = hotPath.mvccScanBatch(keys.batch(), values.batch(), options.ts);
    if (groups < 0) {
      const bad = -groups - 1;
      throw new CorruptedError(`write CF entry ${bad} of a scan batch is malformed`, { key: keys.item(bad).slice() });
    }
    for (let g = 0; g < groups; g++) {
      const first = groupStart[g]!;
      const userKey = keys.item(first);
      const userLen = userKey.length - TS_LEN;
      const continued = g === 0 && carryKey !== undefined && sameUserKey(userKey, userLen, carryKey, carryKey.length);
      if (continued && carryDecided) continue;
      if (!continued && lockIt !== undefined) {
        // Every lock at or before this key: lock-only keys in between are read past too.
        while (lockIt.valid() && comparePrefix(userKey, userLen, lockIt.key()) >= 0) {
          checkLockAt(lockIt, options);
          lockIt.next();
        }
      }
      const v = visible[g]!;
      if (g === groups - 1) {
        carryKey = userKey.slice(0, userLen);
        carryDecided = v !== SCAN_UNDECIDED;
      }
      if (v === SCAN_UNDECIDED || v === SCAN_NONE) continue;
      const raw = rawOf(userKey);
      if (keyOnly) out.push({ key: raw, value: new Uint8Array(0) });
      else {
        const write = decodeWrite(values.item(v));
        // A short value needs no key; only a default-CF read does (and copies the key for it).
        const value = write.shortValue ?? reader.loadData(encodedOf(userKey, userLen), write);
        out.push({ key: raw, value: value.slice() });
      }
      if (out.length >= limit) return out;
    }
  }
  // Keys past the last write that only hold locks are still inside the scanned range.
  if (lockIt !== undefined) {
    for (; lockIt.valid(); lockIt.next()) checkLockAt(lockIt, options);
  }
  return out;
}

function encodedOf(dataKey: Uint8Array, userLen: number): EncodedKey {
  return dataKey.slice(1, userLen) as EncodedKey;
}

function scanBackward(reader: MvccReader, writeIt: EngineIterator, lockIt: EngineIterator | undefined, options: ScanOptions, limit: number): KvPair[] {
  const out: KvPair[] = [];
  const keyOnly = options.keyOnly === true;
  lockIt?.last();
  for (let ok = writeIt.last(); ok; ) {
    const wk = writeIt.key();
    const userKey = wk.slice(0, wk.length - TS_LEN);
    if (lockIt !== undefined) {
      while (lockIt.valid() && compareBytes(lockIt.key(), userKey) >= 0) {
        checkLockAt(lockIt, options);
        lockIt.prev();
      }
    }
    const value = reader.getValueAt(userKey.subarray(1) as EncodedKey, options.ts, keyOnly);
    if (value !== undefined) {
      out.push({ key: rawOf(userKey), value: keyOnly ? value : value.slice() });
      if (out.length >= limit) return out;
    }
    // userKey without a ts sorts before all its versions: this lands on the previous user key.
    ok = writeIt.seekForPrev(userKey);
  }
  if (lockIt !== undefined) {
    for (; lockIt.valid(); lockIt.prev()) checkLockAt(lockIt, options);
  }
  return out;
}

/**
 * The pairs of a forward scan packed in one buffer: pair i's raw key is
 * `data[offsets[2i], offsets[2i + 1])` and its value `data[offsets[2i + 1], offsets[2i + 2])`.
 * `key(i)` and `value(i)` are views (no copy); `pairs()` makes the KvPair array.
 */
export class KvPage {
  data = new Uint8Array(4096);
  offsets = new Uint32Array(513);
  count = 0;

  key(i: number): RawKey {
    return this.data.subarray(this.offsets[2 * i]!, this.offsets[2 * i + 1]!) as RawKey;
  }

  value(i: number): Uint8Array {
    return this.data.subarray(this.offsets[2 * i + 1]!, this.offsets[2 * i + 2]!);
  }

  /** Empties the page, keeping its buffers. */
  reset(): void {
    this.count = 0;
    this.offsets[0] = 0;
  }

  pairs(): KvPair[] {
    const out: KvPair[] = new Array(this.count);
    const d = this.data;
    const o = this.offsets;
    for (let i = 0; i < this.count; i++) {
      out[i] = { key: d.subarray(o[2 * i]!, o[2 * i + 1]!) as RawKey, value: d.subarray(o[2 * i + 1]!, o[2 * i + 2]!) };
    }
    return out;
  }

  /** Room for `pairs` more pairs and `bytes` more bytes. */
  reserve(pairs: number, bytes: number): void {
    const needO = 2 * (this.count + pairs) + 1;
    // Growth by 4: a page of 10,000 pairs reallocates 4 times, not 8.
    if (needO > this.offsets.length) {
      let size = pairs > 256 ? needO : this.offsets.length * 4;
      while (size < needO) size *= 2;
      const grown = new Uint32Array(size);
      grown.set(this.offsets.subarray(0, 2 * this.count + 1));
      this.offsets = grown;
    }
    const at = this.offsets[2 * this.count]!;
    if (at + bytes > this.data.length) {
      let size = pairs > 256 ? at + bytes : this.data.length * 4;
      while (size < at + bytes) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(this.data.subarray(0, at));
      this.data = grown;
    }
  }

  /** Appends the first `take` pairs of a kernel result: one copy of bytes, offsets rebased. */
  appendAll(r: ScanEntriesResult, take: number): void {
    const end = r.offsets[2 * take]!;
    this.reserve(take, end);
    const o = this.offsets;
    const base = o[2 * this.count]!;
    this.data.set(r.data.subarray(0, end), base);
    const ro = r.offsets;
    const at = 2 * this.count;
    for (let j = 1; j <= 2 * take; j++) o[at + j] = base + ro[j]!;
    this.count += take;
  }

  /** Appends one pair, copying both parts. */
  push(key: Uint8Array, value: Uint8Array): void {
    this.reserve(1, key.length + value.length);
    const o = this.offsets;
    const at = o[2 * this.count]!;
    this.data.set(key, at);
    this.data.set(value, at + key.length);
    o[2 * this.count + 1] = at + key.length;
    o[2 * this.count + 2] = at + key.length + value.length;
    this.count++;
  }
}

let sharedBatch: EntryBatch | undefined;

/** Most pairs a limited scan's page is sized for up front. */
const PAGE_PRESIZE_MAX = 65_536;

/** `a[aFrom, aFrom + len)` equals `b[0, len)`. */
function equalAt(a: Uint8Array, aFrom: number, b: Uint8Array, len: number): boolean {
  for (let i = 0; i < len; i++) if (a[aFrom + i] !== b[i]) return false;
  return true;
}

/** `a[from, from + len)` compared with all of `b`. */
function compareAt(a: Uint8Array, from: number, len: number, b: Uint8Array): number {
  const n = len < b.length ? len : b.length;
  for (let i = 0; i < n; i++) {
    const d = a[from + i]! - b[i]!;
    if (d !== 0) return d;
  }
  return len - b.length;
}

/**
 * Forward scan into a KvPage, through `readEntries` and `hotPath.mvccScanEntries` (see the
 * header). Lock checks as in scanForward: every lock at or before each key the scan passes, up
 * to the last key returned; a batch whose keys all sort before the next lock skips them at once.
 */
export function scanForwardEntries(
  reader: MvccReader,
  writeIt: EngineIterator,
  lockIt: EngineIterator | undefined,
  options: ScanOptions,
  limit: number,
  hotPath: HotPath,
  page: KvPage = new KvPage(),
): KvPage {
  // One batch buffer serves every scan: a scan runs synchronously from its first batch to its
  // last, and no pair refers into it (pairs are copied into the page).
  const batch = (sharedBatch ??= new EntryBatch(HOT_BATCH_MAX));
  const keyOnly = options.keyOnly === true;
  const ts = options.ts;
  const baseFlags = keyOnly ? SCAN_KEY_ONLY : 0;
  let lockKey: Uint8Array | undefined;
  if (lockIt !== undefined && lockIt.first()) lockKey = lockIt.key();
  // The last user key of the previous batch (data key without ts), and whether it was decided.
  let carry = new Uint8Array(64);
  let carryLen = -1;
  let carryDecided = false;
  writeIt.first();
  while (readEntries(writeIt, batch, HOT_BATCH_MAX) > 0) {
    const bd = batch.data;
    const bo = batch.offsets;
    const continued = carryLen >= 0 && bo[1]! - bo[0]! - TS_LEN === carryLen && equalAt(bd, bo[0]!, carry, carryLen);
    const r = hotPath.mvccScanEntries!(batch, ts, continued && carryDecided ? baseFlags | SCAN_FIRST_DECIDED : baseFlags);
    const groups = r.groups;
    if (groups < 0) {
      const bad = -groups - 1;
      throw new CorruptedError(`write CF entry ${bad} of a scan batch is malformed`, { key: batch.key(bad).slice() });
    }
    let take = r.pairs;
    let lastGroup = groups - 1;
    const done = take >= limit - page.count;
    if (done) {
      take = limit - page.count;
      lastGroup = r.pairGroup[take - 1]!;
    }
    if (lockKey !== undefined) {
      // Locks at or before the last key this batch passes: checked group by group (rare).
      const lf = bo[2 * r.groupStart[lastGroup]!]!;
      const ll = bo[2 * r.groupStart[lastGroup]! + 1]! - lf - TS_LEN;
      if (compareAt(bd, lf, ll, lockKey) >= 0) {
        for (let g = continued ? 1 : 0; g <= lastGroup && lockKey !== undefined; g++) {
          const f = bo[2 * r.groupStart[g]!]!;
          const len = bo[2 * r.groupStart[g]! + 1]! - f - TS_LEN;
          while (lockKey !== undefined && compareAt(bd, f, len, lockKey) >= 0) {
            checkLockAt(lockIt!, options);
            lockKey = lockIt!.next() ? lockIt!.key() : undefined;
          }
        }
      }
    }
    const first = page.count === 0;
    if (r.longs === 0 || keyOnly) page.appendAll(r, take);
    else appendWithLongs(reader, page, r, take, batch);
    if (done) return page;
    if (first && page.count > 0 && limit !== Number.POSITIVE_INFINITY) {
      // Size the page once for the rest of a limited scan from this batch's pairs (growing a
      // 300 KB page by doubling measured 7-14% of a paged scan: big fresh buffers fault in).
      const more = Math.min(limit, PAGE_PRESIZE_MAX) - page.count;
      if (more > 0) page.reserve(more, Math.ceil((page.offsets[2 * page.count]! / page.count) * more * 1.125));
    }
    const lf = bo[2 * r.groupStart[lastGroup]!]!;
    carryLen = bo[2 * r.groupStart[lastGroup]! + 1]! - lf - TS_LEN;
    if (carryLen > carry.length) carry = new Uint8Array(carryLen * 2);
    for (let i = 0; i < carryLen; i++) carry[i] = bd[lf + i]!;
    carryDecided = r.visible[lastGroup] !== SCAN_UNDECIDED;
  }
  // Keys past the last write that only hold locks are still inside the scanned range.
  if (lockKey !== undefined) {
    for (; lockIt!.valid(); lockIt!.next()) checkLockAt(lockIt!, options);
  }
  return page;
}

/** Appends `take` pairs, loading the values of Puts that keep them in the default CF. */
function appendWithLongs(reader: MvccReader, page: KvPage, r: ScanEntriesResult, take: number, batch: EntryBatch): void {
  let next = 0;
  const ro = r.offsets;
  for (let p = 0; p < take; p++) {
    const key = r.data.subarray(ro[2 * p]!, ro[2 * p + 1]!);
    if (next < r.longs && r.longPair[next] === p) {
      next++;
      const entry = r.visible[r.pairGroup[p]!]!;
      const dataKey = batch.key(entry);
      const write = decodeWrite(batch.value(entry));
      page.push(key, reader.loadData(encodedOf(dataKey, dataKey.length - TS_LEN), write));
    } else {
      page.push(key, r.data.subarray(ro[2 * p + 1]!, ro[2 * p + 2]!));
    }
  }
}

let sharedStage: EntryBatch | undefined;
let sharedBackBatch: EntryBatch | undefined;

/** Entry `i` of `b` (key and value) has the user key (key without ts) of `d[from, from + len)`. */
function entryHasUserKey(b: EntryBatch, i: number, d: Uint8Array, from: number, len: number): boolean {
  const f = b.offsets[2 * i]!;
  if (b.offsets[2 * i + 1]! - f - TS_LEN !== len) return false;
  const bd = b.data;
  for (let j = 0; j < len; j++) if (bd[f + j] !== d[from + j]) return false;
  return true;
}

/** Copies entries [0, n) of `from` (descending) into `to` in ascending order. */
function reverseInto(from: EntryBatch, n: number, to: EntryBatch): void {
  const fo = from.offsets;
  const bytes = fo[2 * n]!;
  const data = to.grow(bytes, 0);
  const o = to.offsets;
  const fd = from.data;
  let at = 0;
  o[0] = 0;
  for (let j = 0; j < n; j++) {
    const i = n - 1 - j;
    const f = fo[2 * i]!;
    const e = fo[2 * i + 2]!;
    data.set(fd.subarray(f, e), at);
    o[2 * j + 1] = at + (fo[2 * i + 1]! - f);
    at += e - f;
    o[2 * j + 2] = at;
  }
  to.count = n;
}

/**
 * Reverse scan into a KvPage through `hotPath.mvccScanEntries` (see the header). Same results
 * and lock checks as scanBackward: before the pairs of a batch are taken, every lock at or after
 * the lowest user key the scan passes is checked, highest first, so the first blocking lock met
 * is the one the per-key path meets.
 */
export function scanBackwardEntries(
  reader: MvccReader,
  writeIt: EngineIterator,
  lockIt: EngineIterator | undefined,
  options: ScanOptions,
  limit: number,
  hotPath: HotPath,
  page: KvPage = new KvPage(),
): KvPage {
  const stage = (sharedStage ??= new EntryBatch(HOT_BATCH_MAX));
  const batch = (sharedBackBatch ??= new EntryBatch(HOT_BATCH_MAX));
  const keyOnly = options.keyOnly === true;
  const ts = options.ts;
  const flags = keyOnly ? SCAN_KEY_ONLY : 0;
  let lockKey: Uint8Array | undefined;
  if (lockIt !== undefined && lockIt.last()) lockKey = lockIt.key();
  /** Checks every lock at or after the user key `d[from, from + len)`, highest first. */
  const checkLocksFrom = (d: Uint8Array, from: number, len: number): void => {
    while (lockKey !== undefined && compareAt(d, from, len, lockKey) <= 0) {
      checkLockAt(lockIt!, options);
      lockKey = lockIt!.prev() ? lockIt!.key() : undefined;
    }
  };
  writeIt.last();
  for (;;) {
    let n = readEntriesBackward(writeIt, stage, HOT_BATCH_MAX);
    if (n === 0) break;
    const so = stage.offsets;
    const sd = stage.data;
    if (n === HOT_BATCH_MAX && writeIt.valid()) {
      // The lowest user key read may have newer versions still below: leave it for the next batch.
      const lf = so[2 * (n - 1)]!;
      const ll = so[2 * (n - 1) + 1]! - lf - TS_LEN;
      const wk = writeIt.key();
      if (wk.length - TS_LEN === ll && equalAt(sd, lf, wk, ll)) {
        let d = n - 1;
        while (d > 0 && entryHasUserKey(stage, d - 1, sd, lf, ll)) d--;
        if (d === 0) {
          // One user key fills the batch: resolve it like a point get.
          const userKey = sd.slice(lf, lf + ll);
          checkLocksFrom(userKey, 0, ll);
          const value = reader.getValueAt(userKey.subarray(1) as EncodedKey, ts, keyOnly);
          if (value !== undefined) {
            page.push(rawOf(userKey), value);
            if (page.count >= limit) return page;
          }
          // userKey without a ts sorts before all its versions: this lands on the previous user key.
          writeIt.seekForPrev(userKey);
          continue;
        }
        // Back onto the first (highest) entry of that key, where the next batch starts.
        writeIt.seekForPrev(sd.subarray(so[2 * d]!, so[2 * d + 1]!));
        n = d;
      }
    }
    reverseInto(stage, n, batch);
    const r = hotPath.mvccScanEntries!(batch, ts, flags);
    const groups = r.groups;
    if (groups < 0) {
      const bad = -groups - 1;
      throw new CorruptedError(`write CF entry ${bad} of a scan batch is malformed`, { key: batch.key(bad).slice() });
    }
    const bo = batch.offsets;
    const bd = batch.data;
    // Pairs are taken from the last down; with a limit, the lowest group passed is the last pair's.
    const want = limit - page.count;
    const take = r.pairs < want ? r.pairs : want;
    const lowGroup = take === want && take > 0 ? r.pairGroup[r.pairs - take]! : 0;
    if (lockKey !== undefined) {
      const gf = bo[2 * r.groupStart[lowGroup]!]!;
      checkLocksFrom(bd, gf, bo[2 * r.groupStart[lowGroup]! + 1]! - gf - TS_LEN);
    }
    const ro = r.offsets;
    let nextLong = r.longs - 1;
    for (let p = r.pairs - 1; p >= r.pairs - take; p--) {
      const key = r.data.subarray(ro[2 * p]!, ro[2 * p + 1]!);
      while (nextLong >= 0 && r.longPair[nextLong]! > p) nextLong--;
      if (!keyOnly && nextLong >= 0 && r.longPair[nextLong] === p) {
        const entry = r.visible[r.pairGroup[p]!]!;
        const dataKey = batch.key(entry);
        page.push(key, reader.loadData(encodedOf(dataKey, dataKey.length - TS_LEN), decodeWrite(batch.value(entry))));
      } else {
        page.push(key, r.data.subarray(ro[2 * p + 1]!, ro[2 * p + 2]!));
      }
    }
    if (page.count >= limit) return page;
  }
  // Keys below the first write that only hold locks are still inside the scanned range.
  if (lockKey !== undefined) {
    for (; lockIt!.valid(); lockIt!.prev()) checkLockAt(lockIt!, options);
  }
  return page;
}
