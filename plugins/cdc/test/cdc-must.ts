/**
 * `must*` helpers for CDC scenarios: a store of LocalPlacement + LocalConsensus + Storage (with
 * flashback commands) on engine-memory, a TxnClient in simulated time, and a CdcService driven by
 * explicit ticks. Each helper returns a value or throws with context.
 */
import {
  codec,
  EventCatalogue,
  LocalConsensus,
  LocalPlacement,
  ManualClock,
  Storage,
  TxnClient,
  type AppliedEvent,
} from '@flashkv/core';
import { bytes, latin1 } from '@flashkv/core/testing';
import { MemoryEngine } from '@flashkv/engine-memory';
import { registerFlashbackCommands } from '@flashkv/flashback';
import type { Subscription } from 'rxjs';
import { CdcService, type CdcEvent, type ChangefeedOptions, type CdcServiceOptions } from '../src/index.js';

export const T0 = 1_700_000_000_000;

export interface Env {
  readonly engine: MemoryEngine;
  readonly clock: ManualClock;
  readonly events: EventCatalogue;
  readonly placement: LocalPlacement;
  readonly consensus: LocalConsensus;
  readonly storage: Storage;
  readonly client: TxnClient;
  readonly cdc: CdcService;
}

export interface SetupOptions extends Partial<Pick<CdcServiceOptions, 'schedule' | 'maxPendingEvents' | 'scanChunk'>> {
  readonly seed?: number;
  readonly onePc?: boolean;
  /** Applied events wait here until the test releases them: a write reached the engine, its event not yet out. */
  readonly heldApplied?: (() => void)[];
}

export async function setup(o: SetupOptions = {}): Promise<Env> {
  const engine = new MemoryEngine();
  const clock = new ManualClock(T0);
  const events = new EventCatalogue();
  const placement = await LocalPlacement.open({ engine, clock, events });
  const held = o.heldApplied;
  const consensusEvents = held === undefined ? events : ({ emit: (name: 'applied', payload: AppliedEvent) => void held.push(() => events.emit(name, payload)) } as unknown as EventCatalogue);
  const consensus = new LocalConsensus({ engine, placement, events: consensusEvents });
  const storage = new Storage({ consensus, placement });
  registerFlashbackCommands(storage);
  // Simulated time: a backoff moves the clock (lock TTLs expire) and yields once.
  const sleep = (ms: number) => {
    clock.advance(ms);
    return new Promise<void>((r) => setImmediate(r));
  };
  const client = new TxnClient({ storage, sleep, seed: o.seed ?? 1, onePc: o.onePc ?? true });
  const cdc = new CdcService({
    engine,
    placement,
    events,
    fence: storage.fence,
    schedule: o.schedule ?? ((run) => run()),
    ...(o.maxPendingEvents !== undefined ? { maxPendingEvents: o.maxPendingEvents } : {}),
    ...(o.scanChunk !== undefined ? { scanChunk: o.scanChunk } : {}),
  });
  cdc.start();
  return { engine, clock, events, placement, consensus, storage, client, cdc };
}

/** Events of one feed, with the resolved-ts invariant checked on every event as it arrives. */
export class Collector {
  readonly events: CdcEvent[] = [];
  readonly violations: string[] = [];
  error: unknown;
  private readonly resolved = new Map<number, bigint>();
  global = 0n;
  readonly sub: Subscription;

  constructor(env: Env, options: ChangefeedOptions) {
    this.sub = env.cdc.changefeed(options).subscribe({
      next: (e) => this.onEvent(e),
      error: (e: unknown) => (this.error = e),
    });
  }

  private onEvent(e: CdcEvent): void {
    this.events.push(e);
    if (e.type === 'resolvedTs') {
      const prev = this.resolved.get(e.regionId) ?? 0n;
      if (e.ts < prev) this.violations.push(`region ${e.regionId} resolved ts went back ${prev} -> ${e.ts}`);
      this.resolved.set(e.regionId, e.ts);
    } else if (e.type === 'globalResolvedTs') {
      if (e.ts < this.global) this.violations.push(`global resolved ts went back ${this.global} -> ${e.ts}`);
      this.global = e.ts;
    } else if (e.type === 'commit' || e.type === 'committed') {
      const r = this.resolved.get(e.regionId) ?? 0n;
      if (e.commitTs <= r) this.violations.push(`${e.type} ${latin1(e.key)}@${e.commitTs} after region ${e.regionId} resolved ts ${r}`);
      if (e.commitTs <= this.global) this.violations.push(`${e.type} ${latin1(e.key)}@${e.commitTs} after global resolved ts ${this.global}`);
    }
  }

  /** Committed data rows as "key@commitTs=op:value", sorted (Lock records carry no data). */
  rows(maxTs?: bigint): string[] {
    const out: string[] = [];
    for (const e of this.events) {
      if ((e.type === 'commit' || e.type === 'committed') && e.op !== 'lock' && (maxTs === undefined || e.commitTs <= maxTs)) out.push(row(e.key, e.commitTs, e.op, e.value));
    }
    return out.sort();
  }
}

export function row(key: Uint8Array, commitTs: bigint, op: string, value: Uint8Array | undefined): string {
  return `${latin1(key)}@${commitTs}=${op}:${value === undefined ? '' : latin1(value)}`;
}

/** The committed history as stored: every Put/Delete write record with commit ts > after. */
export function mustHistory(env: Env, after = 0n): string[] {
  const out: string[] = [];
  const it = env.engine.iterator('write', { lower: Uint8Array.of(0x7a), upper: Uint8Array.of(0x7b) });
  try {
    for (let ok = it.first(); ok; ok = it.next()) {
      const { key, ts } = codec.splitTs(it.key().subarray(1));
      if (ts <= after) continue;
      const w = codec.decodeWrite(it.value());
      if (w.writeType !== 'Put' && w.writeType !== 'Delete') continue;
      const value = w.writeType === 'Put' ? (w.shortValue ?? env.engine.get('default', codec.dataKey(codec.appendTs(key, w.startTs)))) : undefined;
      out.push(row(codec.toRaw(key), ts, w.writeType === 'Put' ? 'put' : 'delete', value));
    }
  } finally {
    it.close();
  }
  return out.sort();
}

export async function mustPut(env: Env, kvs: Record<string, string>): Promise<bigint> {
  const txn = await env.client.begin();
  for (const [k, v] of Object.entries(kvs)) await txn.put(bytes(k), bytes(v));
  return txn.commit();
}

export async function mustSplit(env: Env, at: string): Promise<void> {
  const r = env.placement.regionForKey(codec.encodeBytes(bytes(at)));
  await env.consensus.admin({ regionId: r.id, epoch: r.epoch }, { type: 'split', splitKey: codec.encodeBytes(bytes(at)) });
}

/** Lets queued microtasks and immediates run (background secondaries, deliveries). */
export async function mustSettle(env: Env): Promise<void> {
  await env.client.idle();
  for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r));
}

export const dup = (xs: readonly string[]): string[] => xs.filter((x, i) => i > 0 && xs[i - 1] === x);
