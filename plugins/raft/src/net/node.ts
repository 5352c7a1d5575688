import { EventCatalogue, KvError, freezeRegion, type BatchOp, type StorageEngine, type WriteResult } from '@flashkv/core';
import type { Command } from '../store/codec.js';
import { SeededRng } from '../store/cluster.js';
import { Store, bootstrapStore, type StoreRaftOptions } from '../store/store.js';
import { intervalTickSource, StoreTicker } from '../store/ticker.js';
import { storeIdentKey } from '../store/codec.js';
import {
  OP_APPLIED_COUNT,
  OP_GET,
  OP_ISOLATE,
  OP_META,
  OP_MPUT,
  OP_PUT,
  OP_STATUS,
  OP_TRANSFER,
  OP_TSO,
  decodeRequest,
  encodeError,
  encodeOk,
  readU64,
  u64Bytes,
  type ErrorReply,
  type Request,
} from './protocol.js';
import { TcpTransport, type ClientConnection, type NetAddress, type TcpTransportStats } from './tcp-transport.js';
import { FrameError } from './wire.js';
import { MetaDemux } from '../placement/meta-group.js';
import { MetaPeer, bootstrapMeta, hasMetaGroup } from '../placement/meta-peer.js';
import { NodeMetaRouter, serveMetaRequest } from '../placement/meta-node.js';
import { RaftPlacement } from '../placement/raft-placement.js';
import { RaftClient } from './client.js';

export interface NodeStatus {
  readonly storeId: number;
  /** The leader's store id as this node knows it (0: none known). */
  readonly leaderStore: number;
  readonly isLeader: boolean;
  readonly term: number;
  readonly commit: number;
  readonly applied: number;
  readonly proposeBatches: number;
  readonly proposedWrites: number;
  readonly transport: TcpTransportStats;
  /** The meta (placement) group's leader as this node knows it (0: none known or no meta group). */
  readonly metaLeaderStore: number;
  readonly metaIsLeader: boolean;
}

/** Default number of waiting writes that starts a second batch while one is still in flight. */
const PIPELINE_AT = 8;

/** Default ms a commit-only append waits for the next batch's append to share its frame. */
const LAZY_COMMIT_MS = 2;

/** The one region a node cluster runs (peer id = store id). */
const REGION_ID = 1;
const DATA_PREFIX = 0x7a;

export interface RaftNodeOptions {
  readonly storeId: number;
  readonly listen: NetAddress;
  /** Every store of the cluster with its listen address (this one's entry may be present). */
  readonly peers: ReadonlyMap<number, NetAddress>;
  readonly token: string;
  /** This store's own engine; durability comes from its `sync` (engine-lsm in a real node). */
  readonly engine: StorageEngine;
  readonly raft?: StoreRaftOptions;
  /** Wall-clock ms per raft tick. Default 100 (so the default election timeout is 1-2 s). */
  readonly tickMs?: number;
  readonly seed?: number;
  readonly maxFrameBytes?: number;
  /** Waiting writes that start another batch while one is in flight. Default 8; 1 pipelines every batch. */
  readonly pipelineAt?: number;
  /** How long a commit-only append may wait to share a frame with other traffic (TcpTransport lazyCommitMs). Default 2. */
  readonly lazyCommitMs?: number;
  /** Serve the ISOLATE and APPLIED_COUNT test requests. Default false. */
  readonly testHooks?: boolean;
  /** Where the store reports applies (`applied$`): a kernel's catalogue when the node hosts one (CDC, storage). */
  readonly events?: EventCatalogue;
}

function zkey(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 1);
  out[0] = DATA_PREFIX;
  out.set(key, 1);
  return out;
}

type Queued = { cmd: Command; ifTerm: number | undefined; resolve(v: WriteResult): void; reject(e: unknown): void };

/** Largest merged command: beyond it a new one starts. */
const MERGE_BYTES = 256 * 1024;

/** Consecutive plain writes of one epoch merged into one write command, in queue order. */
function mergeWrites(batch: readonly Queued[]): { cmd: Command; ifTerm: number | undefined; members: Queued[] }[] {
  const out: { cmd: Command; ifTerm: number | undefined; members: Queued[] }[] = [];
  let open: { cmd: Command & { kind: 'write' }; modifies: BatchOp[]; bytes: number; members: Queued[] } | undefined;
  for (const b of batch) {
    const c = b.cmd;
    const size = c.kind === 'write' ? c.modifies.reduce((n, m) => n + (m.op === 'put' ? m.key.length + m.value.length : 64), 0) : 0;
    const mergeable = c.kind === 'write' && b.ifTerm === undefined && c.flags.size === 0;
    if (mergeable && open && open.cmd.version === c.version && open.cmd.confVer === c.confVer && open.cmd.regionId === c.regionId && open.bytes + size <= MERGE_BYTES) {
      open.modifies.push(...c.modifies);
      open.bytes += size;
      open.members.push(b);
      continue;
    }
    if (mergeable) {
      const modifies = [...c.modifies];
      open = { cmd: { ...c, modifies }, modifies, bytes: size, members: [b] };
      out.push({ cmd: open.cmd, ifTerm: undefined, members: open.members });
    } else {
      open = undefined;
      out.push({ cmd: c, ifTerm: b.ifTerm, members: [b] });
    }
  }
  return out;
}

/**
 * One store as a process: the multi-raft store on its own engine, a TCP transport to the other
 * stores, a ticker, and a small client protocol on the same port (put, get, an atomic
 * transfer between two u64 balances, status). Writes arriving while a batch is being persisted
 * are proposed together in the next batch (group commit: one sync for many writes).
 */
export class RaftNode {
  private readonly ticker: StoreTicker;
  private readonly queue: Queued[] = [];
  private proposing = false;
  private queueFull: (() => void) | undefined;
  private transferLock: Promise<void> = Promise.resolve();
  private readonly appliedPuts = new Map<string, number>();
  private stopped = false;
  /** Group-commit counters: proposal batches and the writes in them. */
  readonly counters = { batches: 0, writes: 0 };

  private constructor(
    readonly store: Store,
    readonly transport: TcpTransport,
    private readonly options: RaftNodeOptions,
    events: EventCatalogue | undefined,
    /** This store's peer of the meta (placement) group; absent on a data dir made before it existed. */
    readonly meta?: MetaPeer,
  ) {
    this.ticker = new StoreTicker(meta ? [store, meta] : [store], intervalTickSource(options.tickMs ?? 100));
    if (events) {
      events.applied$.subscribe((ev) => {
        for (const m of ev.modifies) if (m.op === 'put') {
          const k = Buffer.from(m.key).toString('hex');
          this.appliedPuts.set(k, (this.appliedPuts.get(k) ?? 0) + 1);
        }
      });
    }
  }

  static async start(options: RaftNodeOptions): Promise<RaftNode> {
    const ids = new Set([...options.peers.keys(), options.storeId]);
    const storeIds = [...ids].sort((a, b) => a - b);
    if (options.engine.get('raft', storeIdentKey()) === undefined) {
      const region = freezeRegion({
        id: REGION_ID,
        startKey: new Uint8Array(0),
        endKey: new Uint8Array(0),
        epoch: { version: 1, confVer: 1 },
        peers: storeIds.map((s) => ({ id: s, storeId: s, role: 'voter' as const })),
        flashback: { inFlashback: false, flashbackStartTs: 0n },
      });
      await bootstrapStore(options.engine, options.storeId, [region]);
      await bootstrapMeta(options.engine, storeIds, [region], Math.max(REGION_ID, ...storeIds) + 1);
    }
    let node: RaftNode | undefined;
    const transport = new TcpTransport({
      storeId: options.storeId,
      listen: options.listen,
      peers: options.peers,
      token: options.token,
      ...(options.maxFrameBytes !== undefined ? { maxFrameBytes: options.maxFrameBytes } : {}),
      lazyCommitMs: options.lazyCommitMs ?? LAZY_COMMIT_MS,
      onRequest: (body, conn) => node!.onRequest(body, conn),
    });
    const events = options.events ?? (options.testHooks ? new EventCatalogue() : undefined);
    const seed = options.seed ?? globalThis.crypto.getRandomValues(new Uint32Array(1))[0]!;
    const store = Store.open({
      engine: options.engine,
      transport,
      rng: new SeededRng(seed + options.storeId * 7919),
      asyncLeaderPersist: true,
      settleOnDurableQuorum: true,
      ...(events ? { events } : {}),
      ...(options.raft ? { raft: options.raft } : {}),
    });
    const meta = hasMetaGroup(options.engine)
      ? MetaPeer.open({ engine: options.engine, storeId: options.storeId, transport, rng: new SeededRng(seed + options.storeId * 7919 + 104729), ...(options.raft ? { raft: options.raft } : {}) })
      : undefined;
    transport.attach(meta ? new MetaDemux(store, meta) : store);
    // The applied-put counts are a test hook: a kernel's catalogue alone does not pay for them.
    node = new RaftNode(store, transport, options, options.testHooks ? events : undefined, meta);
    await transport.start();
    node.ticker.start();
    return node;
  }

  address(): NetAddress {
    return this.transport.address();
  }

  status(): NodeStatus {
    const peer = this.store.peer(REGION_ID);
    const st = peer.node.status();
    return {
      storeId: this.store.storeId,
      leaderStore: peer.leaderHint()?.storeId ?? 0,
      isLeader: st.state === 'leader',
      term: st.term,
      commit: st.commit,
      applied: peer.applied,
      proposeBatches: this.counters.batches,
      proposedWrites: this.counters.writes,
      transport: { ...this.transport.stats },
      metaLeaderStore: this.meta?.leaderStoreId() ?? 0,
      metaIsLeader: this.meta?.isLeader() ?? false,
    };
  }

  private placementView: RaftPlacement | undefined;

  /**
   * PLACEMENT for a process hosting this node: the meta group's TSO, directory, safe point,
   * pauses and jobs, with calls sent to the meta leader (this node or another, over the client
   * protocol) and reads from this node's applied copy.
   */
  placement(): RaftPlacement {
    if (this.meta === undefined) throw new KvError('INVALID_ARGUMENT', 'this node runs no meta (placement) group: its data dir predates it');
    if (this.placementView === undefined) {
      const nodes = new Map(this.options.peers);
      nodes.set(this.options.storeId, this.address());
      this.placementClient = new RaftClient({ nodes, token: this.options.token, sharedConnections: false });
      // With a hosting kernel's catalogue, directory changes made here are reported (CDC tracks new regions).
      this.placementView = new RaftPlacement(new NodeMetaRouter(this.meta, this.placementClient), this.options.events);
    }
    return this.placementView;
  }

  private placementClient: RaftClient | undefined;

  async stop(): Promise<void> {
    this.stopped = true;
    await this.ticker.stop();
    this.placementClient?.close();
    await this.transport.close();
    this.store.stop();
    this.meta?.stop();
  }

  // ---- writes: group commit ----

  private submit(modifies: BatchOp[], ifTerm?: number): Promise<WriteResult> {
    const region = this.store.peer(REGION_ID).region;
    const cmd: Command = { kind: 'write', regionId: REGION_ID, version: region.epoch.version, confVer: region.epoch.confVer, flags: new Set(), modifies };
    return new Promise((resolve, reject) => {
      this.queue.push({ cmd, ifTerm, resolve, reject });
      if (this.queue.length >= (this.options.pipelineAt ?? PIPELINE_AT)) this.queueFull?.();
      if (!this.proposing) {
        // Requests read in the same turn of the event loop join one batch.
        this.proposing = true;
        setImmediate(() => void this.proposeLoop());
      }
    });
  }

  private async proposeLoop(): Promise<void> {
    this.proposing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.queue.length);
        this.counters.batches++;
        this.counters.writes += batch.length;
        // Plain writes of the same epoch become one command (one log entry: one log key to
        // write, decode and apply, like TiKV's batched raft commands); each settles with its
        // outcome. Conditional writes (a term to hold) stay on their own.
        const groups = mergeWrites(batch);
        let results;
        try {
          results = await this.store.proposeMany(
            groups.map((g) => g.cmd),
            groups.map((g) => g.ifTerm),
          );
        } catch (e) {
          for (const b of batch) b.reject(e);
          continue;
        }
        const pending: Promise<unknown>[] = [];
        results.forEach((r, i) => {
          const members = groups[i]!.members;
          if ('error' in r) for (const b of members) b.reject(r.error);
          else {
            r.applied.then(
              (v) => {
                for (const b of members) b.resolve(v as WriteResult);
              },
              (e) => {
                for (const b of members) b.reject(e);
              },
            );
            pending.push(r.applied);
          }
        });
        // One batch in flight: the next one forms while this one replicates and applies, and goes
        // out as one append (one ack per follower, one commit step) once it is done, or as soon
        // as enough writes wait to be worth a batch of their own.
        if (pending.length > 0) {
          await Promise.race([Promise.allSettled(pending), new Promise<void>((r) => (this.queueFull = r))]);
          this.queueFull = undefined;
        }
      }
    } finally {
      this.proposing = false;
    }
  }

  private async read(key: Uint8Array): Promise<{ value: Uint8Array | undefined; term: number }> {
    const region = this.store.peer(REGION_ID).region;
    const term = this.store.peer(REGION_ID).node.status().term;
    const { snapshot } = await this.store.read(REGION_ID, { kind: 'read', epoch: region.epoch }, false);
    const snap = await snapshot;
    try {
      return { value: snap.get('default', zkey(key)), term };
    } finally {
      snap.release();
    }
  }

  // ---- client requests ----

  private onRequest(body: Uint8Array, conn: ClientConnection): void {
    const { id, req } = decodeRequest(body); // a FrameError closes the client's connection
    if (this.stopped) {
      conn.send(encodeError(id, { code: 'ENGINE_CLOSED', message: 'node stopping', leaderStore: 0, certain: true }));
      return;
    }
    this.handle(req).then(
      (payload) => conn.send(encodeOk(id, payload)),
      (e) => conn.send(encodeError(id, this.errorReply(e))),
    );
  }

  private errorReply(e: unknown): ErrorReply {
    if (e instanceof KvError) {
      const d = (e.details ?? {}) as { leader?: { storeId?: number }; unknownOutcome?: boolean };
      const leaderStore = d.leader?.storeId ?? (e.code === 'NOT_LEADER' ? this.status().leaderStore : 0);
      return { code: e.code, message: e.message, leaderStore, certain: d.unknownOutcome !== true && e.code !== 'ENGINE_CLOSED' };
    }
    return { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e), leaderStore: 0, certain: false };
  }

  private async handle(req: Request): Promise<Uint8Array> {
    switch (req.op) {
      case OP_PUT: {
        const r = await this.submit([{ op: 'put', cf: 'default', key: zkey(req.key), value: req.value }]);
        return u64Bytes(r.index);
      }
      case OP_MPUT: {
        const r = await this.submit(req.pairs.map(([k, v]) => ({ op: 'put' as const, cf: 'default' as const, key: zkey(k), value: v })));
        return u64Bytes(r.index);
      }
      case OP_GET: {
        const { value } = await this.read(req.key);
        if (value === undefined) return new Uint8Array([0]);
        const out = new Uint8Array(value.length + 1);
        out[0] = 1;
        out.set(value, 1);
        return out;
      }
      case OP_TRANSFER:
        return this.transfer(req.from, req.to, req.amount, req.record);
      case OP_STATUS:
        return new TextEncoder().encode(JSON.stringify(this.status()));
      case OP_TSO:
      case OP_META:
        return serveMetaRequest(this.meta, req);
      case OP_ISOLATE:
        if (!this.options.testHooks) throw new KvError('INVALID_ARGUMENT', 'test hooks are off');
        this.transport.isolate(req.stores);
        return new Uint8Array(0);
      case OP_APPLIED_COUNT:
        if (!this.options.testHooks) throw new KvError('INVALID_ARGUMENT', 'test hooks are off');
        return u64Bytes(BigInt(this.appliedPuts.get(Buffer.from(zkey(req.key)).toString('hex')) ?? 0));
    }
  }

  /**
   * Read-modify-write on the leader, one at a time: both balances are read at a read index, and
   * the new balances and the record are proposed only if this peer still leads in the term of
   * that read (so nothing another leader committed can slip in between the read and the write).
   */
  private transfer(from: Uint8Array, to: Uint8Array, amount: bigint, record: Uint8Array): Promise<Uint8Array> {
    const run = async (): Promise<Uint8Array> => {
      if (!this.store.peer(REGION_ID).isLeader()) throw new KvError('NOT_LEADER', 'not the leader', { leader: this.store.peer(REGION_ID).leaderHint() });
      const a = await this.read(from);
      const b = await this.read(to);
      if (a.term !== b.term) throw new KvError('NOT_LEADER', 'term changed during the read', { leader: this.store.peer(REGION_ID).leaderHint() });
      const fromBal = a.value ? readU64(a.value) : 0n;
      const toBal = b.value ? readU64(b.value) : 0n;
      if (fromBal < amount) return new Uint8Array([0]);
      await this.submit(
        [
          { op: 'put', cf: 'default', key: zkey(from), value: u64Bytes(fromBal - amount) },
          { op: 'put', cf: 'default', key: zkey(to), value: u64Bytes(toBal + amount) },
          { op: 'put', cf: 'default', key: zkey(record), value: u64Bytes(amount) },
        ],
        a.term,
      );
      return new Uint8Array([1]);
    };
    const p = this.transferLock.then(run);
    this.transferLock = p.then(
      () => undefined,
      () => undefined,
    );
    return p;
  }
}

export { FrameError };
