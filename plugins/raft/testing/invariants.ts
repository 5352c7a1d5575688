import type { RawNode } from '../src/core/index.js';
import { ctxKeyOf } from './util.js';

/** Thrown when a safety invariant fails; the message names the seed and step that replay it. */
export class InvariantViolation extends Error {
  constructor(readonly invariant: string, readonly seed: number, readonly step: number, detail: string) {
    super(`raft invariant "${invariant}" violated at step ${step} (replay with SEED=${seed}): ${detail}`);
    this.name = 'InvariantViolation';
  }
}

export interface LiveNode {
  readonly id: number;
  readonly node: RawNode;
  readonly persistedCommit: number;
}

/**
 * The safety properties of the Raft paper's figure 3, checked against the whole simulated
 * cluster after every step:
 * - Election Safety: at most one leader per term (over all time, crashed nodes included);
 * - Log Matching: an (index, term) pair identifies the entry and the term before it, so two logs
 *   agreeing at an index agree on everything before (checked per entry, by induction);
 * - Leader Completeness: a leader holds every entry committed anywhere, at its committed term;
 * - State Machine Safety: every node that applied index i holds the same chained hash at i;
 * - commit indexes never go backwards (in memory within a node's life, on disk ever);
 * - a read index is at least the highest commit index known when the read was requested
 *   (what makes read index reads linearizable).
 */
export class SafetyChecker {
  step = 0;
  private readonly leaderOfTerm = new Map<number, number>();
  private readonly entryAt = new Map<string, { key: string; prevTerm: number }>();
  private readonly committedTerm = new Map<number, number>();
  /**
   * For each committed index, the lowest current term of a node seen holding it committed: it
   * was committed in that term or earlier, so every leader of a later term must hold it. (A
   * deposed leader of an earlier term that has not heard the news need not.)
   */
  private readonly committedBy = new Map<number, number>();
  private maxCommitted = 0;
  private readonly hashAt = new Map<number, number>();
  private readonly lastCommit = new Map<number, number>();
  private readonly lastPersistedCommit = new Map<number, number>();
  private readonly readFloor = new Map<string, number>();

  constructor(readonly seed: number) {}

  private fail(invariant: string, detail: string): never {
    throw new InvariantViolation(invariant, this.seed, this.step, detail);
  }

  /** The highest commit index any node has reached so far. */
  highestCommit(): number {
    return this.maxCommitted;
  }

  onRestart(id: number): void {
    this.lastCommit.delete(id);
  }

  onApply(id: number, index: number, hash: number): void {
    const known = this.hashAt.get(index);
    if (known === undefined) this.hashAt.set(index, hash);
    else if (known !== hash) this.fail('state machine safety', `node ${id} applied index ${index} with state hash ${hash}, another node had ${known}`);
  }

  onReadRequest(ctx: Uint8Array): void {
    this.readFloor.set(ctxKeyOf(ctx), this.maxCommitted);
  }

  onReadState(id: number, index: number, ctx: Uint8Array): void {
    const floor = this.readFloor.get(ctxKeyOf(ctx));
    if (floor !== undefined && index < floor) {
      this.fail('linearizable read index', `node ${id} got read index ${index} for ${JSON.stringify(ctxKeyOf(ctx))}, but index ${floor} was committed before the read was asked`);
    }
  }

  check(nodes: readonly LiveNode[]): void {
    for (const n of nodes) this.checkNode(n);
    for (const n of nodes) {
      const st = n.node.raft;
      if (st.state !== 'leader') continue;
      const prev = this.leaderOfTerm.get(st.term);
      if (prev === undefined) this.leaderOfTerm.set(st.term, n.id);
      else if (prev !== n.id) this.fail('election safety', `nodes ${prev} and ${n.id} were both leader in term ${st.term}`);
      this.checkLeaderCompleteness(n);
    }
  }

  private checkNode(n: LiveNode): void {
    const log = n.node.raft.raftLog;
    const first = log.firstIndex();
    const last = log.lastIndex();
    let prevTerm = log.term(first - 1);
    if (prevTerm === undefined) this.fail('log matching', `node ${n.id} has no term for index ${first - 1} just before its first entry`);
    for (const e of log.slice(first, last + 1) ?? []) {
      const key = `${e.index}/${e.term}`;
      const content = `${e.type}:${ctxKeyOf(e.data)}`;
      const seen = this.entryAt.get(key);
      if (seen === undefined) this.entryAt.set(key, { key: content, prevTerm });
      else if (seen.key !== content || seen.prevTerm !== prevTerm) {
        this.fail('log matching', `node ${n.id} has entry ${key} (${content}, previous term ${prevTerm}); another log had (${seen.key}, previous term ${seen.prevTerm})`);
      }
      prevTerm = e.term;
    }

    const commit = log.committed;
    if (commit > last) this.fail('commit within log', `node ${n.id} committed ${commit} beyond its last index ${last}`);
    for (let i = Math.max(first - 1, 1); i <= commit; i++) {
      const t = log.term(i)!;
      const known = this.committedTerm.get(i);
      const by = this.committedBy.get(i);
      if (by === undefined || n.node.raft.term < by) this.committedBy.set(i, n.node.raft.term);
      if (known === undefined) this.committedTerm.set(i, t);
      else if (known !== t) this.fail('committed entries never change', `node ${n.id} committed index ${i} at term ${t}, but it was committed at term ${known}`);
    }
    if (commit > this.maxCommitted) this.maxCommitted = commit;

    const before = this.lastCommit.get(n.id);
    if (before !== undefined && commit < before) this.fail('commit never regresses', `node ${n.id} commit went from ${before} to ${commit}`);
    this.lastCommit.set(n.id, commit);
    const persistedBefore = this.lastPersistedCommit.get(n.id);
    if (persistedBefore !== undefined && n.persistedCommit < persistedBefore) {
      this.fail('commit never regresses', `node ${n.id} persisted commit went from ${persistedBefore} to ${n.persistedCommit}`);
    }
    this.lastPersistedCommit.set(n.id, n.persistedCommit);
    if (log.applied > commit) this.fail('applied within commit', `node ${n.id} applied ${log.applied} beyond commit ${commit}`);
  }

  private checkLeaderCompleteness(n: LiveNode): void {
    const log = n.node.raft.raftLog;
    const term = n.node.raft.term;
    for (let i = Math.max(log.firstIndex(), 1); i <= this.maxCommitted; i++) {
      const by = this.committedBy.get(i);
      if (by === undefined || by >= term) continue;
      const want = this.committedTerm.get(i)!;
      if (i > log.lastIndex()) {
        this.fail('leader completeness', `leader ${n.id} (term ${term}) ends at ${log.lastIndex()} but index ${i} was committed by term ${by}`);
      }
      if (log.term(i) !== want) {
        this.fail('leader completeness', `leader ${n.id} (term ${n.node.raft.term}) has term ${log.term(i)} at committed index ${i}, committed term is ${want}`);
      }
    }
  }
}
