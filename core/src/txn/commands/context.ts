/**
 * What a transaction command runs with (TiKV's `WriteContext` / the snapshot the scheduler takes
 * after latching), and the two steps every write command shares: read one region snapshot,
 * then hand the txn's Modifies to consensus as one write (STYLE.md habit 5).
 */
import type { Consensus, RequestContext, RequestFlag } from '../../consensus/consensus.js';
import type { TimestampOracle } from '../../placement/placement.js';
import type { RegionEpoch } from '../../placement/region.js';
import { MvccReader } from '../mvcc/reader.js';
import type { MvccTxn } from '../mvcc/txn.js';
import type { CommandContext } from '../scheduler/command.js';
import type { OnePcFence } from './one-pc-fence.js';

export interface TxnCommandContext extends CommandContext {
  readonly consensus: Consensus;
  /** For the commit ts of a 1PC prewrite. */
  readonly tso: TimestampOracle;
  /** In-flight 1PC commits that reads must not race (see one-pc-fence.ts). */
  readonly fence: OnePcFence;
  /** Passed to every consensus write. */
  readonly sync?: boolean;
}

/** The region a command's keys were routed to, and the epoch they were routed with. */
export interface RegionRoute {
  readonly regionId: number;
  readonly epoch: RegionEpoch;
}

function requestOf(route: RegionRoute, readTs?: bigint, flags?: ReadonlySet<RequestFlag>): RequestContext {
  return {
    regionId: route.regionId,
    epoch: route.epoch,
    ...(readTs !== undefined ? { readTs } : {}),
    ...(flags !== undefined ? { flags } : {}),
  };
}

/**
 * Runs `body` over a reader of a fresh snapshot of the route's region; the snapshot is released
 * however `body` ends. `readTs` lets a read below a flashback's start ts pass the region gate.
 */
export async function withReader<T>(ctx: TxnCommandContext, route: RegionRoute, readTs: bigint | undefined, body: (reader: MvccReader) => T | Promise<T>): Promise<T> {
  const snapshot = await ctx.consensus.snapshot(requestOf(route, readTs));
  try {
    return await body(new MvccReader(snapshot));
  } finally {
    snapshot.release();
  }
}

/** Writes what `txn` recorded, if anything, as one atomic consensus write to the route's region. */
export async function writeTxn(ctx: TxnCommandContext, route: RegionRoute, txn: MvccTxn, flags?: ReadonlySet<RequestFlag>): Promise<void> {
  if (txn.locksForOnePc.length > 0) throw new Error(`txn ${txn.startTs} still holds 1PC locks; commitOnePc must run before the write`);
  if (txn.modifies.length === 0) return;
  await ctx.consensus.write(requestOf(route, undefined, flags), txn.modifies, ctx.sync === undefined ? {} : { sync: ctx.sync });
}

export const ONE_PC_FLAGS: ReadonlySet<RequestFlag> = new Set<RequestFlag>(['onePc']);

export function assertRoute(name: string, route: unknown): asserts route is RegionRoute {
  const r = route as RegionRoute | undefined;
  if (r === null || typeof r !== 'object' || typeof r.regionId !== 'number' || r.epoch === null || typeof r.epoch !== 'object') {
    throw new TypeError(`${name}: args.route must be { regionId, epoch }`);
  }
}

export function assertArgs(name: string, args: unknown): asserts args is Record<string, unknown> {
  if (args === null || typeof args !== 'object') throw new TypeError(`${name}: args must be an object`);
  assertRoute(name, (args as { route?: unknown }).route);
}
