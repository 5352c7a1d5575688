import type { ColumnFamily } from './column-family.js';
import type { WriteBatch } from './write-batch.js';
import type { EntryBatch } from './entry-batch.js';

/** Bounds of an iterator: lower inclusive, upper exclusive; either may be omitted. */
export interface IterOptions {
  readonly lower?: Uint8Array;
  readonly upper?: Uint8Array;
}

/**
 * A cursor over one column family, in key order, restricted to its bounds.
 * A new iterator is unpositioned (`valid()` false). Positioning calls leave it either on an
 * entry (`valid()` true) or off the end. A seek target outside the bounds is clamped to them:
 * `seek` below `lower` lands on the first entry in bounds, `seekForPrev` at or above `upper`
 * on the last one. `key()` / `value()` may only be called while valid (otherwise they throw a
 * TypeError, as does any call after `close()`); the returned arrays must not be mutated.
 */
export interface EngineIterator {
  /** First entry with key >= `key`. */
  seek(key: Uint8Array): boolean;
  /** Last entry with key <= `key`. */
  seekForPrev(key: Uint8Array): boolean;
  first(): boolean;
  last(): boolean;
  next(): boolean;
  prev(): boolean;
  valid(): boolean;
  key(): Uint8Array;
  value(): Uint8Array;
  /**
   * Optional batch read (engines that declare `capabilities.batchRead`): copies up to `max`
   * (<= out.capacity) entries from the current one on into `out`, packed back to back
   * (PackedEntries), moves to the entry after the last one copied (or off the end), and returns
   * the count (0 when not valid). Callers use `readEntries` (./entry-batch.ts), which falls back
   * to key()/value()/next() for iterators without it, with the same result.
   */
  readBatch?(out: EntryBatch, max: number): number;
  /** Releases resources held by the iterator; further calls throw. Idempotent. */
  close(): void;
}

/** The read role: synchronous point reads and iterators. */
export interface EngineReader {
  get(cf: ColumnFamily, key: Uint8Array): Uint8Array | undefined;
  /**
   * An engine iterator reads a consistent view taken when it is created: writes that land
   * later are invisible to it, as if it held its own snapshot (RocksDB's implicit iterator
   * snapshot). Without this a scan could see half of a batch that lands between two `next()`s.
   */
  iterator(cf: ColumnFamily, options?: IterOptions): EngineIterator;
}

/** A consistent, isolated view: writes made after it was taken are invisible to it. */
export interface EngineSnapshot extends EngineReader {
  /** Lets the engine reclaim what only this snapshot holds. Idempotent. */
  release(): void;
}

export interface WriteOptions {
  /** Durable before the promise resolves (fsync for disk engines). */
  readonly sync?: boolean;
  /**
   * The caller hands the batch's key and value arrays over to the engine: it never changes them
   * afterwards, so the engine may keep them instead of copying (engine-memory does; others may
   * ignore it). Views into one packed buffer are the cheap way to give many small entries.
   */
  readonly handOver?: boolean;
}

/** Optional behaviour an engine declares; the conformance suite switches tests by it. */
export interface EngineCapabilities {
  /** Data survives close() and reopen of the same location. */
  readonly persistent: boolean;
  /** deleteRange is supported in write batches. */
  readonly deleteRange: boolean;
  /** Iterators implement `readBatch` (absent means false). */
  readonly batchRead?: boolean;
}

/**
 * The storage contract (DESIGN.md section 3). Reads are synchronous, writes return a promise.
 * A write batch is atomic across column families: a reader sees all of it or none of it.
 * Engines copy keys and values they keep, so callers may reuse their arrays once a write resolves.
 * Wrong argument types or an unknown column family throw a TypeError. `write` never throws
 * synchronously: it rejects, and a batch it rejects (an invalid op, or a deleteRange on an
 * engine without that capability) writes nothing.
 * `close()` is idempotent. Once it is called, every other call on the engine, its snapshots
 * and its iterators throws EngineClosedError (`write` rejects with it); only
 * `EngineSnapshot.release()` and `EngineIterator.close()` stay harmless no-ops.
 */
export interface StorageEngine extends EngineReader {
  readonly name: string;
  readonly capabilities: EngineCapabilities;
  snapshot(): EngineSnapshot;
  write(batch: WriteBatch, options?: WriteOptions): Promise<void>;
  close(): Promise<void>;
}

/** Byte-wise lexicographic order, shorter prefix first. The order of every engine. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}
