import {
  KvError,
  freezeRegion,
  regionContains,
  type AdminCommand,
  type AdminResult,
  type BatchOp,
  type Consensus,
  type EventCatalogue,
  type Region,
  type RegionDirectory,
  type RegionSnapshot,
  type SchedulingControl,
  type RequestContext,
  type StorageEngine,
  type WriteResult,
} from '@flashkv/core';
import type { ConfState, Rng } from '../core/index.js';
import { decodeStoreIdent, storeIdentKey } from './codec.js';
import { RaftConsensus, type RaftReadOptions } from './raft-consensus.js';
import { Store, bootstrapStore, type StoreRaftOptions } from './store.js';
import { intervalTickSource, StoreTicker, type TickSource } from './ticker.js';
import { InProcessTransport } from './transport.js';
import type { ChangePeerResult, PeerChange } from './membership.js';
import { SplitChecker, type SplitCheckOptions } from './split-check.js';
import { FirstApplierEvents } from './event-source.js';
import { LeaderBalancer, type LeaderBalanceOptions } from './leader-balance.js';
import { startMetaGroup, type MetaGroup, type MetaPlacementOptions } from '../placement/meta-group.js';
import type { RaftPlacement } from '../placement/raft-placement.js';

/** xorshift32 for election jitter: seeded, so a cluster started with a seed replays its elections. */
export class SeededRng implements Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  int(n: number): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s % n;
  }
}

export interface RaftClusterOptions {
  /** One engine per store; store ids are 1..N in this order. */
  readonly engines: readonly StorageEngine[];
  /**
   * Regions to create on first start (engines without a store ident), with peers given only by
   * store: each gets one peer per store, ids from `allocId`. Default: one region over everything.
   */
  readonly initialRegions?: readonly Pick<Region, 'id' | 'startKey' | 'endKey' | 'epoch' | 'flashback'>[];
  /** Ids for splits. Required unless `metaPlacement` is given (then the meta group's `allocId`). */
  readonly allocId?: () => Promise<number>;
  /**
   * Placement on raft (issue 8 item 5): a meta raft group with a voter on every store holds the
   * TSO mark, region directory, safe point, pauses and jobs; `cluster.placement` serves them.
   */
  readonly metaPlacement?: MetaPlacementOptions;
  /**
   * The region directory Storage, the flashback orchestrator and CDC route by (PLACEMENT). Raft
   * applies splits and flashback state from each region's log; every admin command's result is
   * recorded here before it is returned, so a split is routable once `admin` resolves.
   */
  readonly directory?: Pick<RegionDirectory, 'recordSplit' | 'recordRegion'> & Partial<Pick<SchedulingControl, 'isSchedulingPaused'>>;
  /**
   * Receives `applied` and `regionChanged` from whichever store first applies each log index
   * (`FirstApplierEvents`), so each write is reported once, in log order, whichever stores hold
   * or lose the region's replicas.
   */
  readonly events?: EventCatalogue;
  readonly raft?: StoreRaftOptions;
  /** Default: every 100 ms of wall time. */
  readonly tickSource?: TickSource;
  readonly seed?: number;
  readonly logGcThreshold?: number;
  /** Attempts a routed request makes (NOT_LEADER, a region not yet here) before it gives up. Default 50. */
  readonly maxAttempts?: number;
  /**
   * Size-based split: when given, a split checker looks at the regions' leaders every
   * `checkEveryTicks` ticks and splits a region whose data passed `splitSize` bytes (default
   * 96 MiB) at its middle key, through `consensus.admin` (so the directory records it).
   */
  readonly splitCheck?: SplitCheckOptions;
  /** Leader balancing (`LeaderBalancer`): off unless given. */
  readonly leaderBalance?: LeaderBalanceOptions;
}

/**
 * N stores in one process over an auto-delivering in-process transport, ticked by a tick
 * source; `consensus` routes each request to the region's leader (the client-side retry of
 * issue 8 part 4, in-process).
 */
export class RaftCluster {
  readonly consensus: ClusterConsensus;
  private readonly ticker: StoreTicker;
  private tickWaiters: (() => void)[] = [];

  private stopped = false;
  /** Placement on raft, when started with `metaPlacement`. */
  readonly placement: RaftPlacement | undefined;
  /** Opens a further store on this cluster's transport and options (addStore), and allocates ids. */
  private joiner: { open(engine: StorageEngine, storeId: number): Store; allocId(): Promise<number>; metaRng(storeId: number): Rng } | undefined;
  /** The size-based split checker, when started with `splitCheck`. */
  splitChecker: SplitChecker | undefined;
  /** The leader balancer, when started with `leaderBalance`. */
  leaderBalancer: LeaderBalancer | undefined;

  private constructor(
    readonly stores: readonly Store[],
    readonly transport: InProcessTransport,
    tickSource: TickSource,
    allocId: () => Promise<number>,
    maxAttempts: number,
    /** The filter every store reports `applied` and `regionChanged` through, when given events. */
    readonly events: FirstApplierEvents | undefined,
    directory: RaftClusterOptions['directory'],
    readonly meta?: MetaGroup,
  ) {
    this.placement = meta?.placement;
    const perStore = stores.map((s) => new RaftConsensus({ store: s, allocId }));
    this.consensus = new ClusterConsensus(perStore, () => this.nextTick(), maxAttempts, directory);
    const notify = {
      tick: async () => {
        this.releaseTickWaiters();
        this.splitChecker?.tick();
        this.leaderBalancer?.tick();
      },
    };
    this.ticker = new StoreTicker([...stores, ...(meta?.peers ?? []), notify], tickSource);
  }

  static async start(options: RaftClusterOptions): Promise<RaftCluster> {
    const n = options.engines.length;
    if (n === 0) throw new TypeError('a raft cluster needs at least one engine');
    const fresh = options.engines.map((e) => e.get('raft', storeIdentKey()) === undefined);
    if (fresh.some((f) => f) && !fresh.every((f) => f)) throw new KvError('INVALID_ARGUMENT', 'either every engine of the cluster is new or none is');
    const metaIds = options.metaPlacement ? startMetaGroup.idCounter(options.initialRegions) : undefined;
    const allocId = metaIds ?? options.allocId;
    if (allocId === undefined) throw new TypeError('RaftCluster: allocId is required without metaPlacement');
    if (fresh[0]) {
      const templates = options.initialRegions ?? [{ id: 1, startKey: new Uint8Array(0), endKey: new Uint8Array(0), epoch: { version: 1, confVer: 1 }, flashback: { inFlashback: false, flashbackStartTs: 0n } }];
      const regions: Region[] = [];
      for (const tpl of templates) {
        const peers = [];
        for (let s = 1; s <= n; s++) peers.push({ id: await allocId(), storeId: s, role: 'voter' as const });
        regions.push(freezeRegion({ ...tpl, peers }));
      }
      for (let s = 1; s <= n; s++) await bootstrapStore(options.engines[s - 1]!, s, regions);
      if (options.metaPlacement) await startMetaGroup.bootstrap(options.engines, regions, await allocId());
    }
    const transport = new InProcessTransport({ autoDeliver: true });
    const reporter = options.events ? new FirstApplierEvents(options.events) : undefined;
    const seed = options.seed ?? globalThis.crypto.getRandomValues(new Uint32Array(1))[0]!;
    const open = (engine: StorageEngine, storeId: number): Store => {
      const store: Store = Store.open({
        engine,
        transport,
        rng: new SeededRng(seed + (storeId - 1) * 7919),
        ...(reporter ? { events: reporter.forStore((regionId) => store.peers.get(regionId)?.applied) } : {}),
        ...(options.raft ? { raft: options.raft } : {}),
        ...(options.logGcThreshold !== undefined ? { logGcThreshold: options.logGcThreshold } : {}),
      });
      return store;
    };
    const stores = options.engines.map((engine, i) => {
      const got = decodeStoreIdent(engine.get('raft', storeIdentKey())!);
      if (got !== i + 1) throw new KvError('INVALID_ARGUMENT', `engine ${i} belongs to store ${got}, expected ${i + 1}`);
      return open(engine, i + 1);
    });
    const meta = options.metaPlacement ? startMetaGroup(stores, transport, (storeId) => new SeededRng(seed + storeId * 7919 + 104729), options.metaPlacement, options.raft, options.events, () => c.nextTick()) : undefined;
    for (const s of stores) transport.register(meta ? meta.receiverFor(s) : s);
    const alloc = meta ? () => meta.placement.allocId() : allocId;
    const directory = options.directory ?? meta?.placement;
    const c: RaftCluster = new RaftCluster(stores, transport, options.tickSource ?? intervalTickSource(100), alloc, options.maxAttempts ?? 50, reporter, directory, meta);
    // Size-based splits and leader balancing are scheduling: they wait while placement has it paused (a flashback runs).
    const schedulingPaused = (): boolean => directory?.isSchedulingPaused?.() === true;
    c.joiner = { open, allocId: alloc, metaRng: (storeId) => new SeededRng(seed + storeId * 7919 + 104729) };
    if (options.splitCheck) {
      c.splitChecker = new SplitChecker(
        () => c.stores,
        async (region, splitKey) => {
          const r = await c.consensus.admin({ regionId: region.id, epoch: region.epoch }, { type: 'split', splitKey });
          return r.type === 'split' ? [r.left, r.right] : [];
        },
        options.splitCheck,
        schedulingPaused,
      );
    }
    if (options.leaderBalance) {
      c.leaderBalancer = new LeaderBalancer(
        () => c.stores,
        (region, toPeer) => c.consensus.admin({ regionId: region.id, epoch: region.epoch }, { type: 'transferLeader', toPeer }),
        options.leaderBalance,
        schedulingPaused,
      );
    }
    c.ticker.start();
    return c;
  }

  /**
   * A new store joining the running cluster (id: the next after the last), on an empty engine
   * (bootstrapped here with no regions) or one that already belongs to that store id. It holds no
   * region until a membership change adds a peer on it (see `moveReplica`). With placement on raft
   * its meta peer joins the meta group, as a learner (sent a snapshot of the placement namespace)
   * and, once caught up, as a voter, so the store can take over from one that is removed
   * (`removeMetaMember`).
   */
  async addStore(engine: StorageEngine, options: { readonly maxTicks?: number } = {}): Promise<Store> {
    if (this.stopped) throw new KvError('ENGINE_CLOSED', 'the cluster is stopped');
    const storeId = this.stores.length + 1;
    const ident = engine.get('raft', storeIdentKey());
    if (ident === undefined) await bootstrapStore(engine, storeId, []);
    else if (decodeStoreIdent(ident) !== storeId) throw new KvError('INVALID_ARGUMENT', `engine belongs to store ${decodeStoreIdent(ident)}, expected ${storeId}`);
    const store = this.joiner!.open(engine, storeId);
    (this.stores as Store[]).push(store);
    const metaPeer = this.meta ? await this.meta.join(store, this.joiner!.metaRng(storeId)) : undefined;
    this.transport.register(this.meta ? this.meta.receiverFor(store) : store);
    this.consensus.addMember(new RaftConsensus({ store, allocId: this.joiner!.allocId }));
    this.ticker.add(store, 1);
    if (metaPeer) {
      this.ticker.add(metaPeer, 1);
      await this.addMetaVoter(storeId, options.maxTicks ?? 1000);
    }
    return store;
  }

  /** The meta peer of `storeId` joins the meta group: learner, catch up (by snapshot), voter. */
  private async addMetaVoter(storeId: number, maxTicks: number): Promise<void> {
    const meta = this.meta!;
    const peer = meta.peers.find((p) => p.storeId === storeId)!;
    if (peer.storage.conf.voters.includes(storeId)) return;
    if (!peer.storage.conf.learners.includes(storeId)) await meta.router.changeMembers({ type: 'addLearner', nodeId: storeId });
    await this.waitFor(
      () => {
        const lead = meta.router.leaderPeer();
        return lead !== undefined && peer.appliedIndex >= lead.appliedIndex;
      },
      maxTicks,
      `the meta peer of store ${storeId} catching up`,
    );
    await meta.router.changeMembers({ type: 'addNode', nodeId: storeId });
  }

  /**
   * Removes a store's peer from the meta group (replacing a node: add the new store first, then
   * remove the old one's member), moving the meta leadership off it first. The store's meta peer
   * is stopped. Resolves with the meta group's membership.
   */
  async removeMetaMember(storeId: number): Promise<ConfState> {
    const meta = this.meta;
    if (!meta) throw new KvError('INVALID_ARGUMENT', 'the cluster has no meta group (placement on raft)');
    for (let attempt = 0; meta.router.leaderPeer()?.storeId === storeId || meta.router.leaderPeer() === undefined; attempt++) {
      if (attempt >= 10) throw new KvError('SERVER_BUSY', `meta leadership did not leave store ${storeId}`, { storeId });
      const lead = meta.router.leaderPeer();
      if (lead?.storeId === storeId) {
        const to = lead.storage.conf.voters.find((v) => v !== storeId && meta.peers.some((p) => p.storeId === v && !p.stopped));
        if (to !== undefined) await lead.transferLeader(to).catch(() => undefined);
      }
      for (let i = 0; i < 30 && (meta.router.leaderPeer() === undefined || meta.router.leaderPeer()?.storeId === storeId); i++) await this.nextTick();
    }
    const conf = await meta.router.changeMembers({ type: 'removeNode', nodeId: storeId });
    const peer = meta.peers.find((p) => p.storeId === storeId);
    if (peer) {
      peer.stop();
      this.ticker.remove(peer);
    }
    return conf;
  }

  /** Stops one store (a crash, as far as the others can tell); its engine keeps what it wrote. */
  stopStore(storeId: number): void {
    const store = this.stores[storeId - 1];
    if (!store) throw new KvError('INVALID_ARGUMENT', `no store ${storeId}`);
    store.stop();
    this.transport.unregister(storeId);
    this.ticker.remove(store);
  }

  /** The running store whose peer leads `regionId`, if one does now. */
  leaderStore(regionId: number): Store | undefined {
    return this.stores.find((s) => !s.stopped && s.peers.get(regionId)?.isLeader() === true);
  }

  private async waitFor(pred: () => boolean, maxTicks: number, what: string): Promise<void> {
    for (let i = 0; i < maxTicks; i++) {
      if (pred()) return;
      await this.nextTick();
    }
    if (!pred()) throw new KvError('SERVER_BUSY', `${what} did not happen within ${maxTicks} ticks`, { timedOut: true });
  }

  /**
   * Moves a region's replica from one store to another, one single-server change at a time (TiKV's
   * replica move): a learner on `toStore` (its data comes as a snapshot from the leader), wait
   * until it has applied what the leader had, promote it, move leadership off `fromStore` if it
   * is there, remove the old peer, and destroy it on `fromStore` if it has not applied its own
   * removal (a leader stops talking to a removed peer, which may then never learn the change
   * committed). Resolves with the region as the last change left it.
   */
  async moveReplica(regionId: number, fromStore: number, toStore: number, options: { readonly maxTicks?: number } = {}): Promise<Region> {
    const maxTicks = options.maxTicks ?? 1000;
    let region = this.consensus.getRegion(regionId);
    const old = region.peers.find((p) => p.storeId === fromStore);
    if (!old) throw new KvError('INVALID_ARGUMENT', `store ${fromStore} holds no peer of region ${regionId}`, { regionId, fromStore });
    if (toStore < 1 || toStore > this.stores.length) throw new KvError('INVALID_ARGUMENT', `no store ${toStore}`, { toStore });
    const ctx = (r: Region) => ({ regionId, epoch: r.epoch });
    const peerId = await this.joiner!.allocId();
    region = (await this.consensus.changePeer(ctx(region), { type: 'addLearner', peerId, storeId: toStore })).region;
    const target = this.stores[toStore - 1]!;
    await this.waitFor(
      () => {
        const p = target.peers.get(regionId);
        const lead = this.leaderStore(regionId)?.peers.get(regionId);
        return p !== undefined && p.initialized && lead !== undefined && p.applied >= lead.applied;
      },
      maxTicks,
      `the learner of region ${regionId} on store ${toStore} catching up`,
    );
    region = (await this.consensus.changePeer(ctx(region), { type: 'promoteLearner', peerId })).region;
    for (let attempt = 0; this.leaderStore(regionId)?.storeId === fromStore || this.leaderStore(regionId) === undefined; attempt++) {
      if (attempt >= 10) throw new KvError('SERVER_BUSY', `leadership of region ${regionId} did not leave store ${fromStore}`, { regionId });
      if (this.leaderStore(regionId)?.storeId === fromStore) {
        await this.consensus.admin(ctx(region), { type: 'transferLeader', toPeer: peerId }).catch(() => undefined);
      }
      for (let i = 0; i < 30 && (this.leaderStore(regionId) === undefined || this.leaderStore(regionId)?.storeId === fromStore); i++) await this.nextTick();
    }
    region = (await this.consensus.changePeer(ctx(region), { type: 'removePeer', peerId: old.id })).region;
    const src = this.stores[fromStore - 1]!;
    if (!src.stopped && src.peers.get(regionId)?.peerId === old.id) await src.destroyPeer(regionId, old.id);
    return region;
  }

  private nextTick(): Promise<void> {
    return new Promise((r) => this.tickWaiters.push(r));
  }

  private releaseTickWaiters(): void {
    const w = this.tickWaiters;
    this.tickWaiters = [];
    for (const f of w) f();
  }

  /** Stops ticking and every store; requests still waiting fail with ENGINE_CLOSED. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.ticker.stop();
    for (const s of this.stores) s.stop();
    for (const p of this.meta?.peers ?? []) p.stop();
    this.releaseTickWaiters();
  }
}

/**
 * Consensus for a client of the in-process cluster: sends each request to the store believed to
 * lead the region, follows NOT_LEADER hints, waits a tick when no leader is known, and tries the
 * next store for a region one store does not have yet. Only refusals that certainly did not
 * apply are retried (a proposal refused at propose, or overwritten by a later leader); an
 * unknown outcome is returned to the caller.
 */
export class ClusterConsensus implements Consensus {
  readonly name = 'raft';
  private readonly leaders = new Map<number, number>();

  constructor(
    readonly members: readonly RaftConsensus[],
    private readonly waitTick: () => Promise<void>,
    private readonly maxAttempts: number,
    private readonly directory?: RaftClusterOptions['directory'],
  ) {}

  private byStore(storeId: number): RaftConsensus {
    return this.members[storeId - 1]!;
  }

  /** A store added to the running cluster: its id must be the next one. */
  addMember(member: RaftConsensus): void {
    if (member.store.storeId !== this.members.length + 1) throw new TypeError(`store ${member.store.storeId} is not the next store id (${this.members.length + 1})`);
    (this.members as RaftConsensus[]).push(member);
  }

  /**
   * A membership change of a region, routed to its leader (SERVER_BUSY, one change still being
   * applied, is retried after a tick); the changed region is recorded in the directory.
   */
  async changePeer(ctx: RequestContext, change: PeerChange): Promise<ChangePeerResult> {
    const result = await this.route(ctx.regionId, async (c) => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await c.changePeer(ctx, change);
        } catch (e) {
          if (!(e instanceof KvError && e.code === 'SERVER_BUSY') || attempt >= this.maxAttempts) throw e;
          await this.waitTick();
        }
      }
    });
    await this.directory?.recordRegion?.(result.region);
    return result;
  }

  regionForKey(encodedKey: Uint8Array): Region {
    let best: Region | undefined;
    for (const m of this.members) {
      for (const r of m.store.regions()) if (regionContains(r, encodedKey) && (!best || r.epoch.version > best.epoch.version)) best = r;
    }
    if (!best) throw new KvError('REGION_NOT_FOUND', 'no store holds a region for the key', { key: encodedKey });
    return best;
  }

  getRegion(regionId: number): Region {
    // The newest view: highest version, then the leader's (flashback state moves without a version bump).
    let best: Region | undefined;
    let bestLeads = false;
    for (const m of this.members) {
      const p = m.store.peers.get(regionId);
      if (!p) continue;
      const leads = p.isLeader();
      if (!best || p.region.epoch.version > best.epoch.version || (p.region.epoch.version === best.epoch.version && leads && !bestLeads)) {
        best = p.region;
        bestLeads = leads;
      }
    }
    if (!best) throw new KvError('REGION_NOT_FOUND', `region ${regionId} is on no store`, { regionId });
    return best;
  }

  /** The next running store after `storeId` (wrapping around), or `undefined` when none runs. */
  private nextLive(storeId: number): number | undefined {
    const n = this.members.length;
    for (let i = 1; i <= n; i++) {
      const id = ((storeId - 1 + i) % n) + 1;
      if (!this.byStore(id).store.stopped) return id;
    }
    return undefined;
  }

  /**
   * Sends `fn` to the store believed to lead the region. A stopped store is skipped; a hint naming
   * a stopped store is no hint (wait a tick, as while no leader is known). A store that stops
   * while the request is in flight fails it with ENGINE_CLOSED: a read (`idempotent`) is sent
   * again to a running store; a proposal may still commit through the next leader, so it fails
   * with NOT_LEADER and `unknownOutcome` (the txn layer re-runs its command, which re-reads what
   * it writes: TxnClient retries region errors).
   */
  private async route<T>(regionId: number, fn: (c: RaftConsensus) => Promise<T>, idempotent = false): Promise<T> {
    let storeId = this.leaders.get(regionId) ?? 1;
    let last: unknown;
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      const member = this.byStore(storeId);
      if (member.store.stopped) {
        // A stopped store certainly took nothing: the next running one (a tick first if none runs).
        last = new KvError('ENGINE_CLOSED', `store ${storeId} is stopped`, { storeId });
        this.leaders.delete(regionId);
        const next = this.nextLive(storeId);
        if (next === undefined) await this.waitTick();
        storeId = next ?? storeId;
        continue;
      }
      try {
        const out = await fn(member);
        this.leaders.set(regionId, storeId);
        return out;
      } catch (e) {
        last = e;
        if (!(e instanceof KvError)) throw e;
        const d = (e.details ?? {}) as { leader?: { storeId: number }; unknownOutcome?: boolean };
        if (e.code === 'NOT_LEADER' && d.unknownOutcome !== true) {
          const hint = d.leader?.storeId;
          if (hint !== undefined && hint !== storeId && hint >= 1 && hint <= this.members.length && !this.byStore(hint).store.stopped) storeId = hint;
          else {
            await this.waitTick();
            storeId = this.nextLive(storeId) ?? storeId;
          }
          continue;
        }
        if (e.code === 'ENGINE_CLOSED' && member.store.stopped) {
          this.leaders.delete(regionId);
          if (!idempotent) {
            const p = (e.details ?? {}) as { index?: number; term?: number };
            const fate = p.index === undefined || p.term === undefined ? 'unknown' : await this.proposalFate(regionId, p.index, p.term);
            if (fate !== 'lost') {
              throw new KvError('NOT_LEADER', `store ${storeId} stopped with the request in flight; its outcome is unknown`, { regionId, storeId, unknownOutcome: true });
            }
            // Another entry committed at its index: it never applies anywhere, so it is sent again.
          }
          storeId = this.nextLive(storeId) ?? storeId;
          continue;
        }
        if (e.code === 'REGION_NOT_FOUND' && attempt < this.members.length * 2) {
          storeId = this.nextLive(storeId) ?? storeId;
          continue;
        }
        throw e;
      }
    }
    throw last;
  }

  /**
   * Whether a proposal at (index, term) of a store that stopped can still apply: waits (a tick at a
   * time, at most `maxAttempts`) until a running replica has applied past `index`, then compares
   * the term of its entry there. Another term: `lost` (a different entry committed at that index;
   * by log matching ours never will). The same term: `committed` (its apply outcome is not known
   * here). No replica far enough, or the entry compacted away: `unknown`.
   */
  private async proposalFate(regionId: number, index: number, term: number): Promise<'lost' | 'committed' | 'unknown'> {
    for (let i = 0; i < this.maxAttempts; i++) {
      for (const m of this.members) {
        if (m.store.stopped) continue;
        const peer = m.store.peers.get(regionId);
        if (peer === undefined || !peer.initialized || peer.applied < index) continue;
        try {
          return peer.storage.term(index) === term ? 'committed' : 'lost';
        } catch {
          return 'unknown';
        }
      }
      await this.waitTick();
    }
    return 'unknown';
  }

  snapshot(ctx: RequestContext, options?: RaftReadOptions): Promise<RegionSnapshot> {
    return this.route(ctx.regionId, (c) => c.snapshot(ctx, options), true);
  }

  async write(ctx: RequestContext, modifies: readonly BatchOp[], options?: { readonly sync?: boolean }): Promise<WriteResult> {
    // No wait for another store: the leader applied the write before it resolved, so its
    // `applied` event is out (from the leader, or from a store that applied it even earlier).
    return this.route(ctx.regionId, (c) => c.write(ctx, modifies, options));
  }

  async admin(ctx: RequestContext, command: AdminCommand): Promise<AdminResult> {
    const result = await this.route(ctx.regionId, (c) => c.admin(ctx, command));
    if (result.type === 'split') await this.directory?.recordSplit?.(result.left, result.right);
    else await this.directory?.recordRegion?.(result.region);
    return result;
  }
}
