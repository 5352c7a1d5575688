/**
 * The values the raft core takes in and hands out. Everything here is plain data so a driver can
 * persist it, put it on a wire, or print it in a golden script.
 *
 * Terms and log indexes are JS numbers, not bigints: they only ever grow by one per election or
 * per entry, so 2^53 of them outlives any cluster, and numbers keep the hot comparisons in the
 * leader's replication loop free of bigint allocation. The driver that persists them (the
 * multi-raft store) converts at its boundary. Node ids are positive safe integers; 0 means "none".
 */

export const NONE = 0;

export type EntryType = 'normal' | 'confChange';

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  /** Opaque to raft. A leader's first entry of its term is an empty `normal` entry. */
  readonly data: Uint8Array;
}

/** What must be on stable storage before any message of the same Ready is sent (Raft paper fig. 2). */
export interface HardState {
  readonly term: number;
  readonly vote: number;
  readonly commit: number;
}

export const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: NONE, commit: 0 });

/** A membership: voters count towards quorums, learners only receive the log. */
export interface ConfState {
  readonly voters: readonly number[];
  readonly learners: readonly number[];
}

export interface SnapshotMetadata {
  readonly index: number;
  readonly term: number;
  /** The membership as of `index`; a node restored from the snapshot starts from it. */
  readonly confState: ConfState;
}

export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  readonly data: Uint8Array;
}

export type StateType = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** Volatile state a driver may want to observe (who leads, what this node is). */
export interface SoftState {
  readonly lead: number;
  readonly state: StateType;
}

/** A read request confirmed by the leader: serve it once `index` has been applied. */
export interface ReadState {
  readonly index: number;
  readonly ctx: Uint8Array;
}

export type MessageType =
  | 'app'
  | 'appResp'
  | 'vote'
  | 'voteResp'
  | 'preVote'
  | 'preVoteResp'
  | 'snap'
  | 'heartbeat'
  | 'heartbeatResp'
  | 'timeoutNow'
  | 'transferLeader'
  | 'readIndex'
  | 'readIndexResp';

/**
 * One raft message. The fields a type uses:
 * - app: index/logTerm of the entry before `entries`, `commit`.
 * - appResp: `index` = last index now matching (accept) or the rejected probe index (reject),
 *   `rejectHint`/`logTerm` = where the follower suggests the leader probe next (fast backtracking,
 *   Raft thesis 5.3 / etcd's findConflictByTerm).
 * - vote/preVote: index/logTerm of the candidate's last entry; `force` for a leader transfer,
 *   which voters honour even inside a leader lease.
 * - heartbeat: `commit` (capped at the follower's match), `context` for a read-index round.
 * - transferLeader: `transferee` (a follower forwards the request to the leader).
 * - readIndex/readIndexResp: `context`, and `index` on the response.
 */
export interface Message {
  readonly type: MessageType;
  readonly from: number;
  readonly to: number;
  readonly term: number;
  readonly logTerm?: number;
  readonly index?: number;
  readonly entries?: readonly Entry[];
  readonly commit?: number;
  readonly reject?: boolean;
  readonly rejectHint?: number;
  readonly snapshot?: Snapshot;
  readonly context?: Uint8Array;
  readonly force?: boolean;
  readonly transferee?: number;
}

export type ConfChangeType = 'addNode' | 'addLearner' | 'removeNode';

/**
 * One membership change. Changes are single-server (Raft thesis 4.1), one in flight at a time;
 * joint consensus is not implemented. `addNode` of an existing learner promotes it.
 */
export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: number;
  /** Opaque to raft, carried in the entry (the store's peer record and region epoch). */
  readonly context?: Uint8Array;
}

/** Where a proposal landed; it is applied only if this (index, term) commits. */
export interface ProposalId {
  readonly index: number;
  readonly term: number;
}
