// @hot-path
import { CorruptedError } from '@flashkv/core';
import { ByteWriter, getU32, putVarint } from '../coding.js';
import { compareEncoded, compareEncodedAt } from './internal-key.js';

/**
 * Block encoding (LevelDB's block_builder): entries
 *   shared varint | unshared varint | value length varint | key[shared..] | value
 * where `shared` is the prefix length shared with the previous key; every `restartInterval`
 * entries the full key is stored (shared = 0) and its offset recorded, so a reader binary
 * searches restart points and then scans at most one interval. Trailer:
 *   restart offsets u32 LE * n | n u32 LE
 */
export class BlockBuilder {
  private readonly out = new ByteWriter(8192);
  private readonly restarts: number[] = [0];
  private counter = 0;
  private last = new Uint8Array(256);
  private lastLen = 0;
  entries = 0;

  constructor(private readonly restartInterval: number) {}

  /** Keys must arrive in increasing internal order. */
  add(key: Uint8Array, keyLen: number, value: Uint8Array): void {
    let shared = 0;
    if (this.counter < this.restartInterval) {
      const n = keyLen < this.lastLen ? keyLen : this.lastLen;
      while (shared < n && key[shared] === this.last[shared]) shared++;
    } else {
      this.restarts.push(this.out.len);
      this.counter = 0;
    }
    const w = this.out;
    w.ensure(30 + keyLen - shared + value.length);
    w.len = putVarint(w.buf, w.len, shared);
    w.len = putVarint(w.buf, w.len, keyLen - shared);
    w.len = putVarint(w.buf, w.len, value.length);
    w.buf.set(key.subarray(shared, keyLen), w.len);
    w.len += keyLen - shared;
    w.buf.set(value, w.len);
    w.len += value.length;
    if (this.last.length < keyLen) this.last = new Uint8Array(keyLen * 2);
    this.last.set(key.subarray(0, keyLen), 0);
    this.lastLen = keyLen;
    this.counter++;
    this.entries++;
  }

  estimatedSize(): number {
    return this.out.len + 4 * this.restarts.length + 4;
  }

  empty(): boolean {
    return this.entries === 0;
  }

  /** The finished block bytes; the builder is reset for the next block. */
  finish(): Uint8Array {
    for (const r of this.restarts) this.out.u32(r);
    this.out.u32(this.restarts.length);
    const block = this.out.take();
    this.out.reset();
    this.restarts.length = 1;
    this.restarts[0] = 0;
    this.counter = 0;
    this.lastLen = 0;
    this.entries = 0;
    return block;
  }
}

/**
 * A cursor over one decoded block. The key of the current entry is reconstructed into a
 * reusable buffer (`keyBuf[0, keyLen)`), the value is a view into the block.
 */
export class BlockIter {
  private numRestarts = 0;
  private restartsAt = 0;
  /** Offset of the current entry; `restartsAt` when not positioned (past the end). */
  private cur: number;
  private nextAt = 0;
  keyBuf = new Uint8Array(64);
  keyLen = 0;
  valueStart = 0;
  valueEnd = 0;

  data: Uint8Array;

  constructor(
    data: Uint8Array,
    private where: string,
  ) {
    this.data = data;
    this.cur = 0;
    this.reset(data, where);
  }

  /** Points this iterator at another block (reads reuse one iterator instead of allocating). */
  reset(data: Uint8Array, where: string): void {
    this.data = data;
    this.where = where;
    if (data.length < 4) this.bad('block shorter than its trailer');
    this.numRestarts = getU32(data, data.length - 4);
    this.restartsAt = data.length - 4 - 4 * this.numRestarts;
    if (this.numRestarts === 0 || this.restartsAt < 0) this.bad('bad restart count');
    this.cur = this.restartsAt;
    this.keyLen = 0;
  }

  /**
   * Compares the full key stored at restart point i with (pk, seq) in place: restart entries
   * share nothing with their predecessor, so the key is contiguous in the block.
   */
  private compareRestart(i: number, pk: Uint8Array, seq: number): number {
    const d = this.data;
    let at = this.restartPoint(i);
    // shared is 0 at a restart point: one byte.
    if (d[at] !== 0) this.bad('restart entry with a shared prefix');
    at++;
    let unshared = 0;
    let mul = 1;
    for (;;) {
      const b = d[at++]!;
      unshared += (b & 0x7f) * mul;
      if (b < 0x80) break;
      mul *= 128;
    }
    while (d[at++]! >= 0x80) {
      // skip the value length varint
    }
    if (at + unshared > this.restartsAt) this.bad('restart entry runs past the block');
    return compareEncodedAt(d, at, unshared, pk, seq);
  }

  private bad(why: string): never {
    throw new CorruptedError(`${this.where}: ${why}`, { where: this.where, reason: why });
  }

  valid(): boolean {
    return this.cur < this.restartsAt;
  }

  private restartPoint(i: number): number {
    return getU32(this.data, this.restartsAt + 4 * i);
  }

  private varint(p: { v: number }): number {
    // Inline varint decode over this.nextAt.
    const d = this.data;
    let at = this.nextAt;
    let result = 0;
    let mul = 1;
    for (;;) {
      if (at >= this.restartsAt) this.bad('entry runs into the restart array');
      const b = d[at++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) break;
      mul *= 128;
    }
    this.nextAt = at;
    p.v = result;
    return result;
  }

  private readonly tmp = { v: 0 };

  /** Decodes the entry at `nextAt` into the current position. */
  private parseNext(): boolean {
    this.cur = this.nextAt;
    if (this.cur >= this.restartsAt) {
      this.cur = this.restartsAt;
      return false;
    }
    const shared = this.varint(this.tmp);
    const unshared = this.varint(this.tmp);
    const vlen = this.varint(this.tmp);
    const kAt = this.nextAt;
    if (shared > this.keyLen || kAt + unshared + vlen > this.restartsAt) this.bad('entry lengths run past the block');
    const klen = shared + unshared;
    if (this.keyBuf.length < klen) {
      const nb = new Uint8Array(klen * 2);
      nb.set(this.keyBuf.subarray(0, shared));
      this.keyBuf = nb;
    }
    // Short key suffixes are copied by a loop: a subarray view plus a native set() per entry
    // costs more than the bytes themselves, and a seek decodes up to a restart interval of them.
    const kb = this.keyBuf;
    if (unshared <= 64) {
      const d = this.data;
      for (let i = 0; i < unshared; i++) kb[shared + i] = d[kAt + i]!;
    } else {
      kb.set(this.data.subarray(kAt, kAt + unshared), shared);
    }
    this.keyLen = klen;
    this.valueStart = kAt + unshared;
    this.valueEnd = this.valueStart + vlen;
    this.nextAt = this.valueEnd;
    return true;
  }

  private seekToRestart(i: number): void {
    this.keyLen = 0;
    this.nextAt = this.restartPoint(i);
  }

  first(): void {
    this.seekToRestart(0);
    this.parseNext();
  }

  last(): void {
    this.seekToRestart(this.numRestarts - 1);
    let lastAt = -1;
    while (this.parseNext()) lastAt = this.cur;
    if (lastAt >= 0) this.positionAt(lastAt);
  }

  next(): void {
    this.parseNext();
  }

  /** Re-decodes forward from the enclosing restart point to the entry at `target`. */
  private positionAt(target: number): void {
    let lo = 0;
    let hi = this.numRestarts - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.restartPoint(mid) <= target) lo = mid;
      else hi = mid - 1;
    }
    this.seekToRestart(lo);
    while (this.parseNext() && this.cur < target) {
      // scan
    }
  }

  prev(): void {
    const original = this.cur;
    if (original === this.restartPoint(0)) {
      this.cur = this.restartsAt;
      return;
    }
    // Find the last restart point before the current entry, then scan to the entry before it.
    let lo = 0;
    let hi = this.numRestarts - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.restartPoint(mid) < original) lo = mid;
      else hi = mid - 1;
    }
    this.seekToRestart(lo);
    let prevAt = -1;
    while (this.parseNext() && this.cur < original) prevAt = this.cur;
    this.positionAt(prevAt);
  }

  /** First entry >= (pk, seq). */
  seekGE(pk: Uint8Array, seq: number): void {
    // Binary search for the last restart point whose key is < target.
    let lo = 0;
    let hi = this.numRestarts - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.compareRestart(mid, pk, seq) < 0) lo = mid;
      else hi = mid - 1;
    }
    this.seekToRestart(lo);
    while (this.parseNext()) {
      if (compareEncoded(this.keyBuf, this.keyLen, pk, seq) >= 0) return;
    }
  }

  /** Last entry < (pk, seq). */
  seekLT(pk: Uint8Array, seq: number): void {
    this.seekGE(pk, seq);
    if (this.valid()) this.prev();
    else this.last();
  }

  value(): Uint8Array {
    return this.data.subarray(this.valueStart, this.valueEnd);
  }
}
