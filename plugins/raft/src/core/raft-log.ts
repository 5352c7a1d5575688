import { LogCompactedError, limitSize, type Storage } from './storage.js';
import type { Entry, Snapshot } from './types.js';

/**
 * The log as the raft core sees it: what the driver has persisted (Storage) followed by what it
 * has not yet (`unstable`: entries, or a snapshot received from the leader). `committed` and
 * `applied` are the two cursors of the Raft paper's figure 2; applied never passes committed.
 */
export class RaftLog {
  /** Entries not yet persisted; `unstable[0]` has index `unstableOffset`. */
  unstable: Entry[] = [];
  unstableOffset: number;
  /** A snapshot from the leader that the driver has not yet persisted and applied. */
  pendingSnapshot: Snapshot | undefined;
  committed: number;
  applied: number;

  constructor(readonly storage: Storage) {
    const first = storage.firstIndex();
    this.unstableOffset = storage.lastIndex() + 1;
    // What the driver persisted is at least up to the snapshot; everything before it is applied.
    this.committed = first - 1;
    this.applied = first - 1;
  }

  firstIndex(): number {
    if (this.pendingSnapshot !== undefined) return this.pendingSnapshot.metadata.index + 1;
    return this.storage.firstIndex();
  }

  lastIndex(): number {
    if (this.unstable.length > 0) return this.unstableOffset + this.unstable.length - 1;
    if (this.pendingSnapshot !== undefined) return this.pendingSnapshot.metadata.index;
    return this.storage.lastIndex();
  }

  /** The term at `index`, or undefined if it is compacted away or beyond the last entry. */
  term(index: number): number | undefined {
    const snap = this.pendingSnapshot;
    if (snap !== undefined && index === snap.metadata.index) return snap.metadata.term;
    if (index >= this.unstableOffset) {
      const e = this.unstable[index - this.unstableOffset];
      return e?.term;
    }
    if (snap !== undefined) return undefined;
    if (index < this.storage.firstIndex() - 1 || index > this.storage.lastIndex()) return undefined;
    return this.storage.term(index);
  }

  lastTerm(): number {
    const t = this.term(this.lastIndex());
    if (t === undefined) throw new Error(`raft log has no term for its own last index ${this.lastIndex()}`);
    return t;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Raft paper 5.4.1: is a candidate's log (lastIndex, lastTerm) at least as up to date as ours? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Entries in [lo, hi) with at most `maxBytes` of data (at least one), or undefined if `lo` has
   * been compacted (the leader must send a snapshot instead).
   */
  slice(lo: number, hi: number, maxBytes = Infinity): Entry[] | undefined {
    if (lo >= hi) return [];
    if (lo < this.firstIndex()) return undefined;
    const last = this.lastIndex();
    if (hi > last + 1) throw new Error(`raft log slice [${lo}, ${hi}) beyond last index ${last}`);
    let out: Entry[] = [];
    if (lo < this.unstableOffset) {
      try {
        out = this.storage.entries(lo, Math.min(hi, this.unstableOffset), maxBytes);
      } catch (e) {
        if (e instanceof LogCompactedError) return undefined;
        throw e;
      }
      // The storage cut the batch short on size: do not add unstable entries after the gap.
      if (out.length < Math.min(hi, this.unstableOffset) - lo) return out;
    }
    if (hi > this.unstableOffset) {
      const from = Math.max(lo, this.unstableOffset);
      const tail = this.unstable.slice(from - this.unstableOffset, hi - this.unstableOffset);
      out = out.length === 0 ? tail : out.concat(tail);
    }
    return limitSize(out, maxBytes);
  }

  /**
   * Follower side of AppendEntries (Raft paper fig. 2, receiver steps 2-5): if our entry at
   * `index` has `logTerm`, append `entries` after it, dropping a conflicting suffix, and advance
   * commit. Returns the last index known to match the leader, or undefined to reject.
   */
  maybeAppend(index: number, logTerm: number, commit: number, entries: readonly Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      if (conflict <= this.committed) {
        throw new Error(`raft log: entry ${conflict} conflicts with committed entry (committed ${this.committed})`);
      }
      this.append(entries.slice(conflict - (index + 1)));
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  /** The index of the first entry whose term differs from ours (or that we lack); 0 if none. */
  private findConflict(entries: readonly Entry[]): number {
    for (const e of entries) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * The largest index <= `index` whose term is <= `term`, with that term: where a leader whose
   * entry at `index` has `term` should probe next (the Raft paper's "optimization" at the end of
   * 5.3, as etcd does it). Term 0 for an index we can no longer see.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (let i = Math.min(index, this.lastIndex()); i >= 0; i--) {
      const t = this.term(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
    }
    return { index: 0, term: 0 };
  }

  /** Appends entries (dropping any unstable suffix they overwrite); returns the new last index. */
  append(entries: readonly Entry[]): number {
    if (entries.length === 0) return this.lastIndex();
    const after = entries[0]!.index;
    if (after - 1 < this.committed) {
      throw new Error(`raft log: append at ${after} would overwrite committed entries (committed ${this.committed})`);
    }
    const end = this.unstableOffset + this.unstable.length;
    if (after === end) {
      this.unstable = this.unstable.concat(entries);
    } else if (after <= this.unstableOffset) {
      // Replacing persisted entries too: the driver truncates its storage when it persists these.
      this.unstableOffset = after;
      this.unstable = entries.slice();
    } else {
      this.unstable = this.unstable.slice(0, after - this.unstableOffset).concat(entries);
    }
    return this.lastIndex();
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    if (index > this.lastIndex()) {
      throw new Error(`raft log: commit ${index} is beyond the last index ${this.lastIndex()}`);
    }
    this.committed = index;
  }

  /** Raft paper 5.4.2: a leader commits by counting replicas only entries of its own term. */
  maybeCommit(index: number, term: number): boolean {
    if (index > this.committed && this.term(index) === term) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  appliedTo(index: number): void {
    if (index === 0) return;
    if (index > this.committed || index < this.applied) {
      throw new Error(`raft log: applied ${index} outside [${this.applied}, ${this.committed}]`);
    }
    this.applied = index;
  }

  /** Committed entries not yet applied; none while a received snapshot waits to be applied. */
  nextCommittedEntries(maxBytes = Infinity): Entry[] {
    if (this.pendingSnapshot !== undefined || this.applied >= this.committed) return [];
    return this.slice(this.applied + 1, this.committed + 1, maxBytes) ?? [];
  }

  hasNextCommittedEntries(): boolean {
    return this.pendingSnapshot === undefined && this.applied < this.committed;
  }

  /** The driver persisted entries up to (index, term); they leave `unstable` if still the same. */
  stableTo(index: number, term: number): void {
    if (index < this.unstableOffset) return;
    const e = this.unstable[index - this.unstableOffset];
    if (e === undefined || e.term !== term) return;
    this.unstable = this.unstable.slice(index - this.unstableOffset + 1);
    this.unstableOffset = index + 1;
  }

  stableSnapTo(index: number): void {
    if (this.pendingSnapshot !== undefined && this.pendingSnapshot.metadata.index === index) {
      this.pendingSnapshot = undefined;
    }
  }

  /** Replaces the whole log with a snapshot from the leader (Raft paper section 7, InstallSnapshot). */
  restore(snap: Snapshot): void {
    this.committed = snap.metadata.index;
    this.pendingSnapshot = snap;
    this.unstable = [];
    this.unstableOffset = snap.metadata.index + 1;
  }

  /** The snapshot a leader sends to a follower that needs compacted entries. */
  snapshot(): Snapshot {
    return this.pendingSnapshot ?? this.storage.snapshot();
  }

  /** All entries from the first available one to the last (tests and harness invariants). */
  allEntries(): Entry[] {
    return this.slice(this.firstIndex(), this.lastIndex() + 1) ?? [];
  }
}
