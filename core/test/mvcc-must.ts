/**
 * TiKV-style `must*` helpers for the MVCC tests (after `src/storage/txn/actions/tests.rs`): each
 * runs one action in a fresh MvccTxn over a snapshot, applies its Modifies to a ReferenceEngine,
 * and returns a value or throws with context. `*Err` helpers return the KvError and also check
 * that the failed action left no Modifies behind. Keys and values are latin1 strings.
 */
import {
  MvccReader,
  MvccTxn,
  acquirePessimisticLock,
  checkTxnStatus,
  cleanup,
  codec,
  commit,
  commitOnePc,
  gc,
  isKvError,
  locksOfTxn,
  pessimisticRollback,
  prewrite,
  resolveLock,
  rollback,
  toWriteBatch,
  txnHeartBeat,
  type GcInfo,
  type KvError,
  type KvErrorCode,
  type Mutation,
  type ScanOptions,
  type TxnProps,
  type TxnStatus,
} from '@flashkv/core';
import { ReferenceEngine, bytes, latin1 } from '@flashkv/core/testing';

type EncodedKeyT = codec.EncodedKey;
type Lock = codec.Lock;
type Write = codec.Write;
export type Ts = number | bigint;

export function k(key: string): EncodedKeyT {
  return codec.encodeBytes(bytes(key));
}

function ts(t: Ts): bigint {
  return BigInt(t);
}

/** An engine plus the glue to run actions on it. */
export class Store {
  readonly engine = new ReferenceEngine();

  reader(): MvccReader {
    return new MvccReader(this.engine.snapshot());
  }

  async apply(txn: MvccTxn): Promise<void> {
    if (txn.locksForOnePc.length > 0) throw new Error('apply: the txn still holds 1PC locks; call commitOnePc first');
    if (txn.modifies.length > 0) await this.engine.write(toWriteBatch(txn.modifies));
  }

  /** Runs `action` in a fresh txn at `startTs` and applies what it recorded. */
  async run<T>(startTs: Ts, action: (txn: MvccTxn, reader: MvccReader) => T): Promise<T> {
    const txn = new MvccTxn(ts(startTs));
    const out = action(txn, this.reader());
    await this.apply(txn);
    return out;
  }

  /** Runs `action`, which must fail with `code`, and checks it recorded nothing. */
  fail(startTs: Ts, code: KvErrorCode, action: (txn: MvccTxn, reader: MvccReader) => unknown): KvError {
    const txn = new MvccTxn(ts(startTs));
    let caught: unknown;
    try {
      action(txn, this.reader());
    } catch (e) {
      caught = e;
    }
    if (caught === undefined) throw new Error(`expected ${code}, but the action succeeded`);
    if (!isKvError(caught, code)) throw new Error(`expected ${code}, got ${String(caught)}`, { cause: caught });
    if (txn.modifies.length !== 0 || txn.locksForOnePc.length !== 0) throw new Error(`a failed action left ${txn.modifies.length} modifies behind`);
    return caught;
  }
}

export interface PrewriteOpts {
  readonly ttl?: Ts;
  readonly forUpdateTs?: Ts;
  readonly isPessimisticLock?: boolean;
  readonly minCommitTs?: Ts;
  readonly tryOnePc?: boolean;
  readonly txnSize?: Ts;
}

function props(primary: string, startTs: Ts, o: PrewriteOpts = {}): TxnProps {
  return {
    startTs: ts(startTs),
    primary: bytes(primary),
    lockTtl: ts(o.ttl ?? 3000),
    forUpdateTs: ts(o.forUpdateTs ?? 0),
    minCommitTs: ts(o.minCommitTs ?? 0),
    txnSize: ts(o.txnSize ?? 0),
    tryOnePc: o.tryOnePc === true,
  };
}

function mutation(op: Mutation['op'], key: string, value?: string | Uint8Array): Mutation {
  const v = typeof value === 'string' ? bytes(value) : value;
  return v === undefined ? { op, key: k(key) } : { op, key: k(key), value: v };
}

export async function mustPrewrite(s: Store, op: Mutation['op'], key: string, value: string | Uint8Array | undefined, primary: string, startTs: Ts, o?: PrewriteOpts): Promise<bigint> {
  return s.run(startTs, (txn, r) => {
    const res = prewrite(txn, r, props(primary, startTs, o), mutation(op, key, value), o?.isPessimisticLock === true);
    return res.minCommitTs;
  });
}

export function mustPrewritePut(s: Store, key: string, value: string | Uint8Array, primary: string, startTs: Ts, o?: PrewriteOpts): Promise<bigint> {
  return mustPrewrite(s, 'put', key, value, primary, startTs, o);
}

export function mustPrewriteDelete(s: Store, key: string, primary: string, startTs: Ts, o?: PrewriteOpts): Promise<bigint> {
  return mustPrewrite(s, 'delete', key, undefined, primary, startTs, o);
}

export function mustPrewriteLock(s: Store, key: string, primary: string, startTs: Ts, o?: PrewriteOpts): Promise<bigint> {
  return mustPrewrite(s, 'lock', key, undefined, primary, startTs, o);
}

export function mustPrewriteErr(s: Store, code: KvErrorCode, op: Mutation['op'], key: string, value: string | undefined, primary: string, startTs: Ts, o?: PrewriteOpts): KvError {
  return s.fail(startTs, code, (txn, r) => prewrite(txn, r, props(primary, startTs, o), mutation(op, key, value), o?.isPessimisticLock === true));
}

export function mustPessimisticPrewritePut(s: Store, key: string, value: string | Uint8Array, primary: string, startTs: Ts, forUpdateTs: Ts, isPessimisticLock = true, o?: PrewriteOpts): Promise<bigint> {
  return mustPrewrite(s, 'put', key, value, primary, startTs, { ...o, forUpdateTs, isPessimisticLock });
}

/** A 1PC prewrite of several puts committed at `commitTs` in one txn. */
export async function mustOnePcPut(s: Store, pairs: ReadonlyArray<readonly [string, string]>, primary: string, startTs: Ts, commitTs: Ts): Promise<bigint> {
  return s.run(startTs, (txn, r) => {
    let min = 0n;
    for (const [key, value] of pairs) {
      const res = prewrite(txn, r, props(primary, startTs, { tryOnePc: true }), mutation('put', key, value));
      if (res.minCommitTs > min) min = res.minCommitTs;
    }
    commitOnePc(txn, ts(commitTs));
    return min;
  });
}

export async function mustCommit(s: Store, key: string, startTs: Ts, commitTs: Ts): Promise<void> {
  await s.run(startTs, (txn, r) => commit(txn, r, k(key), ts(commitTs)));
}

export function mustCommitErr(s: Store, code: KvErrorCode, key: string, startTs: Ts, commitTs: Ts): KvError {
  return s.fail(startTs, code, (txn, r) => commit(txn, r, k(key), ts(commitTs)));
}

export async function mustRollback(s: Store, key: string, startTs: Ts): Promise<void> {
  await s.run(startTs, (txn, r) => rollback(txn, r, k(key)));
}

export function mustRollbackErr(s: Store, code: KvErrorCode, key: string, startTs: Ts): KvError {
  return s.fail(startTs, code, (txn, r) => rollback(txn, r, k(key)));
}

export async function mustCleanup(s: Store, key: string, startTs: Ts, currentTs: Ts, protect = true): Promise<void> {
  await s.run(startTs, (txn, r) => cleanup(txn, r, k(key), ts(currentTs), protect));
}

export function mustCleanupErr(s: Store, code: KvErrorCode, key: string, startTs: Ts, currentTs: Ts, protect = true): KvError {
  return s.fail(startTs, code, (txn, r) => cleanup(txn, r, k(key), ts(currentTs), protect));
}

export async function mustCheckTxnStatus(
  s: Store,
  primary: string,
  lockTs: Ts,
  callerStartTs: Ts,
  currentTs: Ts,
  rollbackIfNotExist: boolean,
  resolvingPessimisticLock = false,
): Promise<TxnStatus> {
  return s.run(lockTs, (txn, r) =>
    checkTxnStatus(txn, r, { primaryKey: k(primary), callerStartTs: ts(callerStartTs), currentTs: ts(currentTs), rollbackIfNotExist, resolvingPessimisticLock }),
  );
}

export function mustCheckTxnStatusErr(s: Store, code: KvErrorCode, primary: string, lockTs: Ts, callerStartTs: Ts, currentTs: Ts, rollbackIfNotExist: boolean): KvError {
  return s.fail(lockTs, code, (txn, r) =>
    checkTxnStatus(txn, r, { primaryKey: k(primary), callerStartTs: ts(callerStartTs), currentTs: ts(currentTs), rollbackIfNotExist }),
  );
}

export interface PessimisticLockOpts {
  readonly ttl?: Ts;
  readonly returnValue?: boolean;
  readonly shouldNotExist?: boolean;
}

export async function mustAcquirePessimisticLock(s: Store, key: string, primary: string, startTs: Ts, forUpdateTs: Ts, o: PessimisticLockOpts = {}): Promise<string | undefined> {
  const res = await s.run(startTs, (txn, r) =>
    acquirePessimisticLock(txn, r, {
      key: k(key),
      primary: bytes(primary),
      forUpdateTs: ts(forUpdateTs),
      lockTtl: ts(o.ttl ?? 3000),
      returnValue: o.returnValue,
      shouldNotExist: o.shouldNotExist,
    }),
  );
  return res.value === undefined ? undefined : latin1(res.value);
}

export function mustAcquirePessimisticLockErr(s: Store, code: KvErrorCode, key: string, primary: string, startTs: Ts, forUpdateTs: Ts, o: PessimisticLockOpts = {}): KvError {
  return s.fail(startTs, code, (txn, r) =>
    acquirePessimisticLock(txn, r, { key: k(key), primary: bytes(primary), forUpdateTs: ts(forUpdateTs), lockTtl: ts(o.ttl ?? 3000), shouldNotExist: o.shouldNotExist }),
  );
}

export async function mustPessimisticRollback(s: Store, key: string, startTs: Ts, forUpdateTs: Ts): Promise<void> {
  await s.run(startTs, (txn, r) => pessimisticRollback(txn, r, k(key), ts(forUpdateTs)));
}

export async function mustTxnHeartBeat(s: Store, primary: string, startTs: Ts, adviseTtl: Ts): Promise<bigint> {
  const st = await s.run(startTs, (txn, r) => txnHeartBeat(txn, r, k(primary), ts(adviseTtl)));
  if (st.kind !== 'locked') throw new Error(`mustTxnHeartBeat: status ${st.kind}`);
  return st.ttl;
}

/** Commits (commitTs > 0) or rolls back every lock of txn `startTs`, as a client resolving a crashed txn would. */
export async function mustResolveLock(s: Store, startTs: Ts, commitTs: Ts): Promise<number> {
  return s.run(startTs, (txn, r) => {
    const locks = locksOfTxn(r, ts(startTs));
    for (const { key } of locks) resolveLock(txn, r, key, ts(commitTs));
    return locks.length;
  });
}

export async function mustGc(s: Store, key: string, safePoint: Ts): Promise<GcInfo> {
  return s.run(0, (txn, r) => gc(txn, r, k(key), ts(safePoint)));
}

export function mustGet(s: Store, key: string, readTs: Ts, expected: string, bypass: Ts[] = []): void {
  const got = s.reader().get(k(key), ts(readTs), { bypassLocks: bypass.map(ts) });
  if (got === undefined) throw new Error(`mustGet: "${key}"@${readTs} is missing, expected "${expected.slice(0, 40)}"`);
  const text = latin1(got);
  if (text !== expected) throw new Error(`mustGet: "${key}"@${readTs} is "${text.slice(0, 40)}" (${text.length}B), expected "${expected.slice(0, 40)}" (${expected.length}B)`);
}

export function mustGetNone(s: Store, key: string, readTs: Ts): void {
  const got = s.reader().get(k(key), ts(readTs));
  if (got !== undefined) throw new Error(`mustGetNone: "${key}"@${readTs} is "${latin1(got).slice(0, 40)}"`);
}

export function mustGetErr(s: Store, code: KvErrorCode, key: string, readTs: Ts): KvError {
  try {
    s.reader().get(k(key), ts(readTs));
  } catch (e) {
    if (isKvError(e, code)) return e;
    throw new Error(`mustGetErr: expected ${code}, got ${String(e)}`);
  }
  throw new Error(`mustGetErr: "${key}"@${readTs} read without ${code}`);
}

export function mustLocked(s: Store, key: string, startTs: Ts): Lock {
  const lock = s.reader().loadLock(k(key));
  if (lock === undefined) throw new Error(`mustLocked: "${key}" has no lock`);
  if (lock.startTs !== ts(startTs)) throw new Error(`mustLocked: "${key}" is locked by ${lock.startTs}, expected ${startTs}`);
  return lock;
}

export function mustUnlocked(s: Store, key: string): void {
  const lock = s.reader().loadLock(k(key));
  if (lock !== undefined) throw new Error(`mustUnlocked: "${key}" is locked by ${lock.startTs} (${lock.lockType})`);
}

/** The write record keyed exactly at key@commitTs. */
export function mustWrite(s: Store, key: string, commitTs: Ts): Write {
  const found = s.reader().seekWrite(k(key), ts(commitTs));
  if (found === undefined || found.commitTs !== ts(commitTs)) throw new Error(`mustWrite: no write record at "${key}"@${commitTs}`);
  return found.write;
}

export function mustWriteNone(s: Store, key: string, commitTs: Ts): void {
  const found = s.reader().seekWrite(k(key), ts(commitTs));
  if (found !== undefined && found.commitTs === ts(commitTs)) throw new Error(`mustWriteNone: "${key}"@${commitTs} holds a ${found.write.writeType}`);
}

/** Commit ts of txn `startTs` on `key`, which must be committed. */
export function mustGetCommitTs(s: Store, key: string, startTs: Ts): bigint {
  const rec = s.reader().getTxnCommitRecord(k(key), ts(startTs));
  if (rec.kind !== 'single' || rec.write.writeType === 'Rollback') throw new Error(`mustGetCommitTs: txn ${startTs} is not committed on "${key}" (${rec.kind})`);
  return rec.commitTs;
}

/** Txn `startTs` must have a rollback record on `key`; returns whether it is protected. */
export function mustGetRollbackTs(s: Store, key: string, startTs: Ts): boolean {
  const w = mustWrite(s, key, startTs);
  if (w.writeType !== 'Rollback' || w.startTs !== ts(startTs)) throw new Error(`mustGetRollbackTs: "${key}"@${startTs} is a ${w.writeType} of ${w.startTs}`);
  return codec.isProtectedRollback(w);
}

export function mustScan(s: Store, o: Omit<ScanOptions, 'ts'> & { ts: Ts }): Array<[string, string]> {
  return s.reader().scan({ ...o, ts: ts(o.ts) }).map((p) => [latin1(p.key), latin1(p.value)]);
}
