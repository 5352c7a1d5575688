/**
 * Membership changes of a region (TiKV's ChangePeer), as the multi-raft store proposes them.
 *
 * A change travels through the region's raft log as a `confChange` entry: the raft core reads its
 * type and node id (the peer id) and changes its tracker when the entry is applied; the store reads
 * the context the core carries for it, which names the region, the epoch the change was proposed
 * under and the peer's store, and changes the region's peer list in the same apply batch, with
 * `epoch.confVer + 1`. Raft and the region state so always agree on the membership.
 *
 * Context layout: `u8 fmt=1, u64 regionId, u64 version, u64 confVer, u8 change (1 addVoter,
 * 2 addLearner, 3 promoteLearner, 4 removePeer), u64 peerId, u64 storeId` (0 for promote/remove).
 */
import { InvalidArgumentError, KvError, freezeRegion, type Peer, type Region, type RegionEpoch } from '@flashkv/core';
import type { ConfChange } from '../core/index.js';
import { Reader, STORE_FORMAT, Writer } from './codec.js';

export type PeerChange =
  | { readonly type: 'addVoter'; readonly peerId: number; readonly storeId: number }
  | { readonly type: 'addLearner'; readonly peerId: number; readonly storeId: number }
  | { readonly type: 'promoteLearner'; readonly peerId: number }
  | { readonly type: 'removePeer'; readonly peerId: number };

/** What a membership change resolves with: the region as the change left it. */
export interface ChangePeerResult {
  readonly type: 'changePeer';
  readonly region: Region;
}

export interface ChangePeerCommand {
  readonly regionId: number;
  readonly epoch: RegionEpoch;
  readonly change: PeerChange;
}

const CODES = { addVoter: 1, addLearner: 2, promoteLearner: 3, removePeer: 4 } as const;

export function encodeChangePeer(c: ChangePeerCommand): Uint8Array {
  const ch = c.change;
  return new Writer(44)
    .u8(STORE_FORMAT)
    .u64(c.regionId)
    .u64(c.epoch.version)
    .u64(c.epoch.confVer)
    .u8(CODES[ch.type])
    .u64(ch.peerId)
    .u64('storeId' in ch ? ch.storeId : 0)
    .done();
}

export function decodeChangePeer(b: Uint8Array): ChangePeerCommand {
  const r = new Reader(b, 'change peer');
  r.format();
  const regionId = r.num();
  const epoch = { version: r.num(), confVer: r.num() };
  const code = r.u8();
  const peerId = r.num();
  const storeId = r.num();
  r.end();
  let change: PeerChange;
  switch (code) {
    case 1:
      change = { type: 'addVoter', peerId, storeId };
      break;
    case 2:
      change = { type: 'addLearner', peerId, storeId };
      break;
    case 3:
      change = { type: 'promoteLearner', peerId };
      break;
    case 4:
      change = { type: 'removePeer', peerId };
      break;
    default:
      throw new KvError('CORRUPTED', `unknown change peer code ${code}`, { code });
  }
  return { regionId, epoch, change };
}

/** The raft core's view of a change: promote is `addNode` of a learner. */
export function toConfChange(c: ChangePeerCommand): ConfChange {
  const type = c.change.type === 'addLearner' ? 'addLearner' : c.change.type === 'removePeer' ? 'removeNode' : 'addNode';
  return { type, nodeId: c.change.peerId, context: encodeChangePeer(c) };
}

/**
 * Refuses a change the region cannot take (checked on the leader before proposing): a peer id or
 * store already in the region, promoting a non-learner, removing an absent peer.
 */
export function checkPeerChange(region: Region, change: PeerChange): void {
  if (change === null || typeof change !== 'object' || !(change.type in CODES)) throw new TypeError(`unknown peer change ${JSON.stringify(change)}`);
  if (!Number.isSafeInteger(change.peerId) || change.peerId <= 0) throw new TypeError(`a peer id is a positive safe integer, got ${String(change.peerId)}`);
  const existing = region.peers.find((p) => p.id === change.peerId);
  switch (change.type) {
    case 'addVoter':
    case 'addLearner': {
      if (!Number.isSafeInteger(change.storeId) || change.storeId <= 0) throw new TypeError(`a store id is a positive safe integer, got ${String(change.storeId)}`);
      if (existing) throw new InvalidArgumentError(`peer ${change.peerId} is already in region ${region.id}`, { regionId: region.id, peerId: change.peerId });
      if (region.peers.some((p) => p.storeId === change.storeId)) {
        throw new InvalidArgumentError(`store ${change.storeId} already holds a peer of region ${region.id}`, { regionId: region.id, storeId: change.storeId });
      }
      return;
    }
    case 'promoteLearner':
      if (existing?.role !== 'learner') throw new InvalidArgumentError(`peer ${change.peerId} is not a learner of region ${region.id}`, { regionId: region.id, peerId: change.peerId });
      return;
    case 'removePeer':
      if (!existing) throw new InvalidArgumentError(`peer ${change.peerId} is not in region ${region.id}`, { regionId: region.id, peerId: change.peerId });
      return;
  }
}

/**
 * The region after a committed change, confVer + 1. Applied whatever the region looks like by
 * then, as the raft core applies every committed conf change to its tracker: the two must agree.
 * Like the tracker, it is idempotent on a repeat.
 */
export function applyPeerChange(region: Region, change: PeerChange): Region {
  let peers: Peer[] = region.peers.slice();
  switch (change.type) {
    case 'addVoter':
    case 'promoteLearner': {
      const i = peers.findIndex((p) => p.id === change.peerId);
      if (i >= 0) peers[i] = { ...peers[i]!, role: 'voter' };
      else if (change.type === 'addVoter') peers.push({ id: change.peerId, storeId: change.storeId, role: 'voter' });
      break;
    }
    case 'addLearner':
      if (!peers.some((p) => p.id === change.peerId)) peers.push({ id: change.peerId, storeId: change.storeId, role: 'learner' });
      break;
    case 'removePeer':
      peers = peers.filter((p) => p.id !== change.peerId);
      break;
  }
  return freezeRegion({ ...region, peers, epoch: { version: region.epoch.version, confVer: region.epoch.confVer + 1 } });
}
