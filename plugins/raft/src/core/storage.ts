import type { ConfState, Entry, HardState, Snapshot } from './types.js';
import { EMPTY_HARD_STATE } from './types.js';

/**
 * Thrown by a Storage asked for entries or a term below its first index: the caller (the leader's
 * replication) falls back to sending a snapshot. Internal to raft, so not a KvError.
 */
export class LogCompactedError extends Error {
  constructor(readonly index: number, readonly firstIndex: number) {
    super(`raft log index ${index} is compacted (first index ${firstIndex})`);
    this.name = 'LogCompactedError';
  }
}

/** Thrown for an index above the last one a Storage holds: a driver bug, never a normal path. */
export class LogUnavailableError extends Error {
  constructor(readonly index: number, readonly lastIndex: number) {
    super(`raft log index ${index} is unavailable (last index ${lastIndex})`);
    this.name = 'LogUnavailableError';
  }
}

export interface InitialState {
  readonly hardState: HardState;
  readonly confState: ConfState;
}

/**
 * The raft core's read-only view of what the driver has persisted (etcd's Storage interface).
 * The core never writes to it: the driver appends the entries, hard state and snapshot a Ready
 * hands out, then calls `advance`. Indexes below `firstIndex()` are folded into `snapshot()`;
 * `term(firstIndex() - 1)` is still answered (it is the snapshot's term), because the entry
 * before the first one is needed to check log matching.
 */
export interface Storage {
  initialState(): InitialState;
  /** Entries in [lo, hi), at most `maxBytes` of data (always at least one if the range is non-empty). */
  entries(lo: number, hi: number, maxBytes?: number): Entry[];
  term(index: number): number;
  firstIndex(): number;
  lastIndex(): number;
  snapshot(): Snapshot;
}

const EMPTY_CONF: ConfState = Object.freeze({ voters: Object.freeze([]), learners: Object.freeze([]) });

/**
 * Storage kept in memory, for tests, the simulation harness and as the reference other storages
 * are compared with. `ents[0]` is a dummy holding the index and term of the last compacted entry
 * (the snapshot's), so `term(firstIndex - 1)` needs no special case.
 */
export class MemoryStorage implements Storage {
  private hard: HardState = EMPTY_HARD_STATE;
  private snap: Snapshot;
  private ents: Entry[];

  constructor(initial?: { readonly confState?: ConfState }) {
    this.snap = { metadata: { index: 0, term: 0, confState: initial?.confState ?? EMPTY_CONF }, data: new Uint8Array(0) };
    this.ents = [dummy(0, 0)];
  }

  initialState(): InitialState {
    return { hardState: this.hard, confState: this.snap.metadata.confState };
  }

  setHardState(hs: HardState): void {
    this.hard = hs;
  }

  hardState(): HardState {
    return this.hard;
  }

  private offset(): number {
    return this.ents[0]!.index;
  }

  firstIndex(): number {
    return this.offset() + 1;
  }

  lastIndex(): number {
    return this.offset() + this.ents.length - 1;
  }

  term(index: number): number {
    const off = this.offset();
    if (index < off) throw new LogCompactedError(index, off + 1);
    if (index > this.lastIndex()) throw new LogUnavailableError(index, this.lastIndex());
    return this.ents[index - off]!.term;
  }

  entries(lo: number, hi: number, maxBytes = Infinity): Entry[] {
    const off = this.offset();
    if (lo <= off) throw new LogCompactedError(lo, off + 1);
    if (hi > this.lastIndex() + 1) throw new LogUnavailableError(hi - 1, this.lastIndex());
    return limitSize(this.ents.slice(lo - off, hi - off), maxBytes);
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /**
   * Persists entries from a Ready. Entries that overlap the stored tail replace it from the first
   * overlapping index (a new leader overwrote an uncommitted suffix); entries already compacted
   * are skipped.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[entries.length - 1]!.index;
    if (last < first) return;
    const from = entries[0]!.index < first ? entries.slice(first - entries[0]!.index) : entries;
    const start = from[0]!.index;
    if (start > this.lastIndex() + 1) {
      throw new LogUnavailableError(start, this.lastIndex());
    }
    this.ents = this.ents.slice(0, start - this.offset()).concat(from);
  }

  /** Replaces everything with a snapshot received from the leader. */
  applySnapshot(snap: Snapshot): void {
    if (snap.metadata.index <= this.snap.metadata.index) return;
    this.snap = snap;
    this.ents = [dummy(snap.metadata.index, snap.metadata.term)];
  }

  /**
   * Records a snapshot of the driver's state machine as of applied index `index`, so a leader can
   * send it to a follower whose next entry has been compacted away.
   */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.snap.metadata.index) return this.snap;
    if (index > this.lastIndex()) throw new LogUnavailableError(index, this.lastIndex());
    this.snap = { metadata: { index, term: this.term(index), confState }, data };
    return this.snap;
  }

  /** Drops entries up to and including `compactIndex` (which must be covered by a snapshot or be applied). */
  compact(compactIndex: number): void {
    const off = this.offset();
    if (compactIndex <= off) return;
    if (compactIndex > this.lastIndex()) throw new LogUnavailableError(compactIndex, this.lastIndex());
    const keep = this.ents[compactIndex - off]!;
    this.ents = [dummy(keep.index, keep.term)].concat(this.ents.slice(compactIndex - off + 1));
  }
}

function dummy(index: number, term: number): Entry {
  return { index, term, type: 'normal', data: new Uint8Array(0) };
}

/** Cuts `ents` to at most `maxBytes` of data, keeping at least the first entry. */
export function limitSize(ents: Entry[], maxBytes: number): Entry[] {
  if (ents.length <= 1 || maxBytes === Infinity) return ents;
  let size = ents[0]!.data.length;
  for (let i = 1; i < ents.length; i++) {
    size += ents[i]!.data.length;
    if (size > maxBytes) return ents.slice(0, i);
  }
  return ents;
}
