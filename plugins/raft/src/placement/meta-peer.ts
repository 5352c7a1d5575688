/**
 * One store's peer of the meta raft group: the replicated placement state (issue 8 item 5).
 *
 * The meta group is a raft group of its own, beside the store's data regions: region id
 * `META_REGION_ID` (0, never handed out by `allocId`) on the wire, peer id = store id, a voter on
 * every store of the cluster. Its raft state lives in the raft CF under `0x01 0x4D ..` (not the
 * data regions' `0x01 0x02 ..`, so `Store.open` never mistakes it for a region), and its state
 * machine is the placement state under core's placement keys (`0x01 0x50 ..`), so every store
 * holds a full copy and any of them can lead. Snapshots carry the whole placement namespace.
 *
 * The TSO is served only by the leader: it hands out a ts only after a read-index round has
 * confirmed its leadership (so no later leader has served anyone yet) and it has applied an entry
 * of its own term (so it starts from the newest committed high-water mark); the mark is raised
 * through the log, a window ahead of use, before any ts at or above it leaves. A new leader
 * starts at the committed mark, above every ts any earlier leader handed out.
 */
import {
  KvError,
  WriteBatch,
  freezeRegion,
  systemClock,
  composeTs,
  placementKeys as K,
  type Clock,
  type Region,
  type StorageEngine,
} from '@flashkv/core';
import { RawNode, decodeConfChange, type ConfChange, type ConfState, type Entry, type HardState, type InitialState, type Rng, type Snapshot } from '../core/index.js';
import { decodeApplyState, decodeHardState, encodeApplyState, encodeHardState, type ApplyState } from '../store/codec.js';
import { InMemoryLogStorage, loadLog } from '../store/log-storage.js';
import type { StoreRaftOptions } from '../store/store.js';
import type { RaftEnvelope, RaftReceiver, Transport } from '../store/transport.js';
import { decodeMetaCommand, encodeMetaCommand, type MetaCommand } from './meta-codec.js';
import { MetaState, stageInitialPlacement, type MetaRegionChange, type MetaResult } from './meta-state.js';

/** The meta group's region id on the wire; data regions' ids come from `allocId` and start at 1. */
export const META_REGION_ID = 0;
/** Default TSO window: the mark is raised this far ahead of the ts being handed out. */
export const META_TSO_WINDOW_MS = 3000;

const LOCAL = 0x01;
const META_NS = 0x4d;
const INIT_INDEX = 5;
const INIT_TERM = 5;
const LOGICAL_LIMIT = 1 << 18;
const MAX_PHYSICAL_MS = 2 ** 46 - 1;

const HARD_KEY = Uint8Array.of(LOCAL, META_NS, 0x01);
const APPLY_KEY = Uint8Array.of(LOCAL, META_NS, 0x02);
const CONF_KEY = Uint8Array.of(LOCAL, META_NS, 0x03);
const LOG_TAG = 0x04;

function logKey(index: number): Uint8Array {
  const k = new Uint8Array(11);
  k[0] = LOCAL;
  k[1] = META_NS;
  k[2] = LOG_TAG;
  new DataView(k.buffer).setBigUint64(3, BigInt(index));
  return k;
}
const LOG_LOWER = Uint8Array.of(LOCAL, META_NS, LOG_TAG);
const LOG_UPPER = Uint8Array.of(LOCAL, META_NS, LOG_TAG + 1);

/** The meta group's membership: u16 count + u64 voters, then (when any) u16 count + u64 learners. */
function encodeConf(conf: ConfState): Uint8Array {
  const { voters, learners } = conf;
  const out = new Uint8Array(2 + 8 * voters.length + (learners.length > 0 ? 2 + 8 * learners.length : 0));
  const dv = new DataView(out.buffer);
  dv.setUint16(0, voters.length);
  voters.forEach((v, i) => dv.setBigUint64(2 + 8 * i, BigInt(v)));
  if (learners.length > 0) {
    const at = 2 + 8 * voters.length;
    dv.setUint16(at, learners.length);
    learners.forEach((v, i) => dv.setBigUint64(at + 2 + 8 * i, BigInt(v)));
  }
  return out;
}

function decodeConf(b: Uint8Array): ConfState {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const list = (at: number): number[] => {
    const n = dv.getUint16(at);
    if (b.length < at + 2 + 8 * n) throw new KvError('CORRUPTED', 'meta group member list has the wrong length');
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(Number(dv.getBigUint64(at + 2 + 8 * i)));
    return out;
  };
  const voters = list(0);
  const at = 2 + 8 * voters.length;
  const learners = b.length === at ? [] : list(at);
  if (b.length !== at + (b.length === at ? 0 : 2 + 8 * learners.length)) throw new KvError('CORRUPTED', 'meta group member list has trailing bytes');
  return { voters, learners };
}

/** The membership after one committed single-server change (as the raft core's tracker applies it). */
function applyConfChange(conf: ConfState, cc: ConfChange): ConfState {
  const voters = conf.voters.filter((v) => v !== cc.nodeId);
  const learners = conf.learners.filter((v) => v !== cc.nodeId);
  if (cc.type === 'addNode') voters.push(cc.nodeId);
  else if (cc.type === 'addLearner') learners.push(cc.nodeId);
  return { voters, learners };
}

/** Snapshot data: u8 1, u32 count, then per pair u32 len + key, u32 len + value (the placement namespace). */
function encodeSnapData(pairs: readonly [Uint8Array, Uint8Array][]): Uint8Array {
  let size = 5;
  for (const [k, v] of pairs) size += 8 + k.length + v.length;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  out[0] = 1;
  dv.setUint32(1, pairs.length);
  let at = 5;
  for (const [k, v] of pairs) {
    dv.setUint32(at, k.length);
    out.set(k, at + 4);
    at += 4 + k.length;
    dv.setUint32(at, v.length);
    out.set(v, at + 4);
    at += 4 + v.length;
  }
  return out;
}

function decodeSnapData(b: Uint8Array): [Uint8Array, Uint8Array][] {
  if (b[0] !== 1) throw new KvError('CORRUPTED', `meta snapshot format ${b[0]} is not supported`);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const n = dv.getUint32(1);
  const out: [Uint8Array, Uint8Array][] = [];
  let at = 5;
  for (let i = 0; i < n; i++) {
    const kl = dv.getUint32(at);
    const k = b.slice(at + 4, at + 4 + kl);
    at += 4 + kl;
    const vl = dv.getUint32(at);
    const v = b.slice(at + 4, at + 4 + vl);
    at += 4 + vl;
    out.push([k, v]);
  }
  if (at !== b.length) throw new KvError('CORRUPTED', 'meta snapshot has trailing bytes');
  return out;
}

/** True once `engine` holds a meta group peer (bootstrapped by `bootstrapMeta`). */
export function hasMetaGroup(engine: StorageEngine): boolean {
  return engine.get('raft', CONF_KEY) !== undefined;
}

/**
 * Writes the meta group's initial raft state and placement state into a fresh engine, durably.
 * Every store of a new cluster gets the same voters, regions and next id, so their state machines
 * agree at the bootstrap index.
 */
export async function bootstrapMeta(engine: StorageEngine, voters: readonly number[], regions: readonly Region[], nextId: number): Promise<void> {
  if (hasMetaGroup(engine)) throw new KvError('INVALID_ARGUMENT', 'engine already holds a meta group peer');
  if (engine.get('raft', K.FORMAT_VERSION_KEY) !== undefined) throw new KvError('INVALID_ARGUMENT', 'engine already holds placement state (from a local placement?)');
  const batch = new WriteBatch()
    .put('raft', HARD_KEY, encodeHardState({ term: INIT_TERM, vote: 0, commit: INIT_INDEX }))
    .put('raft', APPLY_KEY, encodeApplyState({ applied: INIT_INDEX, truncatedIndex: INIT_INDEX, truncatedTerm: INIT_TERM }))
    .put('raft', CONF_KEY, encodeConf({ voters, learners: [] }));
  stageInitialPlacement(batch, regions, nextId);
  await engine.write(batch, { sync: true });
}

function readPlacementNamespace(get: (lower: Uint8Array, upper: Uint8Array) => [Uint8Array, Uint8Array][]): [Uint8Array, Uint8Array][] {
  return get(K.NAMESPACE_LOWER, K.NAMESPACE_UPPER);
}

/** The meta group's raft storage: log in memory and in the raft CF (`InMemoryLogStorage`, as a region's `PeerStorage`). */
export class MetaStorage extends InMemoryLogStorage {
  constructor(
    private readonly engine: StorageEngine,
    public conf: ConfState,
    hard: HardState,
    apply: ApplyState,
    entries: Entry[],
  ) {
    super(hard, apply, entries);
  }

  static load(engine: StorageEngine): MetaStorage {
    const hs = engine.get('raft', HARD_KEY);
    const as = engine.get('raft', APPLY_KEY);
    const conf = engine.get('raft', CONF_KEY);
    if (!hs || !as || !conf) throw new KvError('INVALID_ARGUMENT', 'engine holds no meta group peer: bootstrap it first');
    const apply = decodeApplyState(as);
    const entries = loadLog(engine, LOG_LOWER, LOG_UPPER, apply.truncatedIndex, 'meta raft log');
    return new MetaStorage(engine, decodeConf(conf), decodeHardState(hs), apply, entries);
  }

  initialState(): InitialState {
    return { hardState: this.hard, confState: this.conf };
  }

  protected logKeyAt(index: number): Uint8Array {
    return logKey(index);
  }

  /** The placement namespace and apply state from one engine snapshot, so they agree. */
  snapshot(): Snapshot {
    const snap = this.engine.snapshot();
    try {
      const applied = decodeApplyState(snap.get('raft', APPLY_KEY)!).applied;
      if (this.cachedSnap && this.cachedSnap.metadata.index === applied) return this.cachedSnap;
      const pairs = readPlacementNamespace((lower, upper) => {
        const out: [Uint8Array, Uint8Array][] = [];
        const it = snap.iterator('raft', { lower, upper });
        try {
          for (let ok = it.first(); ok; ok = it.next()) out.push([it.key().slice(), it.value().slice()]);
        } finally {
          it.close();
        }
        return out;
      });
      this.cachedSnap = { metadata: { index: applied, term: this.term(applied), confState: this.conf }, data: encodeSnapData(pairs) };
      return this.cachedSnap;
    } finally {
      snap.release();
    }
  }

  /** Stages a received snapshot: the placement namespace replaced, the log dropped. */
  stageSnapshot(snap: Snapshot, batch: WriteBatch): void {
    batch.deleteRange('raft', K.NAMESPACE_LOWER, K.NAMESPACE_UPPER);
    for (const [k, v] of decodeSnapData(snap.data)) batch.put('raft', k, v);
    batch.deleteRange('raft', LOG_LOWER, LOG_UPPER);
    const { index, term } = snap.metadata;
    batch.put('raft', APPLY_KEY, encodeApplyState({ applied: index, truncatedIndex: index, truncatedTerm: term }));
  }
}

export interface MetaPeerOptions {
  readonly engine: StorageEngine;
  readonly storeId: number;
  readonly transport: Transport;
  /** Election jitter. */
  readonly rng: Rng;
  readonly raft?: StoreRaftOptions;
  /** The TSO's wall clock. Default the system clock. */
  readonly clock?: Clock;
  /** How far ahead of use the TSO high-water mark is raised. Default 3000 ms. */
  readonly tsoWindowMs?: number;
  /** Compact the meta log once this many applied entries are above the last truncation. Default 1000. */
  readonly logGcThreshold?: number;
}

/** What a meta command resolves to on the peer that proposed it. */
export interface MetaOutcome {
  readonly result: MetaResult;
  readonly changes: readonly MetaRegionChange[];
}

type Pending = { readonly term: number; resolve(v: MetaOutcome): void; reject(e: unknown): void };

/** The leader's TSO allocator, valid for one term. */
interface TsoTerm {
  readonly term: number;
  physical: number;
  logical: number;
  /** A raise of the mark in flight: its target and when it is applied. */
  pending: { readonly target: number; readonly done: Promise<void> } | undefined;
}

/**
 * A meta peer for a store joining a running cluster (`RaftCluster.addStore`): no members, nothing
 * applied, so the leader must send it a snapshot (the placement namespace) once the group adds it
 * as a learner. Its placement state until then is a placeholder the snapshot replaces.
 */
export async function bootstrapMetaJoiner(engine: StorageEngine): Promise<void> {
  if (hasMetaGroup(engine)) throw new KvError('INVALID_ARGUMENT', 'engine already holds a meta group peer');
  const batch = new WriteBatch()
    .put('raft', HARD_KEY, encodeHardState({ term: 0, vote: 0, commit: 0 }))
    .put('raft', APPLY_KEY, encodeApplyState({ applied: 0, truncatedIndex: 0, truncatedTerm: 0 }))
    .put('raft', CONF_KEY, encodeConf({ voters: [], learners: [] }));
  stageInitialPlacement(batch, [freezeRegion({ id: 1, startKey: new Uint8Array(0), endKey: new Uint8Array(0), epoch: { version: 1, confVer: 1 }, peers: [], flashback: { inFlashback: false, flashbackStartTs: 0n } })], 1);
  await engine.write(batch, { sync: true });
}

export class MetaPeer implements RaftReceiver {
  readonly storeId: number;
  readonly node: RawNode;
  readonly storage: MetaStorage;
  state: MetaState;
  private readonly engine: StorageEngine;
  private readonly proposals = new Map<number, Pending>();
  private readonly confProposals = new Map<number, { readonly term: number; resolve(c: ConfState): void; reject(e: unknown): void }>();
  private readonly reads = new Map<string, { index: number | undefined; age: number; resolve(): void; reject(e: unknown): void }>();
  private readCounter = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private applied: number;
  /** Term of the last applied entry: the leader serves the TSO only once it equals its own term. */
  private appliedTerm: number;
  private tso: TsoTerm | undefined;
  private readonly clock: Clock;
  private readonly windowMs: number;
  private readonly gcThreshold: number;
  private readonly readTimeout: number;
  /** Snapshots installed from a leader, for tests. */
  snapshotsApplied = 0;

  private constructor(private readonly options: MetaPeerOptions) {
    this.engine = options.engine;
    this.storeId = options.storeId;
    this.storage = MetaStorage.load(options.engine);
    this.state = MetaState.load(options.engine);
    this.applied = this.storage.apply.applied;
    this.appliedTerm = this.storage.term(this.applied);
    this.clock = options.clock ?? systemClock;
    this.windowMs = options.tsoWindowMs ?? META_TSO_WINDOW_MS;
    if (!Number.isSafeInteger(this.windowMs) || this.windowMs < 1) throw new TypeError(`the TSO window must be a positive whole number of ms, got ${this.windowMs}`);
    this.gcThreshold = options.logGcThreshold ?? 1000;
    this.readTimeout = 4 * (options.raft?.electionTick ?? 10);
    const r = options.raft ?? {};
    this.node = new RawNode({
      id: options.storeId,
      storage: this.storage,
      rng: options.rng,
      applied: this.applied,
      ...(r.electionTick !== undefined ? { electionTick: r.electionTick } : {}),
      ...(r.heartbeatTick !== undefined ? { heartbeatTick: r.heartbeatTick } : {}),
      ...(r.preVote !== undefined ? { preVote: r.preVote } : {}),
      ...(r.checkQuorum !== undefined ? { checkQuorum: r.checkQuorum } : {}),
      ...(r.readOnlyOption !== undefined ? { readOnlyOption: r.readOnlyOption } : {}),
    });
  }

  /** Opens the meta peer an engine holds (see `bootstrapMeta`). */
  static open(options: MetaPeerOptions): MetaPeer {
    return new MetaPeer(options);
  }

  get stopped(): boolean {
    return this.closed;
  }

  get appliedIndex(): number {
    return this.applied;
  }

  isLeader(): boolean {
    return this.node.status().state === 'leader';
  }

  /** The store believed to lead the meta group, if any. */
  leaderStoreId(): number | undefined {
    const lead = this.node.status().lead;
    return lead === 0 ? undefined : lead;
  }

  /** A leader that has applied an entry of its own term: its state is the newest committed one. */
  isReadyLeader(): boolean {
    const s = this.node.status();
    return s.state === 'leader' && this.appliedTerm === s.term;
  }

  notLeader(): KvError {
    const lead = this.leaderStoreId();
    return new KvError('NOT_LEADER', `store ${this.storeId} does not lead the meta (placement) group`, {
      regionId: META_REGION_ID,
      leader: lead === undefined || lead === this.storeId ? undefined : { peerId: lead, storeId: lead },
    });
  }

  /** The engine holding this peer's copy of the placement state (jobs are read from it). */
  get placementEngine(): StorageEngine {
    return this.engine;
  }

  private run<T>(fn: () => Promise<T> | T): Promise<T> {
    const next = this.chain.then(() => {
      if (this.closed) throw new KvError('ENGINE_CLOSED', `meta peer on store ${this.storeId} is stopped`, { storeId: this.storeId });
      return fn();
    });
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Stops taking work (a crash as far as this process is concerned); what is on disk stays. */
  stop(): void {
    if (this.closed) return;
    this.closed = true;
    const err = new KvError('ENGINE_CLOSED', `meta peer on store ${this.storeId} stopped`, { storeId: this.storeId });
    for (const p of this.proposals.values()) p.reject(err);
    for (const r of this.reads.values()) r.reject(err);
    for (const c of this.confProposals.values()) c.reject(err);
    this.proposals.clear();
    this.reads.clear();
    this.confProposals.clear();
  }

  // ---- inputs

  tick(): Promise<void> {
    return this.run(async () => {
      this.node.tick();
      for (const [key, r] of this.reads) {
        if (r.index === undefined && ++r.age > this.readTimeout) {
          this.reads.delete(key);
          r.reject(this.notLeader());
        }
      }
      await this.drive();
    });
  }

  receive(env: RaftEnvelope): Promise<void> {
    return this.run(async () => {
      if (env.message.to !== this.storeId) return;
      this.node.step(env.message);
      await this.drive();
    });
  }

  reportSnapshot(_regionId: number, toPeer: number, delivered: boolean): Promise<void> {
    return this.run(async () => {
      this.node.reportSnapshot(toPeer, delivered);
      await this.drive();
    });
  }

  reportUnreachable(_regionId: number, toPeer: number): Promise<void> {
    return this.run(async () => {
      this.node.reportUnreachable(toPeer);
      await this.drive();
    });
  }

  /** Hands leadership to the meta peer on `toStore` (leader only; the core does the catch-up and timeout-now). */
  transferLeader(toStore: number): Promise<void> {
    return this.run(async () => {
      if (!this.isLeader()) throw this.notLeader();
      this.node.transferLeader(toStore);
      await this.drive();
    });
  }

  campaign(): Promise<void> {
    return this.run(async () => {
      this.node.campaign();
      await this.drive();
    });
  }

  /**
   * Proposes a placement command on this peer, which must lead (else NOT_LEADER with the hint).
   * Resolves with its result once applied here, or rejects with the refusal apply gave it.
   */
  propose(cmd: MetaCommand): Promise<MetaOutcome> {
    return this.run(async () => {
      if (!this.isLeader()) throw this.notLeader();
      let id;
      try {
        id = this.node.propose(encodeMetaCommand(cmd));
      } catch (e) {
        if (e instanceof KvError && e.code === 'NOT_LEADER') throw this.notLeader();
        throw e;
      }
      const applied = new Promise<MetaOutcome>((resolve, reject) => this.proposals.set(id.index, { term: id.term, resolve, reject }));
      applied.catch(() => undefined);
      await this.drive();
      return { applied };
    }).then((x) => x.applied);
  }

  /**
   * A membership change of the meta group (single-server: add a learner, add or promote a voter,
   * remove), proposed on this peer, which must lead. Resolves with the membership once applied
   * here; SERVER_BUSY while another change is pending.
   */
  proposeConfChange(cc: ConfChange): Promise<ConfState> {
    return this.run(async () => {
      if (!this.isLeader()) throw this.notLeader();
      let id;
      try {
        id = this.node.proposeConfChange(cc);
      } catch (e) {
        if (e instanceof KvError && e.code === 'NOT_LEADER') throw this.notLeader();
        throw e;
      }
      const applied = new Promise<ConfState>((resolve, reject) => this.confProposals.set(id.index, { term: id.term, resolve, reject }));
      applied.catch(() => undefined);
      await this.drive();
      return { applied };
    }).then((x) => x.applied);
  }

  /**
   * Confirms this peer still leads (a read-index round: a quorum answered it after the call
   * began) and waits until it has applied up to the read index. Afterwards the local state is at
   * least as new as anything committed before the call (a linearizable read point).
   */
  confirmLeader(onStart?: () => void): Promise<void> {
    return this.run(async () => {
      onStart?.();
      if (!this.isLeader()) throw this.notLeader();
      const key = `meta:${this.storeId}:${++this.readCounter}`;
      try {
        this.node.readIndex(new TextEncoder().encode(key));
      } catch (e) {
        if (e instanceof KvError && e.code === 'NOT_LEADER') throw this.notLeader();
        throw e;
      }
      const done = new Promise<void>((resolve, reject) => this.reads.set(key, { index: undefined, age: 0, resolve, reject }));
      done.catch(() => undefined);
      await this.drive();
      return { done };
    }).then((x) => x.done);
  }

  /** A confirm round not yet started: callers arriving before it starts share it (one round for many `getTs`). */
  private joinable: Promise<void> | undefined;

  private confirmShared(): Promise<void> {
    if (this.joinable !== undefined) return this.joinable;
    const p: Promise<void> = this.confirmLeader(() => {
      if (this.joinable === p) this.joinable = undefined;
    });
    this.joinable = p;
    p.catch(() => {
      if (this.joinable === p) this.joinable = undefined;
    });
    return p;
  }

  /**
   * `count` timestamps, strictly above every ts this group ever handed out, from the leader only.
   * Rejects NOT_LEADER (with a hint) on a follower or a leader that lost its term meanwhile.
   */
  async getTs(count: number): Promise<bigint[]> {
    if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 1 || count > LOGICAL_LIMIT) {
      throw new KvError('INVALID_ARGUMENT', `getTs count must be a whole number in 1..${LOGICAL_LIMIT}, got ${String(count)}`, { count });
    }
    // Every caller here arrived before the round it waits on started, so the round's quorum
    // answered after the call began: a shared round is as good as one per call.
    await this.confirmShared();
    const term = this.node.status().term;
    if (!this.isReadyLeader()) throw this.notLeader();
    if (this.tso === undefined || this.tso.term !== term) {
      // Every ts an earlier leader handed out is below the mark it committed, which we have applied.
      this.tso = { term, physical: this.state.tsoMark, logical: 0, pending: undefined };
    }
    const t = this.tso;
    const out = this.reserve(t, count);
    while (t.physical >= this.state.tsoMark) {
      if (this.closed || this.node.status().term !== term) throw this.notLeader();
      await this.raiseMark(t);
    }
    return out;
  }

  private reserve(t: TsoTerm, count: number): bigint[] {
    const now = Math.floor(this.clock.nowMs());
    if (now > t.physical) {
      t.physical = now;
      t.logical = 0;
    }
    const out = new Array<bigint>(count);
    for (let i = 0; i < count; i++) {
      if (t.logical >= LOGICAL_LIMIT) {
        t.physical += 1;
        t.logical = 0;
      }
      out[i] = composeTs(t.physical, t.logical);
      t.logical += 1;
    }
    return out;
  }

  /** Raises the replicated mark above `t.physical` (one proposal shared by concurrent callers). */
  private async raiseMark(t: TsoTerm): Promise<void> {
    const cur = t.pending;
    if (cur !== undefined) {
      if (cur.target > t.physical) await cur.done;
      else await cur.done.catch(() => undefined);
      return;
    }
    const target = Math.min(Math.max(t.physical, Math.floor(this.clock.nowMs())) + this.windowMs, MAX_PHYSICAL_MS);
    if (target <= t.physical) throw new KvError('INVALID_ARGUMENT', 'the TSO physical time has reached the end of its 46-bit range');
    const entry = {
      target,
      done: this.propose({ op: 'tso', mark: target })
        .then(() => undefined)
        .finally(() => {
          if (t.pending === entry) t.pending = undefined;
        }),
    };
    t.pending = entry;
    await entry.done;
  }

  // ---- the Ready loop

  private async drive(): Promise<void> {
    while (!this.closed && this.node.hasReady()) {
      const rd = this.node.ready();
      const batch = new WriteBatch();
      let sync = rd.mustSync;
      if (rd.snapshot) {
        this.storage.stageSnapshot(rd.snapshot, batch);
        batch.put('raft', CONF_KEY, encodeConf(rd.snapshot.metadata.confState));
        sync = true;
      }
      this.storage.stageAppend(rd.entries, batch);
      if (rd.hardState) batch.put('raft', HARD_KEY, encodeHardState(rd.hardState));
      if (batch.count > 0) await this.guard(this.engine.write(batch, { sync }));
      if (rd.snapshot) {
        const { index, term } = rd.snapshot.metadata;
        this.storage.resetTo(index, term);
        this.storage.conf = rd.snapshot.metadata.confState;
        this.applied = index;
        this.appliedTerm = term;
        this.state = MetaState.load(this.engine);
        this.snapshotsApplied++;
        for (const [i, p] of this.proposals) {
          if (i > index) continue;
          this.proposals.delete(i);
          p.reject(new KvError('NOT_LEADER', `meta proposal at index ${i} was superseded by a snapshot; its outcome is unknown`, { regionId: META_REGION_ID, unknownOutcome: true }));
        }
      }
      this.storage.commitAppend(rd.entries);
      if (rd.hardState) this.storage.hard = rd.hardState;
      for (const m of rd.messages) this.options.transport.send({ regionId: META_REGION_ID, fromStore: this.storeId, toStore: m.to, message: m });
      await this.applyEntries(rd.committedEntries);
      this.node.advance(rd);
      for (const rs of rd.readStates) {
        const r = this.reads.get(new TextDecoder().decode(rs.ctx));
        if (r) r.index = rs.index;
      }
      if (rd.softState && rd.softState.state !== 'leader') {
        this.tso = undefined;
        for (const [key, r] of this.reads) {
          if (r.index !== undefined) continue;
          this.reads.delete(key);
          r.reject(this.notLeader());
        }
      }
      for (const [key, r] of this.reads) {
        if (r.index !== undefined && r.index <= this.applied) {
          this.reads.delete(key);
          r.resolve();
        }
      }
      await this.maybeCompact();
    }
  }

  /** A failed write leaves memory ahead of the disk: the peer stops (a crash), and the error goes up. */
  private async guard(p: Promise<void>): Promise<void> {
    try {
      await p;
    } catch (e) {
      this.stop();
      throw e;
    }
  }

  private async applyEntries(entries: readonly Entry[]): Promise<void> {
    const todo = entries.filter((e) => e.index > this.applied);
    if (todo.length === 0) return;
    const batch = new WriteBatch();
    const after: (() => void)[] = [];
    let conf = this.storage.conf;
    let sync = false;
    for (const e of todo) {
      if (e.type === 'confChange') {
        // Persisted with the applied index in one synced batch: a restart's raft membership
        // (initial state) then matches what the core took in at this entry's advance.
        conf = applyConfChange(conf, decodeConfChange(e.data));
        batch.put('raft', CONF_KEY, encodeConf(conf));
        sync = true;
        const cp = this.confProposals.get(e.index);
        if (cp) {
          this.confProposals.delete(e.index);
          const now = conf;
          if (cp.term !== e.term) after.push(() => cp.reject(new KvError('NOT_LEADER', `meta conf change at index ${e.index} was overwritten by a later leader`, { regionId: META_REGION_ID, stale: true })));
          else after.push(() => cp.resolve(now));
        }
        continue;
      }
      const pending = this.proposals.get(e.index);
      if (pending) this.proposals.delete(e.index);
      let outcome: { ok: MetaOutcome } | { err: unknown } | undefined;
      if (e.type === 'normal' && e.data.length > 0) {
        const changes: MetaRegionChange[] = [];
        try {
          const result = this.state.apply(this.engine, decodeMetaCommand(e.data), batch, changes);
          outcome = { ok: { result, changes } };
        } catch (err) {
          outcome = { err };
        }
      }
      if (pending) {
        if (pending.term !== e.term) {
          after.push(() => pending.reject(new KvError('NOT_LEADER', `meta proposal at index ${e.index} was overwritten by a later leader`, { regionId: META_REGION_ID, stale: true })));
        } else if (outcome && 'ok' in outcome) {
          const v = outcome.ok;
          after.push(() => pending.resolve(v));
        } else if (outcome) {
          const err = outcome.err;
          after.push(() => pending.reject(err));
        }
      }
    }
    const last = todo[todo.length - 1]!;
    for (const [index, p] of this.confProposals) {
      if (p.term >= last.term) continue;
      this.confProposals.delete(index);
      after.push(() => p.reject(new KvError('NOT_LEADER', `meta conf change at index ${index} (term ${p.term}) was superseded by term ${last.term}`, { regionId: META_REGION_ID, stale: true })));
    }
    for (const [index, p] of this.proposals) {
      if (p.term >= last.term) continue;
      this.proposals.delete(index);
      after.push(() => p.reject(new KvError('NOT_LEADER', `meta proposal at index ${index} (term ${p.term}) was superseded by term ${last.term}`, { regionId: META_REGION_ID, stale: true })));
    }
    const apply: ApplyState = { applied: last.index, truncatedIndex: this.storage.apply.truncatedIndex, truncatedTerm: this.storage.apply.truncatedTerm };
    batch.put('raft', APPLY_KEY, encodeApplyState(apply));
    try {
      await this.guard(this.engine.write(batch, { sync }));
    } finally {
      this.state.stagedJobs.clear();
    }
    this.storage.conf = conf;
    this.applied = last.index;
    this.appliedTerm = last.term;
    this.storage.apply = apply;
    for (const f of after) f();
  }

  private async maybeCompact(): Promise<void> {
    const s = this.storage;
    if (this.applied - s.apply.truncatedIndex < this.gcThreshold) return;
    const from = s.apply.truncatedIndex + 1;
    const next = s.compactTo(this.applied);
    const batch = new WriteBatch().deleteRange('raft', logKey(from), logKey(this.applied + 1)).put('raft', APPLY_KEY, encodeApplyState(next));
    await this.guard(this.engine.write(batch));
  }
}
