import type { BatchOp } from '../engine/write-batch.js';
import type { EngineIterator, EngineSnapshot, IterOptions } from '../engine/engine.js';
import type { ColumnFamily } from '../engine/column-family.js';
import type { Region, RegionEpoch } from '../placement/region.js';

/**
 * Flags a request carries in its header (TiKV's raft header flags). Only flashback's own
 * commands set `flashback`; `onePc` marks a one-phase-commit write so observers (CDC) can tell
 * it from a 2PC commit.
 */
export type RequestFlag = 'flashback' | 'onePc';

/** Who a request is for: the region and the epoch the caller routed it with. */
export interface RequestContext {
  readonly regionId: number;
  readonly epoch: RegionEpoch;
  /** The read timestamp of a read; 0n or absent means "no ts" (raw reads). */
  readonly readTs?: bigint;
  readonly flags?: ReadonlySet<RequestFlag>;
}

export type AdminCommand =
  | { readonly type: 'split'; readonly splitKey: Uint8Array }
  | { readonly type: 'prepareFlashback'; readonly startTs: bigint }
  | { readonly type: 'finishFlashback' }
  | { readonly type: 'transferLeader'; readonly toPeer: number };

export type AdminResult =
  | { readonly type: 'split'; readonly left: Region; readonly right: Region }
  | { readonly type: 'prepareFlashback' | 'finishFlashback' | 'transferLeader'; readonly region: Region };

/** A snapshot taken for one region after the region gate passed. */
export interface RegionSnapshot extends EngineSnapshot {
  readonly region: Region;
}

class GatedSnapshot implements RegionSnapshot {
  constructor(
    private readonly inner: EngineSnapshot,
    readonly region: Region,
  ) {}
  get(cf: ColumnFamily, key: Uint8Array): Uint8Array | undefined {
    return this.inner.get(cf, key);
  }
  iterator(cf: ColumnFamily, options?: IterOptions): EngineIterator {
    return this.inner.iterator(cf, options);
  }
  release(): void {
    this.inner.release();
  }
}

/** Pairs an engine snapshot with the region whose gate it passed; every consensus hands these out. */
export function regionSnapshot(inner: EngineSnapshot, region: Region): RegionSnapshot {
  return new GatedSnapshot(inner, region);
}

export interface WriteResult {
  readonly regionId: number;
  /** Position of this write in the region's apply order. */
  readonly index: bigint;
}

/**
 * The one thing the transaction layer sees (TiKV's `tikv_kv::Engine`, DESIGN.md section 3).
 * Writes are data: `modifies` are applied atomically, locally or through raft. Every call runs
 * the region gate (`checkRegionGate`) when it is proposed and again when it is applied.
 */
export interface Consensus {
  readonly name: string;
  snapshot(ctx: RequestContext): Promise<RegionSnapshot>;
  /** `handOver`: see WriteOptions; the caller never changes the ops' arrays afterwards. */
  write(ctx: RequestContext, modifies: readonly BatchOp[], options?: { readonly sync?: boolean; readonly handOver?: boolean }): Promise<WriteResult>;
  admin(ctx: RequestContext, command: AdminCommand): Promise<AdminResult>;
  /** The region holding an encoded key, as this store knows it. */
  regionForKey(encodedKey: Uint8Array): Region;
  getRegion(regionId: number): Region;
}
