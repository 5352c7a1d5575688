import {
  KvError,
  NOT_IN_FLASHBACK,
  compareBytes,
  WriteBatch,
  checkRegionGate,
  freezeRegion,
  isInFlashback,
  planSplit,
  regionSnapshot,
  type AdminResult,
  type BatchOp,
  type EventCatalogue,
  type Region,
  type RegionSnapshot,
  type StorageEngine,
  type WriteResult,
  type GateRequest,
} from '@flashkv/core';
import { RawNode, decodeConfChange, type Entry, type Message, type Ready, type ReadOnlyOption, type Rng, type Snapshot } from '../core/index.js';
import {
  DATA_CFS,
  applyStateKey,
  dataRange,
  decodeApplyState,
  decodeCommand,
  decodeHardState,
  decodeRegionState,
  decodeSnapshotData,
  decodeStoreIdent,
  decodeTombstone,
  encodeApplyState,
  encodeCommand,
  encodeHardState,
  encodeRegionState,
  encodeStoreIdent,
  encodeTombstone,
  hardStateKey,
  isRegionStateKey,
  isTombstoneKey,
  logKey,
  logRange,
  notLeader,
  regionIdOfKey,
  regionMetaRange,
  regionRaftRange,
  regionStateKey,
  storeIdentKey,
  tombstoneKey,
  type ApplyState,
  type Command,
} from './codec.js';
import { loadLog } from './log-storage.js';
import { PeerStorage } from './peer-storage.js';
import { applyPeerChange, checkPeerChange, decodeChangePeer, toConfChange, type ChangePeerResult, type PeerChange } from './membership.js';
import type { RaftEnvelope, RaftReceiver, Transport } from './transport.js';

/** A region peer's log starts here, like TiKV's RAFT_INIT_LOG_INDEX: index and term 5 are "the bootstrap". */
export const RAFT_INIT_INDEX = 5;
export const RAFT_INIT_TERM = 5;

export interface StoreRaftOptions {
  readonly electionTick?: number;
  readonly heartbeatTick?: number;
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
  /** 'safe' (a heartbeat round per read, the default) or 'leaseBased' (the leader's lease; needs checkQuorum). */
  readonly readOnlyOption?: ReadOnlyOption;
}

export interface StoreOptions {
  readonly engine: StorageEngine;
  readonly transport: Transport;
  /** Election jitter for every peer of this store. */
  readonly rng: Rng;
  /** Where `applied` and `regionChanged` go (the kernel's events, or a filter in front of them). */
  readonly events?: Pick<EventCatalogue, 'emit'>;
  readonly raft?: StoreRaftOptions;
  /** Compact a region's log once this many applied entries are above the last truncation. Default 1000. */
  readonly logGcThreshold?: number;
  /** Ticks a read may wait for its read index before it fails with NOT_LEADER. Default 4 election timeouts. */
  readonly readTimeoutTicks?: number;
  /**
   * Let a leader's log write run while the store keeps stepping messages (see
   * `persistInBackground`). Default false: every Ready is persisted in turn on the chain.
   */
  readonly asyncLeaderPersist?: boolean;
  /**
   * With `asyncLeaderPersist`: a leader settles proposals of plain writes as soon as they are
   * committed on disk on a quorum of voters (its own log write may still be running: two
   * followers' syncs are a quorum of three), before their apply write has landed; reads still
   * wait for the landed apply (read index). Default false: proposals settle after their apply.
   */
  readonly settleOnDurableQuorum?: boolean;
}

type Waiter<T> = { resolve(v: T): void; reject(e: unknown): void };

/** What a proposal settles with; each caller's promise is typed by the kind of command it proposed. */
type ProposalResult = WriteResult | AdminResult | ChangePeerResult;

interface PendingProposal extends Waiter<ProposalResult> {
  readonly term: number;
}

interface PendingRead extends Waiter<RegionSnapshot> {
  readonly req: GateRequest;
  readonly followerRead: boolean;
  index: number | undefined;
  age: number;
}

/** One region's peer on this store: its raft node, storage, and what waits on it. */
export class RegionPeer {
  readonly node: RawNode;
  readonly storage: PeerStorage;
  readonly proposals = new Map<number, PendingProposal>();
  readonly reads = new Map<string, PendingRead>();
  /** Where the senders of messages live: an uninitialized peer has no peer list to route replies by. */
  readonly peerStores = new Map<number, number>();
  applied: number;
  /** Highest index handed to an apply write (>= applied; ahead while that write is in flight). */
  staged: number;
  /** Highest log index handed to a log write (durable or in flight). */
  logQueued: number;
  /** False for a peer created by a message, until a snapshot gives it a range and data. */
  initialized = true;
  /** A leader Ready whose write is in flight (asyncLeaderPersist); no other Ready runs meanwhile. */
  persisting: Promise<void> | undefined;
  /** This peer applied its own removal: it is destroyed once the Ready is advanced. */
  removed = false;
  /** Its data and raft state are gone from the engine; nothing drives it any more. */
  destroyed = false;
  /** Data bytes (keys and values) applied since the split checker last looked at this region. */
  writtenSinceCheck = 0;

  constructor(
    readonly peerId: number,
    public region: Region,
    storage: PeerStorage,
    node: (storage: PeerStorage) => RawNode,
  ) {
    this.storage = storage;
    this.applied = storage.apply.applied;
    this.staged = this.applied;
    this.logQueued = storage.lastIndex();
    this.node = node(storage);
  }

  isLeader(): boolean {
    return this.node.status().state === 'leader';
  }

  leaderHint(): { peerId: number; storeId: number } | undefined {
    const lead = this.node.status().lead;
    const p = this.region.peers.find((x) => x.id === lead);
    return p ? { peerId: p.id, storeId: p.storeId } : undefined;
  }
}

/** Writes a brand-new region peer's initial state into a batch (bootstrap and split). */
function stageNewPeer(batch: WriteBatch, region: Region, peerId: number): void {
  batch.put('raft', regionStateKey(region.id), encodeRegionState({ peerId, region }));
  batch.put('raft', hardStateKey(region.id), encodeHardState({ term: RAFT_INIT_TERM, vote: 0, commit: RAFT_INIT_INDEX }));
  batch.put('raft', applyStateKey(region.id), encodeApplyState({ applied: RAFT_INIT_INDEX, truncatedIndex: RAFT_INIT_INDEX, truncatedTerm: RAFT_INIT_TERM }));
}

/**
 * Writes a store's identity and its peers of the given regions into an empty engine, durably.
 * Every store of a new cluster is bootstrapped with the same regions; each finds its own peer by
 * store id.
 */
export async function bootstrapStore(engine: StorageEngine, storeId: number, regions: readonly Region[]): Promise<void> {
  if (engine.get('raft', storeIdentKey()) !== undefined) throw new KvError('INVALID_ARGUMENT', `engine already belongs to store ${decodeStoreIdent(engine.get('raft', storeIdentKey())!)}`);
  const batch = new WriteBatch().put('raft', storeIdentKey(), encodeStoreIdent(storeId));
  for (const r of regions) {
    const me = r.peers.find((p) => p.storeId === storeId);
    if (!me) continue;
    stageNewPeer(batch, freezeRegion(r), me.id);
  }
  await engine.write(batch, { sync: true });
}

/**
 * A store: many region peers over one engine (TiKV's raftstore, single-threaded). Every
 * operation (tick, message, proposal, read) runs in turn on one serial chain, and after each the
 * store drives every peer's Ready to completion: persist (synced when raft requires it), send,
 * apply, advance. So the raft cores never see a call between `ready()` and `advance()`, and runs
 * are deterministic given the same inputs.
 */
export class Store implements RaftReceiver {
  readonly peers = new Map<number, RegionPeer>();
  /** Regions whose peer on this store was removed: the removed peer's id (older ids are stale too). */
  readonly tombstones = new Map<number, number>();
  private chain: Promise<unknown> = Promise.resolve();
  private readCounter = 0;
  /** Raft snapshots this store applied (received from a leader), for tests and stats. */
  snapshotsApplied = 0;
  private closed = false;
  /** Failures of background leader writes (the store stops on the first). */
  readonly backgroundErrors: unknown[] = [];
  private readonly gcThreshold: number;
  private readonly readTimeout: number;

  private constructor(
    readonly storeId: number,
    private readonly options: StoreOptions,
  ) {
    this.gcThreshold = options.logGcThreshold ?? 1000;
    this.readTimeout = options.readTimeoutTicks ?? 4 * (options.raft?.electionTick ?? 10);
  }

  get engine(): StorageEngine {
    return this.options.engine;
  }

  /** Opens a bootstrapped store from its engine: every region's log, hard state and apply state. */
  static open(options: StoreOptions): Store {
    const ident = options.engine.get('raft', storeIdentKey());
    if (!ident) throw new KvError('INVALID_ARGUMENT', 'engine holds no store ident: bootstrap the store first');
    const store = new Store(decodeStoreIdent(ident), options);
    const [lower, upper] = regionMetaRange();
    const ids: number[] = [];
    const it = options.engine.iterator('raft', { lower, upper });
    try {
      for (let ok = it.first(); ok; ok = it.next()) {
        if (isRegionStateKey(it.key())) ids.push(regionIdOfKey(it.key()));
        else if (isTombstoneKey(it.key())) store.tombstones.set(regionIdOfKey(it.key()), decodeTombstone(it.value()));
      }
    } finally {
      it.close();
    }
    for (const id of ids) store.loadPeer(id);
    return store;
  }

  private loadPeer(regionId: number): RegionPeer {
    const e = this.options.engine;
    const rs = decodeRegionState(e.get('raft', regionStateKey(regionId))!);
    const hsBytes = e.get('raft', hardStateKey(regionId));
    const asBytes = e.get('raft', applyStateKey(regionId));
    if (!hsBytes || !asBytes) throw new KvError('CORRUPTED', `region ${regionId} has a region state but no raft state`, { regionId });
    const apply = decodeApplyState(asBytes);
    const [lower, upper] = logRange(regionId);
    const entries = loadLog(e, lower, upper, apply.truncatedIndex, `region ${regionId} raft log`, { regionId });
    return this.addPeer(rs.region, rs.peerId, decodeHardState(hsBytes), apply, entries);
  }

  private addPeer(region: Region, peerId: number, hard: ReturnType<typeof decodeHardState>, apply: ApplyState, entries: Entry[], initialized = true): RegionPeer {
    let peer: RegionPeer | undefined;
    // The raft core reads the membership while the peer is being built, before `peer` is assigned.
    const storage = new PeerStorage(this.options.engine, region.id, () => (peer === undefined ? region : peer.region), hard, apply, entries);
    const r = this.options.raft ?? {};
    peer = new RegionPeer(peerId, region, storage, (s) =>
      new RawNode({
        id: peerId,
        storage: s,
        rng: this.options.rng,
        applied: apply.applied,
        ...(r.electionTick !== undefined ? { electionTick: r.electionTick } : {}),
        ...(r.heartbeatTick !== undefined ? { heartbeatTick: r.heartbeatTick } : {}),
        ...(r.preVote !== undefined ? { preVote: r.preVote } : {}),
        ...(r.checkQuorum !== undefined ? { checkQuorum: r.checkQuorum } : {}),
        ...(r.readOnlyOption !== undefined ? { readOnlyOption: r.readOnlyOption } : {}),
      }),
    );
    peer.initialized = initialized;
    this.peers.set(region.id, peer);
    return peer;
  }

  /**
   * A peer for a region this store does not know, created because its leader is talking to it
   * (after a split this store missed, learned through a snapshot of the parent). It has no range
   * and no data until a snapshot arrives; its hard state is kept on disk like any peer's, so a
   * vote it cast survives a restart (it is picked up again when the region's leader calls).
   */
  private createUninitialized(regionId: number, peerId: number): RegionPeer {
    const hsBytes = this.options.engine.get('raft', hardStateKey(regionId));
    const hard = hsBytes ? decodeHardState(hsBytes) : { term: 0, vote: 0, commit: 0 };
    const placeholder = freezeRegion({ id: regionId, startKey: new Uint8Array(0), endKey: new Uint8Array(0), epoch: { version: 0, confVer: 0 }, peers: [], flashback: NOT_IN_FLASHBACK });
    return this.addPeer(placeholder, peerId, { ...hard, commit: 0 }, { applied: 0, truncatedIndex: 0, truncatedTerm: 0 }, [], false);
  }

  /** A snapshot may not install a range that overlaps another region this store holds (TiKV's check_snapshot). */
  private snapshotFits(peer: RegionPeer, snap: Snapshot): boolean {
    const { region } = decodeSnapshotData(snap.data);
    for (const other of this.peers.values()) {
      if (other === peer || !other.initialized) continue;
      const o = other.region;
      const startsBeforeOtherEnds = o.endKey.length === 0 || compareBytes(region.startKey, o.endKey) < 0;
      const endsAfterOtherStarts = region.endKey.length === 0 || compareBytes(o.startKey, region.endKey) < 0;
      if (startsBeforeOtherEnds && endsAfterOtherStarts) return false;
    }
    return true;
  }

  /** Runs `fn` after everything queued before it; a failure rejects only its own caller. */
  private run<T>(fn: () => Promise<T> | T): Promise<T> {
    const next = this.chain.then(() => {
      if (this.closed) throw new KvError('ENGINE_CLOSED', `store ${this.storeId} is stopped`, { storeId: this.storeId });
      return fn();
    });
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** True once `stop()` ran. */
  get stopped(): boolean {
    return this.closed;
  }

  /** Stops taking work (a crash, as far as this process is concerned); what is on disk stays. */
  stop(): void {
    this.closed = true;
    for (const peer of this.peers.values()) {
      // Where the proposal sits in the log, so a client can learn later whether it committed.
      for (const [index, p] of peer.proposals) p.reject(new KvError('ENGINE_CLOSED', `store ${this.storeId} stopped`, { storeId: this.storeId, regionId: peer.region.id, index, term: p.term }));
      for (const r of peer.reads.values()) r.reject(new KvError('ENGINE_CLOSED', `store ${this.storeId} stopped`, { storeId: this.storeId }));
      peer.proposals.clear();
      peer.reads.clear();
    }
  }

  regions(): Region[] {
    return [...this.peers.values()].filter((p) => p.initialized).map((p) => p.region);
  }

  peer(regionId: number): RegionPeer {
    const p = this.peers.get(regionId);
    if (!p || !p.initialized) throw new KvError('REGION_NOT_FOUND', `region ${regionId} has no peer on store ${this.storeId}`, { regionId, storeId: this.storeId });
    return p;
  }

  // ---- inputs ----

  tick(): Promise<void> {
    return this.run(async () => {
      for (const peer of this.peers.values()) {
        peer.node.tick();
        for (const [key, r] of peer.reads) {
          if (r.index === undefined && ++r.age > this.readTimeout) {
            peer.reads.delete(key);
            r.reject(notLeader(peer.region.id, peer.leaderHint()));
          }
        }
      }
      await this.driveAll();
    });
  }

  receive(env: RaftEnvelope): Promise<void> {
    return this.run(async () => {
      const peer = this.stepEnvelope(env);
      if (peer) await this.drive(peer);
    });
  }

  /**
   * Several messages in one turn (a batch off the network): each is stepped, then every peer
   * they touched is driven once, so one persist (and one sync) covers the whole batch.
   */
  receiveMany(envs: readonly RaftEnvelope[]): Promise<void> {
    return this.run(async () => {
      const touched = new Set<RegionPeer>();
      for (const env of envs) {
        const peer = this.stepEnvelope(env);
        if (peer) touched.add(peer);
      }
      for (const peer of touched) await this.drive(peer);
    });
  }

  private stepEnvelope(env: RaftEnvelope): RegionPeer | undefined {
    const m = env.message;
    let peer = this.peers.get(env.regionId);
    if (!peer) {
      // Only a leader's traffic creates a peer; anything else for an unknown region is dropped.
      if (m.type !== 'app' && m.type !== 'heartbeat' && m.type !== 'snap') return undefined;
      // A removed peer is not brought back by a stale leader's messages (TiKV's tombstone check).
      const tomb = this.tombstones.get(env.regionId);
      if (tomb !== undefined && m.to <= tomb) return undefined;
      peer = this.createUninitialized(env.regionId, m.to);
    }
    if (m.to !== peer.peerId) return undefined;
    peer.peerStores.set(m.from, env.fromStore);
    // Dropped, not refused: the leader retries, by which time the overlapping region may have shrunk.
    if (m.type === 'snap' && m.snapshot && !this.snapshotFits(peer, m.snapshot)) return undefined;
    peer.node.step(m);
    return peer;
  }

  reportSnapshot(regionId: number, toPeer: number, delivered: boolean): Promise<void> {
    return this.run(async () => {
      const peer = this.peers.get(regionId);
      if (!peer) return;
      peer.node.reportSnapshot(toPeer, delivered);
      await this.drive(peer);
    });
  }

  reportUnreachable(regionId: number, toPeer: number): Promise<void> {
    return this.run(async () => {
      const peer = this.peers.get(regionId);
      if (!peer) return;
      peer.node.reportUnreachable(toPeer);
      await this.drive(peer);
    });
  }

  /** Makes this store's peer campaign now (tests and a freshly split region's first leader). */
  campaign(regionId: number): Promise<void> {
    return this.run(async () => {
      const peer = this.peer(regionId);
      peer.node.campaign();
      await this.drive(peer);
    });
  }

  /**
   * Proposes a command. The outer promise settles once it is in this leader's log (or refused at
   * propose); `applied` settles when it applied, with the apply-time gate's error if it refused.
   */
  propose(command: Command): Promise<{ applied: Promise<WriteResult | AdminResult> }> {
    return this.run(async () => {
      const { peer, applied } = this.proposeOne(command);
      await this.drive(peer);
      return { applied };
    });
  }

  /**
   * Several proposals in one turn (group commit): each is checked and proposed as `propose`
   * does, then every peer involved is driven once, so their entries share one persist and sync.
   * Each result is either `{ applied }` or the `error` that refused it at propose.
   */
  proposeMany(
    commands: readonly Command[],
    ifTerms?: readonly (number | undefined)[],
  ): Promise<({ applied: Promise<WriteResult | AdminResult> } | { error: unknown })[]> {
    return this.run(async () => {
      const out: ({ applied: Promise<WriteResult | AdminResult> } | { error: unknown })[] = new Array(commands.length);
      // Checked one by one, then proposed per region in one append (one message per follower).
      const byPeer = new Map<RegionPeer, { i: number; data: Uint8Array }[]>();
      commands.forEach((c, i) => {
        try {
          const peer = this.checkProposal(c, ifTerms?.[i]);
          let list = byPeer.get(peer);
          if (!list) byPeer.set(peer, (list = []));
          list.push({ i, data: encodeCommand(c) });
        } catch (error) {
          out[i] = { error };
        }
      });
      for (const [peer, list] of byPeer) {
        let ids;
        try {
          ids = peer.node.proposeBatch(list.map((x) => x.data));
        } catch (e) {
          const error = this.hinted(peer, e);
          for (const x of list) out[x.i] = { error };
          continue;
        }
        list.forEach((x, j) => {
          const id = ids[j]!;
          const applied = new Promise<WriteResult | AdminResult>((resolve, reject) => peer.proposals.set(id.index, { term: id.term, resolve: resolve as (v: ProposalResult) => void, reject }));
          // Settled by the caller; a rejection before it looks must not count as unhandled.
          applied.catch(() => undefined);
          out[x.i] = { applied };
        });
      }
      for (const peer of byPeer.keys()) await this.drive(peer);
      return out;
    });
  }

  /** The checks a proposal passes before it is proposed; returns the region's peer. */
  private checkProposal(command: Command, ifTerm?: number): RegionPeer {
    const peer = this.peer(command.regionId);
    const epoch = { version: command.version, confVer: command.confVer };
    const req: GateRequest =
      command.kind === 'write' ? { kind: 'write', epoch, flags: command.flags } : { kind: 'admin', epoch, command: command.admin.type };
    const refused = checkRegionGate(peer.region, req, 'propose');
    if (refused) throw refused;
    if (!peer.isLeader()) throw notLeader(peer.region.id, peer.leaderHint());
    if (ifTerm !== undefined && peer.node.status().term !== ifTerm) throw new KvError('NOT_LEADER', `leadership moved past term ${ifTerm}`, { regionId: peer.region.id, leader: peer.leaderHint() });
    return peer;
  }

  private proposeOne(command: Command): { peer: RegionPeer; applied: Promise<WriteResult | AdminResult> } {
    const peer = this.checkProposal(command);
    let id;
    try {
      id = peer.node.propose(encodeCommand(command));
    } catch (e) {
      throw this.hinted(peer, e);
    }
    const applied = new Promise<WriteResult | AdminResult>((resolve, reject) => peer.proposals.set(id.index, { term: id.term, resolve: resolve as (v: ProposalResult) => void, reject }));
    return { peer, applied };
  }

  /**
   * Proposes a membership change of a region (on its leader) as a raft conf change entry. The
   * gate checks the epoch's confVer (and the flashback state) as for TiKV's ChangePeer; the raft
   * core allows one change in flight (SERVER_BUSY otherwise). The leader cannot remove itself:
   * transfer leadership first. `applied` settles with the region as the change left it.
   */
  changePeer(regionId: number, epoch: Region['epoch'], change: PeerChange): Promise<{ applied: Promise<ChangePeerResult> }> {
    return this.run(async () => {
      const peer = this.peer(regionId);
      // TiKV's epoch table treats ChangePeer as it treats TransferLeader: conf_ver only.
      const refused = checkRegionGate(peer.region, { kind: 'admin', epoch, command: 'transferLeader' }, 'propose');
      if (refused) throw refused;
      if (!peer.isLeader()) throw notLeader(regionId, peer.leaderHint());
      checkPeerChange(peer.region, change);
      if (change.type === 'removePeer' && change.peerId === peer.peerId) {
        throw new KvError('INVALID_ARGUMENT', `peer ${peer.peerId} leads region ${regionId}: transfer leadership before removing it`, { regionId, peerId: peer.peerId });
      }
      let id;
      try {
        id = peer.node.proposeConfChange(toConfChange({ regionId, epoch, change }));
      } catch (e) {
        throw this.hinted(peer, e);
      }
      const applied = new Promise<ChangePeerResult>((resolve, reject) => peer.proposals.set(id.index, { term: id.term, resolve: resolve as (v: ProposalResult) => void, reject }));
      applied.catch(() => undefined);
      await this.drive(peer);
      return { applied };
    });
  }

  /**
   * Destroys this store's peer of a region if it is still `peerId`: its data range and raft state
   * are deleted and a tombstone written. For a peer removed from its region whose removal it never
   * applied (a leader stops talking to a peer once it removed it, so the peer may never learn the
   * change committed): the caller must know the removal is committed. Resolves whether it destroyed.
   */
  destroyPeer(regionId: number, peerId: number): Promise<boolean> {
    return this.run(async () => {
      const peer = this.peers.get(regionId);
      if (!peer || peer.peerId !== peerId || peer.destroyed) return false;
      if (peer.persisting) await peer.persisting.catch(() => undefined);
      await this.destroy(peer);
      return true;
    });
  }

  private async destroy(peer: RegionPeer): Promise<void> {
    const regionId = peer.region.id;
    const batch = new WriteBatch();
    // The data goes unless another region on this store now covers part of it (a stale peer
    // whose range another peer took over by snapshot): then only the raft state goes.
    const overlaps = [...this.peers.values()].some((o) => o !== peer && o.initialized && rangesOverlap(o.region, peer.region));
    if (peer.initialized && !overlaps) {
      const [lower, upper] = dataRange(peer.region);
      for (const cf of DATA_CFS) batch.deleteRange(cf, lower, upper);
    }
    const [lo, hi] = regionRaftRange(regionId);
    batch.deleteRange('raft', lo, hi);
    batch.put('raft', tombstoneKey(regionId), encodeTombstone(peer.peerId));
    await this.options.engine.write(batch, { sync: true });
    peer.destroyed = true;
    this.peers.delete(regionId);
    this.tombstones.set(regionId, peer.peerId);
    const gone = () => new KvError('REGION_NOT_FOUND', `region ${regionId}'s peer ${peer.peerId} was removed from store ${this.storeId}`, { regionId, storeId: this.storeId });
    for (const [index, p] of peer.proposals) p.reject(new KvError('NOT_LEADER', `proposal at index ${index}: peer ${peer.peerId} was removed; its outcome is unknown`, { regionId, unknownOutcome: true }));
    for (const r of peer.reads.values()) r.reject(gone());
    peer.proposals.clear();
    peer.reads.clear();
    if (peer.initialized) this.emitRegion(peer.region, 'removed');
  }

  /** Leader transfer is not replicated: the gate runs here, then the core starts the transfer. */
  transferLeader(regionId: number, epoch: Region['epoch'], toPeer: number): Promise<Region> {
    return this.run(async () => {
      const peer = this.peer(regionId);
      const refused = checkRegionGate(peer.region, { kind: 'admin', epoch, command: 'transferLeader' }, 'propose');
      if (refused) throw refused;
      if (!peer.region.peers.some((p) => p.id === toPeer)) throw new KvError('INVALID_ARGUMENT', `peer ${toPeer} is not a member of region ${regionId}`, { regionId, toPeer });
      try {
        peer.node.transferLeader(toPeer);
      } catch (e) {
        throw this.hinted(peer, e);
      }
      await this.drive(peer);
      return peer.region;
    });
  }

  /**
   * A consistent read: read index (or the lease, per the raft options) on the leader, or with
   * `followerRead` a read index fetched from the leader and served here once applied. The outer
   * promise settles when the request is registered; `snapshot` once it can be served.
   */
  read(regionId: number, req: GateRequest, followerRead: boolean): Promise<{ snapshot: Promise<RegionSnapshot> }> {
    return this.run(async () => {
      const peer = this.peer(regionId);
      const refused = checkRegionGate(peer.region, req, 'read');
      if (refused) throw refused;
      if (!followerRead && !peer.isLeader()) throw notLeader(regionId, peer.leaderHint());
      const key = `${this.storeId}:${++this.readCounter}`;
      try {
        peer.node.readIndex(new TextEncoder().encode(key));
      } catch (e) {
        throw this.hinted(peer, e);
      }
      const snapshot = new Promise<RegionSnapshot>((resolve, reject) => peer.reads.set(key, { req, followerRead, index: undefined, age: 0, resolve, reject }));
      await this.drive(peer);
      return { snapshot };
    });
  }

  private hinted(peer: RegionPeer, e: unknown): unknown {
    if (e instanceof KvError && e.code === 'NOT_LEADER') return notLeader(peer.region.id, peer.leaderHint());
    return e;
  }

  // ---- the Ready loop ----

  private async driveAll(): Promise<void> {
    // Map iteration visits peers a split adds during the loop, so they get driven too.
    for (const peer of this.peers.values()) await this.drive(peer);
  }

  private async drive(peer: RegionPeer): Promise<void> {
    if (peer.destroyed) return;
    // A leader's Ready whose disk write is still running: its completion drives this peer again.
    // Meanwhile the leader's new appends and heartbeats go out at once (see `sendWhilePersisting`).
    if (peer.persisting) {
      this.sendWhilePersisting(peer);
      this.applyDurableQuorum(peer);
      return;
    }
    while (!peer.destroyed && peer.node.hasReady()) {
      const rd = peer.node.ready();
      // A leader's appends may go out while its own disk write runs (Raft thesis 10.2.1). The
      // core counts the leader's own copy at once, so the commit index such a message carries is
      // cut to what this store has durably written (`leaderMessage`): a follower never learns of
      // a commit that only the leader's unsynced copy completes. Everything else (acks, votes)
      // waits for the persist.
      const hs = rd.hardState;
      const early = peer.isLeader() && (!hs || (hs.term === peer.storage.hard.term && hs.vote === peer.storage.hard.vote));
      if (early) for (const m of rd.messages) if (m.type === 'app' || m.type === 'heartbeat') this.sendMessage(peer, this.leaderMessage(peer, m));
      if (early && this.options.asyncLeaderPersist && !rd.snapshot) {
        // Committed entries this store already holds on disk (written by earlier Readies) are
        // applied now, before this Ready's own log write: their clients need not wait for a sync
        // that only covers newer entries. A committed entry at or below the leader's durable last
        // index is on disk on a quorum (followers acknowledge only after their sync). The rest
        // (a one-voter group commits its new entries at once) applies after the write. The
        // commit index goes to disk with the apply state, so applied never exceeds it there.
        const durable = this.durableCommitted(peer, rd);
        const created = durable.length > 0 ? await this.apply(peer, durable, { ...peer.storage.hard, commit: Math.max(peer.storage.hard.commit, durable[durable.length - 1]!.index) }) : [];
        this.persistInBackground(peer, rd, created);
        this.applyDurableQuorum(peer);
        return;
      }
      await this.persist(peer, rd);
      await this.finishReady(peer, rd, early);
    }
  }

  /**
   * While a leader's log write runs, appends for entries proposed meanwhile (and heartbeats) are
   * sent now rather than after the write, so followers sync them in parallel with the leader.
   * Their commit index is cut to this store's durable log (`leaderMessage`). Other messages wait
   * for the Ready they belong to. Only for a leader still in the term it persisted.
   */
  private sendWhilePersisting(peer: RegionPeer): void {
    const r = peer.node.raft;
    if (r.msgs.length === 0 || !peer.isLeader() || r.term !== peer.storage.hard.term) return;
    const keep: Message[] = [];
    for (const m of r.msgs) {
      if (m.type === 'app' || m.type === 'heartbeat') this.sendMessage(peer, this.leaderMessage(peer, m));
      else keep.push(m);
    }
    r.msgs = keep;
  }

  /**
   * `settleOnDurableQuorum`: a leader whose own log write is in flight applies, without waiting
   * for it, the committed plain writes that a quorum of voters already holds on disk (followers
   * acknowledge only after their sync; this store counts up to its durable last index), and
   * settles their proposals at once. Only entries whose log write this store has already queued
   * qualify, so its WAL holds them before their apply (and the commit index written with it).
   * Stops at the first entry that is not a plain write (admin commands and membership changes
   * apply in their Ready). The apply write itself lands after the log write in flight.
   */
  private applyDurableQuorum(peer: RegionPeer): void {
    if (!this.options.settleOnDurableQuorum) return;
    const r = peer.node.raft;
    if (!peer.isLeader() || r.term !== peer.storage.hard.term || !peer.initialized || peer.removed) return;
    const t = r.tracker;
    const matches: number[] = [];
    for (const id of t.voters) matches.push(id === peer.peerId ? peer.storage.lastIndex() : (t.progress.get(id)?.match ?? 0));
    matches.sort((a, b) => b - a);
    const limit = Math.min(r.raftLog.committed, peer.logQueued, matches[t.quorum() - 1] ?? 0);
    if (limit <= peer.staged) return;
    const ents = r.raftLog.slice(peer.staged + 1, limit + 1) ?? [];
    let n = 0;
    // Command layout (codec.ts): u8 format, u8 kind (1 write); an empty entry is a leader's no-op.
    while (n < ents.length && ents[n]!.type === 'normal' && (ents[n]!.data.length === 0 || ents[n]!.data[1] === 1)) n++;
    if (n === 0) return;
    const todo = n === ents.length ? ents : ents.slice(0, n);
    const last = todo[todo.length - 1]!.index;
    const hard = peer.storage.hard;
    this.apply(peer, todo, { term: hard.term, vote: hard.vote, commit: Math.max(hard.commit, last) }, true).then(
      () => this.serveReads(peer),
      (e) => {
        if (!this.closed) this.stop();
        this.backgroundErrors.push(e);
      },
    );
  }

  /** A leader's message sent before its log write finished: commit at most the durable last index. */
  private leaderMessage(peer: RegionPeer, m: Message): Message {
    const durable = peer.storage.lastIndex();
    return m.commit !== undefined && m.commit > durable ? { ...m, commit: durable } : m;
  }

  /** A leader Ready's committed entries that this store has already durably written. */
  private durableCommitted(peer: RegionPeer, rd: Ready): readonly Entry[] {
    const ce = rd.committedEntries;
    if (ce.length === 0) return ce;
    let limit = peer.storage.lastIndex();
    if (rd.entries.length > 0) limit = Math.min(limit, rd.entries[0]!.index - 1);
    let n = ce.length;
    while (n > 0 && ce[n - 1]!.index > limit) n--;
    return n === ce.length ? ce : ce.slice(0, n);
  }

  /**
   * With `asyncLeaderPersist`, a leader's Ready (entries and commit only: same term and vote, no
   * snapshot) is written while the chain goes on stepping acks and taking proposals. Nothing of
   * what those steps decide leaves the node early: the core hands out no further Ready until this
   * one is advanced, and this one is advanced (its remaining messages sent, its committed entries
   * applied) only after the write is durable. So a commit counting the leader's unsynced copy is
   * published to followers and clients only once that copy is on disk, as the Ready contract
   * requires; and acks stepped meanwhile do not wait behind the leader's fsync.
   */
  private persistInBackground(peer: RegionPeer, rd: Ready, created: RegionPeer[] = []): void {
    const write = this.persist(peer, rd);
    const done = write.then(
      () =>
        this.run(async () => {
          peer.persisting = undefined;
          await this.finishReady(peer, rd, true, created);
          await this.drive(peer);
        }),
      (e) => {
        peer.persisting = undefined;
        throw e;
      },
    );
    peer.persisting = done;
    done.catch((e) => {
      // A failed or stopped write: this store cannot go on as leader of anything safely.
      if (!this.closed) this.stop();
      this.backgroundErrors.push(e);
    });
  }

  /** Steps 2-4 of a Ready, after its persist: send, apply, advance, serve reads, compact. */
  private async finishReady(peer: RegionPeer, rd: Ready, early: boolean, appliedEarly: RegionPeer[] = []): Promise<void> {
    for (const m of rd.messages) if (!early || (m.type !== 'app' && m.type !== 'heartbeat')) this.sendMessage(peer, m);
    const created = [...appliedEarly, ...(await this.apply(peer, rd.committedEntries))];
    const wasLeader = peer.isLeader();
    peer.node.advance(rd);
    if (peer.removed) {
      // Applied its own removal: the core no longer counts it; its data and state go now.
      await this.destroy(peer);
      for (const np of created) await this.drive(np);
      return;
    }
    for (const rs of rd.readStates) {
      const r = peer.reads.get(new TextDecoder().decode(rs.ctx));
      if (r) r.index = rs.index;
    }
    if (rd.softState && rd.softState.state !== 'leader') this.failLeaderReads(peer);
    this.serveReads(peer);
    await this.maybeCompact(peer);
    for (const np of created) {
      // The split's new region gets its first leader where the parent's leader is, at once.
      if (wasLeader) np.node.campaign();
      await this.drive(np);
    }
  }

  private sendMessage(peer: RegionPeer, m: Message): void {
    const toStore = peer.region.peers.find((p) => p.id === m.to)?.storeId ?? peer.peerStores.get(m.to);
    if (toStore !== undefined) this.options.transport.send({ regionId: peer.region.id, fromStore: this.storeId, toStore, message: m });
  }

  /** Step 1 of a Ready: snapshot, entries and hard state, synced when raft needs it before sending. */
  private async persist(peer: RegionPeer, rd: Ready): Promise<void> {
    const batch = new WriteBatch();
    let sync = rd.mustSync;
    let snapRegion: Region | undefined;
    if (rd.snapshot) {
      snapRegion = this.stageSnapshot(peer, rd.snapshot, batch);
      sync = true;
    }
    peer.storage.stageAppend(rd.entries, batch);
    if (rd.hardState) batch.put('raft', hardStateKey(peer.region.id), encodeHardState(rd.hardState));
    if (rd.entries.length > 0) peer.logQueued = rd.entries[rd.entries.length - 1]!.index;
    else if (rd.snapshot) peer.logQueued = rd.snapshot.metadata.index;
    if (batch.count > 0) await this.options.engine.write(batch, { sync });
    if (rd.snapshot && snapRegion) {
      peer.storage.resetTo(rd.snapshot.metadata.index, rd.snapshot.metadata.term);
      peer.applied = rd.snapshot.metadata.index;
      peer.staged = peer.applied;
      this.snapshotsApplied++;
      peer.initialized = true;
      // Our own proposals the snapshot covers: whether they made it in is not knowable here.
      for (const [index, p] of peer.proposals) {
        if (index > rd.snapshot.metadata.index) continue;
        peer.proposals.delete(index);
        p.reject(new KvError('NOT_LEADER', `proposal at index ${index} was superseded by a snapshot; its outcome is unknown`, { regionId: peer.region.id, unknownOutcome: true, leader: peer.leaderHint() }));
      }
      this.changeRegion(peer, snapRegion, 'epoch');
    }
    peer.storage.commitAppend(rd.entries);
    if (rd.hardState) peer.storage.hard = rd.hardState;
  }

  /** A received snapshot replaces the region's data, log and state in one batch. */
  private stageSnapshot(peer: RegionPeer, snap: Snapshot, batch: WriteBatch): Region {
    const { region, cfs } = decodeSnapshotData(snap.data);
    const [lower, upper] = dataRange(region);
    DATA_CFS.forEach((cf, i) => {
      batch.deleteRange(cf, lower, upper);
      for (const [k, v] of cfs[i]!) batch.put(cf, k, v);
    });
    const [lo, hi] = logRange(peer.region.id);
    batch.deleteRange('raft', lo, hi);
    batch.put('raft', regionStateKey(region.id), encodeRegionState({ peerId: peer.peerId, region }));
    const { index, term } = snap.metadata;
    batch.put('raft', applyStateKey(region.id), encodeApplyState({ applied: index, truncatedIndex: index, truncatedTerm: term }));
    return region;
  }

  /**
   * Step 3: applies committed entries in order. The gate runs against the region as each entry
   * finds it (an earlier split or prepare in the same batch counts), and all modifies, region
   * changes and the new applied index go to the engine in one batch. Proposals settle and
   * `applied` events fire only after that batch landed.
   */
  private async apply(peer: RegionPeer, entries: readonly Entry[], hard?: Ready['hardState'], settleEarly = false): Promise<RegionPeer[]> {
    const todo = entries.filter((e) => e.index > peer.staged);
    if (todo.length === 0) return [];
    const batch = new WriteBatch();
    if (hard) batch.put('raft', hardStateKey(peer.region.id), encodeHardState(hard));
    const after: (() => void)[] = [];
    // Proposal outcomes: with `settleEarly` given before the write lands, else in order with the rest.
    const settle: (() => void)[] = settleEarly ? [] : after;
    const created: { region: Region; peerId: number }[] = [];
    const written = { bytes: 0 };
    let sync = false;
    let region = peer.region;
    for (const e of todo) {
      const pending = peer.proposals.get(e.index);
      if (pending) peer.proposals.delete(e.index);
      let outcome: { ok: ProposalResult } | { err: unknown } | undefined;
      if (e.type === 'normal' && e.data.length > 0) {
        const cmd = decodeCommand(e.data);
        const r = this.applyCommand(region, cmd, e.index, batch, after, created, written);
        outcome = r.outcome;
        region = r.region;
        if (cmd.kind === 'admin') sync = true;
      } else if (e.type === 'confChange') {
        const r = this.applyConfChange(region, e);
        outcome = r.outcome;
        region = r.region;
        sync = true;
      }
      if (pending) {
        // An entry of another term at this index means our proposal was overwritten: it never applies.
        if (pending.term !== e.term) settle.push(() => pending.reject(new KvError('NOT_LEADER', `proposal at index ${e.index} was overwritten by a later leader`, { regionId: peer.region.id, stale: true, leader: peer.leaderHint() })));
        else if (outcome && 'ok' in outcome) {
          const v = outcome.ok;
          settle.push(() => pending.resolve(v));
        } else if (outcome) {
          const err = outcome.err;
          settle.push(() => pending.reject(err));
        }
      }
    }
    const last = todo[todo.length - 1]!.index;
    // Log matching: after an entry of term T, every later entry has a term >= T, so a pending
    // proposal of an older term can never commit (its index was truncated away, or will be
    // overwritten): it fails now rather than when some later entry happens to reach its index.
    const lastTerm = todo[todo.length - 1]!.term;
    for (const [index, p] of peer.proposals) {
      if (p.term >= lastTerm) continue;
      peer.proposals.delete(index);
      after.push(() => p.reject(new KvError('NOT_LEADER', `proposal at index ${index} (term ${p.term}) was superseded by term ${lastTerm}`, { regionId: peer.region.id, stale: true, leader: peer.leaderHint() })));
    }
    const apply: ApplyState = { applied: last, truncatedIndex: peer.storage.apply.truncatedIndex, truncatedTerm: peer.storage.apply.truncatedTerm };
    batch.put('raft', applyStateKey(peer.region.id), encodeApplyState(apply));
    if (region !== peer.region) batch.put('raft', regionStateKey(region.id), encodeRegionState({ peerId: peer.peerId, region }));
    for (const c of created) {
      const existing = this.peers.get(c.region.id);
      // A peer a snapshot already initialized is ahead of this split: leave it alone.
      if (existing?.initialized) continue;
      stageNewPeer(batch, c.region, c.peerId);
      // An uninitialized one may have voted: keep its term and vote above the bootstrap term.
      if (existing && existing.storage.hard.term > RAFT_INIT_TERM) {
        batch.put('raft', hardStateKey(c.region.id), encodeHardState({ term: existing.storage.hard.term, vote: existing.storage.hard.vote, commit: RAFT_INIT_INDEX }));
      }
    }
    peer.staged = last;
    if (settleEarly) for (const f of settle) f();
    await this.options.engine.write(batch, { sync });
    peer.applied = Math.max(peer.applied, last);
    // A truncation (maybeCompact) cannot have run meanwhile: it waits for staged applies to land.
    peer.storage.apply = apply;
    peer.writtenSinceCheck += written.bytes;
    if (region !== peer.region) {
      const reason = region.epoch.version !== peer.region.epoch.version ? 'split' : region.epoch.confVer !== peer.region.epoch.confVer ? 'epoch' : 'flashback';
      this.changeRegion(peer, region, reason);
      if (!region.peers.some((p) => p.id === peer.peerId)) peer.removed = true;
    }
    const newPeers: RegionPeer[] = [];
    for (const c of created) {
      const existing = this.peers.get(c.region.id);
      if (existing?.initialized) continue;
      if (existing) {
        newPeers.push(this.loadPeer(c.region.id));
        this.emitRegion(c.region, 'split');
        continue;
      }
      newPeers.push(this.addPeer(c.region, c.peerId, { term: RAFT_INIT_TERM, vote: 0, commit: RAFT_INIT_INDEX }, { applied: RAFT_INIT_INDEX, truncatedIndex: RAFT_INIT_INDEX, truncatedTerm: RAFT_INIT_TERM }, []));
      this.emitRegion(c.region, 'split');
    }
    for (const f of after) f();
    return newPeers;
  }

  private applyCommand(
    region: Region,
    cmd: Command,
    index: number,
    batch: WriteBatch,
    after: (() => void)[],
    created: { region: Region; peerId: number }[],
    written: { bytes: number },
  ): { region: Region; outcome: { ok: WriteResult | AdminResult } | { err: unknown } } {
    const epoch = { version: cmd.version, confVer: cmd.confVer };
    if (cmd.regionId !== region.id) return { region, outcome: { err: new KvError('REGION_NOT_FOUND', `command for region ${cmd.regionId} in region ${region.id}'s log`, { regionId: cmd.regionId }) } };
    if (cmd.kind === 'write') {
      const refused = checkRegionGate(region, { kind: 'write', epoch, flags: cmd.flags }, 'apply');
      if (refused) return { region, outcome: { err: refused } };
      let bytes = 0;
      for (const m of cmd.modifies) {
        if (m.op === 'put') {
          batch.put(m.cf, m.key, m.value);
          bytes += m.key.length + m.value.length;
        } else if (m.op === 'delete') batch.delete(m.cf, m.key);
        else batch.deleteRange(m.cf, m.start, m.end);
      }
      written.bytes += bytes;
      const events = this.options.events;
      const ev = { regionId: region.id, index: BigInt(index), flags: cmd.flags as ReadonlySet<string>, modifies: cmd.modifies as readonly BatchOp[] };
      if (events) after.push(() => events.emit('applied', ev));
      return { region, outcome: { ok: { regionId: region.id, index: BigInt(index) } } };
    }
    const a = cmd.admin;
    const refused = checkRegionGate(region, { kind: 'admin', epoch, command: a.type }, 'apply');
    if (refused) return { region, outcome: { err: refused } };
    switch (a.type) {
      case 'split': {
        if (a.newPeerIds.length !== region.peers.length) return { region, outcome: { err: new KvError('INVALID_ARGUMENT', 'split needs one new peer id per peer', { regionId: region.id }) } };
        let planned;
        try {
          planned = planSplit(region, a.splitKey, a.newRegionId, a.newPeerIds);
        } catch (e) {
          return { region, outcome: { err: e } };
        }
        // planSplit keeps the parent's id on the right half (TiKV's right-derive); the new region is the left.
        const mine = planned.left.peers.find((p) => p.storeId === this.storeId);
        if (mine) created.push({ region: planned.left, peerId: mine.id });
        return { region: planned.right, outcome: { ok: { type: 'split', left: planned.left, right: planned.right } } };
      }
      case 'prepareFlashback': {
        const next = freezeRegion({ ...region, flashback: { inFlashback: true, flashbackStartTs: a.startTs } });
        return { region: next, outcome: { ok: { type: 'prepareFlashback', region: next } } };
      }
      case 'finishFlashback': {
        if (!isInFlashback(region)) return { region, outcome: { ok: { type: 'finishFlashback', region } } };
        const next = freezeRegion({ ...region, flashback: NOT_IN_FLASHBACK });
        return { region: next, outcome: { ok: { type: 'finishFlashback', region: next } } };
      }
    }
  }

  /**
   * A committed membership change. It is applied whatever the region's epoch or flashback state
   * is by now: the raft core takes every committed conf change into its tracker at advance, and
   * the region's peer list must say the same (the gate ran at propose; one change is in flight at a
   * time, so a later change cannot have moved confVer under it).
   */
  private applyConfChange(region: Region, e: Entry): { region: Region; outcome: { ok: ChangePeerResult } | { err: unknown } } {
    const cc = decodeConfChange(e.data);
    if (cc.context === undefined) return { region, outcome: { err: new KvError('CORRUPTED', `conf change at index ${e.index} carries no peer record`, { regionId: region.id }) } };
    const cmd = decodeChangePeer(cc.context);
    if (cmd.regionId !== region.id) return { region, outcome: { err: new KvError('REGION_NOT_FOUND', `conf change for region ${cmd.regionId} in region ${region.id}'s log`, { regionId: cmd.regionId }) } };
    const next = applyPeerChange(region, cmd.change);
    return { region: next, outcome: { ok: { type: 'changePeer', region: next } } };
  }

  private changeRegion(peer: RegionPeer, region: Region, reason: 'split' | 'flashback' | 'epoch'): void {
    peer.region = region;
    this.emitRegion(region, reason);
  }

  private emitRegion(region: Region, reason: 'split' | 'flashback' | 'epoch' | 'created' | 'removed'): void {
    this.options.events?.emit('regionChanged', { regionId: region.id, reason, startKey: region.startKey, endKey: region.endKey, epoch: region.epoch });
  }

  /** Reads whose read-index round a deposed leader can no longer finish fail now; the caller retries. */
  private failLeaderReads(peer: RegionPeer): void {
    for (const [key, r] of peer.reads) {
      if (r.index === undefined && !r.followerRead) {
        peer.reads.delete(key);
        r.reject(notLeader(peer.region.id, peer.leaderHint()));
      }
    }
  }

  /** Serves reads whose index is applied, re-running the gate against the region as it is now. */
  private serveReads(peer: RegionPeer): void {
    for (const [key, r] of peer.reads) {
      if (r.index === undefined || r.index > peer.applied) continue;
      peer.reads.delete(key);
      const refused = checkRegionGate(peer.region, r.req, 'read');
      if (refused) r.reject(refused);
      else r.resolve(regionSnapshot(this.options.engine.snapshot(), peer.region));
    }
  }

  private async maybeCompact(peer: RegionPeer): Promise<void> {
    const s = peer.storage;
    if (peer.applied - s.apply.truncatedIndex < this.gcThreshold) return;
    // Not while an apply write is in flight: its apply state was taken before this truncation.
    if (peer.staged > peer.applied) return;
    const from = s.apply.truncatedIndex + 1;
    // Not past what the core counts as applied: entries applied ahead of a Ready are still
    // handed out by the next one.
    const to = Math.min(peer.applied, peer.node.raft.raftLog.applied);
    if (to < from) return;
    const next = s.compactTo(to);
    const batch = new WriteBatch().deleteRange('raft', logKey(peer.region.id, from), logKey(peer.region.id, to + 1)).put('raft', applyStateKey(peer.region.id), encodeApplyState(next));
    await this.options.engine.write(batch);
  }
}

function rangesOverlap(a: Region, b: Region): boolean {
  const aBeforeBEnds = b.endKey.length === 0 || compareBytes(a.startKey, b.endKey) < 0;
  const bBeforeAEnds = a.endKey.length === 0 || compareBytes(b.startKey, a.endKey) < 0;
  return aBeforeBEnds && bBeforeAEnds;
}
