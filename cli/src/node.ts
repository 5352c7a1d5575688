import { CONSENSUS, definePlugin, ENGINE, PLACEMENT, type AdminCommand, type AdminResult, type BatchOp, type Consensus, type Placement, type Plugin, type Region, type RegionSnapshot, type RequestContext, type WriteResult } from '@flashkv/core';
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
    storeAddress: (id) => (id === storeId ? (self() ?? grpcPeers.get(id)) : grpcPeers.get(id)),
    leaderOf: (regionId) => handle.node?.store.peers.get(regionId)?.leaderHint(),
  };
}
