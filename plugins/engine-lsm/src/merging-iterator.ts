import { compareInternal } from './keys.js';
import type { InternalIterator } from './internal-iterator.js';

/**
 * Merges children (memtables newest first, then SSTs) into one internal-order cursor, in both
 * directions (LevelDB's MergingIterator). Internal keys are unique across children (a key
 * version lives in exactly one table of a read state), so no tie-breaking is needed. Children
 * are few (memtables + L0 files + one per level), so a linear scan beats a heap's bookkeeping.
 */
export class MergingIterator implements InternalIterator {
  private cur: InternalIterator | null = null;
  private forward = true;

  constructor(private readonly children: InternalIterator[]) {}

  private smallest(): void {
    let best: InternalIterator | null = null;
    for (const c of this.children) {
      if (c.valid() && (best === null || compareInternal(c.key(), c.seq(), best.key(), best.seq()) < 0)) best = c;
    }
    this.cur = best;
  }

  private largest(): void {
    let best: InternalIterator | null = null;
    for (const c of this.children) {
      if (c.valid() && (best === null || compareInternal(c.key(), c.seq(), best.key(), best.seq()) > 0)) best = c;
    }
    this.cur = best;
  }

  valid(): boolean {
    return this.cur !== null;
  }

  seekGE(key: Uint8Array, seq: number): void {
    for (const c of this.children) c.seekGE(key, seq);
    this.forward = true;
    this.smallest();
  }

  seekLT(key: Uint8Array, seq: number): void {
    for (const c of this.children) c.seekLT(key, seq);
    this.forward = false;
    this.largest();
  }

  first(): void {
    for (const c of this.children) c.first();
    this.forward = true;
    this.smallest();
  }

  last(): void {
    for (const c of this.children) c.last();
    this.forward = false;
    this.largest();
  }

  next(): void {
    const cur = this.cur!;
    if (!this.forward) {
      // Other children sit before the current key; move each to its first entry after it.
      const k = cur.key();
      const s = cur.seq();
      for (const c of this.children) {
        if (c === cur) continue;
        c.seekGE(k, s);
        if (c.valid() && compareInternal(c.key(), c.seq(), k, s) === 0) c.next();
      }
      this.forward = true;
    }
    cur.next();
    this.smallest();
  }

  prev(): void {
    const cur = this.cur!;
    if (this.forward) {
      const k = cur.key();
      const s = cur.seq();
      for (const c of this.children) {
        if (c === cur) continue;
        c.seekLT(k, s);
      }
      this.forward = false;
    }
    cur.prev();
    this.largest();
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
    for (const c of this.children) c.close();
    this.cur = null;
  }
}
