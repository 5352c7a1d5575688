/**
 * Flashback's commands (FLASHBACK.md a.2), registered into Storage's command registry so they run
 * through the scheduler (latches) and Consensus (region gate, writes) like every txn command.
 *
 * `prepareFlashbackToVersion` and `flashbackToVersion` are the per-region RPCs: drivers that hold
 * no latches and run TiKV's states in order, each loop step a read phase on a flashback-flagged
 * snapshot followed by one latched write command for one batch (<= 256 keys, <= 32 KiB), which
 * hands the next read phase the key to resume from. Every write carries the 'flashback' flag;
 * FlashbackWrite batches also carry 'onePc' (CDC emits them as committed rows), the commit of K*
 * does not (a normal 2PC commit, a.5.4).
 */
import {
  checkTxnStatus,
  codec,
  commit,
  FLASHBACK_COMMAND,
  invalidTxnTsoError,
  isInFlashback,
  KvError,
  lockCfKey,
  MvccReader,
  MvccTxn,
  PREPARE_FLASHBACK_COMMAND,
  type BatchOp,
  type Command,
  type HotPath,
  type Modify,
  type RegionRoute,
  type RequestContext,
  type RequestFlag,
  type Storage,
  type TxnCommandContext,
} from '@flashkv/core';
import { commitFlashbackKey, flashbackKeyState, flashbackRollbackLock, prewriteFlashbackKey } from './actions.js';
import {
  FLASHBACK_BATCH_KEYS,
  flashbackBatch,
  flashbackBatchBound,
  MAX_TXN_WRITE_SIZE,
  newFlashbackBatchInput,
  newFlashbackBatchOutput,
  OUT_WRITE_CF,
  type FlashbackBatchInput,
  type FlashbackBatchResult,
} from './flashback-batch.js';
import { FlashbackPreviewCommand, PREVIEW_COMMAND, type PreviewArgs } from './preview.js';
import { loadKeyLocks, scanKeyLocks } from './locks.js';
import { batchKey, findFlashbackKey, scanFlashbackWrites } from './read-phase.js';

type EncodedKey = codec.EncodedKey;

export const FLASHBACK_FLAGS: ReadonlySet<RequestFlag> = new Set<RequestFlag>(['flashback']);
export const FLASHBACK_ONE_PC_FLAGS: ReadonlySet<RequestFlag> = new Set<RequestFlag>(['flashback', 'onePc']);
const U64_MAX = 0xffff_ffff_ffff_ffffn;

export const FLASHBACK_COMMANDS_OWNER = '@flashkv/flashback';

/** One batch written by a flashback loop step, for progress reporting (never per key). */
export interface FlashbackBatchEvent {
  readonly regionId: number;
  readonly step: 'rollbackLock' | 'prewrite' | 'flashbackWrite' | 'commit';
  readonly keys: number;
  readonly modifies: number;
}

export interface PrepareFlashbackArgs {
  readonly route: RegionRoute;
  /** Encoded bounds, clipped to the region; absent or empty end is unbounded. */
  readonly startKey?: EncodedKey;
  readonly endKey?: EncodedKey;
  readonly version: bigint;
  readonly startTs: bigint;
  readonly lockPolicy?: 'rollback' | 'resolve';
  readonly onBatch?: (e: FlashbackBatchEvent) => void;
}

export interface PrepareFlashbackResult {
  readonly regionId: number;
  readonly modifies: number;
  readonly locksRolledBack: number;
  readonly locksCommitted: number;
  /** K*, the key locked at start_ts; undefined if nothing in range changed after the version. */
  readonly flashbackKey: EncodedKey | undefined;
}

export interface FlashbackArgs extends Omit<PrepareFlashbackArgs, 'lockPolicy'> {
  readonly commitTs: bigint;
}

export interface FlashbackResult {
  readonly regionId: number;
  readonly modifies: number;
  readonly keysRewritten: number;
  readonly batches: number;
  /** The data part had been done by an earlier Finish with the same start_ts/commit_ts. */
  readonly alreadyFinished: boolean;
}

type Run = <R>(name: string, args: unknown) => Promise<R>;

function requestOf(route: RegionRoute, flags?: ReadonlySet<RequestFlag>): RequestContext {
  return { regionId: route.regionId, epoch: route.epoch, ...(flags !== undefined ? { flags } : {}) };
}

async function withFlashbackReader<T>(ctx: TxnCommandContext, route: RegionRoute, body: (reader: MvccReader) => T): Promise<T> {
  const snap = await ctx.consensus.snapshot(requestOf(route, FLASHBACK_FLAGS));
  try {
    return body(new MvccReader(snap));
  } finally {
    snap.release();
  }
}

/** `handOver`: the ops' arrays belong to this write alone and never change (see WriteOptions). */
async function write(ctx: TxnCommandContext, route: RegionRoute, modifies: readonly BatchOp[], flags: ReadonlySet<RequestFlag> | undefined, handOver = false): Promise<void> {
  if (modifies.length === 0) return;
  await ctx.consensus.write(requestOf(route, flags), modifies, { ...(ctx.sync === undefined ? {} : { sync: ctx.sync }), ...(handOver ? { handOver } : {}) });
}

function assertCommon(name: string, a: unknown): asserts a is PrepareFlashbackArgs {
  const args = a as PrepareFlashbackArgs | null;
  if (args === null || typeof args !== 'object') throw new TypeError(`${name}: args must be an object`);
  const r = args.route;
  if (r === null || typeof r !== 'object' || typeof r.regionId !== 'number' || r.epoch === null || typeof r.epoch !== 'object') throw new TypeError(`${name}: args.route must be { regionId, epoch }`);
  if (typeof args.version !== 'bigint' || typeof args.startTs !== 'bigint') throw new TypeError(`${name}: version and startTs must be bigints`);
  if (args.startTs <= 0n) throw new KvError('INVALID_ARGUMENT', `${name}: startTs must be positive, got ${args.startTs}`, {});
  for (const k of ['startKey', 'endKey'] as const) if (args[k] !== undefined && !(args[k] instanceof Uint8Array)) throw new TypeError(`${name}: ${k} must be a Uint8Array`);
}

const endOf = (k: EncodedKey | undefined) => (k === undefined || k.length === 0 ? undefined : k);
const startOf = endOf;

// ---- write commands, one per batch

interface RollbackLockArgs {
  readonly route: RegionRoute;
  /** Keys whose locks (plain or SharedLocks sub-locks) are to be rolled back, in key order. */
  readonly keys: readonly EncodedKey[];
  readonly flashbackStartTs: bigint;
  /** lockPolicy 'resolve': txn start ts -> commit ts of its primary (0n: roll back). */
  readonly resolved?: ReadonlyMap<bigint, bigint>;
}

interface RollbackLockResult {
  readonly modifies: number;
  /** Keys handled (a prefix of `keys`). */
  readonly taken: number;
  /** Locks rolled back and committed (each sub-lock of a SharedLocks record counts). */
  readonly rolledBack: number;
  readonly committed: number;
}

class FlashbackRollbackLockCommand implements Command<RollbackLockResult, TxnCommandContext> {
  readonly name = 'flashbackRollbackLock';
  constructor(readonly args: RollbackLockArgs) {}
  latchKeys(): readonly Uint8Array[] {
    return this.args.keys;
  }
  async process(ctx: TxnCommandContext): Promise<RollbackLockResult> {
    const a = this.args;
    const modifies: BatchOp[] = [];
    let size = 0;
    let taken = 0;
    let rolledBack = 0;
    let committed = 0;
    await withFlashbackReader(ctx, a.route, (reader) => {
      for (const key of a.keys) {
        // Re-read under the latch: a concurrent retry may already have handled the lock.
        const rec = loadKeyLocks(reader.snapshot, key);
        const ops: BatchOp[] = [];
        let keySize = 0;
        let keyRolledBack = 0;
        let keyCommitted = 0;
        const remaining = rec?.shared !== undefined ? new Map(rec.shared.locks) : undefined;
        for (const lock of rec?.locks ?? []) {
          if (lock.startTs === a.flashbackStartTs) continue;
          const txn = new MvccTxn(lock.startTs);
          const commitTs = a.resolved?.get(lock.startTs) ?? 0n;
          const resolve = commitTs > 0n && lock.lockType !== 'Pessimistic';
          let lockOp: { readonly op: 'put'; readonly cf: 'lock'; readonly key: Uint8Array; readonly value: Uint8Array } | { readonly op: 'delete'; readonly cf: 'lock'; readonly key: Uint8Array } | undefined;
          if (remaining === undefined) {
            if (resolve) commit(txn, reader, key, commitTs);
            else flashbackRollbackLock(txn, reader, key, lock);
          } else {
            // A SharedLocks sub-lock (FLASHBACK.md a.4.1): handled at its own ts like a lock of
            // its own, then the record is rewritten without it, or deleted with the last one
            // (TiKV: two sub-locks make 2 rollbacks, 1 lock update, 1 lock delete).
            if (resolve) txn.putWrite(key, commitTs, codec.newWrite('Lock', lock.startTs));
            else flashbackRollbackLock(txn, reader, key, lock, false);
            remaining.delete(lock.startTs);
            const lockKey = lockCfKey(key);
            if (remaining.size === 0) lockOp = { op: 'delete', cf: 'lock', key: lockKey };
            else lockOp = { op: 'put', cf: 'lock', key: lockKey, value: codec.encodeSharedLocks({ shrinkOnly: rec!.shared!.shrinkOnly, locks: new Map(remaining) }) };
          }
          for (const m of txn.modifies) ops.push(m);
          keySize += txn.writeSize;
          if (lockOp !== undefined) {
            ops.push(lockOp);
            keySize += lockOp.key.length + (lockOp.op === 'put' ? lockOp.value.length : 0);
          }
          if (resolve) keyCommitted++;
          else keyRolledBack++;
        }
        // TiKV stops a write command once its modifications reach MAX_TXN_WRITE_SIZE.
        if (taken > 0 && size + keySize > MAX_TXN_WRITE_SIZE) break;
        for (const m of ops) modifies.push(m);
        size += keySize;
        taken++;
        rolledBack += keyRolledBack;
        committed += keyCommitted;
      }
    });
    await write(ctx, a.route, modifies, FLASHBACK_FLAGS);
    return { modifies: modifies.length, taken, rolledBack, committed };
  }
}

interface CheckPrimaryArgs {
  readonly primary: EncodedKey;
  readonly lockTs: bigint;
}

/**
 * lockPolicy 'resolve' (beyond TiKV, tikv#14531): decides a txn by its primary. A committed
 * primary gives its commit ts; otherwise the primary is rolled back here (its lock, however
 * young, or a protected rollback record if it has neither), so the txn can never commit later.
 */
class FlashbackCheckPrimaryCommand implements Command<bigint, TxnCommandContext> {
  readonly name = 'flashbackCheckPrimary';
  constructor(readonly args: CheckPrimaryArgs) {}
  latchKeys(): readonly Uint8Array[] {
    return [this.args.primary];
  }
  async process(ctx: TxnCommandContext): Promise<bigint> {
    const region = ctx.consensus.regionForKey(this.args.primary);
    const route = { regionId: region.id, epoch: region.epoch };
    const txn = new MvccTxn(this.args.lockTs);
    const status = await withFlashbackReader(ctx, route, (reader) =>
      checkTxnStatus(txn, reader, { primaryKey: this.args.primary, currentTs: U64_MAX, callerStartTs: 0n, rollbackIfNotExist: true }),
    );
    await write(ctx, route, txn.modifies, isInFlashback(region) ? FLASHBACK_FLAGS : undefined);
    return status.kind === 'committed' ? status.commitTs : 0n;
  }
}

interface KeyArgs {
  readonly route: RegionRoute;
  readonly key: EncodedKey;
  readonly version: bigint;
  readonly startTs: bigint;
  readonly commitTs?: bigint;
}

class FlashbackPrewriteCommand implements Command<number, TxnCommandContext> {
  readonly name = 'flashbackPrewrite';
  constructor(readonly args: KeyArgs) {}
  latchKeys(): readonly Uint8Array[] {
    return [this.args.key];
  }
  async process(ctx: TxnCommandContext): Promise<number> {
    const txn = new MvccTxn(this.args.startTs);
    await withFlashbackReader(ctx, this.args.route, (reader) => prewriteFlashbackKey(txn, reader, this.args.key, this.args.version));
    await write(ctx, this.args.route, txn.modifies, FLASHBACK_FLAGS);
    return txn.modifies.length;
  }
}

class FlashbackCommitCommand implements Command<number, TxnCommandContext> {
  readonly name = 'flashbackCommit';
  constructor(readonly args: KeyArgs) {}
  latchKeys(): readonly Uint8Array[] {
    return [this.args.key];
  }
  async process(ctx: TxnCommandContext): Promise<number> {
    const txn = new MvccTxn(this.args.startTs);
    await withFlashbackReader(ctx, this.args.route, (reader) => commitFlashbackKey(txn, reader, this.args.key, this.args.commitTs!));
    await write(ctx, this.args.route, txn.modifies, FLASHBACK_FLAGS);
    return txn.modifies.length;
  }
}

interface WriteBatchArgs {
  readonly route: RegionRoute;
  readonly input: FlashbackBatchInput;
  readonly startTs: bigint;
  readonly commitTs: bigint;
}

/**
 * Where FlashbackWrite batches' output bytes are copied to: views into shared 256 KiB buffers
 * rather than a fresh ArrayBuffer per batch (each of those is an off-heap allocation with its
 * own bookkeeping). The views are what the engine keeps (the write is handed over), so a buffer
 * lives as long as any entry written from it: these are the flashback's own new records.
 */
class OutputSlab {
  private static readonly BYTES = 256 * 1024;
  private buf = new ArrayBuffer(0);
  private off = 0;

  /** A copy of src[0 .. len) that nothing else writes. */
  copy(src: Uint8Array, len: number): Uint8Array {
    if (len > OutputSlab.BYTES / 4) return src.slice(0, len);
    if (this.off + len > this.buf.byteLength) {
      this.buf = new ArrayBuffer(OutputSlab.BYTES);
      this.off = 0;
    }
    const out = new Uint8Array(this.buf, this.off, len);
    out.set(src.length === len ? src : src.subarray(0, len));
    // Keep the next copy 8-byte aligned.
    this.off += (len + 7) & ~7;
    return out;
  }
}

/**
 * FlashbackWrite for one batch: the batch kernel's ops as one 1PC-flagged write. With a HotPath
 * (the kernel's HOTPATH, WASM by default) the kernel runs there; without one, the TS reference
 * runs directly into a fresh output.
 */
class FlashbackWriteCommand implements Command<{ modifies: number; taken: number }, TxnCommandContext> {
  readonly name = 'flashbackWrite';
  constructor(
    readonly args: WriteBatchArgs,
    private readonly hotPath: HotPath | undefined,
    private readonly slab: OutputSlab,
  ) {}
  latchKeys(): readonly Uint8Array[] {
    const input = this.args.input;
    const keys: Uint8Array[] = new Array(input.count);
    const ab = input.keys.buffer;
    const base = input.keys.byteOffset;
    for (let i = 0, from = 0; i < input.count; i++) {
      const end = input.keyEnd[i]!;
      keys[i] = new Uint8Array(ab, base + from, end - from);
      from = end;
    }
    return keys;
  }
  async process(ctx: TxnCommandContext): Promise<{ modifies: number; taken: number }> {
    const { input, startTs, commitTs } = this.args;
    let out: FlashbackBatchResult;
    let buf: Uint8Array;
    if (this.hotPath !== undefined) {
      out = this.hotPath.flashbackBatch(input, startTs, commitTs);
      // The result is only valid until the next HotPath call, and the engine, consensus and
      // `applied` observers may keep the op views: the used bytes are copied once, into the
      // output slab. The ops are built below before anything else can call the HotPath (no
      // await in between).
      buf = out.opCount === 0 ? new Uint8Array(0) : this.slab.copy(out.buf, out.valueEnd[out.opCount - 1]!);
    } else {
      // A fresh output buffer per batch, for the same reason.
      const own = newFlashbackBatchOutput(flashbackBatchBound(input), input.count);
      flashbackBatch(input, startTs, commitTs, own);
      out = own;
      buf = own.buf;
    }
    const taken = out.keysTaken;
    const ops: BatchOp[] = new Array(out.opCount);
    // Views made with the constructor: cheaper than subarray(), and they are what the engine keeps.
    const ab = buf.buffer;
    const base = buf.byteOffset;
    for (let j = 0; j < out.opCount; j++) {
      const ks = out.keyStart[j]!;
      const vs = out.valueStart[j]!;
      ops[j] = {
        op: 'put',
        cf: out.cf[j] === OUT_WRITE_CF ? 'write' : 'default',
        key: new Uint8Array(ab, base + ks, out.keyEnd[j]! - ks),
        value: new Uint8Array(ab, base + vs, out.valueEnd[j]! - vs),
      };
    }
    // `buf` is this batch's own copy and nothing writes it again: the engine may keep the views.
    await write(ctx, this.args.route, ops, FLASHBACK_ONE_PC_FLAGS, true);
    return { modifies: ops.length, taken };
  }
}

// ---- the per-region RPCs

export class PrepareFlashbackToVersionCommand implements Command<PrepareFlashbackResult, TxnCommandContext> {
  readonly name = PREPARE_FLASHBACK_COMMAND;
  constructor(
    readonly args: PrepareFlashbackArgs,
    private readonly run: Run,
  ) {
    assertCommon(this.name, args);
    if (args.lockPolicy !== undefined && args.lockPolicy !== 'rollback' && args.lockPolicy !== 'resolve') {
      throw new KvError('INVALID_ARGUMENT', `${this.name}: lockPolicy must be 'rollback' or 'resolve'`, { lockPolicy: args.lockPolicy });
    }
  }
  latchKeys(): readonly Uint8Array[] {
    return [];
  }
  async process(ctx: TxnCommandContext): Promise<PrepareFlashbackResult> {
    const a = this.args;
    const start = startOf(a.startKey);
    const end = endOf(a.endKey);
    // The admin command first (a.2): from here on no ordinary write reaches the region.
    await ctx.consensus.admin(requestOf(a.route), { type: 'prepareFlashback', startTs: a.startTs });
    let modifies = 0;
    let locksRolledBack = 0;
    let locksCommitted = 0;
    // RollbackLock loop (a.4.1): every lock but our own, whatever its ts relative to V.
    let from = start;
    for (;;) {
      // Locks other than our own (ts == S), SharedLocks sub-locks included (FLASHBACK.md a.4.1).
      const scan = await withFlashbackReader(ctx, a.route, (reader) => scanKeyLocks(reader.snapshot, from as EncodedKey | undefined, end, a.startTs, FLASHBACK_BATCH_KEYS + 1));
      if (scan.length === 0) break;
      // The 257th lock is kept back as the resume key: at most 256 per write command.
      const batch = scan.length > FLASHBACK_BATCH_KEYS ? scan.slice(0, FLASHBACK_BATCH_KEYS) : scan;
      let resolved: Map<bigint, bigint> | undefined;
      if (a.lockPolicy === 'resolve') {
        resolved = new Map();
        for (const l of batch) {
          for (const lock of l.locks) {
            if (resolved.has(lock.startTs)) continue;
            resolved.set(lock.startTs, await this.run<bigint>('flashbackCheckPrimary', { primary: codec.encodeBytes(lock.primary), lockTs: lock.startTs }));
          }
        }
      }
      const r = await this.run<RollbackLockResult>('flashbackRollbackLock', { route: a.route, keys: batch.map((l) => l.key), flashbackStartTs: a.startTs, ...(resolved ? { resolved } : {}) });
      modifies += r.modifies;
      locksRolledBack += r.rolledBack;
      locksCommitted += r.committed;
      a.onBatch?.({ regionId: a.route.regionId, step: 'rollbackLock', keys: r.taken, modifies: r.modifies });
      from = r.taken < batch.length ? batch[r.taken]!.key : scan.length > FLASHBACK_BATCH_KEYS ? scan[FLASHBACK_BATCH_KEYS]!.key : undefined;
      if (from === undefined) break;
    }
    // Prewrite (a.4.2): lock K* at start_ts, which holds resolved ts below start_ts.
    const flashbackKey = await withFlashbackReader(ctx, a.route, (reader) => findFlashbackKey(reader.snapshot, start, end, a.version));
    if (flashbackKey !== undefined) {
      const n = await this.run<number>('flashbackPrewrite', { route: a.route, key: flashbackKey, version: a.version, startTs: a.startTs });
      modifies += n;
      a.onBatch?.({ regionId: a.route.regionId, step: 'prewrite', keys: 1, modifies: n });
    }
    return { regionId: a.route.regionId, modifies, locksRolledBack, locksCommitted, flashbackKey: flashbackKey as EncodedKey | undefined };
  }
}

export class FlashbackToVersionCommand implements Command<FlashbackResult, TxnCommandContext> {
  readonly name = FLASHBACK_COMMAND;
  constructor(
    readonly args: FlashbackArgs,
    private readonly run: Run,
  ) {
    assertCommon(this.name, args);
    if (typeof args.commitTs !== 'bigint') throw new TypeError(`${this.name}: commitTs must be a bigint`);
  }
  latchKeys(): readonly Uint8Array[] {
    return [];
  }
  async process(ctx: TxnCommandContext): Promise<FlashbackResult> {
    const a = this.args;
    const regionId = a.route.regionId;
    // a.5.1 step 1, before anything else: nothing is written, not even the admin command.
    if (a.commitTs <= a.startTs) {
      throw invalidTxnTsoError(`Invalid transaction tso with start_ts:${a.startTs}, commit_ts:${a.commitTs}`, { startTs: a.startTs, commitTs: a.commitTs, regionId });
    }
    const start = startOf(a.startKey);
    const end = endOf(a.endKey);
    // Steps 2 and 3: K* again; "already finished" before "not prepared", retries rely on the order.
    const check = await withFlashbackReader(ctx, a.route, (reader) => {
      const key = findFlashbackKey(reader.snapshot, start, end, a.version) as EncodedKey | undefined;
      return { key, state: key === undefined ? ('none' as const) : flashbackKeyState(reader, key, a.startTs, a.commitTs) };
    });
    let modifies = 0;
    let keysRewritten = 0;
    let batches = 0;
    if (check.state === 'notPrepared') {
      throw new KvError('FLASHBACK_NOT_PREPARED', `region ${regionId} is not prepared for the flashback`, { regionId, startTs: a.startTs });
    }
    if (check.state === 'locked') {
      // FlashbackWrite loop (a.5.2): keys before K* have nothing newer than V, so start at K*.
      const input = newFlashbackBatchInput();
      let from: Uint8Array | undefined = check.key;
      for (;;) {
        const scan = await withFlashbackReader(ctx, a.route, (reader) => scanFlashbackWrites(reader.snapshot, from, end, a.version, a.commitTs, check.key, input, FLASHBACK_BATCH_KEYS));
        if (input.count === 0) break;
        const r = await this.run<{ modifies: number; taken: number }>('flashbackWrite', { route: a.route, input, startTs: a.startTs, commitTs: a.commitTs });
        modifies += r.modifies;
        keysRewritten += r.taken;
        batches++;
        a.onBatch?.({ regionId, step: 'flashbackWrite', keys: r.taken, modifies: r.modifies });
        from = r.taken < input.count ? batchKey(input, r.taken).slice() : scan.next;
        if (from === undefined) break;
      }
      // Commit K* last (a.5.4), a normal commit.
      const n = await this.run<number>('flashbackCommit', { route: a.route, key: check.key!, version: a.version, startTs: a.startTs, commitTs: a.commitTs });
      modifies += n;
      a.onBatch?.({ regionId, step: 'commit', keys: 1, modifies: n });
    }
    // Only after the data steps succeeded does the region leave flashback state (a.2).
    await ctx.consensus.admin(requestOf(a.route), { type: 'finishFlashback' });
    return { regionId, modifies, keysRewritten, batches, alreadyFinished: check.state === 'finished' };
  }
}

/**
 * Registers flashback's commands into `storage.registry` (their drivers run sub-commands through
 * `storage.run`). FlashbackWrite batches run on `hotPath` when given (the plugin passes the
 * kernel's HOTPATH if there is one), else on the TS reference directly.
 */
export function registerFlashbackCommands(storage: Storage, hotPath?: HotPath): void {
  const reg = storage.registry;
  const owner = { owner: FLASHBACK_COMMANDS_OWNER };
  const run: Run = (name, args) => storage.run(name, args);
  reg.register(PREPARE_FLASHBACK_COMMAND, (a) => new PrepareFlashbackToVersionCommand(a as PrepareFlashbackArgs, run), owner);
  reg.register(FLASHBACK_COMMAND, (a) => new FlashbackToVersionCommand(a as FlashbackArgs, run), owner);
  reg.register('flashbackRollbackLock', (a) => new FlashbackRollbackLockCommand(a as RollbackLockArgs), owner);
  reg.register('flashbackCheckPrimary', (a) => new FlashbackCheckPrimaryCommand(a as CheckPrimaryArgs), owner);
  reg.register('flashbackPrewrite', (a) => new FlashbackPrewriteCommand(a as KeyArgs), owner);
  const slab = new OutputSlab();
  reg.register('flashbackWrite', (a) => new FlashbackWriteCommand(a as WriteBatchArgs, hotPath, slab), owner);
  reg.register('flashbackCommit', (a) => new FlashbackCommitCommand(a as KeyArgs), owner);
  reg.register(PREVIEW_COMMAND, (a) => new FlashbackPreviewCommand(a as PreviewArgs), owner);
}
