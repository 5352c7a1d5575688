import { InvalidArgumentError, KvError } from '@flashkv/core';
import { assertNodeId, decodeConfChange, encodeConfChange } from './conf-change.js';
import type { Progress } from './progress.js';
import { RaftLog } from './raft-log.js';
import { ReadOnly } from './read-only.js';
import type { Storage } from './storage.js';
import { ProgressTracker } from './tracker.js';
import type { ConfChange, ConfState, Entry, HardState, Message, MessageType, ProposalId, ReadState, Snapshot, SoftState, StateType } from './types.js';
import { NONE } from './types.js';

/** The one source of randomness the core uses: election timeout jitter. Injected (STYLE.md habit 1). */
export interface Rng {
  /** A uniform integer in [0, n). */
  int(n: number): number;
}

/**
 * `safe`: a read index is confirmed by a heartbeat round to a quorum (Raft thesis 6.4).
 * `leaseBased`: the leader answers from its commit index at once, trusting that no other leader
 * can exist while check-quorum keeps its lease (thesis 6.4.1); it relies on bounded clock drift
 * between nodes' tick rates, so it requires `checkQuorum`.
 */
export type ReadOnlyOption = 'safe' | 'leaseBased';

export interface RaftConfig {
  readonly id: number;
  readonly storage: Storage;
  readonly rng: Rng;
  /** Ticks without hearing from a leader before a follower campaigns; randomized in [e, 2e). Default 10. */
  readonly electionTick?: number;
  /** Ticks between a leader's heartbeats. Default 1; must be below electionTick. */
  readonly heartbeatTick?: number;
  /** Campaign with a pre-vote round first (Raft thesis 9.6), so a partitioned node cannot bump terms. Default true. */
  readonly preVote?: boolean;
  /** A leader steps down when it has not heard from a quorum for an election timeout (thesis 6.2). Default true. */
  readonly checkQuorum?: boolean;
  readonly readOnlyOption?: ReadOnlyOption;
  /** Bytes of entry data per append message (at least one entry is always sent). Default 1 MiB. */
  readonly maxSizePerMsg?: number;
  /** Append messages in flight per follower in replicate state. Default 64. */
  readonly maxInflightMsgs?: number;
  /**
   * The last index the driver's state machine has applied, when it keeps its state across
   * restarts. Storage.initialState().confState must then be the membership as of that index.
   * Default: the storage's snapshot index (the state machine is rebuilt from the snapshot).
   */
  readonly applied?: number;
}

export interface RaftStatus {
  readonly id: number;
  readonly term: number;
  readonly vote: number;
  readonly commit: number;
  readonly applied: number;
  readonly lead: number;
  readonly state: StateType;
  readonly leadTransferee: number;
  readonly confState: ConfState;
  /** Only on a leader: each member's replication state. */
  readonly progress?: ReadonlyMap<number, Progress>;
}

type CampaignType = 'preElection' | 'election' | 'transfer';

/**
 * The raft state machine (Ongaro and Ousterhout, "In Search of an Understandable Consensus
 * Algorithm", 2014, and Ongaro's thesis, 2014), shaped like etcd-io/raft: a pure object moved by
 * `tick` and `step`, whose outputs (entries to persist, messages, committed entries) are
 * collected by RawNode into Ready batches. It never reads a clock, draws randomness other than
 * through the injected Rng, or performs I/O.
 */
export class Raft {
  readonly id: number;
  term = 0;
  vote = NONE;
  lead = NONE;
  state: StateType = 'follower';
  readonly raftLog: RaftLog;
  readonly tracker: ProgressTracker;
  msgs: Message[] = [];
  readStates: ReadState[] = [];
  leadTransferee = NONE;
  /** Index of the latest conf change a leader proposed; no other may be proposed until it applies. */
  pendingConfIndex = 0;

  private readonly rng: Rng;
  readonly electionTimeout: number;
  readonly heartbeatTimeout: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly readOnlyOption: ReadOnlyOption;
  private readonly maxSizePerMsg: number;
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private readonly readOnly = new ReadOnly();
  /** Reads that arrived before this leader committed an entry of its own term (thesis 6.4 step 1). */
  private pendingReads: { from: number; ctx: Uint8Array }[] = [];

  constructor(config: RaftConfig) {
    assertNodeId(config.id);
    this.id = config.id;
    this.rng = config.rng;
    this.electionTimeout = config.electionTick ?? 10;
    this.heartbeatTimeout = config.heartbeatTick ?? 1;
    if (!Number.isInteger(this.electionTimeout) || !Number.isInteger(this.heartbeatTimeout) || this.heartbeatTimeout <= 0) {
      throw new TypeError('raft: electionTick and heartbeatTick must be positive integers');
    }
    if (this.electionTimeout <= this.heartbeatTimeout) {
      throw new TypeError(`raft: electionTick (${this.electionTimeout}) must exceed heartbeatTick (${this.heartbeatTimeout})`);
    }
    this.preVote = config.preVote ?? true;
    this.checkQuorum = config.checkQuorum ?? true;
    this.readOnlyOption = config.readOnlyOption ?? 'safe';
    if (this.readOnlyOption === 'leaseBased' && !this.checkQuorum) {
      throw new TypeError('raft: leaseBased reads need checkQuorum, which is what keeps the lease honest');
    }
    this.maxSizePerMsg = config.maxSizePerMsg ?? 1024 * 1024;
    const maxInflight = config.maxInflightMsgs ?? 64;
    if (!Number.isInteger(maxInflight) || maxInflight <= 0) throw new TypeError('raft: maxInflightMsgs must be a positive integer');

    this.raftLog = new RaftLog(config.storage);
    this.tracker = new ProgressTracker(maxInflight);
    const { hardState, confState } = config.storage.initialState();
    this.tracker.reset(confState, this.raftLog.lastIndex() + 1);
    if (hardState.commit > 0 || hardState.term > 0) {
      if (hardState.commit > this.raftLog.lastIndex()) {
        throw new Error(`raft: persisted commit ${hardState.commit} is beyond the persisted log (last index ${this.raftLog.lastIndex()})`);
      }
      // A snapshot is committed by definition, even if the hard state was saved before it.
      this.raftLog.committed = Math.max(hardState.commit, this.raftLog.committed);
      this.term = hardState.term;
      this.vote = hardState.vote;
    }
    if (config.applied !== undefined && config.applied > this.raftLog.applied) this.raftLog.appliedTo(config.applied);
    this.becomeFollower(this.term, NONE);
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.raftLog.committed };
  }

  softState(): SoftState {
    return { lead: this.lead, state: this.state };
  }

  status(): RaftStatus {
    return {
      id: this.id,
      term: this.term,
      vote: this.vote,
      commit: this.raftLog.committed,
      applied: this.raftLog.applied,
      lead: this.lead,
      state: this.state,
      leadTransferee: this.leadTransferee,
      confState: this.tracker.confState(),
      ...(this.state === 'leader' ? { progress: this.tracker.progress } : {}),
    };
  }

  /** A voter may campaign; learners, removed nodes and nodes holding a pending snapshot may not. */
  promotable(): boolean {
    return this.tracker.isVoter(this.id) && this.raftLog.pendingSnapshot === undefined;
  }

  // ---- state transitions ----

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTimeout + this.rng.int(this.electionTimeout);
    this.leadTransferee = NONE;
    this.tracker.resetVotes();
    const last = this.raftLog.lastIndex();
    for (const [id, pr] of this.tracker.progress) {
      pr.match = id === this.id ? last : 0;
      pr.next = last + 1;
      pr.state = 'probe';
      pr.probeSent = false;
      pr.pendingSnapshot = 0;
      pr.recentActive = false;
      pr.inflights.reset();
    }
    this.pendingConfIndex = 0;
    this.readOnly.clear();
    this.pendingReads = [];
  }

  becomeFollower(term: number, lead: number): void {
    this.reset(term);
    this.lead = lead;
    this.state = 'follower';
  }

  private becomeCandidate(): void {
    if (this.state === 'leader') throw new Error('raft: a leader cannot become a candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.state = 'candidate';
  }

  /** A pre-candidate changes neither term nor vote: a lost pre-vote leaves no trace (thesis 9.6). */
  private becomePreCandidate(): void {
    if (this.state === 'leader') throw new Error('raft: a leader cannot become a pre-candidate');
    this.tracker.resetVotes();
    this.lead = NONE;
    this.state = 'preCandidate';
  }

  private becomeLeader(): void {
    if (this.state === 'follower') throw new Error('raft: a follower cannot become leader without an election');
    this.reset(this.term);
    this.lead = this.id;
    this.state = 'leader';
    const self = this.tracker.progress.get(this.id);
    if (self !== undefined) {
      self.becomeReplicate();
      self.recentActive = true;
    }
    // A leader's first entry of its term: committing it commits everything before it (Raft
    // paper 5.4.2, thesis 3.6.2), and until then it must not propose a membership change (the
    // single-server change fix Ongaro posted to raft-dev in 2015) nor serve read index.
    this.appendEntries([{ term: 0, index: 0, type: 'normal', data: new Uint8Array(0) }]);
    this.pendingConfIndex = this.raftLog.lastIndex();
  }

  // ---- ticks ----

  tick(): void {
    if (this.state === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup('election');
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) {
        if (!this.tracker.quorumActive(this.id)) {
          this.becomeFollower(this.term, NONE);
          return;
        }
        for (const [id, pr] of this.tracker.progress) pr.recentActive = id === this.id;
      }
      // A transfer that has not finished within an election timeout has failed (thesis 3.10).
      if (this.leadTransferee !== NONE) this.leadTransferee = NONE;
    }
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat(this.readOnly.lastPending());
    }
  }

  // ---- elections ----

  /** Starts an election now (what a timeout would do), if this node may campaign. */
  campaign(): void {
    this.hup(this.preVote ? 'preElection' : 'election');
  }

  private hup(type: CampaignType): void {
    if (this.state === 'leader') return;
    if (!this.promotable()) return;
    // A node that has not applied a committed membership change does not know the membership
    // it would be elected under.
    if (this.hasUnappliedConfChange()) return;
    if (type === 'election' && this.preVote) type = 'preElection';
    this.doCampaign(type);
  }

  private hasUnappliedConfChange(): boolean {
    if (this.raftLog.applied >= this.raftLog.committed) return false;
    const ents = this.raftLog.slice(this.raftLog.applied + 1, this.raftLog.committed + 1) ?? [];
    return ents.some((e) => e.type === 'confChange');
  }

  private doCampaign(type: CampaignType): void {
    let voteType: MessageType;
    let term: number;
    if (type === 'preElection') {
      this.becomePreCandidate();
      voteType = 'preVote';
      // A pre-vote asks "would you vote for me in the next term?" without moving to it.
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteType = 'vote';
      term = this.term;
    }
    this.tracker.recordVote(this.id, true);
    if (this.tracker.tallyVotes().result === 'won') {
      if (type === 'preElection') this.doCampaign('election');
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.raftLog.lastIndex();
    const lastTerm = this.raftLog.lastTerm();
    for (const id of [...this.tracker.voters].sort((a, b) => a - b)) {
      if (id === this.id) continue;
      this.send({ type: voteType, from: this.id, to: id, term, index: lastIndex, logTerm: lastTerm, ...(type === 'transfer' ? { force: true } : {}) });
    }
  }

  // ---- messages ----

  private send(m: Message): void {
    this.msgs.push(m);
  }

  step(m: Message): void {
    if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'preVote') {
        // Thesis 4.2.3: while we hear from a leader, ignore candidates that could only disrupt
        // it; a leader transfer sets `force` because the leader itself asked for the election.
        const inLease = this.checkQuorum && this.lead !== NONE && this.electionElapsed < this.electionTimeout;
        if (inLease && m.force !== true) return;
      }
      if (m.type === 'preVote') {
        // Never change our term for a pre-vote.
      } else if (m.type === 'preVoteResp' && m.reject !== true) {
        // A granted pre-vote carries the future term; we move to it only by winning.
      } else if (m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === 'heartbeat' || m.type === 'app')) {
        // A stale leader that can no longer win a pre-vote or keep check-quorum would otherwise
        // never learn the new term; answering makes it step down.
        this.send({ type: 'appResp', from: this.id, to: m.from, term: this.term });
      } else if (m.type === 'preVote') {
        this.send({ type: 'preVoteResp', from: this.id, to: m.from, term: this.term, reject: true });
      }
      return;
    }

    if (m.type === 'vote' || m.type === 'preVote') {
      this.handleVote(m);
      return;
    }
    switch (this.state) {
      case 'leader':
        this.stepLeader(m);
        break;
      case 'candidate':
      case 'preCandidate':
        this.stepCandidate(m);
        break;
      case 'follower':
        this.stepFollower(m);
        break;
    }
  }

  private handleVote(m: Message): void {
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.lead === NONE) ||
      // A pre-vote for a future term may be granted even if we voted in this one.
      (m.type === 'preVote' && m.term > this.term);
    const respType = m.type === 'vote' ? 'voteResp' : 'preVoteResp';
    if (canVote && this.raftLog.isUpToDate(m.index ?? 0, m.logTerm ?? 0)) {
      // The response carries the candidate's term, so a granted pre-vote is recognised.
      this.send({ type: respType, from: this.id, to: m.from, term: m.term, reject: false });
      if (m.type === 'vote') {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, from: this.id, to: m.from, term: this.term, reject: true });
    }
  }

  private stepCandidate(m: Message): void {
    const myResp = this.state === 'preCandidate' ? 'preVoteResp' : 'voteResp';
    switch (m.type) {
      case 'app':
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case 'snap':
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case 'preVoteResp':
      case 'voteResp': {
        if (m.type !== myResp) return;
        this.tracker.recordVote(m.from, m.reject !== true);
        const { result } = this.tracker.tallyVotes();
        if (result === 'won') {
          if (this.state === 'preCandidate') this.doCampaign('election');
          else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (result === 'lost') {
          this.becomeFollower(this.term, NONE);
        }
        return;
      }
      default:
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'app':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case 'snap':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case 'timeoutNow':
        // Thesis 3.10: the leader hands over; start a real election at once, skipping pre-vote.
        if (this.promotable() && !this.hasUnappliedConfChange()) this.doCampaign('transfer');
        return;
      case 'transferLeader':
        if (this.lead !== NONE) this.send({ ...m, from: this.id, to: this.lead, term: this.term });
        return;
      case 'readIndex':
        if (this.lead !== NONE) this.send({ ...m, to: this.lead, term: this.term });
        return;
      case 'readIndexResp':
        this.readStates.push({ index: m.index ?? 0, ctx: m.context ?? new Uint8Array(0) });
        return;
      default:
        return;
    }
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case 'transferLeader':
        this.startTransfer(m.transferee ?? NONE);
        return;
      case 'readIndex':
        this.leaderRead(m.from, m.context ?? new Uint8Array(0));
        return;
      default:
        break;
    }
    const pr = this.tracker.progress.get(m.from);
    if (pr === undefined) return;
    switch (m.type) {
      case 'appResp':
        this.handleAppendResponse(m, pr);
        return;
      case 'heartbeatResp':
        this.handleHeartbeatResponse(m, pr);
        return;
      default:
        return;
    }
  }

  // ---- follower side of replication ----

  private handleAppend(m: Message): void {
    const index = m.index ?? 0;
    if (index < this.raftLog.committed) {
      // Everything up to our commit index matches any leader's log (Leader Completeness).
      this.send({ type: 'appResp', from: this.id, to: m.from, term: this.term, index: this.raftLog.committed });
      return;
    }
    const lastNew = this.raftLog.maybeAppend(index, m.logTerm ?? 0, m.commit ?? 0, m.entries ?? []);
    if (lastNew !== undefined) {
      this.send({ type: 'appResp', from: this.id, to: m.from, term: this.term, index: lastNew });
      return;
    }
    // Fast backtracking: point the leader at the last index where our term is <= its term, so
    // a whole run of a conflicting term is skipped in one round trip.
    const hint = this.raftLog.findConflictByTerm(Math.min(index, this.raftLog.lastIndex()), m.logTerm ?? 0);
    this.send({ type: 'appResp', from: this.id, to: m.from, term: this.term, index, reject: true, rejectHint: hint.index, logTerm: hint.term });
  }

  private handleHeartbeat(m: Message): void {
    this.raftLog.commitTo(m.commit ?? 0);
    this.send({ type: 'heartbeatResp', from: this.id, to: m.from, term: this.term, ...(m.context !== undefined ? { context: m.context } : {}) });
  }

  private handleSnapshot(m: Message): void {
    const snap = m.snapshot;
    if (snap !== undefined && this.restore(snap)) {
      this.send({ type: 'appResp', from: this.id, to: m.from, term: this.term, index: this.raftLog.lastIndex() });
    } else {
      this.send({ type: 'appResp', from: this.id, to: m.from, term: this.term, index: this.raftLog.committed });
    }
  }

  /** Installs a leader's snapshot (Raft paper section 7); false if it brings nothing new. */
  private restore(snap: Snapshot): boolean {
    const { index, term, confState } = snap.metadata;
    if (index <= this.raftLog.committed) return false;
    // A snapshot may predate our own addition (the leader snapshots when it likes): we take it
    // anyway and learn that we are a member from the conf change entry that follows it. Until
    // then we are not a voter, so we cannot campaign. Only a leader sends snapshots, and only to
    // members of its configuration.
    if (this.raftLog.matchTerm(index, term)) {
      // We already hold the snapshot's last entry, so our log agrees up to it: just commit.
      this.raftLog.commitTo(index);
      return false;
    }
    this.raftLog.restore(snap);
    this.tracker.reset(confState, this.raftLog.lastIndex() + 1);
    return true;
  }

  // ---- leader side of replication ----

  private appendEntries(entries: readonly Omit<Entry, 'term' | 'index'>[] | readonly Entry[]): number {
    let index = this.raftLog.lastIndex();
    const stamped: Entry[] = entries.map((e) => ({ term: this.term, index: ++index, type: e.type, data: e.data }));
    const last = this.raftLog.append(stamped);
    // The leader's own copy counts at once: a driver persists a Ready's entries before sending
    // its messages or applying its committed entries, so no one learns of this commit earlier.
    this.tracker.progress.get(this.id)?.maybeUpdate(last);
    this.maybeCommit();
    return last;
  }

  private maybeCommit(): boolean {
    const index = this.tracker.committedIndex();
    if (index === Infinity) return false;
    if (!this.raftLog.maybeCommit(index, this.term)) return false;
    this.releasePendingReads();
    return true;
  }

  private handleAppendResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    const index = m.index ?? 0;
    if (m.reject === true) {
      let next = m.rejectHint ?? 0;
      if ((m.logTerm ?? 0) > 0) next = this.raftLog.findConflictByTerm(next, m.logTerm!).index;
      if (pr.maybeDecrTo(index, next)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (pr.maybeUpdate(index)) {
      if (pr.state === 'probe') pr.becomeReplicate();
      else if (pr.state === 'snapshot' && pr.match + 1 >= this.raftLog.firstIndex()) {
        pr.becomeProbe();
        pr.becomeReplicate();
      } else if (pr.state === 'replicate') pr.inflights.freeLE(index);

      if (this.maybeCommit()) this.bcastAppend();
      else if (wasPaused) this.sendAppend(m.from);
      while (this.sendAppend(m.from, false)) {
        // Keep the pipeline full while the window allows and there is something to send.
      }
      if (m.from === this.leadTransferee && pr.match === this.raftLog.lastIndex()) this.sendTimeoutNow(m.from);
    }
  }

  private handleHeartbeatResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    pr.probeSent = false;
    // A lost append in replicate state would otherwise stall a full window forever.
    if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.match < this.raftLog.lastIndex()) this.sendAppend(m.from);
    if (this.readOnlyOption !== 'safe' || m.context === undefined || m.context.length === 0) return;
    const acks = this.readOnly.recvAck(m.from, m.context);
    if (acks === undefined) return;
    let votes = 0;
    for (const id of acks) if (this.tracker.isVoter(id)) votes++;
    if (votes < this.tracker.quorum()) return;
    for (const req of this.readOnly.advance(m.context)) this.answerRead(req.from, req.index, req.ctx);
  }

  /**
   * Sends `to` the entries after its `next`, or a snapshot if they are compacted. Returns whether
   * a message was sent; with `sendIfEmpty` false an append without entries is not worth sending.
   */
  private sendAppend(to: number, sendIfEmpty = true): boolean {
    const pr = this.tracker.progress.get(to);
    if (pr === undefined || to === this.id || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.raftLog.term(prevIndex);
    const entries = this.raftLog.slice(pr.next, this.raftLog.lastIndex() + 1, this.maxSizePerMsg);
    if (prevTerm === undefined || entries === undefined) return this.sendSnapshot(to, pr);
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({ type: 'app', from: this.id, to, term: this.term, index: prevIndex, logTerm: prevTerm, entries, commit: this.raftLog.committed });
    if (entries.length > 0) {
      const last = entries[entries.length - 1]!.index;
      if (pr.state === 'replicate') {
        pr.optimisticUpdate(last);
        pr.inflights.add(last);
      } else if (pr.state === 'probe') {
        pr.probeSent = true;
      }
    }
    return true;
  }

  private sendSnapshot(to: number, pr: Progress): boolean {
    // Only to a follower we have heard from lately: a snapshot is large, a dead node wastes it.
    if (!pr.recentActive) return false;
    const snap = this.raftLog.snapshot();
    if (snap.metadata.index === 0) throw new Error(`raft: entries for ${to} are compacted but there is no snapshot`);
    pr.becomeSnapshot(snap.metadata.index);
    this.send({ type: 'snap', from: this.id, to, term: this.term, snapshot: snap });
    return true;
  }

  private bcastAppend(): void {
    for (const id of this.tracker.members()) if (id !== this.id) this.sendAppend(id);
  }

  private bcastHeartbeat(ctx: Uint8Array | undefined): void {
    for (const id of this.tracker.members()) {
      if (id === this.id) continue;
      const pr = this.tracker.progress.get(id)!;
      // Never tell a follower to commit past what it is known to hold.
      const commit = Math.min(pr.match, this.raftLog.committed);
      this.send({ type: 'heartbeat', from: this.id, to: id, term: this.term, commit, ...(ctx !== undefined ? { context: ctx } : {}) });
    }
  }

  private sendTimeoutNow(to: number): void {
    this.send({ type: 'timeoutNow', from: this.id, to, term: this.term });
  }

  /** The driver reports whether a snapshot it sent to `to` arrived (etcd's ReportSnapshot). */
  reportSnapshot(to: number, ok: boolean): void {
    if (this.state !== 'leader') return;
    const pr = this.tracker.progress.get(to);
    if (pr === undefined || pr.state !== 'snapshot') return;
    if (!ok) pr.pendingSnapshot = 0;
    // Either way, wait for the follower's next heartbeat response before probing again.
    pr.becomeProbe();
    pr.probeSent = true;
  }

  /** The driver could not reach `to`: stop streaming optimistically and probe instead. */
  reportUnreachable(to: number): void {
    if (this.state !== 'leader') return;
    const pr = this.tracker.progress.get(to);
    if (pr !== undefined && pr.state === 'replicate') pr.becomeProbe();
  }

  // ---- proposals ----

  private notLeader(what: string): KvError {
    return new KvError('NOT_LEADER', `raft node ${this.id} is not the leader; cannot ${what}`, { nodeId: this.id, leaderId: this.lead, term: this.term });
  }

  private assertCanPropose(what: string): void {
    if (this.state !== 'leader') throw this.notLeader(what);
    if (!this.tracker.isMember(this.id)) throw this.notLeader(what);
    if (this.leadTransferee !== NONE) {
      // Thesis 3.10: stop taking proposals while handing over, or the transfer may never finish.
      throw new KvError('NOT_LEADER', `raft node ${this.id} is transferring leadership to ${this.leadTransferee}`, {
        nodeId: this.id,
        leaderId: this.lead,
        transferee: this.leadTransferee,
        term: this.term,
      });
    }
  }

  propose(data: Uint8Array): ProposalId {
    if (!(data instanceof Uint8Array)) throw new TypeError('raft: proposal data must be a Uint8Array');
    this.assertCanPropose('propose');
    const index = this.appendEntries([{ type: 'normal', data }]);
    this.bcastAppend();
    return { index, term: this.term };
  }

  /**
   * Several normal entries appended together and broadcast once: one append message per
   * follower for the lot, instead of one per entry (a driver's group commit).
   */
  proposeBatch(datas: readonly Uint8Array[]): ProposalId[] {
    for (const d of datas) if (!(d instanceof Uint8Array)) throw new TypeError('raft: proposal data must be a Uint8Array');
    if (datas.length === 0) return [];
    this.assertCanPropose('propose');
    const last = this.appendEntries(datas.map((data) => ({ type: 'normal' as const, data })));
    this.bcastAppend();
    const first = last - datas.length + 1;
    return datas.map((_, i) => ({ index: first + i, term: this.term }));
  }

  proposeConfChange(cc: ConfChange): ProposalId {
    assertNodeId(cc.nodeId);
    this.assertCanPropose('change membership');
    if (this.pendingConfIndex > this.raftLog.applied) {
      throw new KvError('SERVER_BUSY', 'a membership change (or this leader\'s first entry) has not been applied yet', {
        pendingConfIndex: this.pendingConfIndex,
        applied: this.raftLog.applied,
      });
    }
    const t = this.tracker;
    switch (cc.type) {
      case 'addNode':
        if (t.isVoter(cc.nodeId)) throw new InvalidArgumentError(`node ${cc.nodeId} is already a voter`, { nodeId: cc.nodeId });
        break;
      case 'addLearner':
        if (t.isMember(cc.nodeId)) throw new InvalidArgumentError(`node ${cc.nodeId} is already a member`, { nodeId: cc.nodeId });
        break;
      case 'removeNode':
        if (!t.isMember(cc.nodeId)) throw new InvalidArgumentError(`node ${cc.nodeId} is not a member`, { nodeId: cc.nodeId });
        if (t.isVoter(cc.nodeId) && t.voters.size === 1) throw new InvalidArgumentError('cannot remove the last voter', { nodeId: cc.nodeId });
        break;
      default:
        throw new TypeError(`unknown conf change type ${String((cc as ConfChange).type)}`);
    }
    const index = this.appendEntries([{ type: 'confChange', data: encodeConfChange(cc) }]);
    this.pendingConfIndex = index;
    this.bcastAppend();
    return { index, term: this.term };
  }

  /**
   * Applies a committed membership change; called by RawNode when the driver has applied the
   * entry (etcd's ApplyConfChange). Changes take effect on apply, one at a time.
   */
  applyConfChange(cc: ConfChange): void {
    this.tracker.applyConfChange(cc, this.raftLog.lastIndex() + 1);
    if (this.state !== 'leader') return;
    if (!this.tracker.isVoter(this.id)) {
      // A leader that removed (or never was) itself hands over by stepping down (thesis 4.2.2).
      this.becomeFollower(this.term, NONE);
      return;
    }
    if (this.leadTransferee !== NONE && !this.tracker.isVoter(this.leadTransferee)) this.leadTransferee = NONE;
    // The quorum changed: something may have just committed, and new members need the log.
    if (this.maybeCommit()) this.bcastAppend();
    else if (cc.type !== 'removeNode') this.sendAppend(cc.nodeId);
  }

  /** Entries decoded as membership changes, for drivers and tests. */
  static decodeConfChange(entry: Entry): ConfChange {
    return decodeConfChange(entry.data);
  }

  // ---- read index ----

  readIndex(ctx: Uint8Array): void {
    if (!(ctx instanceof Uint8Array)) throw new TypeError('raft: read index context must be a Uint8Array');
    if (this.state === 'leader') {
      this.leaderRead(this.id, ctx);
      return;
    }
    if (this.state !== 'follower' || this.lead === NONE) throw this.notLeader('serve a read index');
    this.send({ type: 'readIndex', from: this.id, to: this.lead, term: this.term, context: ctx });
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.raftLog.term(this.raftLog.committed) === this.term;
  }

  private leaderRead(from: number, ctx: Uint8Array): void {
    if (this.tracker.voters.size === 1 && this.tracker.isVoter(this.id)) {
      this.answerRead(from, this.raftLog.committed, ctx);
      return;
    }
    // Until an entry of this term commits, this leader's commit index may lag the true one.
    if (!this.committedEntryInCurrentTerm()) {
      this.pendingReads.push({ from, ctx });
      return;
    }
    if (this.readOnlyOption === 'leaseBased') {
      this.answerRead(from, this.raftLog.committed, ctx);
      return;
    }
    if (this.readOnly.add(this.raftLog.committed, from, ctx)) {
      this.readOnly.recvAck(this.id, ctx);
      this.bcastHeartbeat(ctx);
    }
  }

  private releasePendingReads(): void {
    if (this.pendingReads.length === 0 || !this.committedEntryInCurrentTerm()) return;
    const reads = this.pendingReads;
    this.pendingReads = [];
    for (const r of reads) this.leaderRead(r.from, r.ctx);
  }

  private answerRead(from: number, index: number, ctx: Uint8Array): void {
    if (from === this.id) this.readStates.push({ index, ctx });
    else this.send({ type: 'readIndexResp', from: this.id, to: from, term: this.term, index, context: ctx });
  }

  // ---- leader transfer ----

  transferLeader(to: number): void {
    assertNodeId(to);
    if (this.state === 'leader') {
      if (!this.tracker.isVoter(to)) throw new InvalidArgumentError(`node ${to} is not a voter and cannot lead`, { nodeId: to });
      this.startTransfer(to);
      return;
    }
    if (this.lead === NONE) throw this.notLeader('transfer leadership');
    this.send({ type: 'transferLeader', from: this.id, to: this.lead, term: this.term, transferee: to });
  }

  private startTransfer(to: number): void {
    if (to === NONE || to === this.id || !this.tracker.isVoter(to)) return;
    if (this.leadTransferee === to) return;
    this.leadTransferee = to;
    // The transfer must finish within one election timeout (checked in tickHeartbeat).
    this.electionElapsed = 0;
    const pr = this.tracker.progress.get(to)!;
    if (pr.match === this.raftLog.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppend(to);
  }
}
