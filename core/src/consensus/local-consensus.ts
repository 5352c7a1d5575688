import { KvError } from '../errors.js';
import type { StorageEngine } from '../engine/engine.js';
import { WriteBatch, type BatchOp } from '../engine/write-batch.js';
import { assertColumnFamily } from '../engine/column-family.js';
import type { EventCatalogue } from '../kernel/events.js';
import type { Placement } from '../placement/placement.js';
import type { Region } from '../placement/region.js';
import { DATA_PREFIX } from '../codec/key.js';
import { regionSnapshot, type AdminCommand, type AdminResult, type Consensus, type RegionSnapshot, type RequestContext, type WriteResult } from './consensus.js';
import { checkKeyInRegion, checkRegionGate, isInFlashback, type GateRequest } from './region-gate.js';

export interface LocalConsensusOptions {
  readonly engine: StorageEngine;
  /** The region directory doubles as this single store's region metadata. */
  readonly placement: Placement;
  /** When given, every applied batch is emitted on `applied`. */
  readonly events?: EventCatalogue;
}

/**
 * The embedded default consensus: one store, many regions, no replication (DESIGN.md section 3).
 * Writes to the engine run concurrently (the scheduler's latches already order conflicting
 * ones); an admin command is a barrier: it waits for the writes in flight, holds new ones back,
 * runs, and lets them through, so every write is gated against the region state it applies under.
 */
export class LocalConsensus implements Consensus {
  readonly name = 'local';
  private readonly engine: StorageEngine;
  private readonly placement: Placement;
  private readonly events: EventCatalogue | undefined;
  private readonly applyIndex = new Map<number, bigint>();
  private barrier: Promise<void> | undefined;
  private inflight = 0;
  private drained: (() => void) | undefined;

  constructor(options: LocalConsensusOptions) {
    this.engine = options.engine;
    this.placement = options.placement;
    this.events = options.events;
  }

  regionForKey(encodedKey: Uint8Array): Region {
    return this.placement.regionForKey(encodedKey);
  }

  getRegion(regionId: number): Region {
    return this.placement.getRegion(regionId);
  }

  async snapshot(ctx: RequestContext): Promise<RegionSnapshot> {
    const region = this.placement.getRegion(ctx.regionId);
    const refused = checkRegionGate(region, readRequest(ctx), 'read');
    if (refused) throw refused;
    return regionSnapshot(this.engine.snapshot(), region);
  }

  async write(ctx: RequestContext, modifies: readonly BatchOp[], options: { readonly sync?: boolean; readonly handOver?: boolean } = {}): Promise<WriteResult> {
    const req: GateRequest = { kind: 'write', epoch: ctx.epoch, ...(ctx.flags ? { flags: ctx.flags } : {}) };
    const proposed = this.placement.getRegion(ctx.regionId);
    const atPropose = checkRegionGate(proposed, req, 'propose');
    if (atPropose) throw atPropose;
    const batch = toBatch(proposed, modifies);
    while (this.barrier) await this.barrier;
    // Apply: the region may have changed (split, flashback) while this write waited.
    const region = this.placement.getRegion(ctx.regionId);
    const atApply = checkRegionGate(region, req, 'apply');
    if (atApply) throw atApply;
    this.inflight++;
    try {
      await this.engine.write(batch, options);
    } finally {
      this.inflight--;
      if (this.inflight === 0) this.drained?.();
    }
    const index = (this.applyIndex.get(region.id) ?? 0n) + 1n;
    this.applyIndex.set(region.id, index);
    this.events?.emit('applied', { regionId: region.id, index, flags: ctx.flags ?? new Set(), modifies });
    return { regionId: region.id, index };
  }

  async admin(ctx: RequestContext, command: AdminCommand): Promise<AdminResult> {
    while (this.barrier) await this.barrier;
    let release!: () => void;
    this.barrier = new Promise<void>((r) => (release = r));
    try {
      if (this.inflight > 0) await new Promise<void>((r) => (this.drained = r));
      this.drained = undefined;
      const region = this.placement.getRegion(ctx.regionId);
      const refused = checkRegionGate(region, { kind: 'admin', epoch: ctx.epoch, command: command.type }, 'apply');
      if (refused) throw refused;
      const opts = { epoch: ctx.epoch };
      switch (command.type) {
        case 'split': {
          const { left, right } = await this.placement.split(region.id, command.splitKey, opts);
          return { type: 'split', left, right };
        }
        case 'prepareFlashback': {
          if (typeof command.startTs !== 'bigint' || command.startTs <= 0n) throw new KvError('INVALID_ARGUMENT', `flashback start_ts must be a positive bigint, got ${String(command.startTs)}`);
          // Prepare on a region already in flashback overwrites the start ts (FLASHBACK.md a.3.1).
          const r = await this.placement.setFlashbackState(region.id, { inFlashback: true, flashbackStartTs: command.startTs }, opts);
          return { type: 'prepareFlashback', region: r };
        }
        case 'finishFlashback': {
          // Finish on a region not in flashback is a no-op success.
          if (!isInFlashback(region)) return { type: 'finishFlashback', region };
          const r = await this.placement.setFlashbackState(region.id, { inFlashback: false }, opts);
          return { type: 'finishFlashback', region: r };
        }
        case 'transferLeader':
          // One store, one peer: the gate ran (a region in flashback refuses it); nothing moves.
          return { type: 'transferLeader', region };
        default:
          throw new TypeError(`unknown admin command ${JSON.stringify((command as { type?: unknown }).type)}`);
      }
    } finally {
      this.barrier = undefined;
      release();
    }
  }
}

function readRequest(ctx: RequestContext): GateRequest {
  return { kind: 'read', epoch: ctx.epoch, ...(ctx.readTs !== undefined ? { readTs: ctx.readTs } : {}), ...(ctx.flags ? { flags: ctx.flags } : {}) };
}

/**
 * Checks every modify targets a data CF and a data key inside the region, and builds the batch
 * over a copy of the list (the caller's array is its own; the op objects are data and shared).
 */
function toBatch(region: Region, modifies: readonly BatchOp[]): WriteBatch {
  if (!Array.isArray(modifies)) throw new TypeError('modifies must be an array');
  const ops: BatchOp[] = new Array(modifies.length);
  let bytes = 0;
  for (let i = 0; i < modifies.length; i++) {
    const m = modifies[i]!;
    if (m === null || typeof m !== 'object') throw new TypeError(`modify ${i} is not an object`);
    if (m.cf === 'raft') throw new TypeError('the raft column family is the store\'s own; a request cannot write it');
    // Same checks, in the same order, as building a WriteBatch op by op did.
    if (m.op === 'deleteRange') {
      checkDataKey(region, m.start);
      if (m.end.length > 0) checkDataKey(region, m.end, true);
      assertColumnFamily(m.cf);
      assertBytes('start', m.start);
      assertBytes('end', m.end);
      bytes += m.start.length + m.end.length;
      ops[i] = m;
      continue;
    }
    checkDataKey(region, m.key);
    assertColumnFamily(m.cf);
    assertBytes('key', m.key);
    if (m.op === 'put') {
      assertBytes('value', m.value);
      bytes += m.key.length + m.value.length;
    } else {
      // Anything but put and deleteRange was always written as a delete of its key.
      bytes += m.key.length;
      if (m.op !== 'delete') {
        ops[i] = { op: 'delete', cf: m.cf, key: m.key };
        continue;
      }
    }
    ops[i] = m;
  }
  return WriteBatch.adopt(ops, bytes);
}

function assertBytes(what: string, v: unknown): void {
  if (!(v instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array, got ${v === null ? 'null' : typeof v}`);
}

function checkDataKey(region: Region, key: Uint8Array, isEnd = false): void {
  if (!(key instanceof Uint8Array) || key.length === 0 || key[0] !== DATA_PREFIX) {
    throw new KvError('INVALID_ARGUMENT', 'a modify key must be a data key (prefix \'z\')', { regionId: region.id });
  }
  // Compared in place (key[1..] against the bounds): no view per key on the write path.
  const end = region.endKey;
  if (isEnd) {
    // A range end may equal the region end.
    if (end.length > 0 && compareFrom(key, end) > 0) throw checkKeyInRegion(region, key.subarray(1))!;
    return;
  }
  if (compareFrom(key, region.startKey) < 0 || (end.length > 0 && compareFrom(key, end) >= 0)) throw checkKeyInRegion(region, key.subarray(1))!;
}

/** compareBytes(key.subarray(1), bound) without making the view. */
function compareFrom(key: Uint8Array, bound: Uint8Array): number {
  const la = key.length - 1;
  const lb = bound.length;
  const n = la < lb ? la : lb;
  for (let i = 0; i < n; i++) {
    const d = key[i + 1]! - bound[i]!;
    if (d !== 0) return d;
  }
  return la - lb;
}
