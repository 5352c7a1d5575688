/**
 * Wiring of the meta group into a store: a receiver that sends the meta region's messages to the
 * store's `MetaPeer` and everything else to the `Store`, and an in-process router that finds the
 * meta leader among the peers of one process (the `RaftCluster` case).
 */
import { KvError, type Clock, type EventCatalogue, type Region, type StorageEngine } from '@flashkv/core';
import type { ConfChange, ConfState, Rng } from '../core/index.js';
import type { Store, StoreRaftOptions } from '../store/store.js';
import type { RaftEnvelope, RaftReceiver, Transport } from '../store/transport.js';
import type { MetaCommand } from './meta-codec.js';
import { META_REGION_ID, MetaPeer, bootstrapMeta, bootstrapMetaJoiner, hasMetaGroup, type MetaOutcome } from './meta-peer.js';
import type { MetaState } from './meta-state.js';
import { RaftPlacement, type MetaRouter } from './raft-placement.js';

type BatchReceiver = RaftReceiver & { receiveMany?(envs: readonly RaftEnvelope[]): Promise<void> };

/** One store's inbound side with its meta peer beside it. */
export class MetaDemux implements BatchReceiver {
  readonly storeId: number;

  constructor(
    readonly store: BatchReceiver,
    readonly meta: MetaPeer,
  ) {
    this.storeId = store.storeId;
  }

  receive(env: RaftEnvelope): Promise<void> {
    return env.regionId === META_REGION_ID ? this.meta.receive(env) : this.store.receive(env);
  }

  async receiveMany(envs: readonly RaftEnvelope[]): Promise<void> {
    const data: RaftEnvelope[] = [];
    const meta: RaftEnvelope[] = [];
    for (const e of envs) (e.regionId === META_REGION_ID ? meta : data).push(e);
    const work: Promise<void>[] = meta.map((e) => this.meta.receive(e));
    if (data.length > 0) work.push(this.store.receiveMany ? this.store.receiveMany(data) : Promise.all(data.map((e) => this.store.receive(e))).then(() => undefined));
    const results = await Promise.allSettled(work);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  reportSnapshot(regionId: number, toPeer: number, delivered: boolean): Promise<void> {
    return regionId === META_REGION_ID ? this.meta.reportSnapshot(regionId, toPeer, delivered) : this.store.reportSnapshot(regionId, toPeer, delivered);
  }

  reportUnreachable(regionId: number, toPeer: number): Promise<void> {
    return regionId === META_REGION_ID ? this.meta.reportUnreachable(regionId, toPeer) : this.store.reportUnreachable(regionId, toPeer);
  }
}

/**
 * The meta leader among peers in this process: a call goes to the store believed to lead,
 * follows NOT_LEADER hints, waits a tick when no leader is known, and skips stopped peers. Only
 * refusals that certainly did not apply are retried; an unknown outcome goes to the caller.
 */
export class InProcessMetaRouter implements MetaRouter {
  private leader = 1;

  constructor(
    readonly peers: readonly MetaPeer[],
    private readonly waitTick: () => Promise<void>,
    private readonly maxAttempts = 100,
  ) {}

  private byStore(storeId: number): MetaPeer | undefined {
    return this.peers.find((p) => p.storeId === storeId);
  }

  private next(storeId: number): number {
    const i = this.peers.findIndex((p) => p.storeId === storeId);
    return this.peers[(i + 1) % this.peers.length]!.storeId;
  }

  private async route<T>(fn: (p: MetaPeer) => Promise<T>, idempotent: boolean): Promise<T> {
    let storeId = this.leader;
    let last: unknown;
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      const peer = this.byStore(storeId);
      try {
        if (peer === undefined || peer.stopped) throw new KvError('NOT_LEADER', `store ${storeId} has no live meta peer`, { regionId: META_REGION_ID });
        const out = await fn(peer);
        this.leader = storeId;
        return out;
      } catch (e) {
        last = e;
        if (!(e instanceof KvError)) throw e;
        const d = (e.details ?? {}) as { leader?: { storeId: number }; unknownOutcome?: boolean; stale?: boolean };
        const retriable = (e.code === 'NOT_LEADER' && d.unknownOutcome !== true) || (e.code === 'ENGINE_CLOSED' && idempotent);
        if (!retriable) throw e;
        const hint = d.leader?.storeId;
        const hinted = hint === undefined ? undefined : this.byStore(hint);
        if (hinted !== undefined && hint !== storeId && !hinted.stopped) storeId = hint!;
        else {
          await this.waitTick();
          storeId = this.next(storeId);
        }
      }
    }
    throw last;
  }

  propose(cmd: MetaCommand): Promise<MetaOutcome> {
    return this.route((p) => p.propose(cmd), false);
  }

  /** A membership change of the meta group at its leader; SERVER_BUSY (one pending) waits a tick and retries. */
  async changeMembers(cc: ConfChange): Promise<ConfState> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.route((p) => p.proposeConfChange(cc), false);
      } catch (e) {
        if (!(e instanceof KvError && e.code === 'SERVER_BUSY') || attempt >= this.maxAttempts) throw e;
        await this.waitTick();
      }
    }
  }

  /** The live peer that leads the meta group now, if any. */
  leaderPeer(): MetaPeer | undefined {
    return this.peers.find((p) => !p.stopped && p.isLeader());
  }

  getTs(count: number): Promise<bigint[]> {
    // A stopped leader handed nothing out: asking the next one is safe.
    return this.route((p) => p.getTs(count), true);
  }

  /** The leader's copy once it has applied its term's entries; else the live copy applied furthest. */
  view(): { readonly state: MetaState; readonly engine: StorageEngine } {
    let best: MetaPeer | undefined;
    for (const p of this.peers) {
      if (p.stopped) continue;
      if (p.isReadyLeader()) return { state: p.state, engine: p.placementEngine };
      if (best === undefined || p.appliedIndex > best.appliedIndex) best = p;
    }
    const p = best ?? this.peers[0]!;
    return { state: p.state, engine: p.placementEngine };
  }
}

export interface MetaPlacementOptions {
  /** How far ahead of use the TSO high-water mark is raised through the log. Default 3000 ms. */
  readonly tsoWindowMs?: number;
  /** The TSO's wall clock. Default the system clock. */
  readonly clock?: Clock;
  /** Compact the meta log after this many applied entries. Default 1000. */
  readonly logGcThreshold?: number;
}

/** The meta group of an in-process cluster: a peer per store and the placement they serve. */
export interface MetaGroup {
  readonly peers: readonly MetaPeer[];
  readonly placement: RaftPlacement;
  /** What the transport should deliver into for `store`: the store, with the meta region's traffic split off. */
  receiverFor(store: Store): MetaDemux;
  readonly router: InProcessMetaRouter;
  /**
   * Opens a meta peer for a store joining the running cluster (bootstrapped empty when its engine
   * has none: the leader sends it a snapshot once it is added). Not yet a member: see
   * `RaftCluster.addStore`.
   */
  join(store: Store, rng: Rng): Promise<MetaPeer>;
}

function start(
  stores: readonly Store[],
  transport: Transport,
  rngFor: (storeId: number) => Rng,
  options: MetaPlacementOptions,
  raft: StoreRaftOptions | undefined,
  events: EventCatalogue | undefined,
  waitTick: () => Promise<void>,
): MetaGroup {
  const peers: MetaPeer[] = [];
  const router = new InProcessMetaRouter(peers, waitTick);
  const placement = new RaftPlacement(router, events);
  const open = (s: Store, rng: Rng): MetaPeer =>
    MetaPeer.open({
      engine: s.engine,
      storeId: s.storeId,
      transport,
      rng,
      ...(raft ? { raft } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.tsoWindowMs !== undefined ? { tsoWindowMs: options.tsoWindowMs } : {}),
      ...(options.logGcThreshold !== undefined ? { logGcThreshold: options.logGcThreshold } : {}),
    });
  for (const s of stores) peers.push(open(s, rngFor(s.storeId)));
  return {
    peers,
    placement,
    router,
    receiverFor: (store) => new MetaDemux(store, peers.find((p) => p.storeId === store.storeId)!),
    join: async (store, rng) => {
      if (!hasMetaGroup(store.engine)) await bootstrapMetaJoiner(store.engine);
      const peer = open(store, rng);
      peers.push(peer);
      return peer;
    },
  };
}

/** Ids for a fresh cluster's first regions' peers, above the template region ids; the rest come from the meta group. */
function idCounter(templates: readonly { readonly id: number }[] | undefined): () => Promise<number> {
  let next = Math.max(1, ...(templates ?? []).map((t) => t.id)) + 1;
  return async () => next++;
}

/** Bootstraps the meta group on every engine of a fresh cluster: voters are store ids 1..N. */
async function bootstrap(engines: readonly StorageEngine[], regions: readonly Region[], nextId: number): Promise<void> {
  const voters = engines.map((_e, i) => i + 1);
  for (const e of engines) await bootstrapMeta(e, voters, regions, nextId);
}

/** Starts the meta peers of an in-process cluster (`RaftCluster` with `metaPlacement`). */
export const startMetaGroup = Object.assign(start, { idCounter, bootstrap });
