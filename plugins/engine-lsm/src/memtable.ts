import type { InternalIterator } from './internal-iterator.js';

/**
 * One version of a key, as offsets into the buffers that hold it (normally the WAL batch
 * record): a million entries would otherwise keep two million typed-array views alive, which
 * costs more memory and GC time than the keys and values themselves.
 */
export interface MemEntry {
  readonly krec: Uint8Array;
  readonly ko: number;
  readonly kl: number;
  /** First four key bytes big-endian (zero padded): most comparisons end on this number. */
  readonly p: number;
  readonly seq: number;
  kind: number;
  vrec: Uint8Array;
  vo: number;
  vl: number;
}

/** Internal order of an entry against (key, seq) (keys.ts compareInternal, without views). */
function compareEntry(e: MemEntry, key: Uint8Array, seq: number): number {
  const a = e.krec;
  const ao = e.ko;
  const al = e.kl;
  const n = al < key.length ? al : key.length;
  for (let i = 0; i < n; i++) {
    const d = a[ao + i]! - key[i]!;
    if (d !== 0) return d;
  }
  if (al !== key.length) return al - key.length;
  return seq - e.seq;
}

export function entryKey(e: MemEntry): Uint8Array {
  return e.krec.subarray(e.ko, e.ko + e.kl);
}

export function entryValue(e: MemEntry): Uint8Array {
  return e.vrec.subarray(e.vo, e.vo + e.vl);
}

/** Entries per leaf before it splits in two. */
const LEAF_MAX = 512;

/**
 * Keys compare like their first four bytes as a big-endian number whenever those differ
 * (shorter keys pad with zeros; a tie falls back to the full comparison, so padding is safe).
 */
function prefix32(k: Uint8Array, o = 0, n = k.length): number {
  return ((n > 0 ? k[o]! << 24 : 0) | (n > 1 ? k[o + 1]! << 16 : 0) | (n > 2 ? k[o + 2]! << 8 : 0) | (n > 3 ? k[o + 3]! : 0)) >>> 0;
}

/**
 * A leaf: entries and, in a parallel array, their key prefixes. Binary searches read `ps`
 * (contiguous numbers) and touch an entry object only on a prefix tie, which keeps a lookup
 * to a few cache lines instead of one miss per probe.
 */
interface Leaf {
  readonly es: MemEntry[];
  readonly ps: number[];
}

function cmpAt(leaf: Leaf, i: number, key: Uint8Array, p: number, seq: number): number {
  const q = leaf.ps[i]!;
  if (q !== p) return q - p;
  return compareEntry(leaf.es[i]!, key, seq);
}

/**
 * The mutable in-memory table: a sorted list of leaves of at most LEAF_MAX entries (a
 * two-level B+tree). A skiplist (LevelDB's choice) chases a pointer per step, which in JS is
 * an object and an array per node; binary searches over short arrays touch far less memory.
 * Every version stays until flush, so reads at an older sequence number see what they should.
 * One writer at a time (the engine's commit pipeline); readers never see an entry above the
 * engine's published sequence number, so an insert in progress is invisible. Iterators notice
 * inserts through `mod` and re-find their entry. Keys and values are views into WAL records.
 */
export class Memtable {
  leaves: Leaf[] = [{ es: [], ps: [] }];
  /** ps[0] of every leaf, for the top-level search. */
  private firsts: number[] = [0];
  /** Bumped on every insert: positions (leaf, index) held by iterators are stale after it. */
  mod = 0;
  private bytes = 0;
  private entries = 0;
  /** Result of `locate`: leaf and index of the first entry >= the target. */
  li = 0;
  ei = 0;

  /** WAL file number whose records this memtable holds. */
  constructor(readonly logNumber: number) {}

  get approximateBytes(): number {
    return this.bytes;
  }

  get count(): number {
    return this.entries;
  }

  /**
   * Sets (li, ei) to the first entry >= (key, seq) in leaf li; ei may equal the leaf's length
   * (the answer is then the first entry of leaf li + 1, or none).
   */
  locate(key: Uint8Array, seq: number): void {
    const leaves = this.leaves;
    const firsts = this.firsts;
    const p = prefix32(key);
    let lo = 0;
    let hi = leaves.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      const q = firsts[mid]!;
      const c = q !== p ? q - p : cmpAt(leaves[mid]!, 0, key, p, seq);
      if (c < 0) lo = mid;
      else hi = mid - 1;
    }
    const leaf = leaves[lo]!;
    let a = 0;
    let b = leaf.es.length;
    while (a < b) {
      const mid = (a + b) >>> 1;
      if (cmpAt(leaf, mid, key, p, seq) < 0) a = mid + 1;
      else b = mid;
    }
    this.li = lo;
    this.ei = a;
  }

  /** Adds a version; the same (key, seq) twice (one batch writing a key twice) keeps the last. */
  add(key: Uint8Array, seq: number, kind: number, value: Uint8Array): void {
    this.addRaw(key, 0, key.length, seq, kind, value, 0, value.length);
  }

  /** `add` for a key at krec[ko, ko + kl) and a value at vrec[vo, vo + vl). */
  addRaw(krec: Uint8Array, ko: number, kl: number, seq: number, kind: number, vrec: Uint8Array, vo: number, vl: number): void {
    const key = ko === 0 && kl === krec.length ? krec : krec.subarray(ko, ko + kl);
    this.locate(key, seq);
    const li = this.li;
    const leaf = this.leaves[li]!;
    const at = this.ei;
    const found = at < leaf.es.length ? leaf.es[at]! : li + 1 < this.leaves.length ? this.leaves[li + 1]!.es[0]! : undefined;
    if (found !== undefined && found.seq === seq && compareEntry(found, key, seq) === 0) {
      this.bytes += vl - found.vl;
      found.kind = kind;
      found.vrec = vrec;
      found.vo = vo;
      found.vl = vl;
      return;
    }
    const p = prefix32(key);
    const e: MemEntry = { krec, ko, kl, p, seq, kind, vrec, vo, vl };
    if (at === leaf.es.length) {
      leaf.es.push(e);
      leaf.ps.push(p);
    } else {
      leaf.es.splice(at, 0, e);
      leaf.ps.splice(at, 0, p);
    }
    if (at === 0) this.firsts[li] = p;
    if (leaf.es.length > LEAF_MAX) {
      const half = LEAF_MAX >>> 1;
      const right: Leaf = { es: leaf.es.splice(half), ps: leaf.ps.splice(half) };
      this.leaves.splice(li + 1, 0, right);
      this.firsts.splice(li + 1, 0, right.ps[0]!);
    }
    this.mod++;
    this.bytes += kl + vl + 64;
    this.entries++;
  }

  /** The newest version of `key` at or below `seq`, or undefined. */
  get(key: Uint8Array, seq: number): MemEntry | undefined {
    this.locate(key, seq);
    let leaf = this.leaves[this.li]!.es;
    let at = this.ei;
    if (at === leaf.length) {
      if (this.li + 1 >= this.leaves.length) return undefined;
      leaf = this.leaves[this.li + 1]!.es;
      at = 0;
    }
    const e = leaf[at];
    if (e === undefined || e.kl !== key.length) return undefined;
    const k = e.krec;
    const o = e.ko;
    for (let i = 0; i < key.length; i++) if (k[o + i] !== key[i]) return undefined;
    return e;
  }

  iterator(): InternalIterator {
    return new MemtableIterator(this);
  }
}

class MemtableIterator implements InternalIterator {
  private li = 0;
  private ei = 0;
  private cur: MemEntry | null = null;
  private mod = -1;
  private curKey: Uint8Array | null = null;

  constructor(private readonly mem: Memtable) {}

  /** Normalises (li, ei) forward to a real entry, or clears the position. */
  private settleForward(li: number, ei: number): void {
    const leaves = this.mem.leaves;
    while (li < leaves.length && ei >= leaves[li]!.es.length) {
      li++;
      ei = 0;
    }
    this.li = li;
    this.ei = ei;
    this.cur = li < leaves.length ? leaves[li]!.es[ei]! : null;
    this.curKey = null;
    this.mod = this.mem.mod;
  }

  private settleBackward(li: number, ei: number): void {
    const leaves = this.mem.leaves;
    while (li >= 0 && ei < 0) {
      li--;
      if (li >= 0) ei = leaves[li]!.es.length - 1;
    }
    this.li = li;
    this.ei = ei;
    this.cur = li >= 0 ? leaves[li]!.es[ei]! : null;
    this.curKey = null;
    this.mod = this.mem.mod;
  }

  /** After inserts, find the current entry's new (leaf, index). */
  private refresh(): void {
    if (this.mod === this.mem.mod) return;
    const c = this.cur!;
    this.mem.locate(this.key(), c.seq);
    this.settleForward(this.mem.li, this.mem.ei);
  }

  valid(): boolean {
    return this.cur !== null;
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
    this.settleBackward(leaves.length - 1, leaves[leaves.length - 1]!.es.length - 1);
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
    return (this.curKey ??= entryKey(this.cur!));
  }
  seq(): number {
    return this.cur!.seq;
  }
  kind(): number {
    return this.cur!.kind;
  }
  value(): Uint8Array {
    return entryValue(this.cur!);
  }
  close(): void {
    this.cur = null;
  }
}
