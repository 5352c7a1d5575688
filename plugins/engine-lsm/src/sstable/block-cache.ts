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
  constructor(
    readonly owner: Map<number, CacheEntry>,
    readonly offset: number,
    readonly block: Uint8Array,
  ) {}
}

export class BlockCache {
  private head: CacheEntry | null = null;
  private tail: CacheEntry | null = null;
  private used = 0;
  hits = 0;
  misses = 0;

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

  get(owner: Map<number, CacheEntry>, offset: number): Uint8Array | undefined {
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
    return e.block;
  }

  set(owner: Map<number, CacheEntry>, offset: number, block: Uint8Array): void {
    if (block.length > this.capacity) return;
    const old = owner.get(offset);
    if (old !== undefined) {
      this.unlink(old);
      this.used -= old.block.length;
    }
    const e = new CacheEntry(owner, offset, block);
    owner.set(offset, e);
    this.pushFront(e);
    this.used += block.length;
    while (this.used > this.capacity && this.tail !== null) {
      const victim = this.tail;
      this.unlink(victim);
      victim.owner.delete(victim.offset);
      this.used -= victim.block.length;
    }
  }

  /** Drops every block of one table (closed or deleted). */
  drop(owner: Map<number, CacheEntry>): void {
    for (const e of owner.values()) {
      this.unlink(e);
      this.used -= e.block.length;
    }
    owner.clear();
  }

  get bytes(): number {
    return this.used;
  }
}
