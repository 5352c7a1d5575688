// @hot-path
import type { EngineIterator } from './engine.js';

/**
 * Entries read from an iterator in one call, packed back to back in one buffer: entry i's key is
 * `data.subarray(offsets[2i], offsets[2i + 1])` and its value
 * `data.subarray(offsets[2i + 1], offsets[2i + 2])`; `offsets.length >= 2 * count + 1`.
 * Offsets need not start at 0 (a sub-batch may share a parent's offsets).
 */
export interface PackedEntries {
  readonly data: Uint8Array;
  readonly offsets: Uint32Array;
  readonly count: number;
}

/**
 * A reusable, growable PackedEntries that `EngineIterator.readBatch` fills (offsets from 0).
 * `capacity` is the most entries one fill may hold; `data` grows (doubling, keeping what was
 * written) when an entry does not fit.
 */
export class EntryBatch implements PackedEntries {
  data: Uint8Array;
  readonly offsets: Uint32Array;
  count = 0;
  readonly capacity: number;

  constructor(capacity: number, initialBytes = 16 * 1024) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new TypeError(`EntryBatch: capacity must be a positive integer, got ${capacity}`);
    if (!Number.isInteger(initialBytes) || initialBytes < 0) throw new TypeError('EntryBatch: initialBytes must be a non-negative integer');
    this.capacity = capacity;
    this.data = new Uint8Array(initialBytes);
    this.offsets = new Uint32Array(2 * capacity + 1);
  }

  /** Makes `data` at least `bytes` long, keeping its first `keep` bytes. Returns the new buffer. */
  grow(bytes: number, keep: number): Uint8Array {
    if (bytes <= this.data.length) return this.data;
    let size = Math.max(this.data.length * 2, 1024);
    while (size < bytes) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.data.subarray(0, keep));
    this.data = grown;
    return grown;
  }

  key(i: number): Uint8Array {
    return this.data.subarray(this.offsets[2 * i]!, this.offsets[2 * i + 1]!);
  }

  value(i: number): Uint8Array {
    return this.data.subarray(this.offsets[2 * i + 1]!, this.offsets[2 * i + 2]!);
  }
}

/**
 * Copies up to `max` (<= out.capacity) entries, starting at the iterator's current entry, into
 * `out`, and leaves the iterator on the entry after the last one copied (or not valid when the
 * range ran out). Returns the count, also in `out.count`; 0 when the iterator is not valid.
 * Uses the iterator's own `readBatch` when the engine offers it, else key()/value()/next().
 */
export function readEntries(it: EngineIterator, out: EntryBatch, max: number = out.capacity): number {
  if (!Number.isInteger(max) || max < 0 || max > out.capacity) throw new RangeError(`readEntries: max ${max} is outside 0..${out.capacity}`);
  if (it.readBatch !== undefined) return it.readBatch(out, max);
  return readEntriesGeneric(it, out, max);
}

/** The fallback of `readEntries` for iterators without `readBatch` (any engine). */
export function readEntriesGeneric(it: EngineIterator, out: EntryBatch, max: number): number {
  return copyEntries(it, out, max, false);
}

/**
 * As `readEntriesGeneric`, backwards: up to `max` entries from the iterator's current entry into
 * `out` in descending key order, leaving the iterator on the entry below the last one read (or
 * not valid).
 */
export function readEntriesBackward(it: EngineIterator, out: EntryBatch, max: number): number {
  return copyEntries(it, out, max, true);
}

function copyEntries(it: EngineIterator, out: EntryBatch, max: number, backward: boolean): number {
  const offsets = out.offsets;
  let data = out.data;
  let at = 0;
  let n = 0;
  offsets[0] = 0;
  for (let ok = max > 0 && it.valid(); ok; ) {
    const k = it.key();
    const v = it.value();
    const need = at + k.length + v.length;
    if (need > data.length) data = out.grow(need, at);
    data.set(k, at);
    at += k.length;
    offsets[2 * n + 1] = at;
    data.set(v, at);
    at = need;
    n++;
    offsets[2 * n] = at;
    ok = (backward ? it.prev() : it.next()) && n < max;
  }
  out.count = n;
  return n;
}
