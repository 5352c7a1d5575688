// @hot-path
/**
 * An LRU cache of blocks with a byte budget, shared by every table of an engine. Each table
 * owns a Map from block offset to entry (small-integer keys, which Maps hash fastest); the
 * entries of all tables form one recency list, so eviction is global. A hit moves the entry to
 * the front; inserting past the budget drops entries from the back.
 */
export class CacheEntry {
  prev: CacheEntry | null = null;
  next: CacheEntry | null = null;
  /**
   * True while the block has only been used inside synchronous point reads (which copy what
   * they return), so nothing can still see it once it leaves the cache and its buffer may be
   * reused for another block. Cleared as soon as the block is handed to anyone else
   * (iterators), whose views may outlive the entry.
   */
  recyclable: boolean;
  constructor(
    readonly owner: Map<number, CacheEntry>,
    readonly offset: number,
    readonly block: Uint8Array,
    /** The buffer `block` is a view of (counted against the budget). */
    readonly buf: Uint8Array,
    recyclable: boolean,
  ) {
    this.recyclable = recyclable;
  }
}

/** Recycled buffers come in multiples of this many bytes. */
const BUF_UNIT = 1024;
/** Most spare buffers kept per size. */
const MAX_SPARE = 64;
/**
 * New buffers are carved from slabs of this size: a fresh small ArrayBuffer that stays alive
 * costs tens of microseconds here (backing store, external-memory GC pressure), a piece of a
 * slab a few. A slab is freed once none of its pieces is cached, spare or in use.
 */
const SLAB = 256 * 1024;

export class BlockCache {
  private head: CacheEntry | null = null;
  private tail: CacheEntry | null = null;
  private used = 0;
  hits = 0;
  misses = 0;
  /**
   * Buffers of evicted recyclable blocks, by size in BUF_UNITs. A miss reads into one of these
   * instead of a new ArrayBuffer: a fresh 4 KiB typed array costs more than the read itself
   * (allocation, zero fill, first-touch page faults, external-memory GC pressure).
   */
  private readonly spare = new Map<number, Uint8Array[]>();
  private slab: Uint8Array = new Uint8Array(0);
  private slabAt = 0;

  constructor(readonly capacity: number) {}

  private unlink(e: CacheEntry): void {
    if (e.prev !== null) e.prev.next = e.next;
    else this.head = e.next;
    if (e.next !== null) e.next.prev = e.prev;
    else this.tail = e.prev;
    e.prev = e.next = null;
  }

  private pushFront(e: CacheEntry): void {
    e.next = this.head;
    if (this.head !== null) this.head.prev = e;
    this.head = e;
    if (this.tail === null) this.tail = e;
  }

  /** The block under `offset` (made most recently used; no longer recyclable), or undefined. */
  get(owner: Map<number, CacheEntry>, offset: number): Uint8Array | undefined {
    const e = this.entry(owner, offset);
    if (e === undefined) return undefined;
    e.recyclable = false;
    return e.block;
  }

  /** The entry under `offset`, made most recently used, or undefined. */
  entry(owner: Map<number, CacheEntry>, offset: number): CacheEntry | undefined {
    const e = owner.get(offset);
    if (e === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    if (this.head !== e) {
      this.unlink(e);
      this.pushFront(e);
    }
    return e;
  }

  /**
   * A buffer of at least `size` bytes for a block about to be read and passed to `set` with
   * recyclable true: a spare one if there is one, else a new one rounded up to BUF_UNIT.
   */
  take(size: number): Uint8Array {
    const units = Math.ceil(size / BUF_UNIT);
    const list = this.spare.get(units);
    if (list !== undefined && list.length > 0) return list.pop()!;
    const bytes = units * BUF_UNIT;
    if (bytes > SLAB >>> 2) return new Uint8Array(bytes);
    if (this.slabAt + bytes > this.slab.length) {
      this.slab = new Uint8Array(SLAB);
      this.slabAt = 0;
    }
    const buf = this.slab.subarray(this.slabAt, this.slabAt + bytes);
    this.slabAt += bytes;
    return buf;
  }

  /**
   * Caches `block` (a view of `buf`, which is what the budget counts) under `offset`. With
   * `recyclable`, `buf` came from `take` and the caller promises that nothing but synchronous
   * point reads will look at the block until `get` hands it out.
   */
  set(owner: Map<number, CacheEntry>, offset: number, block: Uint8Array, buf: Uint8Array = block, recyclable = false): CacheEntry | undefined {
    if (buf.length > this.capacity) return undefined;
    const old = owner.get(offset);
    if (old !== undefined) {
      this.unlink(old);
      owner.delete(offset);
      this.release(old);
    }
    const e = new CacheEntry(owner, offset, block, buf, recyclable);
    owner.set(offset, e);
    this.pushFront(e);
    this.used += buf.length;
    while (this.used > this.capacity && this.tail !== null) {
      const victim = this.tail;
      this.unlink(victim);
      victim.owner.delete(victim.offset);
      this.release(victim);
    }
    return e;
  }

  /** Accounts for an entry that left the cache and keeps its buffer if nothing can see it. */
  private release(e: CacheEntry): void {
    this.used -= e.buf.length;
    if (!e.recyclable) return;
    const units = e.buf.length / BUF_UNIT;
    let list = this.spare.get(units);
    if (list === undefined) this.spare.set(units, (list = []));
    if (list.length < MAX_SPARE) list.push(e.buf);
  }

  /** Drops every block of one table (closed or deleted). */
  drop(owner: Map<number, CacheEntry>): void {
    for (const e of owner.values()) {
      this.unlink(e);
      this.release(e);
    }
    owner.clear();
  }

  get bytes(): number {
    return this.used;
  }
}
