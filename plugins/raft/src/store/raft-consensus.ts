import {
  KvError,
  checkKeyInRegion,
  compareBytes,
  regionContains,
  type AdminCommand,
  type AdminResult,
  type BatchOp,
  type Consensus,
  type GateRequest,
  type Region,
  type RegionSnapshot,
  type RequestContext,
  type WriteResult,
} from '@flashkv/core';
import type { Store } from './store.js';
import type { ChangePeerResult, PeerChange } from './membership.js';

const DATA_PREFIX = 0x7a;

export interface RaftConsensusOptions {
  readonly store: Store;
  /** New region and peer ids for splits (placement's `allocId` in a kernel). */
  readonly allocId: () => Promise<number>;
}

export interface RaftReadOptions {
  /** Serve from this store's peer even if it is a follower: read index from the leader, then wait for apply here. */
  readonly followerRead?: boolean;
}

/**
 * The `Consensus` contract over one raft store. Writes are proposed on the leader and resolve
 * once applied (or reject with the apply-time gate's error); reads take a read index (or the
 * lease, per the store's raft options) and an engine snapshot once it is applied. A peer that is
 * not the leader answers NOT_LEADER with `details.leader = { peerId, storeId }` when it knows one.
 * Retrying on another store is the client's job.
 */
export class RaftConsensus implements Consensus {
  readonly name = 'raft';
  readonly store: Store;
  private readonly allocId: () => Promise<number>;

  constructor(options: RaftConsensusOptions) {
    this.store = options.store;
    this.allocId = options.allocId;
  }

  regionForKey(encodedKey: Uint8Array): Region {
    for (const r of this.store.regions()) if (regionContains(r, encodedKey)) return r;
    throw new KvError('REGION_NOT_FOUND', `no region on store ${this.store.storeId} holds the key`, { key: encodedKey, storeId: this.store.storeId });
  }

  getRegion(regionId: number): Region {
    return this.store.peer(regionId).region;
  }

  async snapshot(ctx: RequestContext, options: RaftReadOptions = {}): Promise<RegionSnapshot> {
    const req: GateRequest = { kind: 'read', epoch: ctx.epoch, ...(ctx.readTs !== undefined ? { readTs: ctx.readTs } : {}), ...(ctx.flags ? { flags: ctx.flags } : {}) };
    const { snapshot } = await this.store.read(ctx.regionId, req, options.followerRead === true);
    return snapshot;
  }

  async write(ctx: RequestContext, modifies: readonly BatchOp[], _options: { readonly sync?: boolean } = {}): Promise<WriteResult> {
    // The log entry is synced before it is acknowledged, so every acknowledged write is durable;
    // `sync` has nothing further to add here.
    const region = this.store.peer(ctx.regionId).region;
    checkModifies(region, modifies);
    const { applied } = await this.store.propose({
      kind: 'write',
      regionId: ctx.regionId,
      version: ctx.epoch.version,
      confVer: ctx.epoch.confVer,
      flags: ctx.flags ?? new Set(),
      modifies,
    });
    return (await applied) as WriteResult;
  }

  async admin(ctx: RequestContext, command: AdminCommand): Promise<AdminResult> {
    const base = { kind: 'admin' as const, regionId: ctx.regionId, version: ctx.epoch.version, confVer: ctx.epoch.confVer };
    switch (command.type) {
      case 'split': {
        const region = this.store.peer(ctx.regionId).region;
        const newRegionId = await this.allocId();
        const newPeerIds: number[] = [];
        for (let i = 0; i < region.peers.length; i++) newPeerIds.push(await this.allocId());
        const { applied } = await this.store.propose({ ...base, admin: { type: 'split', splitKey: command.splitKey.slice(), newRegionId, newPeerIds } });
        return (await applied) as AdminResult;
      }
      case 'prepareFlashback': {
        if (typeof command.startTs !== 'bigint' || command.startTs <= 0n) throw new KvError('INVALID_ARGUMENT', `flashback start_ts must be a positive bigint, got ${String(command.startTs)}`);
        const { applied } = await this.store.propose({ ...base, admin: { type: 'prepareFlashback', startTs: command.startTs } });
        return (await applied) as AdminResult;
      }
      case 'finishFlashback': {
        const { applied } = await this.store.propose({ ...base, admin: { type: 'finishFlashback' } });
        return (await applied) as AdminResult;
      }
      case 'transferLeader': {
        const region = await this.store.transferLeader(ctx.regionId, ctx.epoch, command.toPeer);
        return { type: 'transferLeader', region };
      }
      default:
        throw new TypeError(`unknown admin command ${JSON.stringify((command as { type?: unknown }).type)}`);
    }
  }

  /**
   * A membership change of `ctx.regionId` through this store's peer (which must lead): resolves
   * with the region as the applied change left it (confVer + 1).
   */
  async changePeer(ctx: RequestContext, change: PeerChange): Promise<ChangePeerResult> {
    const { applied } = await this.store.changePeer(ctx.regionId, ctx.epoch, change);
    return applied;
  }
}

/** Every modify must target a data CF and a data key inside the region (as LocalConsensus checks). */
function checkModifies(region: Region, modifies: readonly BatchOp[]): void {
  if (!Array.isArray(modifies)) throw new TypeError('modifies must be an array');
  for (const m of modifies) {
    if (m.cf === 'raft') throw new TypeError("the raft column family is the store's own; a request cannot write it");
    if (m.op === 'deleteRange') {
      checkDataKey(region, m.start, false);
      if (m.end.length > 0) checkDataKey(region, m.end, true);
    } else checkDataKey(region, m.key, false);
  }
}

function checkDataKey(region: Region, key: Uint8Array, isEnd: boolean): void {
  if (!(key instanceof Uint8Array) || key.length === 0 || key[0] !== DATA_PREFIX) {
    throw new KvError('INVALID_ARGUMENT', "a modify key must be a data key (prefix 'z')", { regionId: region.id });
  }
  const encoded = key.subarray(1);
  if (isEnd) {
    if (region.endKey.length > 0 && compareBytes(encoded, region.endKey) > 0) throw checkKeyInRegion(region, encoded)!;
    return;
  }
  const err = checkKeyInRegion(region, encoded);
  if (err) throw err;
}
