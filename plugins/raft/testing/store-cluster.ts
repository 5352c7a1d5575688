import { EventCatalogue, freezeRegion, NOT_IN_FLASHBACK, WriteBatch, type AppliedEvent, type BatchOp, type Region, type StorageEngine } from '@flashkv/core';
import { ReferenceEngine, Rng, wrapEngine } from '@flashkv/core/testing';
import { InProcessTransport, RaftConsensus, Store, bootstrapStore, type StoreRaftOptions } from '../src/store/index.js';

export interface StoreClusterOptions {
  readonly stores: number;
  readonly seed: number;
  readonly raft?: StoreRaftOptions;
  readonly logGcThreshold?: number;
  /** Probability the network drops a message. Default 0. */
  readonly dropRate?: number;
  /** Passed to every store (a leader's log write runs while the store keeps stepping). */
  readonly asyncLeaderPersist?: boolean;
  /** Passed to every store (with asyncLeaderPersist: settle once a quorum holds an entry on disk). */
  readonly settleOnDurableQuorum?: boolean;
}

/** One store of the cluster with what a test looks at. */
export interface ClusterMember {
  readonly storeId: number;
  engine: StorageEngine;
  /** Every batch written to `engine`, with its sync flag: what a crash may lose. */
  readonly disk: DiskLog;
  store: Store;
  consensus: RaftConsensus;
  events: EventCatalogue;
  /** Every `applied` event this life of the store emitted. */
  applied: AppliedEvent[];
  alive: boolean;
}

/**
 * The writes an engine received, in order. A crash keeps the prefix up to the last synced write
 * (an fsync makes everything before it durable, as with a write-ahead log) and loses the rest.
 */
export class DiskLog {
  readonly writes: { ops: BatchOp[]; sync: boolean }[] = [];

  /** An engine that records into this log. */
  wrap(inner: StorageEngine): StorageEngine {
    return wrapEngine(inner, {
      write: (batch, options) => {
        this.writes.push({ ops: batch.ops.slice(), sync: options?.sync === true });
        return batch;
      },
    });
  }

  /** Drops the unsynced tail and rebuilds a fresh engine from what stays. */
  async crash(): Promise<StorageEngine> {
    let keep = 0;
    for (let i = 0; i < this.writes.length; i++) if (this.writes[i]!.sync) keep = i + 1;
    const lost = this.writes.length - keep;
    this.writes.length = keep;
    const kept = this.writes.splice(0);
    const engine = this.wrap(new ReferenceEngine());
    for (const w of kept) {
      const b = new WriteBatch();
      for (const op of w.ops) {
        if (op.op === 'put') b.put(op.cf, op.key, op.value);
        else if (op.op === 'delete') b.delete(op.cf, op.key);
        else b.deleteRange(op.cf, op.start, op.end);
      }
      await engine.write(b, { sync: w.sync });
    }
    this.lostWrites += lost;
    return engine;
  }

  lostWrites = 0;
}

/**
 * N stores in one process, each over its own engine, joined by an InProcessTransport, moved by
 * simulated time: `tick()` ticks every live store once and then delivers until the network is
 * quiet. Region 1 spans the whole key space with peer i on store i. All randomness (election
 * jitter, drops) comes from the seed, so a seed replays a run.
 */
export class StoreCluster {
  readonly transport: InProcessTransport;
  readonly members = new Map<number, ClusterMember>();
  readonly rng: Rng;
  ticks = 0;
  private nextId = 1000;

  private constructor(readonly options: StoreClusterOptions) {
    this.rng = new Rng(options.seed);
    this.transport = new InProcessTransport({ dropRate: options.dropRate ?? 0, rng: this.rng.fork() });
  }

  static async create(options: StoreClusterOptions): Promise<StoreCluster> {
    const c = new StoreCluster(options);
    const ids = Array.from({ length: options.stores }, (_, i) => i + 1);
    const region: Region = freezeRegion({
      id: 1,
      startKey: new Uint8Array(0),
      endKey: new Uint8Array(0),
      epoch: { version: 1, confVer: 1 },
      peers: ids.map((id) => ({ id, storeId: id, role: 'voter' as const })),
      flashback: NOT_IN_FLASHBACK,
    });
    for (const id of ids) {
      const disk = new DiskLog();
      const engine = disk.wrap(new ReferenceEngine());
      await bootstrapStore(engine, id, [region]);
      c.start(id, engine, disk);
    }
    return c;
  }

  private start(storeId: number, engine: StorageEngine, disk: DiskLog): ClusterMember {
    const events = new EventCatalogue();
    const store = Store.open({
      engine,
      transport: this.transport,
      rng: this.rng.fork(),
      events,
      ...(this.options.asyncLeaderPersist ? { asyncLeaderPersist: true } : {}),
      ...(this.options.settleOnDurableQuorum ? { settleOnDurableQuorum: true } : {}),
      ...(this.options.raft ? { raft: this.options.raft } : {}),
      ...(this.options.logGcThreshold !== undefined ? { logGcThreshold: this.options.logGcThreshold } : {}),
    });
    const consensus = new RaftConsensus({ store, allocId: async () => this.nextId++ });
    const m: ClusterMember = { storeId, engine, disk, store, consensus, events, applied: [], alive: true };
    events.applied$.subscribe((e) => m.applied.push(e));
    this.transport.register(store);
    this.members.set(storeId, m);
    return m;
  }

  member(storeId: number): ClusterMember {
    const m = this.members.get(storeId);
    if (!m) throw new Error(`no store ${storeId}`);
    return m;
  }

  /**
   * Kills a store: it stops at once, and its engine keeps only what was written up to the last
   * synced write (everything unsynced after it is lost).
   */
  async crash(storeId: number): Promise<void> {
    const m = this.member(storeId);
    m.store.stop();
    m.alive = false;
    this.transport.unregister(storeId);
    m.engine = await m.disk.crash();
  }

  /**
   * A new, empty store joining the running cluster (no region peers: they come by membership
   * changes, initialized by snapshot). Its id is the next after the highest so far.
   */
  async addStore(): Promise<ClusterMember> {
    const storeId = Math.max(...this.members.keys()) + 1;
    const disk = new DiskLog();
    const engine = disk.wrap(new ReferenceEngine());
    await bootstrapStore(engine, storeId, []);
    return this.start(storeId, engine, disk);
  }

  /** A fresh id for a new peer (the ids splits use come from the same counter). */
  allocId(): number {
    return this.nextId++;
  }

  /** Reopens a crashed store from what its engine kept. */
  restart(storeId: number): ClusterMember {
    const old = this.member(storeId);
    if (old.alive) throw new Error(`store ${storeId} is running`);
    return this.start(storeId, old.engine, old.disk);
  }

  partition(groups: readonly (readonly number[])[]): void {
    this.transport.partition(groups);
  }

  heal(): void {
    this.transport.heal();
  }

  live(): ClusterMember[] {
    return [...this.members.values()].filter((m) => m.alive);
  }

  async deliver(): Promise<void> {
    await this.transport.deliverAll();
  }

  async tick(n = 1): Promise<void> {
    for (let i = 0; i < n; i++) {
      this.ticks++;
      for (const m of this.live()) await m.store.tick();
      await this.transport.deliverAll();
    }
  }

  /** The live store whose peer of `regionId` leads with the highest term, if any. */
  leader(regionId: number, among: readonly number[] = this.live().map((m) => m.storeId)): ClusterMember | undefined {
    let best: ClusterMember | undefined;
    let term = -1;
    for (const id of among) {
      const m = this.member(id);
      const p = m.alive ? m.store.peers.get(regionId) : undefined;
      if (!p) continue;
      const st = p.node.status();
      if (st.state === 'leader' && st.term > term) {
        best = m;
        term = st.term;
      }
    }
    return best;
  }

  /** Ticks until `pred` holds; throws after `maxTicks` (a liveness failure, with the seed). */
  async until(pred: () => boolean, maxTicks = 500, what = 'condition'): Promise<void> {
    for (let i = 0; i < maxTicks; i++) {
      if (pred()) return;
      await this.tick();
    }
    if (pred()) return;
    throw new Error(`${what} did not hold after ${maxTicks} ticks (SEED=${this.options.seed})`);
  }

  async mustLeader(regionId: number, among?: readonly number[]): Promise<ClusterMember> {
    await this.until(() => this.leader(regionId, among) !== undefined, 500, `a leader of region ${regionId}`);
    return this.leader(regionId, among)!;
  }

  /** Ticks the cluster until `p` settles, then returns (or throws) its outcome. */
  async settle<T>(p: Promise<T>, maxTicks = 500): Promise<T> {
    let done = false;
    p.then(
      () => (done = true),
      () => (done = true),
    );
    await this.deliver();
    await new Promise((r) => setImmediate(r));
    for (let i = 0; i < maxTicks && !done; i++) {
      await this.tick();
      await new Promise((r) => setImmediate(r));
    }
    if (!done) throw new Error(`request did not settle after ${maxTicks} ticks (SEED=${this.options.seed})`);
    return p;
  }
}
