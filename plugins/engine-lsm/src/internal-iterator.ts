/**
 * A cursor over internal entries (prefixed key, seq, kind, value) in internal order
 * (keys.ts `compareInternal`). Memtables, SSTs and their merge all implement it; the
 * user-facing iterator (db-iterator.ts) turns it into one visible version per key.
 * `key()` and `value()` stay valid after the cursor moves (callers may keep them).
 */
export interface InternalIterator {
  valid(): boolean;
  /** First entry >= (key, seq). */
  seekGE(key: Uint8Array, seq: number): void;
  /** Last entry < (key, seq). */
  seekLT(key: Uint8Array, seq: number): void;
  first(): void;
  last(): void;
  next(): void;
  prev(): void;
  key(): Uint8Array;
  seq(): number;
  kind(): number;
  value(): Uint8Array;
  close(): void;
}
