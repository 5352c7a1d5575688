/**
 * The placement state machine of the meta raft group. Every store keeps a full copy in its own
 * engine under exactly the keys core's `LocalPlacement` uses (`placementKeys`, raft CF
 * `0x01 0x50 ..`), so any store can take over as the meta leader, and dump tools read it the
 * same way. `apply` is deterministic: the same committed command on the same state gives the
 * same writes and the same result on every store.
 */
import {
  CorruptedError,
  InvalidArgumentError,
  KvError,
  NOT_IN_FLASHBACK,
  RegionMap,
  WriteBatch,
  compareBytes,
  decodeRegion,
  encodeRegion,
  epochEquals,
  freezeRegion,
  planSplit,
  placementKeys as K,
  type Region,
  type RegionEpoch,
  type StorageEngine,
} from '@flashkv/core';
import type { MetaCommand } from './meta-codec.js';

export type MetaResult = number | boolean | bigint | Region | { readonly left: Region; readonly right: Region } | undefined;

/** What a command changed in the directory (the client side emits `regionChanged` for these). */
export interface MetaRegionChange {
  readonly reason: 'split' | 'flashback' | 'epoch';
  readonly region: Region;
}

function hexOf(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

function scan(engine: StorageEngine, tag: number): Array<[Uint8Array, Uint8Array]> {
  const out: Array<[Uint8Array, Uint8Array]> = [];
  const it = engine.iterator('raft', { lower: K.familyPrefix(tag), upper: K.familyEnd(tag) });
  try {
    for (let ok = it.first(); ok; ok = it.next()) out.push([it.key().slice(), it.value().slice()]);
  } finally {
    it.close();
  }
  return out;
}

function u64Field(engine: StorageEngine, key: Uint8Array, what: string): bigint | undefined {
  const raw = engine.get('raft', key);
  if (raw === undefined) return undefined;
  const v = K.readU64be(raw);
  if (v === undefined) throw new CorruptedError(`placement ${what} has ${raw.length} bytes, expected 8`, { length: raw.length });
  return v;
}

/** Writes the initial placement state (as LocalPlacement's bootstrap does, with the given regions) into a batch. */
export function stageInitialPlacement(batch: WriteBatch, regions: readonly Region[], nextId: number): void {
  batch.put('raft', K.FORMAT_VERSION_KEY, K.u32be(K.PLACEMENT_FORMAT_VERSION));
  batch.put('raft', K.NEXT_ID_KEY, K.u64be(BigInt(nextId)));
  for (const r of regions) batch.put('raft', K.regionKey(r.id), encodeRegion(freezeRegion(r)));
}

export class MetaState {
  private constructor(
    readonly map: RegionMap,
    public nextId: number,
    public safePoint: bigint,
    readonly gcPauses: Set<string>,
    readonly schedulingPauses: Set<string>,
    /** The replicated TSO high-water mark in physical ms: every ts handed out is below it. */
    public tsoMark: number,
  ) {}

  /** Loads the placement state a bootstrapped engine holds. */
  static load(engine: StorageEngine): MetaState {
    const version = engine.get('raft', K.FORMAT_VERSION_KEY);
    if (version === undefined) throw new KvError('INVALID_ARGUMENT', 'engine holds no placement state: bootstrap the meta group first');
    const v = version.length === 4 ? new DataView(version.buffer, version.byteOffset, 4).getUint32(0) : -1;
    if (v !== K.PLACEMENT_FORMAT_VERSION) throw new CorruptedError(`placement format version ${v} is not supported`, { version: v });
    const regions = scan(engine, K.TAG_REGION).map(([, val]) => decodeRegion(val));
    if (regions.length === 0) throw new CorruptedError('placement has a format version but no regions', {});
    const nextId = u64Field(engine, K.NEXT_ID_KEY, 'next id');
    if (nextId === undefined || nextId > BigInt(Number.MAX_SAFE_INTEGER)) throw new CorruptedError('placement next id is missing or out of range', {});
    const owners = (tag: number): Set<string> => new Set(scan(engine, tag).map(([k]) => K.stringSuffix(k)));
    const mark = u64Field(engine, K.TSO_KEY, 'TSO high-water mark') ?? 0n;
    return new MetaState(
      RegionMap.from(regions),
      Number(nextId),
      u64Field(engine, K.GC_SAFE_POINT_KEY, 'GC safe point') ?? 0n,
      owners(K.TAG_GC_PAUSE),
      owners(K.TAG_SCHEDULING_PAUSE),
      Number(mark),
    );
  }

  /**
   * Applies one command: stages its writes into `batch` and moves the in-memory state at once
   * (the caller writes the batch before it settles anyone waiting; a failed write stops the
   * peer). A refused command (REGION_NOT_FOUND, EPOCH_NOT_MATCH, ...) throws and changes nothing.
   */
  apply(engine: StorageEngine, cmd: MetaCommand, batch: WriteBatch, changes: MetaRegionChange[]): MetaResult {
    switch (cmd.op) {
      case 'tso': {
        if (cmd.mark > this.tsoMark) {
          batch.put('raft', K.TSO_KEY, K.u64be(BigInt(cmd.mark)));
          this.tsoMark = cmd.mark;
        }
        return this.tsoMark;
      }
      case 'allocId': {
        const id = this.nextId;
        this.nextId = id + 1;
        batch.put('raft', K.NEXT_ID_KEY, K.u64be(BigInt(this.nextId)));
        return id;
      }
      case 'split': {
        const parent = this.checked(cmd.regionId, cmd.epoch);
        const newRegionId = this.nextId;
        const newPeerIds = parent.peers.map((_p, i) => newRegionId + 1 + i);
        const next = newRegionId + 1 + parent.peers.length;
        const { left, right } = planSplit(parent, cmd.splitKey, newRegionId, newPeerIds);
        batch.put('raft', K.regionKey(left.id), encodeRegion(left)).put('raft', K.regionKey(right.id), encodeRegion(right)).put('raft', K.NEXT_ID_KEY, K.u64be(BigInt(next)));
        this.nextId = next;
        this.map.replaceBySplit(parent.id, left, right);
        changes.push({ reason: 'split', region: left }, { reason: 'split', region: right });
        return { left, right };
      }
      case 'recordSplit': {
        const { left, right } = cmd;
        const known = [this.map.get(left.id), this.map.get(right.id)];
        const parent = known.find((r) => r !== undefined && compareBytes(r.startKey, left.startKey) === 0 && compareBytes(r.endKey, right.endKey) === 0);
        if (parent === undefined) {
          const l = this.map.get(left.id);
          const r = this.map.get(right.id);
          if (l !== undefined && r !== undefined && compareBytes(l.endKey, right.startKey) === 0 && compareBytes(r.startKey, right.startKey) === 0) return undefined;
          throw new InvalidArgumentError(`cannot record split of [${hexOf(left.startKey)}, ${hexOf(right.endKey)}) at ${hexOf(right.startKey)}: the directory has no parent region with that range`, { left: left.id, right: right.id });
        }
        if (left.epoch.version <= parent.epoch.version) return undefined;
        batch.put('raft', K.regionKey(left.id), encodeRegion(left)).put('raft', K.regionKey(right.id), encodeRegion(right));
        let next = this.nextId;
        for (const id of [left.id, right.id, ...left.peers.map((p) => p.id), ...right.peers.map((p) => p.id)]) next = Math.max(next, id + 1);
        if (next !== this.nextId) batch.put('raft', K.NEXT_ID_KEY, K.u64be(BigInt(next)));
        if (parent.id !== left.id && parent.id !== right.id) batch.delete('raft', K.regionKey(parent.id));
        this.nextId = next;
        this.map.replaceBySplit(parent.id, left, right);
        changes.push({ reason: 'split', region: left }, { reason: 'split', region: right });
        return undefined;
      }
      case 'recordRegion': {
        const region = cmd.region;
        const cur = this.map.get(region.id);
        if (cur === undefined) throw new KvError('REGION_NOT_FOUND', `region ${region.id} is not in the directory`, { regionId: region.id });
        if (region.epoch.version < cur.epoch.version || (region.epoch.version === cur.epoch.version && region.epoch.confVer < cur.epoch.confVer)) return undefined;
        const sameFlashback = region.flashback.inFlashback === cur.flashback.inFlashback && region.flashback.flashbackStartTs === cur.flashback.flashbackStartTs;
        if (sameFlashback && epochEquals(region.epoch, cur.epoch)) return undefined;
        batch.put('raft', K.regionKey(region.id), encodeRegion(region));
        this.map.update(region);
        changes.push({ reason: sameFlashback ? 'epoch' : 'flashback', region });
        return undefined;
      }
      case 'setFlashback': {
        const cur = this.checked(cmd.regionId, cmd.epoch);
        const flashback = cmd.inFlashback ? { inFlashback: true, flashbackStartTs: cmd.startTs } : NOT_IN_FLASHBACK;
        if (cur.flashback.inFlashback === flashback.inFlashback && cur.flashback.flashbackStartTs === flashback.flashbackStartTs) return cur;
        const next = freezeRegion({ ...cur, flashback });
        batch.put('raft', K.regionKey(next.id), encodeRegion(next));
        this.map.update(next);
        changes.push({ reason: 'flashback', region: next });
        return next;
      }
      case 'safePoint': {
        if (cmd.ts <= this.safePoint || this.gcPauses.size > 0) return this.safePoint;
        batch.put('raft', K.GC_SAFE_POINT_KEY, K.u64be(cmd.ts));
        this.safePoint = cmd.ts;
        return cmd.ts;
      }
      case 'pause': {
        const set = cmd.kind === 'gc' ? this.gcPauses : this.schedulingPauses;
        const key = K.stringKey(cmd.kind === 'gc' ? K.TAG_GC_PAUSE : K.TAG_SCHEDULING_PAUSE, cmd.owner);
        if (cmd.on) {
          if (set.has(cmd.owner)) return false;
          batch.put('raft', key, new Uint8Array(0));
          set.add(cmd.owner);
          return true;
        }
        if (!set.has(cmd.owner)) return false;
        batch.delete('raft', key);
        set.delete(cmd.owner);
        return true;
      }
      case 'putJob': {
        batch.put('raft', K.stringKey(K.TAG_JOB, cmd.id), cmd.record);
        this.stagedJobs.set(cmd.id, true);
        return undefined;
      }
      case 'deleteJob': {
        // Jobs live only in the engine; a put or delete earlier in this same batch is seen through `staged`.
        const key = K.stringKey(K.TAG_JOB, cmd.id);
        const staged = this.stagedJobs.get(cmd.id);
        const exists = staged !== undefined ? staged : engine.get('raft', key) !== undefined;
        if (!exists) return false;
        batch.delete('raft', key);
        this.stagedJobs.set(cmd.id, false);
        return true;
      }
    }
  }

  /** Job puts and deletes staged in the batch being built (cleared once it is written). */
  readonly stagedJobs = new Map<string, boolean>();

  private checked(regionId: number, epoch: RegionEpoch | undefined): Region {
    const r = this.map.get(regionId);
    if (r === undefined) throw new KvError('REGION_NOT_FOUND', `region ${regionId} does not exist`, { regionId });
    if (epoch !== undefined && !epochEquals(epoch, r.epoch)) {
      throw new KvError('EPOCH_NOT_MATCH', `region ${regionId} epoch is ${r.epoch.version}/${r.epoch.confVer}, the request carries ${epoch.version}/${epoch.confVer}`, {
        regionId,
        currentRegions: [r],
        requestEpoch: epoch,
      });
    }
    return r;
  }
}
