import { compareInternal } from './keys.js';
import type { InternalIterator } from './internal-iterator.js';

/** One version of a key. */
export interface MemEntry {
  readonly key: Uint8Array;
  /** First four key bytes big-endian (zero padded): most comparisons end on this number. */
  readonly p: number;
  readonly seq: number;
  kind: number;
  value: Uint8Array;
}

/** Entries per leaf before it splits in two. */
const LEAF_MAX = 512;

/**
 * Keys compare like their first four bytes as a big-endian number whenever those differ
 * (shorter keys pad with zeros; a tie falls back to the full comparison, so padding is safe).
 */
function prefix32(k: Uint8Array): number {
  const n = k.length;
  return ((n > 0 ? k[0]! << 24 : 0) | (n > 1 ? k[1]! << 16 : 0) | (n > 2 ? k[2]! << 8 : 0) | (n > 3 ? k[3]! : 0)) >>> 0;
}

function cmp(e: MemEntry, key: Uint8Array, p: number, seq: number): number {
  return e.p !== p ? e.p - p : compareInternal(e.key, e.seq, key, seq);
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
  leaves: MemEntry[][] = [[]];
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
    const p = prefix32(key);
    let lo = 0;
    let hi = leaves.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (cmp(leaves[mid]![0]!, key, p, seq) < 0) lo = mid;
      else hi = mid - 1;
    }
    const leaf = leaves[lo]!;
    let a = 0;
    let b = leaf.length;
    while (a < b) {
      const mid = (a + b) >>> 1;
      if (cmp(leaf[mid]!, key, p, seq) < 0) a = mid + 1;
      else b = mid;
    }
    this.li = lo;
    this.ei = a;
  }

  /** Adds a version; the same (key, seq) twice (one batch writing a key twice) keeps the last. */
  add(key: Uint8Array, seq: number, kind: number, value: Uint8Array): void {
    this.locate(key, seq);
    const leaf = this.leaves[this.li]!;
    const at = this.ei;
    const found = at < leaf.length ? leaf[at]! : this.li + 1 < this.leaves.length ? this.leaves[this.li + 1]![0]! : undefined;
    if (found !== undefined && found.seq === seq && compareInternal(found.key, found.seq, key, seq) === 0) {
      this.bytes += value.length - found.value.length;
      found.kind = kind;
      found.value = value;
      return;
    }
    const e: MemEntry = { key, p: prefix32(key), seq, kind, value };
    if (at === leaf.length) leaf.push(e);
    else leaf.splice(at, 0, e);
    if (leaf.length > LEAF_MAX) this.leaves.splice(this.li + 1, 0, leaf.splice(LEAF_MAX >>> 1));
    this.mod++;
    this.bytes += key.length + value.length + 64;
    this.entries++;
  }

  /** The newest version of `key` at or below `seq`, or undefined. */
  get(key: Uint8Array, seq: number): MemEntry | undefined {
    this.locate(key, seq);
    let leaf = this.leaves[this.li]!;
    let at = this.ei;
    if (at === leaf.length) {
      if (this.li + 1 >= this.leaves.length) return undefined;
      leaf = this.leaves[this.li + 1]!;
      at = 0;
    }
    const e = leaf[at];
    if (e === undefined || e.key.length !== key.length) return undefined;
    const k = e.key;
    for (let i = 0; i < k.length; i++) if (k[i] !== key[i]) return undefined;
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

  constructor(private readonly mem: Memtable) {}

  /** Normalises (li, ei) forward to a real entry, or clears the position. */
  private settleForward(li: number, ei: number): void {
    const leaves = this.mem.leaves;
    while (li < leaves.length && ei >= leaves[li]!.length) {
      li++;
      ei = 0;
    }
    this.li = li;
    this.ei = ei;
    this.cur = li < leaves.length ? leaves[li]![ei]! : null;
    this.mod = this.mem.mod;
  }

  private settleBackward(li: number, ei: number): void {
    const leaves = this.mem.leaves;
    while (li >= 0 && ei < 0) {
      li--;
      if (li >= 0) ei = leaves[li]!.length - 1;
    }
    this.li = li;
    this.ei = ei;
    this.cur = li >= 0 ? leaves[li]![ei]! : null;
    this.mod = this.mem.mod;
  }

  /** After inserts, find the current entry's new (leaf, index). */
  private refresh(): void {
    if (this.mod === this.mem.mod) return;
    const c = this.cur!;
    this.mem.locate(c.key, c.seq);
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
    this.settleBackward(leaves.length - 1, leaves[leaves.length - 1]!.length - 1);
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
    return this.cur!.key;
  }
  seq(): number {
    return this.cur!.seq;
  }
  kind(): number {
    return this.cur!.kind;
  }
  value(): Uint8Array {
    return this.cur!.value;
  }
  close(): void {
    this.cur = null;
  }
}
