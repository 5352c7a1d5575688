/**
 * Storage (TiKV's `src/storage/mod.rs` with the routing of its client): the store-level
 * transactional API with explicit timestamps (DESIGN.md section 5). Keys here are raw user keys;
 * Storage checks the input, encodes the keys, routes them to regions through placement, and
 * runs one registered command per region through the scheduler (latches) and consensus (region
 * gate, writes). A request whose keys span regions is split per region, each part a separate
 * command as TiKV's client sends one request per region: each part is atomic, the parts are
 * not atomic with each other (Percolator does not need them to be). Region errors
 * (EPOCH_NOT_MATCH, REGION_NOT_FOUND, ...) surface as KvErrors; TxnClient retries them.
 */
import { decodeBytes, encodeBytes, type EncodedKey, type Lock, type RawKey } from '../../codec/index.js';
import type { Consensus } from '../../consensus/consensus.js';
import { compareBytes } from '../../engine/engine.js';
import { InvalidArgumentError, isKvError, KvError } from '../../errors.js';
import type { HotPath } from '../../hotpath/hotpath.js';
import type { Placement } from '../../placement/placement.js';
import type { Region } from '../../placement/region.js';
import type { MutationOp } from '../actions/prewrite.js';
import type { TxnStatus } from '../actions/check-txn-status.js';
import { maxTs, physicalOf } from '../actions/common.js';
import type { AcquirePessimisticLockCommandResult } from '../commands/acquire-pessimistic-lock.js';
import type { RegionRoute, TxnCommandContext } from '../commands/context.js';
import type { GcCommandResult } from '../commands/gc.js';
import { OnePcFence } from '../commands/one-pc-fence.js';
import type { PrewriteCommandResult } from '../commands/prewrite.js';
import { registerTxnCommands, type TxnCommandRegistry } from '../commands/registry.js';
import type { LockEntry, MvccInfo } from '../mvcc/reader.js';
import type { ReadLockOptions } from '../mvcc/lock-check.js';
import type { KvPair } from '../mvcc/scanner.js';
import { Scheduler } from '../scheduler/scheduler.js';
import { DeadlockDetector } from './deadlock.js';
import {
  assertDistinct,
  assertKeys,
  assertLimit,
  assertOptionalBool,
  assertOptionalTs,
  assertRawKey,
  assertRequest,
  assertTs,
  assertValue,
} from './validate.js';

const U64_MAX = 0xffff_ffff_ffff_ffffn;

/** Registry names of the flashback plugin's per-region commands (args: route, encoded startKey/endKey, version, startTs[, commitTs]). */
export const PREPARE_FLASHBACK_COMMAND = 'prepareFlashbackToVersion';
export const FLASHBACK_COMMAND = 'flashbackToVersion';

/** What a flashback command returns for one region; commands may add fields. */
export interface FlashbackStepResult {
  readonly regionId: number;
  /** Modifications written by the data steps (admin commands not counted). */
  readonly modifies: number;
}

export interface StorageOptions {
  readonly consensus: Consensus;
  /** TSO (1PC commit ts), region directory (routing), GC safe point and pause. */
  readonly placement: Placement;
  /** Commands by name; the built-in ones are registered into a new registry by default. */
  readonly registry?: TxnCommandRegistry;
  /** Scheduler limit before SERVER_BUSY. */
  readonly maxPending?: number;
  /** Sync every consensus write (durable before the call resolves). Default: the engine's default. */
  readonly sync?: boolean;
  /** Runs the MVCC scan's batch step (the HOTPATH provider, WASM or TS). Default: the TS reference. */
  readonly hotPath?: HotPath;
}

export interface StorageMutation {
  readonly op: MutationOp;
  readonly key: Uint8Array;
  /** Required for put and insert. */
  readonly value?: Uint8Array;
}

export interface PrewriteRequest {
  readonly mutations: readonly StorageMutation[];
  readonly primary: Uint8Array;
  readonly startTs: bigint;
  /** Milliseconds of physical time. */
  readonly lockTtl: bigint;
  /** Non-zero for a pessimistic txn. */
  readonly forUpdateTs?: bigint;
  /** One flag for all mutations, or one per mutation. */
  readonly isPessimisticLock?: boolean | readonly boolean[];
  /** Commit in one phase if all keys lie in one region; otherwise locks are written as usual. */
  readonly tryOnePc?: boolean;
  readonly minCommitTs?: bigint;
}

export interface PrewriteResponse {
  readonly minCommitTs: bigint;
  /**
   * The commit ts when 1PC committed the txn, or when a retried prewrite found every key already
   * committed by this txn; 0n when locks were written and commit must follow.
   */
  readonly onePcCommitTs: bigint;
}

export interface ScanRequest {
  readonly start?: Uint8Array;
  readonly end?: Uint8Array;
  readonly limit?: number;
  readonly ts: bigint;
  readonly reverse?: boolean;
  readonly keyOnly?: boolean;
  readonly bypassLocks?: readonly bigint[];
}

export interface LockInfo {
  readonly key: RawKey;
  readonly lock: Lock;
  /** True when `lock` is one sub-lock of a SharedLocks record on `key` (one entry per sub-lock). */
  readonly shared?: boolean;
}

export interface GcResponse {
  /** The safe point GC ran at: the request's, capped by placement's. */
  readonly safePoint: bigint;
  /** GC is paused in placement (e.g. by a flashback); nothing was collected. */
  readonly paused: boolean;
  readonly keys: number;
  readonly deletedVersions: number;
}

interface Group {
  readonly route: RegionRoute;
  readonly indexes: number[];
}

function routeOf(r: Region): RegionRoute {
  return { regionId: r.id, epoch: r.epoch };
}

/** Settles every part, then throws the first failure (in region order) or returns all results. */
const MUTATION_OPS: ReadonlySet<string> = new Set(['put', 'delete', 'lock', 'insert', 'checkNotExists']);

async function allParts<T>(parts: Promise<T>[]): Promise<T[]> {
  if (parts.length === 1) return [await parts[0]!];
  const settled = await Promise.allSettled(parts);
  const out: T[] = [];
  for (const s of settled) {
    if (s.status === 'rejected') throw s.reason;
    out.push(s.value);
  }
  return out;
}

function rawBound(encoded: Uint8Array): Uint8Array | undefined {
  return encoded.length === 0 ? undefined : decodeBytes(encoded).raw;
}

export class Storage {
  readonly consensus: Consensus;
  readonly placement: Placement;
  readonly registry: TxnCommandRegistry;
  readonly scheduler: Scheduler<TxnCommandContext>;
  readonly fence = new OnePcFence();
  readonly hotPath: HotPath | undefined;
  /** Who waits for whom in pessimistic lock waits: DEADLOCK instead of a wait that closes a cycle. */
  readonly deadlocks = new DeadlockDetector();

  constructor(options: StorageOptions) {
    if (options === null || typeof options !== 'object' || options.consensus === undefined || options.placement === undefined) {
      throw new TypeError('Storage needs { consensus, placement }');
    }
    this.consensus = options.consensus;
    this.placement = options.placement;
    this.registry = options.registry ?? registerTxnCommands();
    this.hotPath = options.hotPath;
    const sync = options.sync;
    this.scheduler = new Scheduler<TxnCommandContext>({
      ...(options.maxPending !== undefined ? { maxPending: options.maxPending } : {}),
      context: (run) => ({ cid: run.cid, consensus: this.consensus, tso: this.placement, fence: this.fence, ...(sync !== undefined ? { sync } : {}) }),
    });
  }

  /** Runs a registered command (built-in or added by a plugin) through the scheduler. */
  async run<R>(name: string, args: unknown): Promise<R> {
    return this.scheduler.run(this.registry.create<R>(name, args));
  }

  // ---- routing

  private route(encoded: EncodedKey): RegionRoute {
    return routeOf(this.placement.regionForKey(encoded));
  }

  private group(encoded: readonly EncodedKey[]): Group[] {
    const byId = new Map<number, Group>();
    encoded.forEach((k, i) => {
      const r = this.placement.regionForKey(k);
      let g = byId.get(r.id);
      if (g === undefined) byId.set(r.id, (g = { route: routeOf(r), indexes: [] }));
      g.indexes.push(i);
    });
    return [...byId.values()];
  }

  /** Regions overlapping raw [start, end), each with the raw part of the range it holds. */
  private rangeParts(start: Uint8Array | undefined, end: Uint8Array | undefined): Array<{ route: RegionRoute; start?: Uint8Array; end?: Uint8Array; encStart?: EncodedKey; encEnd?: EncodedKey }> {
    const s = start !== undefined && start.length > 0 ? start : undefined;
    const e = end !== undefined && end.length > 0 ? end : undefined;
    const encS = s === undefined ? new Uint8Array(0) : encodeBytes(s);
    const encE = e === undefined ? new Uint8Array(0) : encodeBytes(e);
    return this.placement.regionsInRange(encS, encE).map((r) => {
      const rs = rawBound(r.startKey);
      const re = rawBound(r.endKey);
      const ps = s === undefined ? rs : rs === undefined || compareBytes(s, rs) >= 0 ? s : rs;
      const pe = e === undefined ? re : re === undefined || compareBytes(e, re) <= 0 ? e : re;
      return {
        route: routeOf(r),
        ...(ps !== undefined ? { start: ps, encStart: encodeBytes(ps) } : {}),
        ...(pe !== undefined ? { end: pe, encEnd: encodeBytes(pe) } : {}),
      };
    });
  }

  // ---- reads

  /**
   * GC_TOO_EARLY for a read below placement's GC safe point: versions it needs may be gone. Reads
   * check before and again after reading: the safe point only moves forward and GC never runs
   * above it, so a read that passes both saw every version it needed.
   */
  private assertNotGcd(method: string, ts: bigint): void {
    const safePoint = this.placement.gcSafePoint();
    if (ts < safePoint) throw new KvError('GC_TOO_EARLY', `${method}: ts ${ts} is below the GC safe point ${safePoint}`, { ts, safePoint });
  }

  async get(key: Uint8Array, ts: bigint, options?: ReadLockOptions): Promise<Uint8Array | undefined> {
    assertRawKey('get: key', key);
    assertTs('get: ts', ts);
    this.assertNotGcd('get', ts);
    const enc = encodeBytes(key);
    const v = await this.run<Uint8Array | undefined>('get', { route: this.route(enc), key: enc, ts, ...(options !== undefined ? { options } : {}) });
    this.assertNotGcd('get', ts);
    return v;
  }

  /** The pairs of `keys` that have a value at `ts`, in request order. */
  async batchGet(keys: readonly Uint8Array[], ts: bigint, options?: ReadLockOptions): Promise<KvPair[]> {
    assertKeys('batchGet: keys', keys);
    assertTs('batchGet: ts', ts);
    this.assertNotGcd('batchGet', ts);
    const enc = keys.map((k) => encodeBytes(k));
    const values: Array<Uint8Array | undefined> = new Array(keys.length);
    await allParts(
      this.group(enc).map(async (g) => {
        const got = await this.run<Array<Uint8Array | undefined>>('batchGet', {
          route: g.route,
          keys: g.indexes.map((i) => enc[i]!),
          ts,
          ...(options !== undefined ? { options } : {}),
        });
        g.indexes.forEach((i, j) => (values[i] = got[j]));
      }),
    );
    const out: KvPair[] = [];
    keys.forEach((k, i) => {
      const v = values[i];
      if (v !== undefined) out.push({ key: k.slice() as RawKey, value: v });
    });
    this.assertNotGcd('batchGet', ts);
    return out;
  }

  /** Pairs visible at `ts` in raw [start, end), across regions in key order (or reverse). */
  async scan(req: ScanRequest): Promise<KvPair[]> {
    assertRequest('scan', req);
    assertTs('scan: ts', req.ts);
    if (req.start !== undefined) assertRawKey('scan: start', req.start);
    if (req.end !== undefined) assertRawKey('scan: end', req.end);
    const limit = assertLimit('scan: limit', req.limit) ?? Number.POSITIVE_INFINITY;
    assertOptionalBool('scan: reverse', req.reverse);
    assertOptionalBool('scan: keyOnly', req.keyOnly);
    this.assertNotGcd('scan', req.ts);
    if (limit === 0) return [];
    if (req.start !== undefined && req.end !== undefined && req.start.length > 0 && req.end.length > 0 && compareBytes(req.start, req.end) >= 0) return [];
    const parts = this.rangeParts(req.start, req.end);
    if (req.reverse === true) parts.reverse();
    const out: KvPair[] = [];
    for (const p of parts) {
      const remaining = limit - out.length;
      const got = await this.run<KvPair[]>('scan', {
        route: p.route,
        ...(this.hotPath !== undefined ? { hotPath: this.hotPath } : {}),
        scan: {
          ts: req.ts,
          ...(p.start !== undefined ? { start: p.start } : {}),
          ...(p.end !== undefined ? { end: p.end } : {}),
          ...(remaining !== Number.POSITIVE_INFINITY ? { limit: remaining } : {}),
          reverse: req.reverse === true,
          keyOnly: req.keyOnly === true,
          ...(req.bypassLocks !== undefined ? { bypassLocks: req.bypassLocks } : {}),
        },
      });
      for (const kv of got) out.push(kv);
      if (out.length >= limit) break;
    }
    this.assertNotGcd('scan', req.ts);
    return out;
  }

  async mvccByKey(key: Uint8Array): Promise<MvccInfo> {
    assertRawKey('mvccByKey: key', key);
    const enc = encodeBytes(key);
    return this.run('mvccByKey', { route: this.route(enc), key: enc });
  }

  /** Locks with startTs <= maxTs in raw [start, end), in key order, at most `limit` (0/absent: all). */
  async scanLock(req: { maxTs: bigint; start?: Uint8Array; end?: Uint8Array; limit?: number }): Promise<LockInfo[]> {
    assertRequest('scanLock', req);
    assertTs('scanLock: maxTs', req.maxTs);
    if (req.start !== undefined) assertRawKey('scanLock: start', req.start);
    if (req.end !== undefined) assertRawKey('scanLock: end', req.end);
    const limit = assertLimit('scanLock: limit', req.limit) ?? 0;
    if (req.start !== undefined && req.end !== undefined && req.start.length > 0 && req.end.length > 0 && compareBytes(req.start, req.end) >= 0) return [];
    const out: LockInfo[] = [];
    for (const p of this.rangeParts(req.start, req.end)) {
      const remaining = limit === 0 ? 0 : limit - out.length;
      const got = await this.run<{ locks: LockEntry[] }>('scanLock', {
        route: p.route,
        maxTs: req.maxTs,
        ...(p.encStart !== undefined ? { start: p.encStart } : {}),
        ...(p.encEnd !== undefined ? { end: p.encEnd } : {}),
        limit: remaining,
      });
      for (const l of got.locks) out.push(l.shared === true ? { key: decodeBytes(l.key).raw, lock: l.lock, shared: true } : { key: decodeBytes(l.key).raw, lock: l.lock });
      if (limit > 0 && out.length >= limit) break;
    }
    return out;
  }

  // ---- Percolator writes

  async prewrite(req: PrewriteRequest): Promise<PrewriteResponse> {
    assertRequest('prewrite', req);
    if (!Array.isArray(req.mutations)) throw new TypeError('prewrite: mutations must be an array');
    assertRawKey('prewrite: primary', req.primary);
    assertTs('prewrite: startTs', req.startTs);
    assertTs('prewrite: lockTtl', req.lockTtl);
    assertOptionalTs('prewrite: forUpdateTs', req.forUpdateTs);
    assertOptionalTs('prewrite: minCommitTs', req.minCommitTs);
    assertOptionalBool('prewrite: tryOnePc', req.tryOnePc);
    const n = req.mutations.length;
    const pess = req.isPessimisticLock;
    if (Array.isArray(pess)) {
      if (pess.length !== n) throw new TypeError('prewrite: isPessimisticLock needs one flag per mutation');
      pess.forEach((f, i) => assertOptionalBool(`prewrite: isPessimisticLock[${i}]`, f));
    } else assertOptionalBool('prewrite: isPessimisticLock', pess);
    req.mutations.forEach((m, i) => {
      if (m === null || typeof m !== 'object') throw new TypeError(`prewrite: mutations[${i}] must be an object`);
      if (!MUTATION_OPS.has(m.op)) throw new TypeError(`prewrite: mutations[${i}].op ${JSON.stringify(m.op)} is unknown`);
      assertRawKey(`prewrite: mutations[${i}].key`, m.key);
      if (m.op === 'put' || m.op === 'insert') assertValue(`prewrite: mutations[${i}].value`, m.value);
    });
    if (req.mutations.length > 1) assertDistinct('prewrite: mutations', req.mutations.map((m) => m.key));
    const forUpdateTs = req.forUpdateTs ?? 0n;
    if (forUpdateTs === 0n && (pess === true || (Array.isArray(pess) && pess.includes(true)))) {
      throw new InvalidArgumentError('prewrite: isPessimisticLock needs a pessimistic txn (forUpdateTs > 0)', { startTs: req.startTs });
    }
    if (n === 0) return { minCommitTs: 0n, onePcCommitTs: 0n };

    const enc = req.mutations.map((m) => encodeBytes(m.key));
    const groups = this.group(enc);
    // 1PC only when one region holds every key, as TiKV's client decides; otherwise 2PC locks.
    const onePc = req.tryOnePc === true && groups.length === 1;
    const results = await allParts(
      groups.map((g) =>
        this.run<PrewriteCommandResult>('prewrite', {
          route: g.route,
          mutations: g.indexes.map((i) => {
            const m = req.mutations[i]!;
            return m.value !== undefined && (m.op === 'put' || m.op === 'insert') ? { op: m.op, key: enc[i]!, value: m.value } : { op: m.op, key: enc[i]! };
          }),
          isPessimisticLock: g.indexes.map((i) => (Array.isArray(pess) ? pess[i] === true : pess === true)),
          primary: req.primary,
          startTs: req.startTs,
          lockTtl: req.lockTtl,
          forUpdateTs,
          tryOnePc: onePc,
          txnSize: BigInt(n),
          ...(req.minCommitTs !== undefined ? { minCommitTs: req.minCommitTs } : {}),
        }),
      ),
    );
    let minCommitTs = 0n;
    for (const r of results) minCommitTs = maxTs(minCommitTs, r.minCommitTs);
    // A retried prewrite that found the txn committed in every region (its first attempt was a 1PC
    // that committed, perhaps before a split) reports that commit: the txn is done.
    const committed = results[0]!.committedTs ?? 0n;
    if (committed !== 0n && results.every((r) => r.committedTs === committed)) return { minCommitTs, onePcCommitTs: committed };
    return { minCommitTs, onePcCommitTs: onePc ? results[0]!.onePcCommitTs : 0n };
  }

  async commit(req: { keys: readonly Uint8Array[]; startTs: bigint; commitTs: bigint }): Promise<void> {
    assertRequest('commit', req);
    assertKeys('commit: keys', req.keys);
    assertTs('commit: startTs', req.startTs);
    assertTs('commit: commitTs', req.commitTs);
    this.deadlocks.clear(req.startTs);
    await this.perRegion('commit', req.keys, (keys) => ({ keys, startTs: req.startTs, commitTs: req.commitTs }));
  }

  async rollback(req: { keys: readonly Uint8Array[]; startTs: bigint }): Promise<void> {
    assertRequest('rollback', req);
    assertKeys('rollback: keys', req.keys);
    assertTs('rollback: startTs', req.startTs);
    this.deadlocks.clear(req.startTs);
    await this.perRegion('rollback', req.keys, (keys) => ({ keys, startTs: req.startTs }));
  }

  async cleanup(req: { key: Uint8Array; startTs: bigint; currentTs: bigint }): Promise<void> {
    assertRequest('cleanup', req);
    assertRawKey('cleanup: key', req.key);
    assertTs('cleanup: startTs', req.startTs);
    assertTs('cleanup: currentTs', req.currentTs);
    const enc = encodeBytes(req.key);
    await this.run('cleanup', { route: this.route(enc), key: enc, startTs: req.startTs, currentTs: req.currentTs });
  }

  async checkTxnStatus(req: {
    primaryKey: Uint8Array;
    lockTs: bigint;
    callerStartTs: bigint;
    currentTs: bigint;
    rollbackIfNotExist?: boolean;
    resolvingPessimisticLock?: boolean;
  }): Promise<TxnStatus> {
    assertRequest('checkTxnStatus', req);
    assertRawKey('checkTxnStatus: primaryKey', req.primaryKey);
    assertTs('checkTxnStatus: lockTs', req.lockTs);
    assertTs('checkTxnStatus: callerStartTs', req.callerStartTs);
    assertTs('checkTxnStatus: currentTs', req.currentTs);
    assertOptionalBool('checkTxnStatus: rollbackIfNotExist', req.rollbackIfNotExist);
    assertOptionalBool('checkTxnStatus: resolvingPessimisticLock', req.resolvingPessimisticLock);
    const enc = encodeBytes(req.primaryKey);
    return this.run('checkTxnStatus', {
      route: this.route(enc),
      primaryKey: enc,
      lockTs: req.lockTs,
      callerStartTs: req.callerStartTs,
      currentTs: req.currentTs,
      rollbackIfNotExist: req.rollbackIfNotExist === true,
      resolvingPessimisticLock: req.resolvingPessimisticLock === true,
    });
  }

  /**
   * Commits (commitTs > 0n) or rolls back (0n) txn `startTs` on `keys`, or on every lock it holds
   * anywhere when `keys` is absent (found with a scan of the lock CF first). Resolves the number
   * of keys it was asked to resolve.
   */
  async resolveLock(req: { startTs: bigint; commitTs: bigint; keys?: readonly Uint8Array[] }): Promise<number> {
    assertRequest('resolveLock', req);
    assertTs('resolveLock: startTs', req.startTs);
    assertTs('resolveLock: commitTs', req.commitTs);
    if (req.commitTs !== 0n && req.commitTs <= req.startTs) {
      throw new InvalidArgumentError(`resolveLock: commitTs ${req.commitTs} must be 0n (roll back) or after startTs ${req.startTs}`, { startTs: req.startTs, commitTs: req.commitTs });
    }
    let keys: readonly Uint8Array[];
    if (req.keys !== undefined) {
      assertKeys('resolveLock: keys', req.keys);
      keys = req.keys;
    } else {
      keys = (await this.scanLock({ maxTs: req.startTs })).filter((l) => l.lock.startTs === req.startTs).map((l) => l.key);
    }
    if (keys.length === 0) return 0;
    await this.perRegion('resolveLock', keys, (ks) => ({ keys: ks, startTs: req.startTs, commitTs: req.commitTs }));
    return keys.length;
  }

  async acquirePessimisticLock(req: {
    keys: readonly Uint8Array[];
    primary: Uint8Array;
    startTs: bigint;
    forUpdateTs: bigint;
    lockTtl: bigint;
    returnValues?: boolean;
    minCommitTs?: bigint;
  }): Promise<{ values?: Array<Uint8Array | undefined> }> {
    assertRequest('acquirePessimisticLock', req);
    assertKeys('acquirePessimisticLock: keys', req.keys);
    assertDistinct('acquirePessimisticLock: keys', req.keys);
    assertRawKey('acquirePessimisticLock: primary', req.primary);
    assertTs('acquirePessimisticLock: startTs', req.startTs);
    assertTs('acquirePessimisticLock: forUpdateTs', req.forUpdateTs);
    assertTs('acquirePessimisticLock: lockTtl', req.lockTtl);
    assertOptionalBool('acquirePessimisticLock: returnValues', req.returnValues);
    assertOptionalTs('acquirePessimisticLock: minCommitTs', req.minCommitTs);
    if (req.forUpdateTs < req.startTs) {
      throw new InvalidArgumentError(`acquirePessimisticLock: forUpdateTs ${req.forUpdateTs} is below startTs ${req.startTs}`, { startTs: req.startTs });
    }
    const values: Array<Uint8Array | undefined> = new Array(req.keys.length);
    const enc = req.keys.map((k) => encodeBytes(k));
    try {
      await this.acquireParts(req, enc, values);
    } catch (e) {
      if (isKvError(e, 'KEY_IS_LOCKED')) {
        const holder = (e.details['lock'] as Lock).startTs;
        const cycle = holder === req.startTs ? undefined : this.deadlocks.detect(req.startTs, holder, physicalOf(await this.placement.getTs()));
        if (cycle !== undefined) {
          throw new KvError('DEADLOCK', `txn ${req.startTs} would wait for txn ${holder}, which waits for it (cycle ${cycle.join(' -> ')})`, {
            ...e.details,
            startTs: req.startTs,
            cycle,
          });
        }
      }
      throw e;
    }
    this.deadlocks.clear(req.startTs);
    return req.returnValues === true ? { values } : {};
  }

  private async acquireParts(
    req: { primary: Uint8Array; startTs: bigint; forUpdateTs: bigint; lockTtl: bigint; returnValues?: boolean; minCommitTs?: bigint },
    enc: EncodedKey[],
    values: Array<Uint8Array | undefined>,
  ): Promise<void> {
    await allParts(
      this.group(enc).map(async (g) => {
        const r = await this.run<AcquirePessimisticLockCommandResult>('acquirePessimisticLock', {
          route: g.route,
          keys: g.indexes.map((i) => enc[i]!),
          primary: req.primary,
          startTs: req.startTs,
          forUpdateTs: req.forUpdateTs,
          lockTtl: req.lockTtl,
          returnValues: req.returnValues === true,
          ...(req.minCommitTs !== undefined ? { minCommitTs: req.minCommitTs } : {}),
        });
        if (r.values !== undefined) g.indexes.forEach((i, j) => (values[i] = r.values![j]));
      }),
    );
  }

  async pessimisticRollback(req: { keys: readonly Uint8Array[]; startTs: bigint; forUpdateTs: bigint }): Promise<void> {
    assertRequest('pessimisticRollback', req);
    assertKeys('pessimisticRollback: keys', req.keys);
    assertTs('pessimisticRollback: startTs', req.startTs);
    assertTs('pessimisticRollback: forUpdateTs', req.forUpdateTs);
    this.deadlocks.clear(req.startTs);
    await this.perRegion('pessimisticRollback', req.keys, (keys) => ({ keys, startTs: req.startTs, forUpdateTs: req.forUpdateTs }));
  }

  async txnHeartBeat(req: { primaryKey: Uint8Array; startTs: bigint; adviseLockTtl: bigint }): Promise<TxnStatus> {
    assertRequest('txnHeartBeat', req);
    assertRawKey('txnHeartBeat: primaryKey', req.primaryKey);
    assertTs('txnHeartBeat: startTs', req.startTs);
    assertTs('txnHeartBeat: adviseLockTtl', req.adviseLockTtl);
    const enc = encodeBytes(req.primaryKey);
    return this.run('txnHeartBeat', { route: this.route(enc), primaryKey: enc, startTs: req.startTs, adviseLockTtl: req.adviseLockTtl });
  }

  /**
   * Drops versions no read at or above the safe point needs, in every region. The safe point
   * used is capped by placement's (GC never runs above it), and nothing runs while placement
   * has GC paused (a flashback in progress needs the old versions).
   */
  async gc(req: { safePoint: bigint }): Promise<GcResponse> {
    assertRequest('gc', req);
    assertTs('gc: safePoint', req.safePoint);
    const cap = this.placement.gcSafePoint();
    const safePoint = req.safePoint < cap ? req.safePoint : cap;
    if (this.placement.isGcPaused()) return { safePoint, paused: true, keys: 0, deletedVersions: 0 };
    if (safePoint === 0n) return { safePoint, paused: false, keys: 0, deletedVersions: 0 };
    let keys = 0;
    let deletedVersions = 0;
    for (const p of this.rangeParts(undefined, undefined)) {
      const r = await this.run<GcCommandResult>('gc', {
        route: p.route,
        safePoint,
        ...(p.encStart !== undefined ? { start: p.encStart } : {}),
        ...(p.encEnd !== undefined ? { end: p.encEnd } : {}),
      });
      keys += r.keys;
      deletedVersions += r.deletedVersions;
    }
    return { safePoint, paused: false, keys, deletedVersions };
  }

  // ---- flashback (the commands come from the flashback plugin: FLASHBACK.md section a)

  /**
   * Phase 1 of a flashback of raw [startKey, endKey) (empty endKey: unbounded) to `version`, one
   * command per region in key order as TiDB sends one request per region: the region enters
   * flashback state, every lock in range is rolled back and the first key that needs flashback
   * is locked at `startTs`. PLUGIN_MISSING without the flashback plugin.
   */
  async prepareFlashbackToVersion(req: {
    startKey?: Uint8Array;
    endKey?: Uint8Array;
    version: bigint;
    startTs: bigint;
    /** 'rollback' (default, TiKV's) or 'resolve' (commit locks whose primary committed). */
    lockPolicy?: 'rollback' | 'resolve';
  }): Promise<FlashbackStepResult[]> {
    assertRequest('prepareFlashbackToVersion', req);
    assertTs('prepareFlashbackToVersion: version', req.version);
    assertTs('prepareFlashbackToVersion: startTs', req.startTs);
    return this.flashbackPerRegion(PREPARE_FLASHBACK_COMMAND, req, {
      version: req.version,
      startTs: req.startTs,
      ...(req.lockPolicy !== undefined ? { lockPolicy: req.lockPolicy } : {}),
    });
  }

  /**
   * Phase 2: every changed key is rewritten to its value as of `version` at startTs/commitTs,
   * the locked key is committed last, and the region leaves flashback state. INVALID_TXN_TSO if
   * commitTs <= startTs; FLASHBACK_NOT_PREPARED if a region was not prepared with this startTs.
   */
  async flashbackToVersion(req: { startKey?: Uint8Array; endKey?: Uint8Array; version: bigint; startTs: bigint; commitTs: bigint }): Promise<FlashbackStepResult[]> {
    assertRequest('flashbackToVersion', req);
    assertTs('flashbackToVersion: version', req.version);
    assertTs('flashbackToVersion: startTs', req.startTs);
    assertTs('flashbackToVersion: commitTs', req.commitTs);
    return this.flashbackPerRegion(FLASHBACK_COMMAND, req, { version: req.version, startTs: req.startTs, commitTs: req.commitTs });
  }

  private async flashbackPerRegion(name: string, req: { startKey?: Uint8Array; endKey?: Uint8Array }, args: Record<string, unknown>): Promise<FlashbackStepResult[]> {
    if (!this.registry.has(name)) {
      throw new KvError('PLUGIN_MISSING', `${name} needs the flashback plugin (@flashkv/flashback, flashback()); add it to Kernel.start({ plugins })`, {
        command: name,
        plugin: '@flashkv/flashback',
      });
    }
    if (req.startKey !== undefined && req.startKey.length > 0) assertRawKey(`${name}: startKey`, req.startKey);
    if (req.endKey !== undefined && req.endKey.length > 0) assertRawKey(`${name}: endKey`, req.endKey);
    if (req.startKey !== undefined && req.endKey !== undefined && req.startKey.length > 0 && req.endKey.length > 0 && compareBytes(req.startKey, req.endKey) >= 0) {
      throw new InvalidArgumentError(`${name}: startKey must be before endKey`, {});
    }
    const out: FlashbackStepResult[] = [];
    for (const p of this.rangeParts(req.startKey, req.endKey)) {
      out.push(
        await this.run<FlashbackStepResult>(name, {
          route: p.route,
          ...(p.encStart !== undefined ? { startKey: p.encStart } : {}),
          ...(p.encEnd !== undefined ? { endKey: p.encEnd } : {}),
          ...args,
        }),
      );
    }
    return out;
  }

  private async perRegion(name: string, keys: readonly Uint8Array[], args: (encoded: EncodedKey[]) => Record<string, unknown>): Promise<void> {
    if (keys.length === 0) return;
    const enc = keys.map((k) => encodeBytes(k));
    await allParts(this.group(enc).map((g) => this.run(name, { route: g.route, ...args(g.indexes.map((i) => enc[i]!)) })));
  }
}

export { U64_MAX as TS_MAX };
