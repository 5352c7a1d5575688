import { KvError, type StorageEngine, type WriteBatch } from '@flashkv/core';
import { limitSize } from '../core/storage.js';
import { LogUnavailableError, LogCompactedError, type Entry, type HardState, type InitialState, type Snapshot, type Storage } from '../core/index.js';
import { decodeEntry, encodeEntry, type ApplyState } from './codec.js';

/**
 * Raft storage whose log above the truncation point (`apply.truncatedIndex`/`truncatedTerm`) is
 * held in memory as well as in the engine's raft CF, so the core's synchronous reads never touch
 * the engine. Writes are staged into the caller's batch and made visible in memory only once that
 * batch landed (`commit*`), so memory never runs ahead of the disk. A region peer's storage
 * (`PeerStorage`) and the meta group's (`MetaStorage`) differ only in their log keys, their
 * membership and what a snapshot holds.
 */
export abstract class InMemoryLogStorage implements Storage {
  protected ents: Entry[];
  /** The last snapshot built, reused while nothing more is applied; dropped by `resetTo`. */
  protected cachedSnap: Snapshot | undefined;

  constructor(
    public hard: HardState,
    public apply: ApplyState,
    entries: Entry[],
  ) {
    this.ents = entries;
  }

  abstract initialState(): InitialState;
  abstract snapshot(): Snapshot;
  /** The raft-CF key of the log entry at `index`. */
  protected abstract logKeyAt(index: number): Uint8Array;

  firstIndex(): number {
    return this.apply.truncatedIndex + 1;
  }

  lastIndex(): number {
    return this.apply.truncatedIndex + this.ents.length;
  }

  term(index: number): number {
    const t = this.apply.truncatedIndex;
    if (index === t) return this.apply.truncatedTerm;
    if (index < t) throw new LogCompactedError(index, t + 1);
    if (index > this.lastIndex()) throw new LogUnavailableError(index, this.lastIndex());
    return this.ents[index - t - 1]!.term;
  }

  entries(lo: number, hi: number, maxBytes = Infinity): Entry[] {
    const t = this.apply.truncatedIndex;
    if (lo <= t) throw new LogCompactedError(lo, t + 1);
    if (hi > this.lastIndex() + 1) throw new LogUnavailableError(hi - 1, this.lastIndex());
    return limitSize(this.ents.slice(lo - t - 1, hi - t - 1), maxBytes);
  }

  /** Stages entries from a Ready: overlapping stored entries from the first new index on are replaced. */
  stageAppend(entries: readonly Entry[], batch: WriteBatch): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const keep = entries.filter((e) => e.index >= first);
    if (keep.length === 0) return;
    const start = keep[0]!.index;
    if (start > this.lastIndex() + 1) throw new LogUnavailableError(start, this.lastIndex());
    const newLast = keep[keep.length - 1]!.index;
    // Entries past the new tail belong to an overwritten suffix: remove them from disk too.
    if (this.lastIndex() > newLast) batch.deleteRange('raft', this.logKeyAt(newLast + 1), this.logKeyAt(this.lastIndex() + 1));
    for (const e of keep) batch.put('raft', this.logKeyAt(e.index), encodeEntry(e));
  }

  /** Makes entries staged by `stageAppend` visible, once their batch is written. */
  commitAppend(entries: readonly Entry[]): void {
    const first = this.firstIndex();
    const keep = entries.filter((e) => e.index >= first);
    if (keep.length === 0) return;
    const start = keep[0]!.index;
    this.ents = this.ents.slice(0, start - first).concat(keep);
  }

  /** Drops log entries up to `index` (applied) from memory; returns the new apply state for the caller to stage. */
  compactTo(index: number): ApplyState {
    const term = this.term(index);
    this.ents = this.ents.slice(index - this.apply.truncatedIndex);
    this.apply = { applied: this.apply.applied, truncatedIndex: index, truncatedTerm: term };
    return this.apply;
  }

  /** Replaces the whole log with a received snapshot's position. */
  resetTo(index: number, term: number): void {
    this.ents = [];
    this.apply = { applied: index, truncatedIndex: index, truncatedTerm: term };
    this.cachedSnap = undefined;
  }
}

/**
 * Reads the log entries above `truncatedIndex` from the raft CF keys in [lower, upper), whose last
 * 8 bytes are the index (big-endian); a missing index is CORRUPTED (`what` names the log).
 */
export function loadLog(engine: StorageEngine, lower: Uint8Array, upper: Uint8Array, truncatedIndex: number, what: string, details: Record<string, unknown> = {}): Entry[] {
  const entries: Entry[] = [];
  const it = engine.iterator('raft', { lower, upper });
  try {
    for (let ok = it.first(); ok; ok = it.next()) {
      const k = it.key();
      const index = Number(new DataView(k.buffer, k.byteOffset, k.byteLength).getBigUint64(k.byteLength - 8));
      if (index <= truncatedIndex) continue;
      if (index !== truncatedIndex + entries.length + 1) throw new KvError('CORRUPTED', `${what} has a gap before index ${index}`, { ...details, index });
      entries.push(decodeEntry(index, it.value()));
    }
  } finally {
    it.close();
  }
  return entries;
}
