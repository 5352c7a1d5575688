/**
 * The in-memory region directory: regions sorted by start key, tiling the whole key space,
 * with lookup by key in O(log n). Pure (no I/O); `LocalPlacement` persists before it mutates.
 */
import { compareBytes } from '../engine/engine.js';
import { CorruptedError, InvalidArgumentError, KvError } from '../errors.js';
import { freezeRegion, type Peer, type Region } from './region.js';

export class RegionMap {
  private sorted: Region[] = [];
  private readonly byId = new Map<number, Region>();

  /**
   * Builds the map from persisted regions and checks they tile the key space: the first starts
   * at the empty key, each ends where the next starts, the last is unbounded. Anything else is
   * a store we cannot route over, so it is reported as corruption rather than patched up.
   */
  static from(regions: readonly Region[]): RegionMap {
    const m = new RegionMap();
    const list = [...regions].sort((a, b) => compareBytes(a.startKey, b.startKey));
    for (let i = 0; i < list.length; i++) {
      const r = list[i]!;
      if (m.byId.has(r.id)) throw new CorruptedError(`region id ${r.id} appears twice`, { regionId: r.id });
      const expectedStart = i === 0 ? new Uint8Array(0) : list[i - 1]!.endKey;
      if (i > 0 && expectedStart.length === 0) {
        throw new CorruptedError(`region ${list[i - 1]!.id} is unbounded but region ${r.id} follows it`, { regionId: r.id });
      }
      if (compareBytes(r.startKey, expectedStart) !== 0) {
        throw new CorruptedError(`regions do not tile the key space: region ${r.id} does not start where ${i === 0 ? 'the key space' : `region ${list[i - 1]!.id}`} ends`, {
          regionId: r.id,
        });
      }
      m.byId.set(r.id, r);
    }
    if (list.length > 0 && list[list.length - 1]!.endKey.length !== 0) {
      throw new CorruptedError(`regions do not tile the key space: the last region ${list[list.length - 1]!.id} is bounded`, {});
    }
    m.sorted = list;
    return m;
  }

  get size(): number {
    return this.sorted.length;
  }

  get(id: number): Region | undefined {
    return this.byId.get(id);
  }

  /** Every region, in key order. */
  all(): readonly Region[] {
    return this.sorted;
  }

  /** The region holding `key`, by binary search for the last start key <= key. */
  lookup(key: Uint8Array): Region | undefined {
    const i = this.indexFor(key);
    if (i < 0) return undefined;
    const r = this.sorted[i]!;
    return r.endKey.length === 0 || compareBytes(key, r.endKey) < 0 ? r : undefined;
  }

  /** Regions overlapping [start, end), in key order; an empty `end` is unbounded. */
  inRange(start: Uint8Array, end: Uint8Array): Region[] {
    const out: Region[] = [];
    if (end.length !== 0 && compareBytes(start, end) >= 0) return out;
    for (let i = Math.max(0, this.indexFor(start)); i < this.sorted.length; i++) {
      const r = this.sorted[i]!;
      if (end.length !== 0 && compareBytes(r.startKey, end) >= 0) break;
      if (r.endKey.length !== 0 && compareBytes(r.endKey, start) <= 0) continue;
      out.push(r);
    }
    return out;
  }

  /** Replaces a region by a new version of it with the same range. */
  update(region: Region): void {
    const old = this.byId.get(region.id);
    if (old === undefined) throw new TypeError(`RegionMap.update: no region ${region.id}`);
    if (compareBytes(old.startKey, region.startKey) !== 0 || compareBytes(old.endKey, region.endKey) !== 0) {
      throw new TypeError(`RegionMap.update: region ${region.id} changed its range; use replaceBySplit`);
    }
    this.sorted[this.indexFor(region.startKey)] = region;
    this.byId.set(region.id, region);
  }

  /** Applies a split planned by `planSplit`: the parent's slot becomes [left, right]. */
  replaceBySplit(parentId: number, left: Region, right: Region): void {
    const parent = this.byId.get(parentId);
    if (parent === undefined) throw new TypeError(`RegionMap.replaceBySplit: no region ${parentId}`);
    const i = this.indexFor(parent.startKey);
    this.sorted.splice(i, 1, left, right);
    this.byId.delete(parentId);
    this.byId.set(left.id, left);
    this.byId.set(right.id, right);
  }

  private indexFor(key: Uint8Array): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareBytes(this.sorted[mid]!.startKey, key) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }
}

/**
 * Plans a split of `parent` at `splitKey` (an encoded key) the way TiKV's batch split does with
 * its default `right-derive-when-split = true`: the parent keeps its id and becomes the right
 * half [splitKey, end); the new region `newRegionId` takes [start, splitKey) with one fresh peer
 * id per parent peer, on the same stores. Both halves get epoch version + 1; confVer is kept.
 * A split key must lie strictly inside the range, so neither half is empty.
 */
export function planSplit(parent: Region, splitKey: Uint8Array, newRegionId: number, newPeerIds: readonly number[]): { left: Region; right: Region } {
  if (!(splitKey instanceof Uint8Array)) throw new TypeError(`split key must be a Uint8Array, got ${splitKey === null ? 'null' : typeof splitKey}`);
  if (compareBytes(splitKey, parent.startKey) <= 0 || (parent.endKey.length !== 0 && compareBytes(splitKey, parent.endKey) >= 0)) {
    throw new InvalidArgumentError(`split key must lie strictly inside region ${parent.id}'s range (start, end)`, {
      regionId: parent.id,
      splitKey: hex(splitKey),
      startKey: hex(parent.startKey),
      endKey: hex(parent.endKey),
    });
  }
  if (parent.flashback.inFlashback) {
    // TiKV's region gate refuses admin commands other than the flashback ones while a region is
    // in flashback; the orchestrator splits at the range bounds before it prepares.
    throw new KvError('FLASHBACK_IN_PROGRESS', `region ${parent.id} is in flashback and cannot be split`, {
      regionId: parent.id,
      flashbackStartTs: parent.flashback.flashbackStartTs,
    });
  }
  if (newPeerIds.length !== parent.peers.length) throw new TypeError('planSplit needs one new peer id per parent peer');
  const key = splitKey.slice();
  const epoch = { version: parent.epoch.version + 1, confVer: parent.epoch.confVer };
  const leftPeers: Peer[] = parent.peers.map((p, i) => ({ id: newPeerIds[i]!, storeId: p.storeId, role: p.role }));
  const left = freezeRegion({ id: newRegionId, startKey: parent.startKey, endKey: key, epoch, peers: leftPeers, flashback: parent.flashback });
  const right = freezeRegion({ id: parent.id, startKey: key, endKey: parent.endKey, epoch, peers: parent.peers, flashback: parent.flashback });
  return { left, right };
}

export function hex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}
