/**
 * Placement (PD's role, DESIGN.md section 3): the timestamp oracle, the region directory, the GC
 * safe point, GC and scheduling pauses, and durable job records. The contract is split into
 * roles so a consumer depends only on what it uses (a client needs `TimestampOracle` and
 * `RegionDirectory`; the GC worker needs `GcControl`; the flashback orchestrator needs them all).
 *
 * `LocalPlacement` is the embedded implementation: one store, state in the engine's `raft`
 * column family under local keys (layout in keys.ts). Every change is written with
 * `sync: true` before the in-memory state moves, so a failed write changes nothing and a crash
 * after a resolved call never loses it. One `LocalPlacement` owns an engine's placement keys;
 * two open on the same engine would hand out the same timestamps.
 */
import { systemClock, type Clock } from '../clock.js';
import { compareBytes, type StorageEngine } from '../engine/engine.js';
import { WriteBatch } from '../engine/write-batch.js';
import { CorruptedError, InvalidArgumentError, KvError } from '../errors.js';
import type { EventCatalogue, RegionChangedEvent } from '../kernel/events.js';
import { decodeJobRecord, encodeJobRecord, type JobRecord } from './jobs.js';
import {
  familyEnd,
  familyPrefix,
  FORMAT_VERSION_KEY,
  GC_SAFE_POINT_KEY,
  NEXT_ID_KEY,
  PLACEMENT_FORMAT_VERSION,
  readU64be,
  regionKey,
  stringKey,
  stringSuffix,
  TAG_GC_PAUSE,
  TAG_JOB,
  TAG_REGION,
  TAG_SCHEDULING_PAUSE,
  u32be,
  u64be,
} from './keys.js';
import { decodeRegion, encodeRegion, epochEquals, freezeRegion, NOT_IN_FLASHBACK, type Region, type RegionEpoch } from './region.js';
import { hex, planSplit, RegionMap } from './region-map.js';
import { DEFAULT_TSO_WINDOW_MS, TsoAllocator } from './tso.js';
import { MAX_NAME_BYTES, assertKey, assertName, assertU64 } from './args.js';

export { MAX_NAME_BYTES } from './args.js';

/** PD's TSO service. */
export interface TimestampOracle {
  /** One timestamp, strictly greater than every one handed out before, across restarts too. */
  getTs(): Promise<bigint>;
  /** `count` (1 .. 2^18) increasing timestamps, all greater than any handed out before. */
  getTs(count: number): Promise<bigint[]>;
}

export interface SplitResult {
  /** The new region, [parent.start, splitKey). */
  readonly left: Region;
  /** The parent region (same id), now [splitKey, parent.end). */
  readonly right: Region;
}

export interface RegionCheckOptions {
  /** When given, the call fails with EPOCH_NOT_MATCH unless the region's epoch equals it. */
  readonly epoch?: RegionEpoch;
}

export interface FlashbackStateUpdate {
  readonly inFlashback: boolean;
  /** Required (and > 0) when entering flashback; ignored when leaving. */
  readonly flashbackStartTs?: bigint;
}

/** Key -> region. All keys here are encoded keys (see region.ts), never raw or 'z'-prefixed. */
export interface RegionDirectory {
  /** The region holding `key`; REGION_NOT_FOUND if none does. */
  regionForKey(key: Uint8Array): Region;
  /** REGION_NOT_FOUND for an unknown id. */
  getRegion(id: number): Region;
  /** Every region, in key order. */
  regions(): readonly Region[];
  /** Regions overlapping [start, end), in key order; an empty `end` is unbounded. */
  regionsInRange(start: Uint8Array, end: Uint8Array): Region[];
  /** Splits a region at an encoded key strictly inside it; both halves get epoch version + 1. */
  split(regionId: number, splitKey: Uint8Array, options?: RegionCheckOptions): Promise<SplitResult>;
  /** Sets or clears a region's flashback state (no epoch change, as in TiKV). */
  setFlashbackState(regionId: number, state: FlashbackStateUpdate, options?: RegionCheckOptions): Promise<Region>;
  /**
   * For a consensus that owns the region metadata (raft applies splits and flashback state in
   * its own log): records a split it applied, so routing by this directory follows it. A split
   * already recorded (the directory has the halves at this epoch or newer) is a no-op.
   */
  recordSplit?(left: Region, right: Region): Promise<void>;
  /** Likewise for a region whose range did not change (flashback state, peers). Older epochs are ignored. */
  recordRegion?(region: Region): Promise<void>;
}

/**
 * Pauses are held by named owners (e.g. a flashback job id). Pausing twice under one owner is
 * one pause and resuming an owner that holds none is a no-op, so an orchestrator that crashed
 * and resumes can repeat either call safely. Paused while at least one owner holds a pause.
 * Pauses are persisted: a crash does not silently re-enable GC under a half-done flashback.
 */
export interface PauseControl {
  /** Resolves true if `owner` did not already hold a pause. */
  pause(owner: string): Promise<boolean>;
  /** Resolves true if `owner` held a pause. */
  resume(owner: string): Promise<boolean>;
  isPaused(): boolean;
  /** The owners holding a pause, sorted. */
  pausedBy(): readonly string[];
}

export interface GcControl {
  gcSafePoint(): bigint;
  /**
   * Moves the safe point forward to `ts`; never back. While GC is paused it does not move
   * (TiDB's disabled GC worker stops advancing it). Resolves the effective safe point.
   */
  updateGcSafePoint(ts: bigint): Promise<bigint>;
  pauseGc(owner: string): Promise<boolean>;
  resumeGc(owner: string): Promise<boolean>;
  isGcPaused(): boolean;
  gcPausedBy(): readonly string[];
}

/**
 * PD's scheduling (balance, merge, size-based split). Placement only records the pause; the
 * schedulers check `isSchedulingPaused()`. Explicit splits (the orchestrator splitting at its
 * range bounds) are not scheduling and are not blocked.
 */
export interface SchedulingControl {
  pauseScheduling(owner: string): Promise<boolean>;
  resumeScheduling(owner: string): Promise<boolean>;
  isSchedulingPaused(): boolean;
  schedulingPausedBy(): readonly string[];
}

export interface JobEntry {
  readonly id: string;
  readonly record: JobRecord;
}

/** Durable job records (flashback start_ts / commit_ts). Writes are synced. */
export interface JobStore {
  putJob(id: string, record: JobRecord): Promise<void>;
  getJob(id: string): JobRecord | undefined;
  /** Every job, ordered by the UTF-8 bytes of its id. */
  listJobs(): JobEntry[];
  /** Resolves true if the job existed. */
  deleteJob(id: string): Promise<boolean>;
}

export interface Placement extends TimestampOracle, RegionDirectory, GcControl, SchedulingControl, JobStore {
  /** A fresh id for a region or peer (PD's AllocID), never reused across restarts. */
  allocId(): Promise<number>;
}

export interface LocalPlacementOptions {
  readonly engine: StorageEngine;
  /** Default `systemClock`. */
  readonly clock?: Clock;
  /** When given, region changes are emitted on `regionChanged`. */
  readonly events?: EventCatalogue;
  /** How far ahead of use the TSO high-water mark is persisted. Default 3000 ms. */
  readonly tsoWindowMs?: number;
  /** Store of the first region's peer when an empty engine is bootstrapped. Default 1. */
  readonly storeId?: number;
}

function assertRegionId(id: unknown): asserts id is number {
  if (typeof id !== 'number') throw new TypeError(`region id must be a number, got ${typeof id}`);
}

function scanFamily(engine: StorageEngine, tag: number): Array<[Uint8Array, Uint8Array]> {
  const out: Array<[Uint8Array, Uint8Array]> = [];
  const it = engine.iterator('raft', { lower: familyPrefix(tag), upper: familyEnd(tag) });
  try {
    for (let ok = it.first(); ok; ok = it.next()) out.push([it.key().slice(), it.value().slice()]);
  } finally {
    it.close();
  }
  return out;
}

function readU64Field(engine: StorageEngine, key: Uint8Array, what: string): bigint | undefined {
  const raw = engine.get('raft', key);
  if (raw === undefined) return undefined;
  const v = readU64be(raw);
  if (v === undefined) throw new CorruptedError(`placement ${what} has ${raw.length} bytes, expected 8`, { length: raw.length });
  return v;
}

class PauseSet {
  constructor(
    readonly tag: number,
    readonly owners: Set<string>,
  ) {}
  sorted(): string[] {
    return [...this.owners].sort();
  }
}

export class LocalPlacement implements Placement {
  private tail: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly engine: StorageEngine,
    private readonly events: EventCatalogue | undefined,
    private readonly tso: TsoAllocator,
    private readonly map: RegionMap,
    private nextId: number,
    private safePoint: bigint,
    private readonly gcPauses: PauseSet,
    private readonly schedulingPauses: PauseSet,
  ) {}

  /**
   * Loads placement state from `engine`, or bootstraps an empty engine with one region covering
   * the whole key space (id 1, one voter peer id 2 on `storeId`, epoch 1/1).
   */
  static async open(options: LocalPlacementOptions): Promise<LocalPlacement> {
    if (options === null || typeof options !== 'object' || options.engine === undefined) throw new TypeError('LocalPlacement.open needs { engine }');
    const { engine, events } = options;
    const clock = options.clock ?? systemClock;
    const storeId = options.storeId ?? 1;
    if (!Number.isSafeInteger(storeId) || storeId < 1) throw new InvalidArgumentError(`storeId must be a positive integer, got ${storeId}`, { storeId });

    const version = engine.get('raft', FORMAT_VERSION_KEY);
    let bootstrapped: Region | undefined;
    if (version === undefined) {
      if (scanFamily(engine, TAG_REGION).length > 0) throw new CorruptedError('placement has region records but no format version', {});
      bootstrapped = freezeRegion({
        id: 1,
        startKey: new Uint8Array(0),
        endKey: new Uint8Array(0),
        epoch: { version: 1, confVer: 1 },
        peers: [{ id: 2, storeId, role: 'voter' }],
        flashback: NOT_IN_FLASHBACK,
      });
      const batch = new WriteBatch()
        .put('raft', FORMAT_VERSION_KEY, u32be(PLACEMENT_FORMAT_VERSION))
        .put('raft', NEXT_ID_KEY, u64be(3n))
        .put('raft', regionKey(bootstrapped.id), encodeRegion(bootstrapped));
      await engine.write(batch, { sync: true });
    } else {
      const v = version.length === 4 ? new DataView(version.buffer, version.byteOffset, 4).getUint32(0) : -1;
      if (v !== PLACEMENT_FORMAT_VERSION) {
        throw new CorruptedError(`placement format version ${v} is not supported (expected ${PLACEMENT_FORMAT_VERSION})`, { version: v });
      }
    }

    const tso = TsoAllocator.load(engine, clock, options.tsoWindowMs ?? DEFAULT_TSO_WINDOW_MS);
    const regions = scanFamily(engine, TAG_REGION).map(([k, v]) => {
      const r = decodeRegion(v);
      if (readU64be(k.subarray(3)) !== BigInt(r.id)) throw new CorruptedError(`region record under key ${hex(k)} holds region ${r.id}`, { regionId: r.id });
      return r;
    });
    if (regions.length === 0) throw new CorruptedError('placement has a format version but no regions', {});
    const map = RegionMap.from(regions);
    const nextId = readU64Field(engine, NEXT_ID_KEY, 'next id');
    if (nextId === undefined || nextId > BigInt(Number.MAX_SAFE_INTEGER)) throw new CorruptedError('placement next id is missing or out of range', {});
    const safePoint = readU64Field(engine, GC_SAFE_POINT_KEY, 'GC safe point') ?? 0n;
    const owners = (tag: number): PauseSet => new PauseSet(tag, new Set(scanFamily(engine, tag).map(([k]) => stringSuffix(k))));

    const p = new LocalPlacement(engine, events, tso, map, Number(nextId), safePoint, owners(TAG_GC_PAUSE), owners(TAG_SCHEDULING_PAUSE));
    if (bootstrapped !== undefined) p.emit('created', bootstrapped);
    return p;
  }

  // ---- TimestampOracle

  getTs(): Promise<bigint>;
  getTs(count: number): Promise<bigint[]>;
  getTs(count?: number): Promise<bigint | bigint[]> {
    if (count === undefined) return this.tso.allocateOne();
    return this.tso.allocate(count);
  }

  /** The persisted TSO high-water mark in ms (every ts handed out has a smaller physical part). */
  get tsoHighWaterMark(): number {
    return this.tso.highWaterMark;
  }

  // ---- ids

  allocId(): Promise<number> {
    return this.serial(async () => {
      const id = this.nextId;
      await this.engine.write(new WriteBatch().put('raft', NEXT_ID_KEY, u64be(BigInt(id + 1))), { sync: true });
      this.nextId = id + 1;
      return id;
    });
  }

  // ---- RegionDirectory

  regionForKey(key: Uint8Array): Region {
    assertKey('key', key);
    const r = this.map.lookup(key);
    if (r === undefined) throw new KvError('REGION_NOT_FOUND', `no region holds key ${hex(key)}`, { key: hex(key) });
    return r;
  }

  getRegion(id: number): Region {
    assertRegionId(id);
    const r = this.map.get(id);
    if (r === undefined) throw new KvError('REGION_NOT_FOUND', `region ${id} does not exist`, { regionId: id });
    return r;
  }

  regions(): readonly Region[] {
    return this.map.all().slice();
  }

  regionsInRange(start: Uint8Array, end: Uint8Array): Region[] {
    assertKey('start', start);
    assertKey('end', end);
    if (end.length !== 0 && compareBytes(start, end) > 0) {
      throw new InvalidArgumentError(`range start ${hex(start)} is after its end ${hex(end)}`, { start: hex(start), end: hex(end) });
    }
    return this.map.inRange(start, end);
  }

  split(regionId: number, splitKey: Uint8Array, options: RegionCheckOptions = {}): Promise<SplitResult> {
    return this.serial(async () => {
      assertKey('split key', splitKey);
      const parent = this.checkedRegion(regionId, options);
      const newRegionId = this.nextId;
      const newPeerIds = parent.peers.map((_p, i) => newRegionId + 1 + i);
      const next = newRegionId + 1 + parent.peers.length;
      const { left, right } = planSplit(parent, splitKey, newRegionId, newPeerIds);
      const batch = new WriteBatch()
        .put('raft', regionKey(left.id), encodeRegion(left))
        .put('raft', regionKey(right.id), encodeRegion(right))
        .put('raft', NEXT_ID_KEY, u64be(BigInt(next)));
      await this.engine.write(batch, { sync: true });
      this.nextId = next;
      this.map.replaceBySplit(parent.id, left, right);
      this.emit('split', left);
      this.emit('split', right);
      return { left, right };
    });
  }

  recordSplit(left: Region, right: Region): Promise<void> {
    return this.serial(async () => {
      const known = [this.map.get(left.id), this.map.get(right.id)];
      const parent = known.find((r) => r !== undefined && compareBytes(r.startKey, left.startKey) === 0 && compareBytes(r.endKey, right.endKey) === 0);
      if (parent === undefined) {
        // Already split here (both halves known with their ranges), or the directory is behind by more than one split.
        const l = this.map.get(left.id);
        const r = this.map.get(right.id);
        if (l !== undefined && r !== undefined && compareBytes(l.endKey, right.startKey) === 0 && compareBytes(r.startKey, right.startKey) === 0) return;
        throw new InvalidArgumentError(`cannot record split of [${hex(left.startKey)}, ${hex(right.endKey)}) at ${hex(right.startKey)}: the directory has no parent region with that range`, { left: left.id, right: right.id });
      }
      if (left.epoch.version <= parent.epoch.version) return;
      const batch = new WriteBatch().put('raft', regionKey(left.id), encodeRegion(left)).put('raft', regionKey(right.id), encodeRegion(right));
      let next = this.nextId;
      for (const id of [left.id, right.id, ...left.peers.map((p) => p.id), ...right.peers.map((p) => p.id)]) next = Math.max(next, id + 1);
      if (next !== this.nextId) batch.put('raft', NEXT_ID_KEY, u64be(BigInt(next)));
      if (parent.id !== left.id && parent.id !== right.id) batch.delete('raft', regionKey(parent.id));
      await this.engine.write(batch, { sync: true });
      this.nextId = next;
      this.map.replaceBySplit(parent.id, freezeRegion(left), freezeRegion(right));
      this.emit('split', left);
      this.emit('split', right);
    });
  }

  recordRegion(region: Region): Promise<void> {
    return this.serial(async () => {
      const cur = this.map.get(region.id);
      if (cur === undefined) throw new KvError('REGION_NOT_FOUND', `region ${region.id} is not in the directory`, { regionId: region.id });
      if (region.epoch.version < cur.epoch.version || (region.epoch.version === cur.epoch.version && region.epoch.confVer < cur.epoch.confVer)) return;
      // A leader transfer, or a repeat, changes nothing the directory routes by: no synced write.
      const sameFlashback = region.flashback.inFlashback === cur.flashback.inFlashback && region.flashback.flashbackStartTs === cur.flashback.flashbackStartTs;
      if (sameFlashback && epochEquals(region.epoch, cur.epoch)) return;
      const next = freezeRegion(region);
      await this.engine.write(new WriteBatch().put('raft', regionKey(next.id), encodeRegion(next)), { sync: true });
      this.map.update(next);
      this.emit(sameFlashback ? 'epoch' : 'flashback', next);
    });
  }

  setFlashbackState(regionId: number, state: FlashbackStateUpdate, options: RegionCheckOptions = {}): Promise<Region> {
    return this.serial(async () => {
      if (state === null || typeof state !== 'object' || typeof state.inFlashback !== 'boolean') {
        throw new TypeError('flashback state must be { inFlashback: boolean, flashbackStartTs?: bigint }');
      }
      let flashback = NOT_IN_FLASHBACK;
      if (state.inFlashback) {
        assertU64('flashbackStartTs', state.flashbackStartTs);
        if (state.flashbackStartTs === 0n) throw new InvalidArgumentError('entering flashback needs a flashbackStartTs > 0', { regionId });
        flashback = { inFlashback: true, flashbackStartTs: state.flashbackStartTs };
      }
      const cur = this.checkedRegion(regionId, options);
      if (cur.flashback.inFlashback === flashback.inFlashback && cur.flashback.flashbackStartTs === flashback.flashbackStartTs) return cur;
      const next = freezeRegion({ ...cur, flashback });
      await this.engine.write(new WriteBatch().put('raft', regionKey(next.id), encodeRegion(next)), { sync: true });
      this.map.update(next);
      this.emit('flashback', next);
      return next;
    });
  }

  // ---- GcControl

  gcSafePoint(): bigint {
    return this.safePoint;
  }

  updateGcSafePoint(ts: bigint): Promise<bigint> {
    return this.serial(async () => {
      assertU64('safe point', ts);
      if (ts <= this.safePoint || this.gcPauses.owners.size > 0) return this.safePoint;
      await this.engine.write(new WriteBatch().put('raft', GC_SAFE_POINT_KEY, u64be(ts)), { sync: true });
      this.safePoint = ts;
      return ts;
    });
  }

  pauseGc(owner: string): Promise<boolean> {
    return this.pause(this.gcPauses, owner);
  }
  resumeGc(owner: string): Promise<boolean> {
    return this.resume(this.gcPauses, owner);
  }
  isGcPaused(): boolean {
    return this.gcPauses.owners.size > 0;
  }
  gcPausedBy(): readonly string[] {
    return this.gcPauses.sorted();
  }

  // ---- SchedulingControl

  pauseScheduling(owner: string): Promise<boolean> {
    return this.pause(this.schedulingPauses, owner);
  }
  resumeScheduling(owner: string): Promise<boolean> {
    return this.resume(this.schedulingPauses, owner);
  }
  isSchedulingPaused(): boolean {
    return this.schedulingPauses.owners.size > 0;
  }
  schedulingPausedBy(): readonly string[] {
    return this.schedulingPauses.sorted();
  }

  // ---- JobStore

  putJob(id: string, record: JobRecord): Promise<void> {
    return this.serial(async () => {
      assertName('job id', id);
      const value = encodeJobRecord(record);
      await this.engine.write(new WriteBatch().put('raft', stringKey(TAG_JOB, id), value), { sync: true });
    });
  }

  getJob(id: string): JobRecord | undefined {
    assertName('job id', id);
    const raw = this.engine.get('raft', stringKey(TAG_JOB, id));
    return raw === undefined ? undefined : decodeJobRecord(raw, id);
  }

  listJobs(): JobEntry[] {
    return scanFamily(this.engine, TAG_JOB).map(([k, v]) => {
      const id = stringSuffix(k);
      return { id, record: decodeJobRecord(v, id) };
    });
  }

  deleteJob(id: string): Promise<boolean> {
    return this.serial(async () => {
      assertName('job id', id);
      const key = stringKey(TAG_JOB, id);
      if (this.engine.get('raft', key) === undefined) return false;
      await this.engine.write(new WriteBatch().delete('raft', key), { sync: true });
      return true;
    });
  }

  /**
   * Resolves once every write already asked for has finished (failed ones included), so the
   * engine can be closed under it. Calls made afterwards still work while the engine is open.
   */
  async drain(): Promise<void> {
    await this.tail;
    await this.tso.drain();
  }

  // ---- internals

  /**
   * Mutations run one at a time, each deciding on the state the previous one left, and move
   * in-memory state only after their write resolved. A failed step does not block later ones.
   */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private checkedRegion(regionId: number, options: RegionCheckOptions): Region {
    const r = this.getRegion(regionId);
    if (options.epoch !== undefined && !epochEquals(options.epoch, r.epoch)) {
      throw new KvError(
        'EPOCH_NOT_MATCH',
        `region ${regionId} epoch is ${r.epoch.version}/${r.epoch.confVer}, the request carries ${options.epoch.version}/${options.epoch.confVer}`,
        { regionId, currentRegions: [r], requestEpoch: options.epoch },
      );
    }
    return r;
  }

  private pause(set: PauseSet, owner: string): Promise<boolean> {
    return this.serial(async () => {
      assertName('pause owner', owner);
      if (set.owners.has(owner)) return false;
      await this.engine.write(new WriteBatch().put('raft', stringKey(set.tag, owner), new Uint8Array(0)), { sync: true });
      set.owners.add(owner);
      return true;
    });
  }

  private resume(set: PauseSet, owner: string): Promise<boolean> {
    return this.serial(async () => {
      assertName('pause owner', owner);
      if (!set.owners.has(owner)) return false;
      await this.engine.write(new WriteBatch().delete('raft', stringKey(set.tag, owner)), { sync: true });
      set.owners.delete(owner);
      return true;
    });
  }

  private emit(reason: RegionChangedEvent['reason'], r: Region): void {
    this.events?.emit('regionChanged', { regionId: r.id, reason, startKey: r.startKey, endKey: r.endKey, epoch: r.epoch });
  }
}
