/**
 * An LRU cache of decoded blocks with a byte budget, shared by all tables of an engine.
 * A Map keeps insertion order, so "touch" is delete + set and eviction takes the first key.
 */
export class BlockCache {
  private readonly map = new Map<number, Uint8Array>();
  private used = 0;
  hits = 0;
  misses = 0;

  constructor(readonly capacity: number) {}

  /** file * 2^32 + offset: exact as a double while tables stay under 4 GiB and file numbers under 2^21. */
  static key(file: number, offset: number): number {
    return file * 0x100000000 + offset;
  }

  get(key: number): Uint8Array | undefined {
    const b = this.map.get(key);
    if (b === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.map.delete(key);
    this.map.set(key, b);
    return b;
  }

  set(key: number, block: Uint8Array): void {
    if (block.length > this.capacity) return;
    const old = this.map.get(key);
    if (old !== undefined) {
      this.used -= old.length;
      this.map.delete(key);
    }
    this.map.set(key, block);
    this.used += block.length;
    while (this.used > this.capacity) {
      const first = this.map.keys().next().value as number;
      this.used -= this.map.get(first)!.length;
      this.map.delete(first);
    }
  }

  /** Drops every block of a deleted file. */
  evictFile(file: number): void {
    const lo = file * 0x100000000;
    const hi = lo + 0x100000000;
    for (const [k, b] of this.map) {
      if (k >= lo && k < hi) {
        this.used -= b.length;
        this.map.delete(k);
      }
    }
  }

  get bytes(): number {
    return this.used;
  }
}
