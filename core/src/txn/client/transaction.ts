/**
 * One client transaction (TiKV client's `Transaction`): reads at startTs, writes buffered in
 * memory until commit (read-your-writes from the buffer), then Percolator's two phases with the
 * primary committed first, or one phase when every key lies in one region. In pessimistic mode
 * each write first takes a pessimistic lock at a fresh forUpdateTs, and commit prewrites those
 * keys as pessimistic. While it holds locks, a heartbeat keeps its primary lock alive.
 */
import { compareBytes } from '../../engine/engine.js';
import { physicalOf } from '../actions/common.js';
import { isKvError, KvError } from '../../errors.js';
import type { RawKey } from '../../codec/index.js';
import type { KvPair } from '../mvcc/scanner.js';
import type { StorageMutation } from '../storage/storage.js';
import { assertKeys, assertLimit, assertOptionalBool, assertRawKey, assertValue, keyId } from '../storage/validate.js';
import { isRetryableRegionError, type TxnClient } from './txn-client.js';

export type TxnState = 'active' | 'committing' | 'committed' | 'rolledBack';

interface Buffered {
  readonly key: Uint8Array;
  /** undefined: a delete. */
  readonly value: Uint8Array | undefined;
}

export interface TxnScanOptions {
  readonly start?: Uint8Array;
  readonly end?: Uint8Array;
  readonly limit?: number;
  readonly reverse?: boolean;
  readonly keyOnly?: boolean;
}

export class Transaction {
  private readonly writes = new Map<string, Buffered>();
  /** Keys holding this txn's pessimistic lock. */
  private readonly locked = new Map<string, Uint8Array>();
  /** Start ts of live txns whose min commit ts was pushed past ours: their locks cannot hide anything we must read. */
  private readonly bypass = new Set<bigint>();
  private primary: Uint8Array | undefined;
  /** The newest forUpdateTs any lock was taken at (what pessimisticRollback releases up to). */
  private forUpdateTs = 0n;
  /**
   * The oldest forUpdateTs of a lock still relied on. Prewrite re-creates a pessimistic lock
   * that another client removed only if nothing committed after the forUpdateTs it is given;
   * the key locked first was read earliest, so giving the oldest one keeps a stale read from
   * being written back (TiKV later added per-key for_update_ts constraints for the same reason).
   */
  private minForUpdateTs = 0n;
  private stateValue: TxnState = 'active';
  /** Which protocol committed the txn, once committed with writes. */
  commitPath: '1pc' | '2pc' | undefined;
  /** Stops the heartbeat of the primary lock; set while one runs. */
  private heartbeat: AbortController | undefined;
  /** Heartbeats that raised (or confirmed) the primary lock's TTL. */
  heartbeatsSent = 0;

  constructor(
    private readonly client: TxnClient,
    readonly startTs: bigint,
    readonly pessimistic: boolean,
  ) {}

  get state(): TxnState {
    return this.stateValue;
  }

  private assertActive(op: string): void {
    if (this.stateValue !== 'active') throw new KvError('INVALID_ARGUMENT', `${op}: transaction ${this.startTs} is ${this.stateValue}`, { startTs: this.startTs });
  }

  private readOptions(): { bypassLocks: bigint[] } | undefined {
    return this.bypass.size === 0 ? undefined : { bypassLocks: [...this.bypass] };
  }

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    this.assertActive('get');
    assertRawKey('get: key', key);
    const own = this.writes.get(keyId(key));
    if (own !== undefined) return own.value?.slice();
    return this.client.retry(this.startTs, this.bypass, () => this.client.storage.get(key, this.startTs, this.readOptions()));
  }

  /** Found pairs in request order, own writes included. */
  async batchGet(keys: readonly Uint8Array[]): Promise<KvPair[]> {
    this.assertActive('batchGet');
    assertKeys('batchGet: keys', keys);
    const missing = keys.filter((k) => !this.writes.has(keyId(k)));
    const fetched = new Map<string, Uint8Array>();
    if (missing.length > 0) {
      const got = await this.client.retry(this.startTs, this.bypass, () => this.client.storage.batchGet(missing, this.startTs, this.readOptions()));
      for (const kv of got) fetched.set(keyId(kv.key), kv.value);
    }
    const out: KvPair[] = [];
    for (const k of keys) {
      const id = keyId(k);
      const own = this.writes.get(id);
      const v = own !== undefined ? own.value : fetched.get(id);
      if (v !== undefined) out.push({ key: k.slice() as RawKey, value: v.slice() });
    }
    return out;
  }

  /** Pairs visible to this txn in [start, end): the snapshot at startTs merged with its own writes. */
  async scan(options: TxnScanOptions = {}): Promise<KvPair[]> {
    this.assertActive('scan');
    if (options === null || typeof options !== 'object') throw new TypeError('scan expects an options object');
    if (options.start !== undefined) assertRawKey('scan: start', options.start);
    if (options.end !== undefined) assertRawKey('scan: end', options.end);
    const limit = assertLimit('scan: limit', options.limit);
    assertOptionalBool('scan: reverse', options.reverse);
    assertOptionalBool('scan: keyOnly', options.keyOnly);
    const reverse = options.reverse === true;
    const keyOnly = options.keyOnly === true;
    const inRange = (k: Uint8Array) =>
      (options.start === undefined || options.start.length === 0 || compareBytes(k, options.start) >= 0) &&
      (options.end === undefined || options.end.length === 0 || compareBytes(k, options.end) < 0);
    const dir = reverse ? -1 : 1;
    const own = [...this.writes.values()].filter((w) => inRange(w.key)).sort((a, b) => dir * compareBytes(a.key, b.key));
    // Every own write may shadow one stored pair, so this many more stored pairs always suffice.
    const ask = limit === undefined ? undefined : limit + own.length;
    const stored = await this.client.retry(this.startTs, this.bypass, () =>
      this.client.storage.scan({
        ...(options.start !== undefined ? { start: options.start } : {}),
        ...(options.end !== undefined ? { end: options.end } : {}),
        ...(ask !== undefined ? { limit: ask } : {}),
        ts: this.startTs,
        reverse,
        keyOnly,
        ...(this.bypass.size > 0 ? { bypassLocks: [...this.bypass] } : {}),
      }),
    );
    // When the stored list was cut by the limit, nothing past its last key is known.
    const truncated = ask !== undefined && stored.length >= ask;
    const out: KvPair[] = [];
    const emit = (key: Uint8Array, value: Uint8Array) => out.push({ key: key.slice() as RawKey, value: keyOnly ? new Uint8Array(0) : value.slice() });
    let i = 0;
    let j = 0;
    while (i < stored.length || (j < own.length && !truncated)) {
      const s = stored[i];
      const w = own[j];
      const c = s === undefined ? 1 : w === undefined ? -1 : dir * compareBytes(s.key, w.key);
      if (c < 0) {
        emit(s!.key, s!.value);
        i++;
      } else {
        if (c === 0) i++;
        if (w!.value !== undefined) emit(w!.key, w!.value);
        j++;
      }
      if (limit !== undefined && out.length >= limit) break;
    }
    return out;
  }

  async put(key: Uint8Array, value: Uint8Array): Promise<void> {
    this.assertActive('put');
    assertRawKey('put: key', key);
    assertValue('put: value', value);
    if (this.pessimistic) await this.lockKeys([key], false);
    this.writes.set(keyId(key), { key: key.slice(), value: value.slice() });
  }

  async delete(key: Uint8Array): Promise<void> {
    this.assertActive('delete');
    assertRawKey('delete: key', key);
    if (this.pessimistic) await this.lockKeys([key], false);
    this.writes.set(keyId(key), { key: key.slice(), value: undefined });
  }

  /**
   * Pessimistic only (TiKV's SELECT ... FOR UPDATE): locks `key` and returns its latest
   * committed value (read at the lock's forUpdateTs), or this txn's own write.
   */
  async getForUpdate(key: Uint8Array): Promise<Uint8Array | undefined> {
    this.assertActive('getForUpdate');
    if (!this.pessimistic) throw new KvError('INVALID_ARGUMENT', 'getForUpdate needs a pessimistic transaction', { startTs: this.startTs });
    assertRawKey('getForUpdate: key', key);
    const own = this.writes.get(keyId(key));
    const v = await this.lockKeys([key], true);
    return own !== undefined ? own.value?.slice() : v[0];
  }

  /** Takes pessimistic locks, retrying write conflicts at a newer forUpdateTs (TiKV's pessimistic retry). */
  private async lockKeys(keys: Uint8Array[], returnValues: boolean): Promise<Array<Uint8Array | undefined>> {
    const todo = returnValues ? keys : keys.filter((k) => !this.locked.has(keyId(k)));
    if (todo.length === 0) return [];
    this.primary ??= todo[0]!.slice();
    const primary = this.primary;
    const bo = this.client.newBackoffer();
    for (;;) {
      const forUpdateTs = await this.client.getTs();
      try {
        const r = await this.client.retry(0n, undefined, () =>
          this.client.storage.acquirePessimisticLock({ keys: todo, primary, startTs: this.startTs, forUpdateTs, lockTtl: this.client.lockTtl, returnValues }),
        );
        if (forUpdateTs > this.forUpdateTs) this.forUpdateTs = forUpdateTs;
        if (this.minForUpdateTs === 0n) this.minForUpdateTs = forUpdateTs;
        for (const k of todo) this.locked.set(keyId(k), k.slice());
        this.startHeartbeat(primary);
        return r.values ?? [];
      } catch (e) {
        if (!isKvError(e, 'WRITE_CONFLICT') || e.details['reason'] !== 'PessimisticRetry') throw e;
        await bo.backoff(e);
      }
    }
  }

  /**
   * Commits, resolving to the commit ts (0n for a txn that wrote nothing). Resolves once the
   * primary is committed: the txn is then committed, and secondaries follow in the background
   * (or before resolving with `asyncSecondaries: false`). Rejects with the error that aborted
   * it (WRITE_CONFLICT, ALREADY_EXIST, TXN_LOCK_NOT_FOUND when another client rolled it back),
   * after rolling back whatever it had prewritten.
   */
  async commit(): Promise<bigint> {
    this.assertActive('commit');
    this.stateValue = 'committing';
    try {
      const commitTs = await this.commitInner();
      this.stateValue = 'committed';
      return commitTs;
    } catch (e) {
      this.stateValue = 'rolledBack';
      throw e;
    } finally {
      this.stopHeartbeat();
    }
  }

  /**
   * Heartbeats the primary lock while this txn holds locks (TiKV client's ttlManager): every
   * interval, raises its TTL to the txn's age (by TSO time) plus the client's lock TTL, so
   * readers keep taking it for alive. Stops when the txn ends, or when the lock is gone (the
   * primary was committed, or another client rolled the txn back, which commit then reports).
   */
  private startHeartbeat(primary: Uint8Array): void {
    const interval = this.client.heartbeatIntervalMs;
    if (interval === 0 || this.heartbeat !== undefined) return;
    this.heartbeat = this.client.startHeartbeat(async (signal) => {
      for (;;) {
        await this.client.heartbeatSleep(interval, signal);
        if (signal.aborted) return;
        const now = await this.client.getTs();
        if (signal.aborted) return;
        const age = physicalOf(now) - physicalOf(this.startTs);
        if (age > this.client.maxTxnTtl) return;
        try {
          await this.client.storage.txnHeartBeat({ primaryKey: primary, startTs: this.startTs, adviseLockTtl: (age > 0n ? age : 0n) + this.client.lockTtl });
          this.heartbeatsSent++;
        } catch (e) {
          // A region error or a busy store is tried again at the next beat, which still comes
          // before the TTL runs out. Anything else ends the heartbeat, as in TiKV's client: the
          // lock is gone (TXN_NOT_FOUND: committed, or rolled back by a resolver, which commit
          // then reports), or the store cannot serve it.
          if (!isRetryableRegionError(e)) return;
        }
      }
    });
  }

  private stopHeartbeat(): void {
    this.heartbeat?.abort();
    this.heartbeat = undefined;
  }

  private async commitInner(): Promise<bigint> {
    const storage = this.client.storage;
    const mutations: StorageMutation[] = [...this.writes.values()].map((w) =>
      w.value === undefined ? { op: 'delete', key: w.key } : { op: 'put', key: w.key, value: w.value },
    );
    // Keys locked for update but not written are prewritten as Lock records, as TiKV does.
    for (const [id, k] of this.locked) if (!this.writes.has(id)) mutations.push({ op: 'lock', key: k });
    if (mutations.length === 0) return 0n;
    mutations.sort((a, b) => compareBytes(a.key, b.key));
    const primary = this.primary ?? mutations[0]!.key;
    const keys = mutations.map((m) => m.key);

    let prewritten;
    try {
      prewritten = await this.client.retry(0n, undefined, () =>
        storage.prewrite({
          mutations,
          primary,
          startTs: this.startTs,
          lockTtl: this.client.lockTtl,
          // Lets readers push the commit ts instead of waiting on our locks (TiKV client sets it too).
          minCommitTs: this.startTs + 1n,
          tryOnePc: this.client.onePc,
          ...(this.pessimistic ? { forUpdateTs: this.minForUpdateTs === 0n ? this.startTs : this.minForUpdateTs, isPessimisticLock: mutations.map((m) => this.locked.has(keyId(m.key))) } : {}),
        }),
      );
    } catch (e) {
      await this.rollbackQuietly(keys);
      throw e;
    }
    if (prewritten.onePcCommitTs !== 0n) {
      this.commitPath = '1pc';
      return prewritten.onePcCommitTs;
    }
    // Locks are written: a big txn keeps its primary alive until it is committed (a pessimistic
    // one has done so since its first lock).
    if (!this.pessimistic) {
      let size = 0;
      for (const m of mutations) size += m.key.length + (m.value?.length ?? 0);
      if (size >= this.client.optimisticHeartbeatBytes) this.startHeartbeat(primary);
    }

    let commitTs = await this.client.getTs();
    const bo = this.client.newBackoffer();
    for (;;) {
      try {
        await storage.commit({ keys: [primary], startTs: this.startTs, commitTs });
        break;
      } catch (e) {
        if (isKvError(e, 'INVALID_TXN_TSO')) {
          // A reader pushed our min commit ts past the one we chose: take a newer one.
          commitTs = await this.client.getTs();
          continue;
        }
        if (isRetryableRegionError(e)) {
          await bo.backoff(e);
          continue;
        }
        if (isKvError(e, 'TXN_LOCK_NOT_FOUND')) await this.rollbackQuietly(keys);
        throw e;
      }
    }
    this.commitPath = '2pc';
    const secondaries = keys.filter((k) => compareBytes(k, primary) !== 0);
    if (secondaries.length > 0) {
      // Once the primary is committed the txn is; a secondary left locked is committed by the
      // next reader that meets it, so a failure here is not the caller's.
      const p = this.client.retry(0n, undefined, () => storage.commit({ keys: secondaries, startTs: this.startTs, commitTs }));
      if (this.client.asyncSecondaries) this.client.track(p);
      else await p.catch(() => undefined);
    }
    return commitTs;
  }

  private async rollbackQuietly(keys: Uint8Array[]): Promise<void> {
    try {
      await this.client.retry(0n, undefined, () => this.client.storage.rollback({ keys, startTs: this.startTs }));
    } catch {
      // Locks left behind expire and are rolled back by whoever meets them.
    }
  }

  /** Abandons the txn: buffered writes are dropped and pessimistic locks released. */
  async rollback(): Promise<void> {
    this.assertActive('rollback');
    this.stateValue = 'rolledBack';
    this.stopHeartbeat();
    if (this.locked.size > 0) {
      const keys = [...this.locked.values()];
      await this.client.retry(0n, undefined, () => this.client.storage.pessimisticRollback({ keys, startTs: this.startTs, forUpdateTs: this.forUpdateTs }));
    }
  }
}
