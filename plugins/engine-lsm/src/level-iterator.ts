import { compareBytes } from '@flashkv/core';
import type { InternalIterator } from './internal-iterator.js';
import type { TableEntry } from './version.js';

/**
 * Concatenates the disjoint, sorted files of one level >= 1 into one cursor, opening a
 * table's iterator only when the cursor reaches it (LevelDB's two-level "concatenating"
 * iterator): a scan over a level touches one file at a time.
 */
export class LevelIterator implements InternalIterator {
  private i = -1;
  private cur: InternalIterator | null = null;

  constructor(private readonly files: readonly TableEntry[]) {}

  private open(i: number): InternalIterator | null {
    this.cur?.close();
    this.i = i;
    this.cur = i >= 0 && i < this.files.length ? this.files[i]!.reader.iterator() : null;
    return this.cur;
  }

  /** Index of the first file whose largest key is >= pk. */
  private fileFor(pk: Uint8Array): number {
    let lo = 0;
    let hi = this.files.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareBytes(this.files[mid]!.meta.largest, pk) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private forward(): void {
    while (this.cur !== null && !this.cur.valid()) {
      const c = this.open(this.i + 1);
      c?.first();
    }
  }

  private backward(): void {
    while (this.cur !== null && !this.cur.valid()) {
      const c = this.open(this.i - 1);
      c?.last();
    }
  }

  valid(): boolean {
    return this.cur !== null && this.cur.valid();
  }

  seekGE(key: Uint8Array, seq: number): void {
    this.open(this.fileFor(key))?.seekGE(key, seq);
    this.forward();
  }

  seekLT(key: Uint8Array, seq: number): void {
    const i = Math.min(this.fileFor(key), this.files.length - 1);
    this.open(i)?.seekLT(key, seq);
    this.backward();
  }

  first(): void {
    this.open(0)?.first();
    this.forward();
  }

  last(): void {
    this.open(this.files.length - 1)?.last();
    this.backward();
  }

  next(): void {
    this.cur!.next();
    this.forward();
  }

  prev(): void {
    this.cur!.prev();
    this.backward();
  }

  key(): Uint8Array {
    return this.cur!.key();
  }
  seq(): number {
    return this.cur!.seq();
  }
  kind(): number {
    return this.cur!.kind();
  }
  value(): Uint8Array {
    return this.cur!.value();
  }
  close(): void {
    this.cur?.close();
    this.cur = null;
  }
}
