import type { InjectionToken } from 'tsyringe';
import type { StorageEngine } from '../engine/engine.js';
import type { HotPath } from '../hotpath/hotpath.js';
import type { EventCatalogue } from './events.js';
import type { Consensus } from '../consensus/consensus.js';
import type { Clock } from '../clock.js';
import type { Placement } from '../placement/placement.js';

/** A contract token: a Symbol (recommended) carrying the type of what it resolves to. */
export type Token<T> = InjectionToken<T>;

/**
 * Contract tokens (DESIGN.md section 2). A plugin `provides` and `requires` these; the kernel
 * registers each provider in the kernel's own child container and checks the graph first.
 * A token's description is the name used in error messages.
 */
export const ENGINE: InjectionToken<StorageEngine> = Symbol('flashkv.engine');
export const HOTPATH: InjectionToken<HotPath> = Symbol('flashkv.hotpath');
export const EVENTS: InjectionToken<EventCatalogue> = Symbol('flashkv.events');
/** Placement (PD's role): TSO, region directory, GC safe point, pauses, durable job records. */
export const PLACEMENT: InjectionToken<Placement> = Symbol('flashkv.placement');
/** Wall time for everything that must not read Date.now itself (STYLE.md habit 1). */
export const CLOCK: InjectionToken<Clock> = Symbol('flashkv.clock');
/** Consensus (TiKV's tikv_kv::Engine): region-gated snapshots, writes and admin commands. */
export const CONSENSUS: InjectionToken<Consensus> = Symbol('flashkv.consensus');
/** The store-level transactional API with explicit timestamps (DESIGN.md section 5). */
export const STORAGE: InjectionToken<import('../txn/storage/storage.js').Storage> = Symbol('flashkv.storage');
/** The transaction client: TSO, routing, retries, lock resolution (DESIGN.md section 5). */
export const TXN_CLIENT: InjectionToken<import('../txn/client/txn-client.js').TxnClient> = Symbol('flashkv.txn-client');

/**
 * Min resolved ts of a key range (DESIGN.md section 7): no commit with commit_ts <= it can still
 * appear there. CDC provides it; the flashback orchestrator waits on it before choosing a version
 * (FLASHBACK.md b.2) and falls back to the locks in the range when no plugin provides it.
 * Keys are raw user keys; an empty `endKey` is unbounded.
 */
export interface ResolvedTsSource {
  minResolvedTs(startKey: Uint8Array, endKey: Uint8Array): bigint | Promise<bigint>;
}
export const RESOLVED_TS: InjectionToken<ResolvedTsSource> = Symbol('flashkv.resolved-ts');

/** Which version to flash back to: a TSO, or a wall time (a Date, or 'YYYY-MM-DD HH:MM:SS' local time). */
export type FlashbackTarget = { readonly version: bigint; readonly time?: undefined } | { readonly time: Date | string; readonly version?: undefined };

export interface FlashbackRange {
  /** Raw user keys; absent or empty `startKey` is the start of the key space, empty `endKey` unbounded. */
  readonly startKey?: Uint8Array;
  readonly endKey?: Uint8Array;
}

/** 'rollback' (TiKV's default) rolls back every lock; 'resolve' commits locks whose primary committed. */
export type FlashbackLockPolicy = 'rollback' | 'resolve';

export type FlashbackRunOptions = FlashbackTarget & FlashbackRange & { readonly lockPolicy?: FlashbackLockPolicy };
export type FlashbackPreviewOptions = FlashbackTarget & FlashbackRange & { readonly sampleSize?: number };

export interface FlashbackProgress {
  readonly jobId: string;
  readonly phase: 'check' | 'prepare' | 'finish' | 'done' | 'failed';
  readonly version: bigint;
  /** 0n until allocated. */
  readonly startTs: bigint;
  readonly commitTs: bigint;
  readonly regionsTotal: number;
  readonly regionsPrepared: number;
  readonly regionsFinished: number;
  readonly locksRolledBack: number;
  readonly locksCommitted: number;
  readonly keysRewritten: number;
  /** Keys rewritten per second of the finish phase so far (0 before it starts). */
  readonly keysPerSecond: number;
  /** Estimated milliseconds left, from the pace of regions done; undefined until one is. */
  readonly etaMs: number | undefined;
  readonly elapsedMs: number;
  readonly error?: Error;
}

export interface FlashbackRun {
  readonly jobId: string;
  /** Replays the latest progress to a new subscriber; completes when the job ends. */
  readonly progress$: import('rxjs').Observable<FlashbackProgress>;
  /** The final progress; rejects with the KvError that stopped the job. */
  readonly done: Promise<FlashbackProgress>;
}

export interface FlashbackPreviewSample {
  readonly key: Uint8Array;
  readonly kind: 'rewrite' | 'delete' | 'restore' | 'unchanged';
  readonly current: Uint8Array | undefined;
  readonly target: Uint8Array | undefined;
}

export interface FlashbackPreview {
  readonly version: bigint;
  /** Keys whose latest version is newer than `version`: every one gets a new record. */
  readonly keysToRewrite: number;
  /** Present now, absent at the version. */
  readonly toDelete: number;
  /** Absent now, present at the version. */
  readonly toRestore: number;
  /** Present in both with different values. */
  readonly toUpdate: number;
  /** A record is written but the visible state does not change. */
  readonly unchanged: number;
  /** Locks a run would roll back (or resolve). */
  readonly locks: number;
  readonly regions: number;
  readonly sample: readonly FlashbackPreviewSample[];
}

/** The flashback orchestrator (DESIGN.md section 6), provided by @flashkv/flashback. */
export interface Flashback {
  run(options: FlashbackRunOptions & { readonly jobId?: string }): FlashbackRun;
  preview(options: FlashbackPreviewOptions): Promise<FlashbackPreview>;
  /** Continues a persisted job with its persisted timestamps (or returns the run in flight). */
  resume(jobId: string): FlashbackRun;
  /** Ids of persisted jobs that have not reached 'done' or 'cancelled'. */
  unfinishedJobs(): string[];
}
export const FLASHBACK: InjectionToken<Flashback> = Symbol('flashkv.flashback');
