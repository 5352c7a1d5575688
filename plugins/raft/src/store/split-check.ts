/**
 * Size-based region split (TiKV's split checker, simplified): a region's leader counts the data
 * bytes it applies; once that passes a sixteenth of `splitSize` since the last look, the region's
 * size is estimated by a scan of its data range over the data column families, and when it is
 * above `splitSize` a split at the key in the middle of those bytes is proposed through the normal
 * split admin command (so the region directory records it as any split).
 */
import { compareBytes, type EngineReader, type Region } from '@flashkv/core';
import { DATA_CFS, dataRange } from './codec.js';
import type { Store } from './store.js';

/** TiKV's default region split size. */
export const DEFAULT_SPLIT_SIZE = 96 * 1024 * 1024;

export interface SplitCheckOptions {
  /** Split a region once its data (keys and values over default, lock and write) exceeds this many bytes. */
  readonly splitSize?: number;
  /** Look at the regions every this many ticks. Default 10. */
  readonly checkEveryTicks?: number;
}

/** What a scan of a region found: its size, and where to cut it when it is over the limit. */
export interface SplitEstimate {
  readonly size: number;
  readonly splitKey?: Uint8Array;
}

const TS_LENGTH = 8;
const GROUP = 9;

/**
 * The region key a data key stands for: without the 'z' prefix, and without its 8-byte ts when it
 * has the shape of an MVCC key (a memcomparable-encoded key, a multiple of 9 bytes, plus the ts), so
 * every version of a user key and its lock stay on one side of the cut.
 */
export function splitKeyOf(dataKey: Uint8Array): Uint8Array {
  const k = dataKey.subarray(1);
  if (k.length >= GROUP + TS_LENGTH && (k.length - TS_LENGTH) % GROUP === 0) return k.slice(0, k.length - TS_LENGTH);
  return k.slice();
}

/**
 * Scans a region's data range: its total size, and, when that is above `splitSize`, the first key
 * at or past half of the bytes (in key order over all data CFs) that lies strictly inside the
 * range. No key is found when one user key holds everything past the half.
 */
export function estimateSplit(reader: EngineReader, region: Region, splitSize: number): SplitEstimate {
  const [lower, upper] = dataRange(region);
  let size = 0;
  for (const cf of DATA_CFS) {
    const it = reader.iterator(cf, { lower, upper });
    try {
      for (let ok = it.first(); ok; ok = it.next()) size += it.key().length + it.value().length;
    } finally {
      it.close();
    }
  }
  if (size <= splitSize) return { size };
  // The data CFs merged in key order, so the half is counted over the region's bytes as a whole.
  const its = DATA_CFS.map((cf) => reader.iterator(cf, { lower, upper }));
  try {
    const live = its.map((it) => it.first());
    let acc = 0;
    for (;;) {
      let pick = -1;
      for (let i = 0; i < its.length; i++) if (live[i] && (pick < 0 || compareBytes(its[i]!.key(), its[pick]!.key()) < 0)) pick = i;
      if (pick < 0) return { size };
      const it = its[pick]!;
      acc += it.key().length + it.value().length;
      if (acc * 2 >= size) {
        const key = splitKeyOf(it.key());
        const inside = compareBytes(key, region.startKey) > 0 && (region.endKey.length === 0 || compareBytes(key, region.endKey) < 0);
        if (inside) return { size, splitKey: key };
      }
      live[pick] = it.next();
    }
  } finally {
    for (const it of its) it.close();
  }
}

/**
 * Looks at the leaders of a set of stores every few ticks and proposes splits for regions that
 * grew past `splitSize`. One split per region is in flight at a time; a refused one (the epoch
 * moved, the leader changed) is looked at again next round, and both halves of a done split too.
 */
export class SplitChecker {
  readonly splitSize: number;
  private readonly every: number;
  private ticks = 0;
  private readonly inFlight = new Set<number>();
  private readonly again = new Set<number>();
  /** Scans run, splits proposed, splits applied, splits refused (for tests and stats). */
  readonly stats = { checks: 0, proposed: 0, split: 0, refused: 0 };

  constructor(
    private readonly stores: () => readonly Store[],
    private readonly propose: (region: Region, splitKey: Uint8Array) => Promise<readonly Region[]>,
    options: SplitCheckOptions = {},
    /** True while placement has scheduling paused: no region is looked at then (writes keep counting). */
    private readonly paused: () => boolean = () => false,
  ) {
    this.splitSize = options.splitSize ?? DEFAULT_SPLIT_SIZE;
    this.every = options.checkEveryTicks ?? 10;
    if (!Number.isFinite(this.splitSize) || this.splitSize <= 0) throw new TypeError(`splitSize must be a positive number of bytes, got ${String(options.splitSize)}`);
    if (!Number.isInteger(this.every) || this.every <= 0) throw new TypeError(`checkEveryTicks must be a positive integer, got ${String(options.checkEveryTicks)}`);
  }

  /** One raft tick: every `checkEveryTicks`, a round over the leaders. */
  tick(): void {
    if (++this.ticks % this.every !== 0) return;
    this.round();
  }

  /** Looks at every region led on a live store now. */
  round(): void {
    if (this.paused()) return;
    const diff = Math.max(1, Math.floor(this.splitSize / 16));
    for (const store of this.stores()) {
      if (store.stopped) continue;
      for (const peer of store.peers.values()) {
        const id = peer.region.id;
        if (!peer.initialized || peer.destroyed || this.inFlight.has(id) || !peer.isLeader()) continue;
        if (peer.writtenSinceCheck < diff && !this.again.has(id)) continue;
        peer.writtenSinceCheck = 0;
        this.again.delete(id);
        this.stats.checks++;
        const region = peer.region;
        const { splitKey } = estimateSplit(store.engine, region, this.splitSize);
        if (splitKey === undefined) continue;
        this.inFlight.add(id);
        this.stats.proposed++;
        this.propose(region, splitKey).then(
          (halves) => {
            this.stats.split++;
            for (const r of halves) this.again.add(r.id);
          },
          () => {
            this.stats.refused++;
            this.again.add(id);
          },
        ).finally(() => this.inFlight.delete(id));
      }
    }
  }
}
