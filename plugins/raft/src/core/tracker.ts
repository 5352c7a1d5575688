import { Progress } from './progress.js';
import type { ConfChange, ConfState } from './types.js';

export type VoteResult = 'pending' | 'won' | 'lost';

/**
 * The membership and, on a leader, the progress of every member, plus the votes of an election
 * in progress. Quorums are majorities of voters; learners never count (Raft thesis 4.2.1).
 */
export class ProgressTracker {
  voters = new Set<number>();
  learners = new Set<number>();
  readonly progress = new Map<number, Progress>();
  readonly votes = new Map<number, boolean>();

  constructor(readonly maxInflight: number) {}

  confState(): ConfState {
    return { voters: [...this.voters].sort(byNumber), learners: [...this.learners].sort(byNumber) };
  }

  isVoter(id: number): boolean {
    return this.voters.has(id);
  }

  isMember(id: number): boolean {
    return this.voters.has(id) || this.learners.has(id);
  }

  quorum(): number {
    return Math.floor(this.voters.size / 2) + 1;
  }

  /** Replaces the membership (restart, snapshot); progress is rebuilt with next = `nextIndex`. */
  reset(cs: ConfState, nextIndex: number): void {
    this.voters = new Set(cs.voters);
    this.learners = new Set(cs.learners);
    for (const id of this.voters) if (this.learners.has(id)) throw new Error(`raft: node ${id} is both voter and learner`);
    this.progress.clear();
    for (const id of this.members()) this.progress.set(id, new Progress(nextIndex, this.maxInflight, this.learners.has(id)));
  }

  members(): number[] {
    return [...this.voters, ...this.learners].sort(byNumber);
  }

  /**
   * Applies one single-server change. Idempotent, because a restarted node re-applies committed
   * changes above its snapshot: adding a present voter or removing an absent node changes nothing.
   */
  applyConfChange(cc: ConfChange, nextIndex: number): void {
    const id = cc.nodeId;
    switch (cc.type) {
      case 'addNode': {
        this.learners.delete(id);
        this.voters.add(id);
        break;
      }
      case 'addLearner': {
        // Demoting a voter to a learner in one step is not a single-server change we allow.
        if (this.voters.has(id)) return;
        this.learners.add(id);
        break;
      }
      case 'removeNode': {
        this.voters.delete(id);
        this.learners.delete(id);
        this.progress.delete(id);
        return;
      }
    }
    const pr = this.progress.get(id);
    if (pr === undefined) {
      const fresh = new Progress(nextIndex, this.maxInflight, this.learners.has(id));
      // A new member counts as active so check-quorum does not depose the leader before it answers.
      fresh.recentActive = true;
      this.progress.set(id, fresh);
    } else {
      pr.isLearner = this.learners.has(id);
    }
  }

  /** The highest index replicated on a majority of voters (Raft paper 5.3). */
  committedIndex(): number {
    if (this.voters.size === 0) return Infinity;
    const matches: number[] = [];
    for (const id of this.voters) matches.push(this.progress.get(id)?.match ?? 0);
    matches.sort((a, b) => b - a);
    return matches[this.quorum() - 1]!;
  }

  resetVotes(): void {
    this.votes.clear();
  }

  recordVote(id: number, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const id of this.voters) {
      const v = this.votes.get(id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    const q = this.quorum();
    const result: VoteResult = granted >= q ? 'won' : this.voters.size - rejected < q ? 'lost' : 'pending';
    return { granted, rejected, result };
  }

  /** Check quorum (Raft thesis 6.2): has a majority of voters been heard from recently? */
  quorumActive(selfId: number): boolean {
    let active = 0;
    for (const id of this.voters) {
      if (id === selfId || this.progress.get(id)?.recentActive === true) active++;
    }
    return active >= this.quorum();
  }
}

function byNumber(a: number, b: number): number {
  return a - b;
}
