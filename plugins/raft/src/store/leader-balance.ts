/**
 * Leader balancing (a much simplified form of PD's balance-leader scheduler): every `everyTicks`
 * ticks, count the regions each running store leads; when the store leading the most leads more
 * than `tolerance` above the one leading the fewest, move one region's leadership from the first to
 * the second (a leader transfer to the region's voter there). One transfer per round, none while
 * one is in flight, so counts are re-read between moves. Off unless asked for.
 */
import type { Region } from '@flashkv/core';
import type { Store } from './store.js';

export interface LeaderBalanceOptions {
  /** Look every this many ticks. Default 20. */
  readonly everyTicks?: number;
  /** Leave the cluster alone while max - min leader counts are at most this. Default 1. */
  readonly tolerance?: number;
}

export interface LeaderBalanceStats {
  rounds: number;
  transfers: number;
  refused: number;
}

/** Leader counts of the running stores (every running store listed, 0 when it leads nothing). */
export function leaderCounts(stores: readonly Store[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const s of stores) {
    if (s.stopped) continue;
    let n = 0;
    for (const p of s.peers.values()) if (p.initialized && p.isLeader()) n++;
    counts.set(s.storeId, n);
  }
  return counts;
}

/**
 * The move a round would make: the region (led by the store leading the most) whose voter on the
 * store leading the fewest gets the leadership, or `undefined` when the counts are within
 * `tolerance` or no region led by the first has a voter on the second.
 */
export function planLeaderMove(stores: readonly Store[], tolerance = 1): { readonly region: Region; readonly from: number; readonly toPeer: number; readonly toStore: number } | undefined {
  const counts = leaderCounts(stores);
  if (counts.size < 2) return undefined;
  const byCount = [...counts].sort((a, b) => a[1] - b[1] || a[0] - b[0]);
  const [minStore, min] = byCount[0]!;
  const [maxStore, max] = byCount[byCount.length - 1]!;
  if (max - min <= tolerance) return undefined;
  const source = stores.find((s) => s.storeId === maxStore)!;
  const target = stores.find((s) => s.storeId === minStore)!;
  // Regions in id order, so the choice replays with the same cluster.
  const led = [...source.peers.values()].filter((p) => p.initialized && p.isLeader()).sort((a, b) => a.region.id - b.region.id);
  for (const p of led) {
    const there = p.region.peers.find((x) => x.storeId === minStore && x.role === 'voter');
    const peerThere = target.peers.get(p.region.id);
    if (there === undefined || peerThere === undefined || !peerThere.initialized || peerThere.peerId !== there.id) continue;
    return { region: p.region, from: maxStore, toPeer: there.id, toStore: minStore };
  }
  return undefined;
}

export class LeaderBalancer {
  readonly stats: LeaderBalanceStats = { rounds: 0, transfers: 0, refused: 0 };
  private ticks = 0;
  private inFlight = false;
  private readonly everyTicks: number;
  private readonly tolerance: number;

  constructor(
    private readonly stores: () => readonly Store[],
    /** Transfers the region's leadership to `toPeer` (the cluster's `consensus.admin`). */
    private readonly transfer: (region: Region, toPeer: number) => Promise<unknown>,
    options: LeaderBalanceOptions = {},
    /** True while placement has scheduling paused: no transfer is started then. */
    private readonly paused: () => boolean = () => false,
  ) {
    this.everyTicks = options.everyTicks ?? 20;
    this.tolerance = options.tolerance ?? 1;
    if (!Number.isSafeInteger(this.everyTicks) || this.everyTicks < 1) throw new TypeError(`everyTicks must be a positive integer, got ${this.everyTicks}`);
    if (!Number.isSafeInteger(this.tolerance) || this.tolerance < 1) throw new TypeError(`tolerance must be a positive integer, got ${this.tolerance}`);
  }

  /** Called on every tick of the cluster. */
  tick(): void {
    if (++this.ticks < this.everyTicks || this.inFlight) return;
    this.ticks = 0;
    void this.round();
  }

  /** One round: at most one leader transfer. Resolves true when one was made. */
  async round(): Promise<boolean> {
    if (this.inFlight || this.paused()) return false;
    this.stats.rounds++;
    const move = planLeaderMove(this.stores(), this.tolerance);
    if (move === undefined) return false;
    this.inFlight = true;
    try {
      await this.transfer(move.region, move.toPeer);
      this.stats.transfers++;
      return true;
    } catch {
      // The region changed or the leader moved meanwhile: the next round looks again.
      this.stats.refused++;
      return false;
    } finally {
      this.inFlight = false;
    }
  }
}
