/**
 * `RaftPlacement`: core's `Placement` contract served by the meta raft group (issue 8 item 5).
 * Mutations and timestamps go to the meta leader through a `MetaRouter`; reads (the directory,
 * safe point, pauses, jobs) are answered from the freshest applied copy the router can see. The
 * directory is a routing cache the region gate checks by epoch, so a read that lags a split is
 * refused at the store and retried, as with PD.
 */
import {
  InvalidArgumentError,
  KvError,
  compareBytes,
  decodeJobRecord,
  encodeJobRecord,
  placementArgs,
  placementKeys as K,
  type EventCatalogue,
  type FlashbackStateUpdate,
  type JobEntry,
  type JobRecord,
  type Placement,
  type Region,
  type RegionCheckOptions,
  type SplitResult,
  type StorageEngine,
} from '@flashkv/core';
import type { MetaCommand } from './meta-codec.js';
import type { MetaOutcome } from './meta-peer.js';
import type { MetaState } from './meta-state.js';

/** Where a `RaftPlacement` sends its calls: the meta leader, wherever it is. */
export interface MetaRouter {
  /** Runs a placement command on the meta leader (following NOT_LEADER hints); resolves once applied there. */
  propose(cmd: MetaCommand): Promise<MetaOutcome>;
  /** Timestamps from the meta leader. */
  getTs(count: number): Promise<bigint[]>;
  /** The freshest placement copy reachable without a round trip: its state and the engine its jobs are in. */
  view(): { readonly state: MetaState; readonly engine: StorageEngine };
}

function hex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

export class RaftPlacement implements Placement {
  constructor(
    readonly router: MetaRouter,
    private readonly events?: EventCatalogue,
  ) {}

  private async call(cmd: MetaCommand): Promise<MetaOutcome['result']> {
    const out = await this.router.propose(cmd);
    for (const c of out.changes) {
      const r = c.region;
      this.events?.emit('regionChanged', { regionId: r.id, reason: c.reason, startKey: r.startKey, endKey: r.endKey, epoch: r.epoch });
    }
    return out.result;
  }

  // ---- TimestampOracle

  getTs(): Promise<bigint>;
  getTs(count: number): Promise<bigint[]>;
  getTs(count?: number): Promise<bigint | bigint[]> {
    if (count === undefined) return this.router.getTs(1).then((ts) => ts[0]!);
    if (typeof count !== 'number') return Promise.reject(new TypeError(`getTs count must be a number, got ${typeof count}`));
    return this.router.getTs(count);
  }

  /** The replicated TSO high-water mark (ms) in the freshest copy: every ts handed out is below it. */
  get tsoHighWaterMark(): number {
    return this.router.view().state.tsoMark;
  }

  async allocId(): Promise<number> {
    return (await this.call({ op: 'allocId' })) as number;
  }

  // ---- RegionDirectory (reads from the local applied copy)

  regionForKey(key: Uint8Array): Region {
    placementArgs.assertKey('key', key);
    const r = this.router.view().state.map.lookup(key);
    if (r === undefined) throw new KvError('REGION_NOT_FOUND', `no region holds key ${hex(key)}`, { key: hex(key) });
    return r;
  }

  getRegion(id: number): Region {
    if (typeof id !== 'number') throw new TypeError(`region id must be a number, got ${typeof id}`);
    const r = this.router.view().state.map.get(id);
    if (r === undefined) throw new KvError('REGION_NOT_FOUND', `region ${id} does not exist`, { regionId: id });
    return r;
  }

  regions(): readonly Region[] {
    return this.router.view().state.map.all().slice();
  }

  regionsInRange(start: Uint8Array, end: Uint8Array): Region[] {
    placementArgs.assertKey('start', start);
    placementArgs.assertKey('end', end);
    if (end.length !== 0 && compareBytes(start, end) > 0) {
      throw new InvalidArgumentError(`range start ${hex(start)} is after its end ${hex(end)}`, { start: hex(start), end: hex(end) });
    }
    return this.router.view().state.map.inRange(start, end);
  }

  async split(regionId: number, splitKey: Uint8Array, options: RegionCheckOptions = {}): Promise<SplitResult> {
    placementArgs.assertKey('split key', splitKey);
    if (typeof regionId !== 'number') throw new TypeError(`region id must be a number, got ${typeof regionId}`);
    const r = (await this.call({ op: 'split', regionId, splitKey: splitKey.slice(), ...(options.epoch ? { epoch: options.epoch } : {}) })) as SplitResult;
    return r;
  }

  async setFlashbackState(regionId: number, state: FlashbackStateUpdate, options: RegionCheckOptions = {}): Promise<Region> {
    if (state === null || typeof state !== 'object' || typeof state.inFlashback !== 'boolean') {
      throw new TypeError('flashback state must be { inFlashback: boolean, flashbackStartTs?: bigint }');
    }
    let startTs = 0n;
    if (state.inFlashback) {
      placementArgs.assertU64('flashbackStartTs', state.flashbackStartTs);
      if (state.flashbackStartTs === 0n) throw new InvalidArgumentError('entering flashback needs a flashbackStartTs > 0', { regionId });
      startTs = state.flashbackStartTs;
    }
    return (await this.call({ op: 'setFlashback', regionId, inFlashback: state.inFlashback, startTs, ...(options.epoch ? { epoch: options.epoch } : {}) })) as Region;
  }

  async recordSplit(left: Region, right: Region): Promise<void> {
    await this.call({ op: 'recordSplit', left, right });
  }

  async recordRegion(region: Region): Promise<void> {
    // A leader transfer or a repeat changes nothing the directory routes by: no round through the log.
    const cur = this.router.view().state.map.get(region.id);
    if (
      cur !== undefined &&
      cur.epoch.version === region.epoch.version &&
      cur.epoch.confVer === region.epoch.confVer &&
      cur.flashback.inFlashback === region.flashback.inFlashback &&
      cur.flashback.flashbackStartTs === region.flashback.flashbackStartTs
    ) {
      return;
    }
    await this.call({ op: 'recordRegion', region });
  }

  // ---- GcControl

  gcSafePoint(): bigint {
    return this.router.view().state.safePoint;
  }

  async updateGcSafePoint(ts: bigint): Promise<bigint> {
    placementArgs.assertU64('safe point', ts);
    return (await this.call({ op: 'safePoint', ts })) as bigint;
  }

  private async pause(kind: 'gc' | 'scheduling', owner: string, on: boolean): Promise<boolean> {
    placementArgs.assertName('pause owner', owner);
    return (await this.call({ op: 'pause', kind, owner, on })) as boolean;
  }

  pauseGc(owner: string): Promise<boolean> {
    return this.pause('gc', owner, true);
  }
  resumeGc(owner: string): Promise<boolean> {
    return this.pause('gc', owner, false);
  }
  isGcPaused(): boolean {
    return this.router.view().state.gcPauses.size > 0;
  }
  gcPausedBy(): readonly string[] {
    return [...this.router.view().state.gcPauses].sort();
  }

  // ---- SchedulingControl

  pauseScheduling(owner: string): Promise<boolean> {
    return this.pause('scheduling', owner, true);
  }
  resumeScheduling(owner: string): Promise<boolean> {
    return this.pause('scheduling', owner, false);
  }
  isSchedulingPaused(): boolean {
    return this.router.view().state.schedulingPauses.size > 0;
  }
  schedulingPausedBy(): readonly string[] {
    return [...this.router.view().state.schedulingPauses].sort();
  }

  // ---- JobStore

  async putJob(id: string, record: JobRecord): Promise<void> {
    placementArgs.assertName('job id', id);
    await this.call({ op: 'putJob', id, record: encodeJobRecord(record) });
  }

  getJob(id: string): JobRecord | undefined {
    placementArgs.assertName('job id', id);
    const raw = this.router.view().engine.get('raft', K.stringKey(K.TAG_JOB, id));
    return raw === undefined ? undefined : decodeJobRecord(raw, id);
  }

  listJobs(): JobEntry[] {
    const engine = this.router.view().engine;
    const out: JobEntry[] = [];
    const it = engine.iterator('raft', { lower: K.familyPrefix(K.TAG_JOB), upper: K.familyEnd(K.TAG_JOB) });
    try {
      for (let ok = it.first(); ok; ok = it.next()) {
        const id = K.stringSuffix(it.key());
        out.push({ id, record: decodeJobRecord(it.value().slice(), id) });
      }
    } finally {
      it.close();
    }
    return out;
  }

  async deleteJob(id: string): Promise<boolean> {
    placementArgs.assertName('job id', id);
    return (await this.call({ op: 'deleteJob', id })) as boolean;
  }
}
