import { decodeConfChange } from './conf-change.js';
import { Raft, type RaftConfig, type RaftStatus } from './raft.js';
import type { ConfChange, ConfState, Entry, HardState, Message, ProposalId, ReadState, Snapshot, SoftState } from './types.js';

/**
 * Everything the core wants done since the last Ready, in the order a driver must do it:
 * 1. persist `snapshot`, `entries` and `hardState` (synchronously if `mustSync`);
 * 2. send `messages` (only now: a vote or an acknowledgement promises what was just persisted);
 * 3. apply `snapshot` then `committedEntries` to the state machine, serve `readStates` once
 *    their index is applied;
 * 4. call `advance(ready)`.
 */
export interface Ready {
  readonly softState?: SoftState;
  readonly hardState?: HardState;
  readonly entries: readonly Entry[];
  readonly snapshot?: Snapshot;
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly readStates: readonly ReadState[];
  /** True when entries, term or vote changed: they must hit stable storage before messages go out. */
  readonly mustSync: boolean;
}

/**
 * The driver's handle on one raft peer (etcd's RawNode): the Raft state machine plus the
 * bookkeeping that turns its state changes into Ready batches. Single-threaded by design: a
 * driver calls tick/step/propose, then `ready()`, does what it says, then `advance()`.
 */
export class RawNode {
  readonly raft: Raft;
  private prevSoft: SoftState;
  private prevHard: HardState;
  private outstanding: Ready | undefined;

  constructor(config: RaftConfig) {
    this.raft = new Raft(config);
    this.prevSoft = this.raft.softState();
    this.prevHard = config.storage.initialState().hardState;
  }

  tick(): void {
    this.raft.tick();
  }

  /** Feeds a message from another peer. Messages addressed to someone else are a driver bug. */
  step(m: Message): void {
    if (m.to !== this.raft.id) throw new TypeError(`raft: message for ${m.to} stepped into node ${this.raft.id}`);
    this.raft.step(m);
  }

  campaign(): void {
    this.raft.campaign();
  }

  propose(data: Uint8Array): ProposalId {
    return this.raft.propose(data);
  }

  /** Several entries in one append and one broadcast; all or none are proposed. */
  proposeBatch(datas: readonly Uint8Array[]): ProposalId[] {
    return this.raft.proposeBatch(datas);
  }

  proposeConfChange(cc: ConfChange): ProposalId {
    return this.raft.proposeConfChange(cc);
  }

  readIndex(ctx: Uint8Array): void {
    this.raft.readIndex(ctx);
  }

  transferLeader(to: number): void {
    this.raft.transferLeader(to);
  }

  reportSnapshot(to: number, ok: boolean): void {
    this.raft.reportSnapshot(to, ok);
  }

  reportUnreachable(to: number): void {
    this.raft.reportUnreachable(to);
  }

  status(): RaftStatus {
    return this.raft.status();
  }

  /** The membership as of the applied index: what a snapshot taken now must record. */
  confState(): ConfState {
    return this.raft.tracker.confState();
  }

  hasReady(): boolean {
    const r = this.raft;
    if (this.outstanding !== undefined) return false;
    const soft = r.softState();
    if (soft.lead !== this.prevSoft.lead || soft.state !== this.prevSoft.state) return true;
    if (!sameHardState(r.hardState(), this.prevHard)) return true;
    const log = r.raftLog;
    return (
      log.unstable.length > 0 ||
      log.pendingSnapshot !== undefined ||
      r.msgs.length > 0 ||
      r.readStates.length > 0 ||
      log.hasNextCommittedEntries()
    );
  }

  /**
   * Collects the next batch. Messages and read states are handed over now (they are not handed
   * out twice); entries stay unstable and committed entries unapplied until `advance`.
   */
  ready(): Ready {
    if (this.outstanding !== undefined) throw new Error('raft: ready() called again before advance() of the previous Ready');
    const r = this.raft;
    const log = r.raftLog;
    const soft = r.softState();
    const hard = r.hardState();
    const softChanged = soft.lead !== this.prevSoft.lead || soft.state !== this.prevSoft.state;
    const hardChanged = !sameHardState(hard, this.prevHard);
    const entries = log.unstable.slice();
    const rd: Ready = {
      ...(softChanged ? { softState: soft } : {}),
      ...(hardChanged ? { hardState: hard } : {}),
      entries,
      ...(log.pendingSnapshot !== undefined ? { snapshot: log.pendingSnapshot } : {}),
      committedEntries: log.nextCommittedEntries(),
      messages: r.msgs,
      readStates: r.readStates,
      mustSync: entries.length > 0 || hard.term !== this.prevHard.term || hard.vote !== this.prevHard.vote,
    };
    r.msgs = [];
    r.readStates = [];
    if (softChanged) this.prevSoft = soft;
    this.outstanding = rd;
    return rd;
  }

  /** The driver has persisted, sent and applied `rd`; membership changes in it take effect now. */
  advance(rd: Ready): void {
    if (rd !== this.outstanding) throw new Error('raft: advance() with a Ready that is not the outstanding one');
    this.outstanding = undefined;
    const log = this.raft.raftLog;
    if (rd.hardState !== undefined) this.prevHard = rd.hardState;
    if (rd.snapshot !== undefined) {
      log.stableSnapTo(rd.snapshot.metadata.index);
      if (rd.snapshot.metadata.index > log.applied) log.applied = rd.snapshot.metadata.index;
    }
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1]!;
      log.stableTo(last.index, last.term);
    }
    if (rd.committedEntries.length > 0) {
      for (const e of rd.committedEntries) {
        if (e.type === 'confChange' && e.index > log.applied) this.raft.applyConfChange(decodeConfChange(e.data));
        if (e.index > log.applied) log.appliedTo(e.index);
      }
    }
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
