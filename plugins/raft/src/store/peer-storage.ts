import type { Region, StorageEngine, WriteBatch } from '@flashkv/core';
import { limitSize } from '../core/storage.js';
import { LogCompactedError, LogUnavailableError, type ConfState, type Entry, type HardState, type InitialState, type Snapshot, type Storage } from '../core/index.js';
import { DATA_CFS, applyStateKey, dataRange, decodeApplyState, decodeRegionState, encodeEntry as encodeEntryBytes, encodeSnapshotData, logKey, logRange, regionStateKey, type ApplyState } from './codec.js';

/** The membership raft sees is the region's peer list (conf changes would edit both together). */
export function confStateOf(region: Region): ConfState {
  return {
    voters: region.peers.filter((p) => p.role === 'voter').map((p) => p.id),
    learners: region.peers.filter((p) => p.role === 'learner').map((p) => p.id),
  };
}

/**
 * A region peer's raft storage over the engine's raft CF, with the log kept in memory as well
 * (the store loads it at open), so the core's synchronous reads never touch the engine. Writes
 * are staged into the caller's batch and made visible in memory only once that batch landed
 * (`commit*`), so memory never runs ahead of the disk.
 */
export class PeerStorage implements Storage {
  private ents: Entry[];
  private cachedSnap: Snapshot | undefined;

  constructor(
    private readonly engine: StorageEngine,
    readonly regionId: number,
    private region: () => Region,
    public hard: HardState,
    public apply: ApplyState,
    entries: Entry[],
  ) {
    this.ents = entries;
  }

  initialState(): InitialState {
    return { hardState: this.hard, confState: confStateOf(this.region()) };
  }

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

  /**
   * A snapshot of the region as of what is applied on disk: the region state, the apply state
   * and every data key in the range are read from one engine snapshot, so they agree.
   */
  snapshot(): Snapshot {
    const snap = this.engine.snapshot();
    try {
      const applyBytes = snap.get('raft', applyStateKey(this.regionId));
      const regionBytes = snap.get('raft', regionStateKey(this.regionId));
      if (!applyBytes || !regionBytes) throw new Error(`raft store: region ${this.regionId} has no persisted state to snapshot`);
      const applied = decodeApplyState(applyBytes).applied;
      if (this.cachedSnap && this.cachedSnap.metadata.index === applied) return this.cachedSnap;
      const region = decodeRegionState(regionBytes).region;
      const [lower, upper] = dataRange(region);
      const cfs = DATA_CFS.map((cf) => {
        const kvs: [Uint8Array, Uint8Array][] = [];
        const it = snap.iterator(cf, { lower, upper });
        try {
          for (let ok = it.first(); ok; ok = it.next()) kvs.push([it.key().slice(), it.value().slice()]);
        } finally {
          it.close();
        }
        return kvs;
      });
      this.cachedSnap = { metadata: { index: applied, term: this.term(applied), confState: confStateOf(region) }, data: encodeSnapshotData(region, cfs) };
      return this.cachedSnap;
    } finally {
      snap.release();
    }
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
    if (this.lastIndex() > newLast) batch.deleteRange('raft', logKey(this.regionId, newLast + 1), logKey(this.regionId, this.lastIndex() + 1));
    for (const e of keep) batch.put('raft', logKey(this.regionId, e.index), encodeEntryBytes(e));
  }

  commitAppend(entries: readonly Entry[]): void {
    const first = this.firstIndex();
    const keep = entries.filter((e) => e.index >= first);
    if (keep.length === 0) return;
    const start = keep[0]!.index;
    this.ents = this.ents.slice(0, start - first).concat(keep);
  }

  /** Drops log entries up to `index` (applied), staging the deletes and the new apply state. */
  compactTo(index: number): ApplyState {
    const term = this.term(index);
    const t = this.apply.truncatedIndex;
    this.ents = this.ents.slice(index - t);
    this.apply = { applied: this.apply.applied, truncatedIndex: index, truncatedTerm: term };
    return this.apply;
  }

  /** Replaces the whole log with a received snapshot's position. */
  resetTo(index: number, term: number): void {
    this.ents = [];
    this.apply = { applied: index, truncatedIndex: index, truncatedTerm: term };
    this.cachedSnap = undefined;
  }

  logRange(): [Uint8Array, Uint8Array] {
    return logRange(this.regionId);
  }
}
