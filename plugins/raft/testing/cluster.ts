import { isKvError } from '@flashkv/core';
import { Rng } from '@flashkv/core/testing';
import {
  MemoryStorage,
  RawNode,
  bootstrapStorage,
  type ConfChange,
  type Message,
  type ProposalId,
  type ReadOnlyOption,
  type Ready,
  type ReadState,
} from '../src/core/index.js';
import { formatMessage, formatReady } from './format.js';
import { SafetyChecker, type LiveNode } from './invariants.js';
import { SimNetwork, type Envelope, type NetworkOptions } from './sim-network.js';
import { SimStateMachine } from './state-machine.js';

export interface NodeOptions {
  readonly electionTick?: number;
  readonly heartbeatTick?: number;
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
  readonly readOnlyOption?: ReadOnlyOption;
  readonly maxInflightMsgs?: number;
  readonly maxSizePerMsg?: number;
}

export interface ClusterOptions {
  readonly voters: readonly number[];
  readonly learners?: readonly number[];
  /** Seeds the nodes' election jitter and the network's faults. */
  readonly seed: number;
  readonly raft?: NodeOptions;
  readonly network?: NetworkOptions;
  /** Take a snapshot and compact the log every this many applied entries (default: never). */
  readonly snapshotEvery?: number;
  /** Entries kept below the snapshot index when compacting, for followers slightly behind. */
  readonly compactKeep?: number;
  /** Check the safety invariants after every step (default true). */
  readonly check?: boolean;
  /** Record a readable trace of readies and deliveries in `trace` (golden scripts). */
  readonly trace?: boolean;
}

export class SimNode {
  node: RawNode | undefined;
  sm = new SimStateMachine();
  /** Read states received, in order, with the applied index they were served at. */
  readonly reads: ReadState[] = [];
  lives = 1;
  constructor(readonly id: number, readonly storage: MemoryStorage) {}

  get alive(): boolean {
    return this.node !== undefined;
  }

  mustNode(): RawNode {
    if (this.node === undefined) throw new Error(`node ${this.id} is crashed`);
    return this.node;
  }
}

export type ProposeResult = { readonly ok: true; readonly id: ProposalId } | { readonly ok: false; readonly code: string };

/**
 * N raft nodes on a simulated network in simulated time, driven one step at a time. A step is a
 * tick, a delivery, one node handling its Ready, a proposal, or a fault (partition, heal, crash,
 * restart). What a node persisted lives in its MemoryStorage, which survives a crash; everything
 * else (unpersisted entries, votes, commit index, the state machine) is lost and rebuilt on
 * restart from storage. After every step the SafetyChecker runs over all live nodes.
 */
export class SimCluster {
  readonly nodes = new Map<number, SimNode>();
  readonly network: SimNetwork;
  readonly checker: SafetyChecker;
  readonly trace: string[] = [];
  now = 0;
  private readonly rng: Rng;
  private readonly tracing: boolean;
  private readonly checking: boolean;

  constructor(readonly options: ClusterOptions) {
    this.rng = new Rng(options.seed);
    this.network = new SimNetwork(this.rng.fork(), options.network);
    this.checker = new SafetyChecker(options.seed);
    this.tracing = options.trace ?? false;
    this.checking = options.check ?? true;
    const members = [...options.voters, ...(options.learners ?? [])].sort((a, b) => a - b);
    for (const id of members) {
      const storage = new MemoryStorage();
      bootstrapStorage(storage, options.voters, options.learners ?? []);
      this.nodes.set(id, new SimNode(id, storage));
    }
    for (const id of members) this.startNode(this.nodes.get(id)!);
    // Apply the bootstrap membership entries so every node starts knowing the configuration.
    for (const id of members) while (this.hasReady(id)) this.handleReady(id);
    this.trace.length = 0;
    this.afterStep();
  }

  private log(line: string): void {
    if (this.tracing) this.trace.push(line);
  }

  /** Drains the trace recorded so far. */
  takeTrace(): string[] {
    return this.trace.splice(0, this.trace.length);
  }

  private startNode(n: SimNode): void {
    const snap = n.storage.snapshot();
    n.sm = SimStateMachine.fromSnapshot(snap);
    const r = this.options.raft ?? {};
    n.node = new RawNode({
      id: n.id,
      storage: n.storage,
      rng: this.rng.fork(),
      applied: snap.metadata.index,
      ...r,
    });
  }

  ids(): number[] {
    return [...this.nodes.keys()].sort((a, b) => a - b);
  }

  node(id: number): SimNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id} in the cluster`);
    return n;
  }

  raw(id: number): RawNode {
    return this.node(id).mustNode();
  }

  liveIds(): number[] {
    return this.ids().filter((id) => this.node(id).alive);
  }

  /** Live nodes that think they lead, newest term first. */
  leaders(): number[] {
    return this.liveIds()
      .filter((id) => this.raw(id).raft.state === 'leader')
      .sort((a, b) => this.raw(b).raft.term - this.raw(a).raft.term);
  }

  /** The leader of the highest term among live nodes, if any. */
  leader(): number | undefined {
    return this.leaders()[0];
  }

  /** Counts a step and checks every invariant. Every mutating method ends here. */
  private afterStep(): void {
    this.checker.step++;
    if (!this.checking) return;
    const live: LiveNode[] = [];
    for (const id of this.liveIds()) {
      const n = this.node(id);
      live.push({ id, node: n.node!, persistedCommit: n.storage.hardState().commit });
    }
    this.checker.check(live);
  }

  // ---- steps ----

  /** Advances simulated time by one tick on every live node. */
  tickAll(): void {
    this.now++;
    for (const id of this.liveIds()) this.raw(id).tick();
    this.afterStep();
  }

  /** Ticks one node (golden scripts; the clock of the network does not move). */
  tick(id: number, times = 1): void {
    for (let i = 0; i < times; i++) this.raw(id).tick();
    this.afterStep();
  }

  hasReady(id: number): boolean {
    const n = this.node(id);
    return n.alive && n.node!.hasReady();
  }

  /**
   * Does what node `id`'s Ready says, in the required order: persist, send, apply, advance.
   * With `crashAfterPersist`, the node dies right after persisting: nothing is sent or applied.
   */
  handleReady(id: number, crashAfterPersist = false): Ready | undefined {
    const n = this.node(id);
    if (!n.alive || !n.node!.hasReady()) {
      this.afterStep();
      return undefined;
    }
    const node = n.node!;
    const rd = node.ready();
    for (const line of formatReady(id, rd)) this.log(line);
    if (rd.snapshot !== undefined) n.storage.applySnapshot(rd.snapshot);
    n.storage.append(rd.entries);
    if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
    if (crashAfterPersist) {
      this.crashNode(n);
      this.afterStep();
      return rd;
    }
    for (const m of rd.messages) this.send(m);
    if (rd.snapshot !== undefined) {
      n.sm = SimStateMachine.fromSnapshot(rd.snapshot);
      this.checker.onApply(id, n.sm.index, n.sm.hash);
    }
    for (const e of rd.committedEntries) {
      if (e.index <= n.sm.index) continue;
      n.sm.apply(e);
      if (this.checking) this.checker.onApply(id, n.sm.index, n.sm.hash);
    }
    for (const rs of rd.readStates) {
      if (this.checking) this.checker.onReadState(id, rs.index, rs.ctx);
      n.reads.push(rs);
    }
    node.advance(rd);
    this.maybeCompact(n);
    this.afterStep();
    return rd;
  }

  private maybeCompact(n: SimNode): void {
    const every = this.options.snapshotEvery;
    if (every === undefined) return;
    const applied = n.sm.index;
    if (applied - n.storage.snapshot().metadata.index < every) return;
    n.storage.createSnapshot(applied, n.node!.confState(), n.sm.encode());
    const to = applied - (this.options.compactKeep ?? 0);
    if (to >= n.storage.firstIndex()) n.storage.compact(to);
  }

  /** Snapshots node `id` at its applied index and compacts its log up to there (golden `compact`). */
  compact(id: number): void {
    const n = this.node(id);
    const applied = n.sm.index;
    n.storage.createSnapshot(applied, n.mustNode().confState(), n.sm.encode());
    if (applied >= n.storage.firstIndex()) n.storage.compact(applied);
    this.afterStep();
  }

  private send(m: Message): void {
    const ok = this.network.send(m, this.now);
    if (!ok) {
      this.log(`  dropped ${formatMessage(m)}`);
      if (m.type === 'snap') this.reportSnapshot(m.from, m.to, false);
    }
  }

  private reportSnapshot(from: number, to: number, ok: boolean): void {
    const sender = this.nodes.get(from);
    if (sender?.node !== undefined) sender.node.reportSnapshot(to, ok);
  }

  /** Messages whose delay has elapsed (any of them may be delivered next: reordering). */
  deliverable(): Envelope[] {
    return this.network.deliverable(this.now);
  }

  /** Delivers one envelope, unless its link is cut or its target is down. */
  deliver(env: Envelope): void {
    this.network.take(env);
    const m = env.msg;
    const target = this.nodes.get(m.to);
    if (target?.node === undefined || this.network.isBlocked(m.from, m.to)) {
      this.log(`  lost ${formatMessage(m)}`);
      if (m.type === 'snap') this.reportSnapshot(m.from, m.to, false);
      this.afterStep();
      return;
    }
    this.log(formatMessage(m));
    target.node.step(m);
    if (m.type === 'snap') this.reportSnapshot(m.from, m.to, true);
    this.afterStep();
  }

  /** Drops every message in flight. */
  dropAll(): number {
    const all = this.network.takeAll();
    for (const env of all) if (env.msg.type === 'snap') this.reportSnapshot(env.msg.from, env.msg.to, false);
    this.afterStep();
    return all.length;
  }

  private attempt(fn: () => ProposalId): ProposeResult {
    try {
      const id = fn();
      this.afterStep();
      return { ok: true, id };
    } catch (e) {
      this.afterStep();
      if (isKvError(e)) return { ok: false, code: e.code };
      throw e;
    }
  }

  propose(id: number, data: Uint8Array): ProposeResult {
    return this.attempt(() => this.raw(id).propose(data));
  }

  proposeConfChange(id: number, cc: ConfChange): ProposeResult {
    return this.attempt(() => this.raw(id).proposeConfChange(cc));
  }

  /** Asks node `id` for a read index; the answer arrives as a read state in a later Ready. */
  readIndex(id: number, ctx: Uint8Array): string | undefined {
    try {
      this.checker.onReadRequest(ctx);
      this.raw(id).readIndex(ctx);
      this.afterStep();
      return undefined;
    } catch (e) {
      this.afterStep();
      if (isKvError(e)) return e.code;
      throw e;
    }
  }

  transferLeader(id: number, to: number): string | undefined {
    try {
      this.raw(id).transferLeader(to);
      this.afterStep();
      return undefined;
    } catch (e) {
      this.afterStep();
      if (isKvError(e)) return e.code;
      throw e;
    }
  }

  campaign(id: number): void {
    this.raw(id).campaign();
    this.afterStep();
  }

  partition(groups: readonly (readonly number[])[]): void {
    this.network.partition(groups);
    this.afterStep();
  }

  heal(): void {
    this.network.heal();
    this.afterStep();
  }

  private crashNode(n: SimNode): void {
    n.node = undefined;
  }

  /** Kills node `id`: everything it had not persisted is gone. */
  crash(id: number): void {
    const n = this.node(id);
    if (!n.alive) throw new Error(`node ${id} is already crashed`);
    this.crashNode(n);
    this.afterStep();
  }

  /** Starts node `id` again from its storage (and its state machine from the storage's snapshot). */
  restart(id: number): void {
    const n = this.node(id);
    if (n.alive) throw new Error(`node ${id} is running`);
    n.lives++;
    this.checker.onRestart(id);
    this.startNode(n);
    this.afterStep();
  }

  /** Adds a brand-new, empty node (not yet a member: propose a conf change to add it). */
  addNode(id: number): void {
    if (this.nodes.has(id)) throw new Error(`node ${id} already exists`);
    const n = new SimNode(id, new MemoryStorage());
    this.nodes.set(id, n);
    this.startNode(n);
    this.afterStep();
  }

  /**
   * Handles readies and delivers messages (ignoring delays, in FIFO order) until nothing is left
   * to do, without ticking. Returns the number of rounds; throws if it does not settle.
   */
  stabilize(maxRounds = 1000): number {
    for (let round = 0; round < maxRounds; round++) {
      let did = false;
      for (const id of this.ids()) {
        while (this.hasReady(id)) {
          this.handleReady(id);
          did = true;
        }
      }
      for (const env of this.network.inFlight()) {
        this.deliver(env);
        did = true;
      }
      if (!did) return round;
    }
    throw new Error(`cluster did not stabilize within ${maxRounds} rounds (SEED=${this.options.seed})`);
  }

  /** Ticks all nodes (handling readies and messages between ticks) until a leader exists. */
  electLeader(maxTicks = 200): number {
    for (let t = 0; t < maxTicks; t++) {
      this.stabilize();
      const l = this.leader();
      if (l !== undefined && this.liveIds().every((id) => this.raw(id).raft.lead === l || !this.raw(l).raft.tracker.isMember(id))) return l;
      this.tickAll();
    }
    throw new Error(`no leader after ${maxTicks} ticks (SEED=${this.options.seed})`);
  }
}
