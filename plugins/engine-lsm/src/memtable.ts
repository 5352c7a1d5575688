import type { InternalIterator } from './internal-iterator.js';
import { bloomHashAt } from './sstable/bloom.js';

/**
 * One version of a key, as offsets into the buffers that hold it (normally the WAL batch
 * record). `Memtable.get` returns one of these; it is reused by that memtable's next `get`.
 */
export interface MemEntry {
  readonly krec: Uint8Array;
  readonly ko: number;
  readonly kl: number;
  readonly seq: number;
  readonly kind: number;
  readonly vrec: Uint8Array;
  readonly vo: number;
  readonly vl: number;
}

export function entryKey(e: MemEntry): Uint8Array {
  return e.krec.subarray(e.ko, e.ko + e.kl);
}

export function entryValue(e: MemEntry): Uint8Array {
  return e.vrec.subarray(e.vo, e.vo + e.vl);
}

/** Entries per leaf before it splits in two. */
const LEAF_MAX = 512;
const EMPTY: Uint8Array = new Uint8Array(0);
const STRIDE = 8;
const K_REC = 0;
const K_OFF = 1;
const K_LEN = 2;
const KIND_SEQHI = 3;
const V_REC = 4;
const V_OFF = 5;
const V_LEN = 6;
const SEQ_LO = 7;
const TWO32 = 0x100000000;

/**
 * The memtable's own bloom filter over its keys (RocksDB's memtable whole-key filter), so a
 * point read of a key the memtable does not hold skips the tree search (about 20 dependent
 * memory loads) in favour of one cache line. Blocked: 512-bit blocks, the hash's high bits pick
 * the block and MEM_BLOOM_K probes land inside it. Sized at >= 10 bits per key and rebuilt 4x
 * larger when the entry count outgrows it.
 */
const MEM_BLOOM_K = 6;
const MEM_BLOOM_FIRST_CAP = 4096;

function memBloomBlocksLog2(cap: number): number {
  let log = 0;
  while ((1 << log) * 512 < cap * 10) log++;
  return log;
}

/** Sets the probes of `hash` in `bits` (16 words per block, 2^log blocks). */
function memBloomAdd(bits: Int32Array, log: number, hash: number): void {
  const base = log === 0 ? 0 : (hash >>> (32 - log)) << 4;
  let h = Math.imul(hash, 0x9e3779b1) >>> 0;
  const delta = ((h >>> 17) | (h << 15)) >>> 0;
  for (let j = 0; j < MEM_BLOOM_K; j++) {
    const bit = h & 511;
    bits[base + (bit >>> 5)]! |= 1 << (bit & 31);
    h = (h + delta) >>> 0;
  }
}

function memBloomHas(bits: Int32Array, log: number, hash: number): boolean {
  const base = log === 0 ? 0 : (hash >>> (32 - log)) << 4;
  let h = Math.imul(hash, 0x9e3779b1) >>> 0;
  const delta = ((h >>> 17) | (h << 15)) >>> 0;
  for (let j = 0; j < MEM_BLOOM_K; j++) {
    const bit = h & 511;
    if ((bits[base + (bit >>> 5)]! & (1 << (bit & 31))) === 0) return false;
    h = (h + delta) >>> 0;
  }
  return true;
}

/**
 * Keys compare like their first four bytes as a big-endian number whenever those differ
 * (shorter keys pad with zeros; a tie falls back to the full comparison, so padding is safe).
 */
function prefix32(k: Uint8Array, o: number, n: number): number {
  return ((n > 0 ? k[o]! << 24 : 0) | (n > 1 ? k[o + 1]! << 16 : 0) | (n > 2 ? k[o + 2]! << 8 : 0) | (n > 3 ? k[o + 3]! : 0)) >>> 0;
}

/**
 * A leaf: entry ids in order and, in a parallel array, their key prefixes. Both are typed
 * arrays with room for LEAF_MAX + 1, so an insert is two memmoves (copyWithin) and no
 * pointer stores; binary searches read `ps` and look at an entry's bytes only on a prefix tie.
 */
export interface Leaf {
  readonly ids: Int32Array;
  readonly ps: Uint32Array;
  n: number;
}

function newLeaf(): Leaf {
  return { ids: new Int32Array(LEAF_MAX + 1), ps: new Uint32Array(LEAF_MAX + 1), n: 0 };
}

/**
 * The mutable in-memory table: a sorted list of leaves of at most LEAF_MAX entries (a
 * two-level B+tree). Entries live in parallel typed arrays indexed by entry id (no object per
 * entry, so a million entries are a few flat arrays for the garbage collector, not a million
 * objects); keys and values stay where they are, usually in the WAL batch record, named by a
 * record id into `recs`. Every version stays until flush, so reads at an older sequence number
 * see what they should. One writer at a time (the engine's commit pipeline); readers never see
 * an entry above the engine's published sequence number, so an insert in progress is
 * invisible. Iterators notice inserts through `mod` and re-find their entry.
 */
export class Memtable {
  leaves: Leaf[] = [newLeaf()];
  /** ps[0] of every leaf, for the top-level search. */
  private firsts: number[] = [0];
  /** Bumped on every insert: positions (leaf, index) held by iterators are stale after it. */
  mod = 0;
  private bytes = 0;
  private entries = 0;
  /** Result of `locate`: leaf and index of the first entry >= the target. */
  li = 0;
  ei = 0;

  /** Buffers holding keys and values; entries name them by index. */
  private readonly recs: Uint8Array[] = [EMPTY];
  private lastKRec: Uint8Array = EMPTY;
  private lastKId = 0;
  private lastVRec: Uint8Array = EMPTY;
  private lastVId = 0;
  private cap = 1024;
  /**
   * Entry fields, STRIDE words per entry so one entry is one aligned 32-byte run (a point
   * lookup touches one cache line, not one per field): key record id, key offset, key length,
   * kind | (seq high bits) << 8, value record id, value offset, value length, seq low 32 bits.
   */
  private ent = new Uint32Array(this.cap * STRIDE);
  /** Bloom filter over the keys (memBloomAdd): 2^bloomLog blocks, for up to bloomCap entries. */
  private bloomCap: number;
  private bloomLog: number;
  private bloom: Int32Array;
  /** What `get` returns (reused). */
  private readonly hit: { krec: Uint8Array; ko: number; kl: number; seq: number; kind: number; vrec: Uint8Array; vo: number; vl: number } = { krec: EMPTY, ko: 0, kl: 0, seq: 0, kind: 0, vrec: EMPTY, vo: 0, vl: 0 };

  /**
   * `logNumber`: WAL file number whose records this memtable holds. `expectedEntries` sizes
   * the bloom filter up front (it still grows past that), sparing rebuilds while it fills.
   */
  constructor(
    readonly logNumber: number,
    expectedEntries = MEM_BLOOM_FIRST_CAP,
  ) {
    this.bloomCap = Math.max(MEM_BLOOM_FIRST_CAP, Math.min(1 << 22, expectedEntries));
    this.bloomLog = memBloomBlocksLog2(this.bloomCap);
    this.bloom = new Int32Array((1 << this.bloomLog) * 16);
  }

  get approximateBytes(): number {
    return this.bytes;
  }

  get count(): number {
    return this.entries;
  }

  keyRec(id: number): Uint8Array {
    return this.recs[this.ent[id * STRIDE + K_REC]!]!;
  }
  keyOff(id: number): number {
    return this.ent[id * STRIDE + K_OFF]!;
  }
  keyLen(id: number): number {
    return this.ent[id * STRIDE + K_LEN]!;
  }
  seqOf(id: number): number {
    const b = id * STRIDE;
    return this.ent[b + SEQ_LO]! + (this.ent[b + KIND_SEQHI]! >>> 8) * TWO32;
  }
  kindOf(id: number): number {
    return this.ent[id * STRIDE + KIND_SEQHI]! & 0xff;
  }
  keyOf(id: number): Uint8Array {
    const b = id * STRIDE;
    const o = this.ent[b + K_OFF]!;
    return this.recs[this.ent[b + K_REC]!]!.subarray(o, o + this.ent[b + K_LEN]!);
  }
  valueOf(id: number): Uint8Array {
    const b = id * STRIDE;
    const o = this.ent[b + V_OFF]!;
    return this.recs[this.ent[b + V_REC]!]!.subarray(o, o + this.ent[b + V_LEN]!);
  }

  /** Internal order of entry `id` against (key[ko, ko + kl), seq) (keys.ts compareInternal). */
  private cmpId(id: number, key: Uint8Array, ko: number, kl: number, seq: number): number {
    const b = id * STRIDE;
    const a = this.recs[this.ent[b + K_REC]!]!;
    const ao = this.ent[b + K_OFF]!;
    const al = this.ent[b + K_LEN]!;
    const n = al < kl ? al : kl;
    for (let i = 0; i < n; i++) {
      const d = a[ao + i]! - key[ko + i]!;
      if (d !== 0) return d;
    }
    if (al !== kl) return al - kl;
    return seq - this.seqOf(id);
  }

  /**
   * Sets (li, ei) to the first entry >= (key, seq) in leaf li; ei may equal the leaf's length
   * (the answer is then the first entry of leaf li + 1, or none).
   */
  locate(key: Uint8Array, seq: number): void {
    this.locateRaw(key, 0, key.length, seq, prefix32(key, 0, key.length));
  }

  /** `locate` for the key at key[ko, ko + kl) whose prefix32 is `p`. */
  private locateRaw(key: Uint8Array, ko: number, kl: number, seq: number, p: number): void {
    const leaves = this.leaves;
    const firsts = this.firsts;
    let lo = 0;
    let hi = leaves.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      const q = firsts[mid]!;
      const c = q !== p ? q - p : this.cmpId(leaves[mid]!.ids[0]!, key, ko, kl, seq);
      if (c < 0) lo = mid;
      else hi = mid - 1;
    }
    const leaf = leaves[lo]!;
    const ps = leaf.ps;
    let a = 0;
    let b = leaf.n;
    while (a < b) {
      const mid = (a + b) >>> 1;
      const q = ps[mid]!;
      const c = q !== p ? q - p : this.cmpId(leaf.ids[mid]!, key, ko, kl, seq);
      if (c < 0) a = mid + 1;
      else b = mid;
    }
    this.li = lo;
    this.ei = a;
  }

  /** Adds a version; the same (key, seq) twice (one batch writing a key twice) keeps the last. */
  add(key: Uint8Array, seq: number, kind: number, value: Uint8Array): void {
    this.addRaw(key, 0, key.length, seq, kind, value, 0, value.length);
  }

  /** Record id of `buf`; the last key buffer and the last value buffer are remembered apart. */
  private recId(buf: Uint8Array, value: boolean): number {
    if (buf === this.lastKRec) return this.lastKId;
    if (buf === this.lastVRec) return this.lastVId;
    if (buf.length === 0) return 0;
    const id = this.recs.length;
    this.recs.push(buf);
    if (value) {
      this.lastVRec = buf;
      this.lastVId = id;
    } else {
      this.lastKRec = buf;
      this.lastKId = id;
    }
    return id;
  }

  private grow(): void {
    const cap = this.cap * 2;
    const ent = new Uint32Array(cap * STRIDE);
    ent.set(this.ent);
    this.ent = ent;
    this.cap = cap;
  }

  /** `add` for a key at krec[ko, ko + kl) and a value at vrec[vo, vo + vl). */
  addRaw(krec: Uint8Array, ko: number, kl: number, seq: number, kind: number, vrec: Uint8Array, vo: number, vl: number): void {
    const p = prefix32(krec, ko, kl);
    this.locateRaw(krec, ko, kl, seq, p);
    const li = this.li;
    const leaf = this.leaves[li]!;
    const at = this.ei;
    // The entry at the insert position (possibly the next leaf's first) is the same (key, seq)
    // only if its prefix matches too, which spares a look at its bytes almost always.
    const next = at < leaf.n ? leaf : li + 1 < this.leaves.length ? this.leaves[li + 1]! : null;
    const nat = at < leaf.n ? at : 0;
    if (next !== null && next.ps[nat] === p) {
      const id = next.ids[nat]!;
      if (this.seqOf(id) === seq && this.cmpId(id, krec, ko, kl, seq) === 0) {
        const e = this.ent;
        const b = id * STRIDE;
        this.bytes += vl - e[b + V_LEN]!;
        e[b + KIND_SEQHI] = (e[b + KIND_SEQHI]! & ~0xff) | kind;
        // The existing entry's key may sit in another buffer than `krec` (a key added by
        // `add` and then rewritten from a batch record), so compare with its own key buffer.
        e[b + V_REC] = vrec === this.recs[e[b + K_REC]!] ? e[b + K_REC]! : this.recId(vrec, true);
        e[b + V_OFF] = vo;
        e[b + V_LEN] = vl;
        return;
      }
    }
    const id = this.entries;
    if (id === this.cap) this.grow();
    const kr = this.recId(krec, false);
    const vr = vrec === krec ? kr : this.recId(vrec, true);
    const e = this.ent;
    const b = id * STRIDE;
    e[b + K_REC] = kr;
    e[b + K_OFF] = ko;
    e[b + K_LEN] = kl;
    e[b + KIND_SEQHI] = kind | (Math.floor(seq / TWO32) << 8);
    e[b + V_REC] = vr;
    e[b + V_OFF] = vo;
    e[b + V_LEN] = vl;
    e[b + SEQ_LO] = seq >>> 0;
    const n = leaf.n;
    if (at < n) {
      leaf.ids.copyWithin(at + 1, at, n);
      leaf.ps.copyWithin(at + 1, at, n);
    }
    leaf.ids[at] = id;
    leaf.ps[at] = p;
    leaf.n = n + 1;
    if (at === 0) this.firsts[li] = p;
    if (leaf.n > LEAF_MAX) {
      const half = LEAF_MAX >>> 1;
      const right = newLeaf();
      right.ids.set(leaf.ids.subarray(half, leaf.n));
      right.ps.set(leaf.ps.subarray(half, leaf.n));
      right.n = leaf.n - half;
      leaf.n = half;
      this.leaves.splice(li + 1, 0, right);
      this.firsts.splice(li + 1, 0, right.ps[0]!);
    }
    this.mod++;
    this.bytes += kl + vl + 64;
    this.entries++;
    if (this.entries > this.bloomCap) this.growBloom();
    else memBloomAdd(this.bloom, this.bloomLog, bloomHashAt(krec, ko, kl));
  }

  /** Rebuilds the bloom filter 4x larger over every entry (ids 0..entries-1). */
  private growBloom(): void {
    this.bloomCap *= 4;
    this.bloomLog = memBloomBlocksLog2(this.bloomCap);
    const bits = (this.bloom = new Int32Array((1 << this.bloomLog) * 16));
    const e = this.ent;
    for (let id = 0; id < this.entries; id++) {
      const b = id * STRIDE;
      memBloomAdd(bits, this.bloomLog, bloomHashAt(this.recs[e[b + K_REC]!]!, e[b + K_OFF]!, e[b + K_LEN]!));
    }
  }

  /** False when the memtable certainly holds no version of the key whose bloomHash is `hash`. */
  mayContain(hash: number): boolean {
    return memBloomHas(this.bloom, this.bloomLog, hash);
  }

  /** Entry id of the newest version of `key` at or below `seq`, or -1. */
  find(key: Uint8Array, seq: number): number {
    this.locate(key, seq);
    let leaf = this.leaves[this.li]!;
    let at = this.ei;
    if (at === leaf.n) {
      if (this.li + 1 >= this.leaves.length) return -1;
      leaf = this.leaves[this.li + 1]!;
      at = 0;
    }
    if (at >= leaf.n) return -1;
    const id = leaf.ids[at]!;
    const e = this.ent;
    const b = id * STRIDE;
    const kl = e[b + K_LEN]!;
    if (kl !== key.length) return -1;
    const k = this.recs[e[b + K_REC]!]!;
    const o = e[b + K_OFF]!;
    for (let i = 0; i < kl; i++) if (k[o + i] !== key[i]) return -1;
    return id;
  }

  /**
   * The newest version of `key` at or below `seq`, or undefined (reused by the next call).
   * `hash` is bloomHash(key), computed once by a caller that asks several tables.
   */
  get(key: Uint8Array, seq: number, hash = bloomHashAt(key, 0, key.length)): MemEntry | undefined {
    if (!memBloomHas(this.bloom, this.bloomLog, hash)) return undefined;
    const id = this.find(key, seq);
    if (id < 0) return undefined;
    const e = this.ent;
    const b = id * STRIDE;
    const h = this.hit;
    h.krec = this.recs[e[b + K_REC]!]!;
    h.ko = e[b + K_OFF]!;
    h.kl = e[b + K_LEN]!;
    h.seq = this.seqOf(id);
    h.kind = e[b + KIND_SEQHI]! & 0xff;
    h.vrec = this.recs[e[b + V_REC]!]!;
    h.vo = e[b + V_OFF]!;
    h.vl = e[b + V_LEN]!;
    return h;
  }

  iterator(): InternalIterator {
    return new MemtableIterator(this);
  }
}

class MemtableIterator implements InternalIterator {
  private li = 0;
  private ei = 0;
  private cur = -1;
  private mod = -1;
  private curKey: Uint8Array | null = null;

  constructor(private readonly mem: Memtable) {}

  /** Normalises (li, ei) forward to a real entry, or clears the position. */
  private settleForward(li: number, ei: number): void {
    const leaves = this.mem.leaves;
    while (li < leaves.length && ei >= leaves[li]!.n) {
      li++;
      ei = 0;
    }
    this.li = li;
    this.ei = ei;
    this.cur = li < leaves.length ? leaves[li]!.ids[ei]! : -1;
    this.curKey = null;
    this.mod = this.mem.mod;
  }

  private settleBackward(li: number, ei: number): void {
    const leaves = this.mem.leaves;
    while (li >= 0 && ei < 0) {
      li--;
      if (li >= 0) ei = leaves[li]!.n - 1;
    }
    this.li = li;
    this.ei = ei;
    this.cur = li >= 0 ? leaves[li]!.ids[ei]! : -1;
    this.curKey = null;
    this.mod = this.mem.mod;
  }

  /** After inserts, find the current entry's new (leaf, index). */
  private refresh(): void {
    if (this.mod === this.mem.mod) return;
    this.mem.locate(this.key(), this.mem.seqOf(this.cur));
    this.settleForward(this.mem.li, this.mem.ei);
  }

  valid(): boolean {
    return this.cur >= 0;
  }
  seekGE(key: Uint8Array, seq: number): void {
    this.mem.locate(key, seq);
    this.settleForward(this.mem.li, this.mem.ei);
  }
  seekLT(key: Uint8Array, seq: number): void {
    this.mem.locate(key, seq);
    this.settleBackward(this.mem.li, this.mem.ei - 1);
  }
  first(): void {
    this.settleForward(0, 0);
  }
  last(): void {
    const leaves = this.mem.leaves;
    this.settleBackward(leaves.length - 1, leaves[leaves.length - 1]!.n - 1);
  }
  next(): void {
    this.refresh();
    this.settleForward(this.li, this.ei + 1);
  }
  prev(): void {
    this.refresh();
    this.settleBackward(this.li, this.ei - 1);
  }
  key(): Uint8Array {
    return (this.curKey ??= this.mem.keyOf(this.cur));
  }
  seq(): number {
    return this.mem.seqOf(this.cur);
  }
  kind(): number {
    return this.mem.kindOf(this.cur);
  }
  value(): Uint8Array {
    return this.mem.valueOf(this.cur);
  }
  close(): void {
    this.cur = -1;
  }
}
