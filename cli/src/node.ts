import { CONSENSUS, definePlugin, ENGINE, KvError, PLACEMENT, type AdminCommand, type AdminResult, type BatchOp, type Consensus, type Placement, type Plugin, type Region, type RegionSnapshot, type RequestContext, type WriteResult } from '@flashkv/core';
import { RaftConsensus, RaftNode, type NetAddress } from '@flashkv/raft';
import type { ClusterTopology } from '@flashkv/server';

/** One store of a multi-process cluster, as `flashkv serve --store-id ...` runs it. */
export interface ClusterNodeOptions {
  readonly storeId: number;
  /** Raft (TCP transport) address of this store. */
  readonly raftListen: NetAddress;
  /** Raft addresses of every store (this one's may be present). */
  readonly peers: ReadonlyMap<number, NetAddress>;
  /** gRPC addresses of the stores, for leader hints and the region list. */
  readonly grpcPeers: ReadonlyMap<number, string>;
  /** Shared by every store of the cluster; checked when a TCP connection opens. */
  readonly clusterToken: string;
}

/**
 * The consensus of a node: this store's RaftConsensus (a request for a region this store does
 * not lead fails NOT_LEADER naming the leader's store), and admin results recorded in the
 * replicated placement directory so every node routes by them.
 */
class NodeConsensus implements Consensus {
  readonly name = 'raft';
  constructor(
    private readonly inner: RaftConsensus,
    private readonly placement: Placement,
  ) {}
  snapshot(ctx: RequestContext): Promise<RegionSnapshot> {
    return this.inner.snapshot(ctx);
  }
  write(ctx: RequestContext, modifies: readonly BatchOp[], options?: { readonly sync?: boolean }): Promise<WriteResult> {
    return this.inner.write(ctx, modifies, options);
  }
  async admin(ctx: RequestContext, command: AdminCommand): Promise<AdminResult> {
    const result = await this.inner.admin(ctx, command);
    if (result.type === 'split') await this.placement.recordSplit?.(result.left, result.right);
    else await this.placement.recordRegion?.(result.region);
    return result;
  }
  regionForKey(encodedKey: Uint8Array): Region {
    return this.inner.regionForKey(encodedKey);
  }
  getRegion(regionId: number): Region {
    return this.inner.getRegion(regionId);
  }
}

/** The running node of a `clusterNode` plugin, for the process that hosts it. */
export interface ClusterNodeHandle {
  node: RaftNode | undefined;
}

/**
 * Provides CONSENSUS and PLACEMENT from a raft node process: the store on the kernel's ENGINE
 * over the TCP transport, placement (TSO, directory, safe point, jobs) in the replicated meta
 * group (one TSO for the cluster), applies reported on the kernel's events (CDC sees them).
 */
export function clusterNode(options: ClusterNodeOptions, handle: ClusterNodeHandle = { node: undefined }): Plugin {
  return definePlugin({
    name: 'flashkv-cli/cluster-node',
    version: '0.1.0',
    requires: [ENGINE],
    provides: [CONSENSUS, PLACEMENT],
    async register(ctx) {
      const node = await RaftNode.start({ storeId: options.storeId, listen: options.raftListen, peers: options.peers, token: options.clusterToken, engine: ctx.resolve(ENGINE), events: ctx.events });
      handle.node = node;
      const placement = node.placement();
      ctx.provide(PLACEMENT, placement);
      ctx.provide(CONSENSUS, new NodeConsensus(new RaftConsensus({ store: node.store, allocId: () => placement.allocId() }), placement));
    },
    async stop() {
      await handle.node?.stop();
    },
  });
}

/** Store gRPC addresses from --grpc-peers (this node's own: its bound address) and leaders from the local store. */
export function nodeTopology(handle: ClusterNodeHandle, storeId: number, grpcPeers: ReadonlyMap<number, string>, self: () => string | undefined): ClusterTopology {
  return {
    localStoreId: storeId,
    gathersLeaders: true,
    storeAddress: (id) => (id === storeId ? (self() ?? grpcPeers.get(id)) : grpcPeers.get(id)),
    leaderOf: (regionId) => handle.node?.store.peers.get(regionId)?.leaderHint(),
  };
}

/**
 * The flashback orchestrator's `leadRegion` on a node: this node drives only the regions its store
 * leads, so before a flashback touches a region led elsewhere it asks for a raft leader transfer
 * to this store's peer (a follower's request goes to the leader as a raft transferLeader message
 * over the TCP transport), asks again every `askEveryMs`, and waits up to `waitMs` for the
 * leadership; then it fails NOT_LEADER naming the region and where its leader is (the
 * orchestrator backs off and, past its own bound, fails the job, which stays resumable).
 * Scheduling is paused by the job meanwhile, so no balancer moves the leaders away again.
 */
export function leadRegionHere(handle: ClusterNodeHandle, storeId: number, grpcPeers: ReadonlyMap<number, string>, o: { waitMs?: number; askEveryMs?: number } = {}): (region: Region) => Promise<void> {
  const waitMs = o.waitMs ?? 3000;
  const askEveryMs = o.askEveryMs ?? 500;
  return async (region) => {
    const node = handle.node;
    if (node === undefined) return;
    const deadline = Date.now() + waitMs;
    let nextAsk = 0;
    for (;;) {
      const peer = node.store.peers.get(region.id);
      if (peer?.isLeader()) return;
      const now = Date.now();
      if (now >= deadline) {
        const l = peer?.leaderHint();
        const where = l === undefined ? 'no leader is known' : `its leader is store ${l.storeId} (${grpcPeers.get(l.storeId) ?? 'address unknown'})`;
        throw new KvError('NOT_LEADER', `region ${region.id} is not led by this node (store ${storeId}): ${where}, and leadership did not move here within ${waitMs} ms`, {
          regionId: region.id,
          ...(l !== undefined ? { leader: l } : {}),
        });
      }
      if (peer !== undefined && now >= nextAsk) {
        nextAsk = now + askEveryMs;
        // Refused (no leader known yet, an epoch moved): asked again on the next round.
        await node.store.transferLeader(region.id, peer.region.epoch, peer.peerId).catch(() => undefined);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };
}
