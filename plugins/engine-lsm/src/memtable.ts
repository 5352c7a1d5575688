import { compareInternal } from './keys.js';
import type { InternalIterator } from './internal-iterator.js';

const MAX_HEIGHT = 12;

interface Node {
  key: Uint8Array;
  seq: number;
  kind: number;
  value: Uint8Array;
  readonly next: (Node | null)[];
}

const EMPTY = new Uint8Array(0);

/**
 * The mutable in-memory table: a skiplist (LevelDB's memtable) of internal entries. Every
 * version stays until flush, so reads at an older sequence number (snapshots) see the version
 * they should. One writer at a time (the engine's commit pipeline); readers never see an entry
 * above the engine's published sequence number, so an insert in progress is invisible.
 * Keys and values are kept by reference: they are views into WAL batch records.
 */
export class Memtable {
  private readonly head: Node = { key: EMPTY, seq: 0, kind: 0, value: EMPTY, next: new Array(MAX_HEIGHT).fill(null) };
  private height = 1;
  private rnd = 0x2545f491;
  private bytes = 0;
  private entries = 0;
  private readonly prevs: Node[] = new Array(MAX_HEIGHT);
  /** WAL file number whose records this memtable holds. */
  constructor(readonly logNumber: number) {}

  get approximateBytes(): number {
    return this.bytes;
  }

  get count(): number {
    return this.entries;
  }

  private randomHeight(): number {
    // xorshift32: deterministic, and the skiplist's balance does not need more.
    let h = 1;
    let x = this.rnd;
    for (;;) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      if (h >= MAX_HEIGHT || (x & 3) !== 0) break;
      h++;
    }
    this.rnd = x;
    return h;
  }

  /** First node >= (key, seq); with `fillPrevs`, records the last node < it at each level (for insert). */
  findGE(key: Uint8Array, seq: number, fillPrevs = false): Node | null {
    let x = this.head;
    for (let level = this.height - 1; level >= 0; level--) {
      for (;;) {
        const n = x.next[level]!;
        if (n !== null && compareInternal(n.key, n.seq, key, seq) < 0) x = n;
        else break;
      }
      if (fillPrevs) this.prevs[level] = x;
    }
    return x.next[0]!;
  }

  /** Last node < (key, seq), or null (head). */
  findLT(key: Uint8Array, seq: number): Node | null {
    let x = this.head;
    for (let level = this.height - 1; level >= 0; level--) {
      for (;;) {
        const n = x.next[level]!;
        if (n !== null && compareInternal(n.key, n.seq, key, seq) < 0) x = n;
        else break;
      }
    }
    return x === this.head ? null : x;
  }

  lastNode(): Node | null {
    let x = this.head;
    for (let level = this.height - 1; level >= 0; level--) {
      while (x.next[level] !== null) x = x.next[level]!;
    }
    return x === this.head ? null : x;
  }

  firstNode(): Node | null {
    return this.head.next[0]!;
  }

  /** Adds a version; the same (key, seq) twice (one batch writing a key twice) keeps the last. */
  add(key: Uint8Array, seq: number, kind: number, value: Uint8Array): void {
    const found = this.findGE(key, seq, true);
    if (found !== null && found.seq === seq && compareInternal(found.key, found.seq, key, seq) === 0) {
      this.bytes += value.length - found.value.length;
      found.kind = kind;
      found.value = value;
      return;
    }
    const h = this.randomHeight();
    if (h > this.height) {
      for (let l = this.height; l < h; l++) this.prevs[l] = this.head;
      this.height = h;
    }
    const node: Node = { key, seq, kind, value, next: new Array(h) };
    for (let l = 0; l < h; l++) {
      const p = this.prevs[l]!;
      node.next[l] = p.next[l]!;
      p.next[l] = node;
    }
    this.bytes += key.length + value.length + 48 + 8 * h;
    this.entries++;
  }

  /**
   * The newest version of `key` at or below `seq`: KIND_PUT / KIND_DELETE with the value,
   * or undefined when this memtable has no version of the key visible at `seq`.
   */
  get(key: Uint8Array, seq: number): Node | undefined {
    const n = this.findGE(key, seq, false);
    if (n === null || n.key.length !== key.length) return undefined;
    for (let i = 0; i < key.length; i++) if (n.key[i] !== key[i]) return undefined;
    return n;
  }

  iterator(): InternalIterator {
    return new MemtableIterator(this);
  }
}

export type MemEntry = Pick<Node, 'key' | 'seq' | 'kind' | 'value'>;

class MemtableIterator implements InternalIterator {
  private node: Node | null = null;
  constructor(private readonly mem: Memtable) {}
  valid(): boolean {
    return this.node !== null;
  }
  seekGE(key: Uint8Array, seq: number): void {
    this.node = this.mem.findGE(key, seq);
  }
  seekLT(key: Uint8Array, seq: number): void {
    this.node = this.mem.findLT(key, seq);
  }
  first(): void {
    this.node = this.mem.firstNode();
  }
  last(): void {
    this.node = this.mem.lastNode();
  }
  next(): void {
    this.node = this.node!.next[0]!;
  }
  prev(): void {
    const n = this.node!;
    this.node = this.mem.findLT(n.key, n.seq);
  }
  key(): Uint8Array {
    return this.node!.key;
  }
  seq(): number {
    return this.node!.seq;
  }
  kind(): number {
    return this.node!.kind;
  }
  value(): Uint8Array {
    return this.node!.value;
  }
  close(): void {
    this.node = null;
  }
}
