/**
 * `must*` helpers for flashback scenarios (after TiKV's `flashback_to_version` tests): a store of
 * LocalPlacement + LocalConsensus + Storage with the flashback commands registered, explicit
 * timestamps everywhere, keys and values as latin1 strings. Each helper returns a value or throws
 * with context.
 */
import {
  codec,
  EventCatalogue,
  isKvError,
  KvError,
  LocalConsensus,
  LocalPlacement,
  ManualClock,
  Storage,
  MvccReader,
  type AppliedEvent,
  type LockEntry,
  type MvccInfo,
  type Consensus,
  type FlashbackStepResult,
  type HotPath,
  type KvErrorCode,
  type StorageEngine,
} from '@flashkv/core';
import { bytes, latin1, ReferenceEngine } from '@flashkv/core/testing';
import { MemoryEngine } from '@flashkv/engine-memory';
import { registerFlashbackCommands, type FlashbackResult, type PrepareFlashbackResult } from '@flashkv/flashback';

export type Ts = number | bigint;
const ts = (t: Ts) => BigInt(t);
export const T0 = 1_700_000_000_000;

export interface Env {
  readonly engine: StorageEngine;
  readonly clock: ManualClock;
  readonly events: EventCatalogue;
  readonly placement: LocalPlacement;
  readonly consensus: Consensus;
  readonly storage: Storage;
  readonly applied: AppliedEvent[];
}

export interface SetupOptions {
  readonly engine?: 'reference' | 'memory';
  /** Wraps the consensus (fault injection). */
  readonly wrap?: (c: Consensus) => Consensus;
  /** Runs FlashbackWrite batches on this hot path (default: the plugin's own TS step). */
  readonly hotPath?: HotPath;
}

export async function setup(o: SetupOptions = {}): Promise<Env> {
  const engine = o.engine === 'memory' ? new MemoryEngine() : new ReferenceEngine();
  const clock = new ManualClock(T0);
  const events = new EventCatalogue();
  const placement = await LocalPlacement.open({ engine, clock, events });
  const local = new LocalConsensus({ engine, placement, events });
  const consensus = o.wrap ? o.wrap(local) : local;
  const storage = new Storage({ consensus, placement });
  registerFlashbackCommands(storage, o.hotPath);
  const applied: AppliedEvent[] = [];
  events.applied$.subscribe((e) => applied.push(e));
  return { engine, clock, events, placement, consensus, storage, applied };
}

export const enc = (s: string) => codec.encodeBytes(bytes(s));
export const str = (v: Uint8Array | undefined) => (v === undefined ? undefined : latin1(v));
const val = (v: string | Uint8Array) => (typeof v === 'string' ? bytes(v) : v);

export async function mustPrewritePut(env: Env, key: string, value: string | Uint8Array, primary: string, startTs: Ts): Promise<void> {
  await env.storage.prewrite({ mutations: [{ op: 'put', key: bytes(key), value: val(value) }], primary: bytes(primary), startTs: ts(startTs), lockTtl: 3000n });
}
export async function mustPrewriteDelete(env: Env, key: string, primary: string, startTs: Ts): Promise<void> {
  await env.storage.prewrite({ mutations: [{ op: 'delete', key: bytes(key) }], primary: bytes(primary), startTs: ts(startTs), lockTtl: 3000n });
}
export async function mustPrewriteLock(env: Env, key: string, primary: string, startTs: Ts): Promise<void> {
  await env.storage.prewrite({ mutations: [{ op: 'lock', key: bytes(key) }], primary: bytes(primary), startTs: ts(startTs), lockTtl: 3000n });
}
export async function mustCommit(env: Env, key: string, startTs: Ts, commitTs: Ts): Promise<void> {
  await env.storage.commit({ keys: [bytes(key)], startTs: ts(startTs), commitTs: ts(commitTs) });
}
export async function mustRollback(env: Env, key: string, startTs: Ts): Promise<void> {
  await env.storage.rollback({ keys: [bytes(key)], startTs: ts(startTs) });
}
/** Put `key` = value in its own txn at (startTs, commitTs), primary itself. */
export async function mustPut(env: Env, key: string, value: string | Uint8Array, startTs: Ts, commitTs: Ts): Promise<void> {
  await mustPrewritePut(env, key, value, key, startTs);
  await mustCommit(env, key, startTs, commitTs);
}
export async function mustDelete(env: Env, key: string, startTs: Ts, commitTs: Ts): Promise<void> {
  await mustPrewriteDelete(env, key, key, startTs);
  await mustCommit(env, key, startTs, commitTs);
}
export async function mustAcquirePessimisticLock(env: Env, key: string, primary: string, startTs: Ts, forUpdateTs: Ts): Promise<void> {
  await env.storage.acquirePessimisticLock({ keys: [bytes(key)], primary: bytes(primary), startTs: ts(startTs), forUpdateTs: ts(forUpdateTs), lockTtl: 3000n });
}

export async function mustGet(env: Env, key: string, at: Ts, expected: string): Promise<void> {
  const got = str(await env.storage.get(bytes(key), ts(at)));
  if (got !== expected) throw new Error(`get ${key}@${at}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(got)}`);
}
export async function mustGetNone(env: Env, key: string, at: Ts): Promise<void> {
  const got = str(await env.storage.get(bytes(key), ts(at)));
  if (got !== undefined) throw new Error(`get ${key}@${at}: expected none, got ${JSON.stringify(got)}`);
}
/**
 * Everything stored for `key`, read from the engine directly: inspection must not be refused by
 * the region gate while a region is in flashback.
 */
export function mvcc(env: Env, key: string): MvccInfo {
  const snap = env.engine.snapshot();
  try {
    return new MvccReader(snap).mvccByKey(enc(key));
  } finally {
    snap.release();
  }
}
/** Every lock in the store, read from the engine directly. */
export function allLocks(env: Env): LockEntry[] {
  const snap = env.engine.snapshot();
  try {
    return new MvccReader(snap).scanLocks().locks;
  } finally {
    snap.release();
  }
}
export async function mustLocked(env: Env, key: string, startTs: Ts): Promise<codec.Lock> {
  const lock = mvcc(env, key).lock;
  if (lock === undefined || lock.startTs !== ts(startTs)) throw new Error(`${key}: expected a lock at ${startTs}, found ${lock === undefined ? 'none' : lock.startTs}`);
  return lock;
}
export async function mustUnlocked(env: Env, key: string): Promise<void> {
  const lock = mvcc(env, key).lock;
  if (lock !== undefined) throw new Error(`${key}: expected no lock, found one at ${lock.startTs}`);
}
/** Every write record of `key`, newest first, as "type@commitTs/startTs". */
export async function mustWrites(env: Env, key: string): Promise<string[]> {
  return mvcc(env, key).writes.map((w) => `${w.write.writeType}@${w.commitTs}/${w.write.startTs}`);
}

export interface RangeOpts {
  readonly start?: string;
  readonly end?: string;
}
function range(r: RangeOpts): { startKey?: Uint8Array; endKey?: Uint8Array } {
  return { ...(r.start !== undefined ? { startKey: bytes(r.start) } : {}), ...(r.end !== undefined ? { endKey: bytes(r.end) } : {}) };
}
const sumModifies = (rs: FlashbackStepResult[]) => rs.reduce((n, r) => n + r.modifies, 0);

/** Prepare over the range; returns the modifications its data steps wrote. */
export async function mustPrepareFlashback(env: Env, version: Ts, startTs: Ts, r: RangeOpts = {}): Promise<number> {
  const rs = await env.storage.prepareFlashbackToVersion({ ...range(r), version: ts(version), startTs: ts(startTs) });
  return sumModifies(rs);
}
export async function mustPrepareFlashbackResults(env: Env, version: Ts, startTs: Ts, r: RangeOpts = {}): Promise<PrepareFlashbackResult[]> {
  return (await env.storage.prepareFlashbackToVersion({ ...range(r), version: ts(version), startTs: ts(startTs) })) as unknown as PrepareFlashbackResult[];
}
/** Finish over the range; returns the modifications its data steps wrote. */
export async function mustFinishFlashback(env: Env, version: Ts, startTs: Ts, commitTs: Ts, r: RangeOpts = {}): Promise<number> {
  const rs = await env.storage.flashbackToVersion({ ...range(r), version: ts(version), startTs: ts(startTs), commitTs: ts(commitTs) });
  return sumModifies(rs);
}
export async function mustFinishFlashbackResults(env: Env, version: Ts, startTs: Ts, commitTs: Ts, r: RangeOpts = {}): Promise<FlashbackResult[]> {
  return (await env.storage.flashbackToVersion({ ...range(r), version: ts(version), startTs: ts(startTs), commitTs: ts(commitTs) })) as unknown as FlashbackResult[];
}
/** Prepare then Finish; returns the modifications of both. */
export async function mustFlashback(env: Env, version: Ts, startTs: Ts, commitTs: Ts, r: RangeOpts = {}): Promise<number> {
  return (await mustPrepareFlashback(env, version, startTs, r)) + (await mustFinishFlashback(env, version, startTs, commitTs, r));
}

export async function mustFail(p: Promise<unknown>, code: KvErrorCode): Promise<KvError> {
  try {
    await p;
  } catch (e) {
    if (isKvError(e, code)) return e;
    throw new Error(`expected ${code}, got ${String(e)}`, { cause: e });
  }
  throw new Error(`expected ${code}, but the call succeeded`);
}
export function mustFinishFlashbackErr(env: Env, code: KvErrorCode, version: Ts, startTs: Ts, commitTs: Ts, r: RangeOpts = {}): Promise<KvError> {
  return mustFail(env.storage.flashbackToVersion({ ...range(r), version: ts(version), startTs: ts(startTs), commitTs: ts(commitTs) }), code);
}

export async function mustSplit(env: Env, at: string): Promise<void> {
  const r = env.placement.regionForKey(enc(at));
  await env.consensus.admin({ regionId: r.id, epoch: r.epoch }, { type: 'split', splitKey: enc(at) });
}

/** The flashback writes applied so far: [flags, number of modifies]. */
export function flashbackWrites(env: Env): AppliedEvent[] {
  return env.applied.filter((e) => e.flags.has('flashback'));
}
