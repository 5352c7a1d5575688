/**
 * The leader's view of one follower (etcd's tracker.Progress). Flow control has three states:
 * - probe: we do not know where the follower's log matches ours; send one append and wait for
 *   its answer (or the next heartbeat response) before sending another.
 * - replicate: the follower matched at `match`; stream appends optimistically, at most
 *   `maxInflight` unacknowledged messages at a time.
 * - snapshot: the follower needs a snapshot; send nothing until it reports in.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** A bounded FIFO of the last index of each append message in flight to one follower. */
export class Inflights {
  private readonly buf: number[];
  private start = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    this.buf = new Array<number>(capacity).fill(0);
  }

  full(): boolean {
    return this.count === this.capacity;
  }

  size(): number {
    return this.count;
  }

  add(lastIndex: number): void {
    if (this.full()) throw new Error('raft: adding to a full inflights window');
    this.buf[(this.start + this.count) % this.capacity] = lastIndex;
    this.count++;
  }

  /** Frees every message whose last index is <= `index` (the follower acknowledged them). */
  freeLE(index: number): void {
    while (this.count > 0 && this.buf[this.start]! <= index) {
      this.start = (this.start + 1) % this.capacity;
      this.count--;
    }
  }

  freeFirstOne(): void {
    if (this.count === 0) return;
    this.start = (this.start + 1) % this.capacity;
    this.count--;
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
  }
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe state: an append is out and unanswered, so hold the next one. */
  probeSent = false;
  /** In snapshot state: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** Heard from since the last check-quorum round (Raft thesis 6.2). */
  recentActive = false;
  readonly inflights: Inflights;

  constructor(next: number, maxInflight: number, public isLearner: boolean) {
    this.next = next;
    this.inflights = new Inflights(maxInflight);
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot the follower holds at least the snapshot's index.
    if (this.state === 'snapshot') {
      const pending = this.pendingSnapshot;
      this.resetState('probe');
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState('probe');
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  /** The follower acknowledged up to `n`; false if that is old news. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /** Replicate state: the append up to `last` is on its way, so the next one starts after it. */
  optimisticUpdate(last: number): void {
    this.next = last + 1;
  }

  /**
   * The follower rejected an append whose previous index was `rejected`, hinting that its log
   * may match at `matchHint`. Returns false for a stale rejection (an answer to an append sent
   * before a newer decision), which must not move `next` back again.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1, 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }

  describe(): string {
    const parts = [`${this.state} match=${this.match} next=${this.next}`];
    if (this.isLearner) parts.push('learner');
    if (this.state === 'probe' && this.probeSent) parts.push('paused');
    if (this.state === 'snapshot') parts.push(`pendingSnap=${this.pendingSnapshot}`);
    if (this.inflights.size() > 0) parts.push(`inflight=${this.inflights.size()}`);
    return parts.join(' ');
  }
}
