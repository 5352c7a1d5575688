/**
 * TxnClient (TiKV's client-go / client-rust `TransactionClient`): begins transactions with a
 * start ts from the TSO and runs the Percolator protocol over Storage, retrying region errors
 * (Storage routes each attempt afresh from placement) and resolving the locks it meets: it asks
 * the lock's primary with checkTxnStatus (currentTs from the TSO, so TTLs expire by TSO time),
 * then commits or rolls the lock back with resolveLock, backing off while the owner is alive.
 * While a txn holds locks it heartbeats its primary (TiKV client's ttlManager) so that a long
 * txn is not taken for a dead one.
 */
import type { Lock } from '../../codec/index.js';
import { isKvError, type KvError } from '../../errors.js';
import type { Storage } from '../storage/storage.js';
import { physicalOf } from '../actions/common.js';
import { Backoffer, seededRandom, type Sleep } from './backoff.js';
import { Transaction } from './transaction.js';

export interface TxnClientOptions {
  readonly storage: Storage;
  /** How the client waits between retries; tests inject a simulated sleeper. */
  readonly sleep: Sleep;
  /** Seed of the backoff jitter. Default 1. */
  readonly seed?: number;
  /** TTL of this client's locks in ms. Default 3000 (TiKV client's default). */
  readonly lockTtlMs?: number;
  /** Try one-phase commit when every key is in one region. Default true. */
  readonly onePc?: boolean;
  /** Commit secondaries in the background (commit() resolves once the primary is committed). Default true. */
  readonly asyncSecondaries?: boolean;
  /**
   * While a txn holds locks (a pessimistic txn from its first lock; an optimistic one of at
   * least `optimisticHeartbeatBytes` between prewrite and its primary commit), every this many
   * ms it raises its primary lock's TTL to its age plus `lockTtlMs` with txnHeartBeat, as TiKV
   * client's ttlManager does. Default lockTtlMs / 2, so a live txn's lock never expires between
   * beats; 0 turns the heartbeat off.
   */
  readonly heartbeatIntervalMs?: number;
  /**
   * How the heartbeat waits between beats; default `sleep`. Tests whose `sleep` moves a
   * simulated clock give a sleeper that waits for the clock instead (SimulatedTimers.sleep).
   */
  readonly heartbeatSleep?: Sleep;
  /**
   * Keys plus values an optimistic txn writes before it heartbeats during commit. Default 32 MiB
   * (TiKV client's ttlManagerRunThreshold): a small txn's commit is far shorter than its TTL, and
   * it saves a timer per commit.
   */
  readonly optimisticHeartbeatBytes?: number;
  /** A txn older than this (ms of TSO time) stops heartbeating, so an abandoned one cannot hold its locks forever. Default 3,600,000 (TiDB's max-txn-ttl). */
  readonly maxTxnTtlMs?: number;
  /** Backoff tuning. */
  readonly backoffBaseMs?: number;
  readonly backoffCapMs?: number;
  readonly backoffBudgetMs?: number;
}

export interface BeginOptions {
  readonly pessimistic?: boolean;
}

/** Region errors a retry with fresh routing (or a short wait) can fix. */
const RETRYABLE = new Set(['EPOCH_NOT_MATCH', 'REGION_NOT_FOUND', 'NOT_LEADER', 'KEY_NOT_IN_REGION', 'SERVER_BUSY']);

export function isRetryableRegionError(e: unknown): e is KvError {
  return isKvError(e) && RETRYABLE.has(e.code);
}

export class TxnClient {
  readonly storage: Storage;
  readonly lockTtl: bigint;
  readonly onePc: boolean;
  readonly asyncSecondaries: boolean;
  readonly heartbeatIntervalMs: number;
  readonly heartbeatSleep: Sleep;
  readonly maxTxnTtl: bigint;
  readonly optimisticHeartbeatBytes: number;
  private readonly sleep: Sleep;
  private readonly random: () => number;
  private readonly backoffTuning: { baseMs?: number; capMs?: number; budgetMs?: number };
  private readonly background = new Set<Promise<void>>();
  /** Heartbeat loops of open txns, by the controller that stops each. */
  private readonly heartbeats = new Map<AbortController, Promise<void>>();

  constructor(options: TxnClientOptions) {
    if (options === null || typeof options !== 'object' || options.storage === undefined) throw new TypeError('TxnClient needs { storage, sleep }');
    if (typeof options.sleep !== 'function') throw new TypeError('TxnClient needs a sleep(ms) function');
    this.storage = options.storage;
    this.sleep = options.sleep;
    this.random = seededRandom(options.seed ?? 1);
    this.lockTtl = BigInt(options.lockTtlMs ?? 3000);
    this.onePc = options.onePc ?? true;
    this.asyncSecondaries = options.asyncSecondaries ?? true;
    const interval = options.heartbeatIntervalMs ?? Math.max(1, Math.floor((options.lockTtlMs ?? 3000) / 2));
    if (typeof interval !== 'number' || !Number.isSafeInteger(interval) || interval < 0) throw new TypeError('TxnClient: heartbeatIntervalMs must be a non-negative integer');
    if (options.heartbeatSleep !== undefined && typeof options.heartbeatSleep !== 'function') throw new TypeError('TxnClient: heartbeatSleep must be a function');
    this.heartbeatIntervalMs = interval;
    this.heartbeatSleep = options.heartbeatSleep ?? options.sleep;
    const maxTtl = options.maxTxnTtlMs ?? 3_600_000;
    if (typeof maxTtl !== 'number' || !Number.isSafeInteger(maxTtl) || maxTtl < 0) throw new TypeError('TxnClient: maxTxnTtlMs must be a non-negative integer');
    this.maxTxnTtl = BigInt(maxTtl);
    const bigTxn = options.optimisticHeartbeatBytes ?? 32 * 1024 * 1024;
    if (typeof bigTxn !== 'number' || !Number.isSafeInteger(bigTxn) || bigTxn < 0) throw new TypeError('TxnClient: optimisticHeartbeatBytes must be a non-negative integer');
    this.optimisticHeartbeatBytes = bigTxn;
    this.backoffTuning = {
      ...(options.backoffBaseMs !== undefined ? { baseMs: options.backoffBaseMs } : {}),
      ...(options.backoffCapMs !== undefined ? { capMs: options.backoffCapMs } : {}),
      ...(options.backoffBudgetMs !== undefined ? { budgetMs: options.backoffBudgetMs } : {}),
    };
  }

  /** A transaction reading at a fresh start ts from the TSO. */
  async begin(options: BeginOptions = {}): Promise<Transaction> {
    if (options === null || typeof options !== 'object') throw new TypeError('begin expects an options object');
    if (options.pessimistic !== undefined && typeof options.pessimistic !== 'boolean') throw new TypeError('begin: pessimistic must be a boolean');
    const startTs = await this.storage.placement.getTs();
    return new Transaction(this, startTs, options.pessimistic === true);
  }

  /** A fresh ts from the TSO. */
  getTs(): Promise<bigint> {
    return this.storage.placement.getTs();
  }

  newBackoffer(): Backoffer {
    return new Backoffer({ sleep: this.sleep, random: this.random, ...this.backoffTuning });
  }

  /** Waits for every background secondary commit started so far. */
  async idle(): Promise<void> {
    while (this.background.size > 0) await Promise.all([...this.background]);
  }

  /** Stops every heartbeat (open txns' locks then expire by their TTL) and waits for background work. */
  async close(): Promise<void> {
    const loops = [...this.heartbeats.values()];
    for (const c of [...this.heartbeats.keys()]) c.abort();
    await Promise.all(loops);
    await this.idle();
  }

  /** Heartbeat loops running now (one per open txn holding locks). */
  get activeHeartbeats(): number {
    return this.heartbeats.size;
  }

  /**
   * @internal Runs `loop` until the returned controller aborts (or the loop ends by itself);
   * the client forgets it when it ends and close() stops it.
   */
  startHeartbeat(loop: (signal: AbortSignal) => Promise<void>): AbortController {
    const controller = new AbortController();
    // Forgotten as soon as it is stopped; a storage call in flight may still finish after that.
    controller.signal.addEventListener('abort', () => this.heartbeats.delete(controller), { once: true });
    const p = loop(controller.signal)
      .catch(() => undefined)
      .finally(() => this.heartbeats.delete(controller));
    this.heartbeats.set(controller, p);
    return controller;
  }

  /** @internal Tracks a background task; its failure is swallowed (see Transaction.commit). */
  track(p: Promise<void>): void {
    const t = p.catch(() => undefined).finally(() => this.background.delete(t));
    this.background.add(t);
  }

  /**
   * Runs `op`, resolving the locks it meets and retrying region errors, with one bounded
   * backoff for the whole call. `callerStartTs` is the reader's ts (0n for writes): a live lock
   * whose min commit ts the primary pushed past it is added to `bypass` instead of waited on.
   */
  async retry<T>(callerStartTs: bigint, bypass: Set<bigint> | undefined, op: () => Promise<T>): Promise<T> {
    // Made at the first error: most calls succeed at once and need none.
    let bo: Backoffer | undefined;
    for (;;) {
      try {
        return await op();
      } catch (e) {
        if (isKvError(e, 'KEY_IS_LOCKED')) {
          const lock = e.details['lock'] as Lock;
          const key = e.details['key'] as Uint8Array;
          const progress = await this.resolveLock(key, lock, callerStartTs, bypass);
          if (!progress) await (bo ??= this.newBackoffer()).backoff(e);
          continue;
        }
        if (isRetryableRegionError(e)) {
          await (bo ??= this.newBackoffer()).backoff(e);
          continue;
        }
        throw e;
      }
    }
  }

  /**
   * Resolves one lock another txn left (TiKV client `LockResolver::resolve_locks`). True when the
   * lock is gone or may be read past; false when its txn is alive and the caller must wait.
   */
  async resolveLock(key: Uint8Array, lock: Lock, callerStartTs: bigint, bypass?: Set<bigint>): Promise<boolean> {
    const currentTs = await this.getTs();
    const expired = physicalOf(lock.startTs) + lock.ttl < physicalOf(currentTs);
    let status;
    try {
      status = await this.storage.checkTxnStatus({
        primaryKey: lock.primary,
        lockTs: lock.startTs,
        callerStartTs,
        currentTs,
        // Only an expired lock may have its missing primary rolled back: a live txn may still
        // be prewriting its primary.
        rollbackIfNotExist: expired,
        resolvingPessimisticLock: lock.lockType === 'Pessimistic',
      });
    } catch (e) {
      if (isKvError(e, 'TXN_NOT_FOUND') || isRetryableRegionError(e)) return false;
      throw e;
    }
    switch (status.kind) {
      case 'locked':
        if (callerStartTs !== 0n && status.minCommitTsPushed && bypass !== undefined) {
          bypass.add(lock.startTs);
          return true;
        }
        return false;
      case 'committed':
        await this.resolveKey(key, lock, status.commitTs);
        return true;
      default:
        await this.resolveKey(key, lock, 0n);
        return true;
    }
  }

  private async resolveKey(key: Uint8Array, lock: Lock, commitTs: bigint): Promise<void> {
    if (lock.lockType === 'Pessimistic') {
      // A pessimistic lock carries no data: releasing it is all a reader or writer needs.
      await this.storage.pessimisticRollback({ keys: [key], startTs: lock.startTs, forUpdateTs: lock.forUpdateTs });
      return;
    }
    try {
      await this.storage.resolveLock({ startTs: lock.startTs, commitTs, keys: [key] });
    } catch (e) {
      // Someone else resolved it differently in between is impossible (the primary decided);
      // a region error means the next attempt of the caller will meet the lock again.
      if (!isRetryableRegionError(e)) throw e;
    }
  }
}
