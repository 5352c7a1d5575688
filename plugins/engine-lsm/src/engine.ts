import {
  assertColumnFamily,
  compareBytes,
  EngineClosedError,
  KvError,
  type ColumnFamily,
  type EngineCapabilities,
  type EngineIterator,
  type EngineSnapshot,
  type IterOptions,
  type StorageEngine,
  type WriteBatch,
  type WriteOptions,
} from '@flashkv/core';
import { batchSeq, decodeBatchRaw, encodeBatch, setBatchSeq } from './batch-codec.js';
import { ByteWriter } from './coding.js';
import { DbIterator } from './db-iterator.js';
import { nodeFS, type FS } from './fs.js';
import type { InternalIterator } from './internal-iterator.js';
import { CF_ID, compareInternal, KIND_DELETE, KIND_DELETE_RANGE, KIND_PUT } from './keys.js';
import { CompactionFilter } from './compaction-filter.js';
import { runCompaction, type CompactionJob, type FlushResult } from './compaction.js';
import { CompactionWorker } from './compaction-client.js';
import { applyEdit, emptyState, fileName, ManifestWriter, readManifest, type FileMeta, type ManifestState, type VersionEdit } from './manifest.js';
import { Memtable } from './memtable.js';
import { DirLock } from './lock.js';
import { addRangeDel, coverSeq, getCovered, memRangeDels, RangeDelFilter, sourceFragments } from './range-del.js';
import { MergingIterator } from './merging-iterator.js';
import { BlockCache } from './sstable/block-cache.js';
import { bloomHash } from './sstable/bloom.js';
import { TableReader } from './sstable/table-reader.js';
import { TableWriter, type TableOptions } from './sstable/table-writer.js';
import { LevelIterator } from './level-iterator.js';
import { Version, type TableEntry } from './version.js';
import { readLog } from './wal/log-reader.js';
import { LogWriter } from './wal/log-writer.js';

export interface LsmOptions {
  /** Directory of the database; created if missing. */
  readonly dir: string;
  /** Filesystem to use (tests inject `FaultFS`). Default: node:fs. */
  readonly fs?: FS;
  /** Most bytes one group commit frames into a single WAL append. Default 1 MiB. */
  readonly maxGroupBytes?: number;
  /** Memtable size that triggers a switch to a new memtable and a flush. Default 64 MiB. */
  readonly memtableBytes?: number;
  /** Immutable memtables waiting for flush before writes stall. Default 2. */
  readonly maxImmutableMemtables?: number;
  /** Byte budget of the shared block cache. Default 64 MiB. */
  readonly blockCacheBytes?: number;
  /** SST block size, restart interval and bloom bits per key. */
  readonly table?: TableOptions;
  /** Level-0 file count that triggers a compaction into level 1. Default 4. */
  readonly l0CompactionTrigger?: number;
  /** Level-0 file count at which writes stall until compaction catches up. Default 12. */
  readonly l0StopWritesTrigger?: number;
  /** Size limit of level 1; level n+1 may hold `levelMultiplier` times level n. Default 64 MiB. */
  readonly levelBaseBytes?: number;
  readonly levelMultiplier?: number;
  /** Target size of compaction output tables. Default 8 MiB. */
  readonly targetFileSize?: number;
  /**
   * Where compactions run: a worker thread (default with the real filesystem) or inline on
   * the main thread in slices (always with an injected `fs`, which a worker cannot share).
   */
  readonly compactionThread?: 'worker' | 'inline';
  /**
   * Put the data blocks of each new level-0 table into the block cache as the flush installs
   * it (RocksDB's prepopulate_block_cache = kFlushOnly), so reads of recently written keys
   * that leave the memtable keep hitting memory. Up to the cache's budget per flush; the
   * worker reads the blocks back and verifies their checksums. Worker flushes only. Default true.
   */
  readonly prepopulateBlockCache?: boolean;
}

const EMPTY = new Uint8Array(0);

/** The pieces a read looks at, newest first; pinned by snapshots and iterators. */
interface ReadState {
  readonly mem: Memtable;
  readonly imms: readonly Memtable[];
  readonly version: Version;
}

interface Pending {
  readonly record: Uint8Array;
  readonly sync: boolean;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

interface Life {
  closed: boolean;
  readonly name: string;
}

function assertBytes(what: string, v: unknown): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array, got ${v === null ? 'null' : typeof v}`);
}

function checkBatch(batch: WriteBatch): void {
  if (typeof batch !== 'object' || batch === null || !Array.isArray(batch.ops)) throw new TypeError('write() needs a WriteBatch');
  batch.ops.forEach((op, i) => {
    if (typeof op !== 'object' || op === null) throw new TypeError(`batch op ${i} is not an object`);
    assertColumnFamily(op.cf);
    if (op.op === 'put') {
      assertBytes(`batch op ${i} key`, op.key);
      assertBytes(`batch op ${i} value`, op.value);
    } else if (op.op === 'delete') {
      assertBytes(`batch op ${i} key`, op.key);
    } else if (op.op === 'deleteRange') {
      assertBytes(`batch op ${i} start`, op.start);
      assertBytes(`batch op ${i} end`, op.end);
    } else {
      throw new TypeError(`batch op ${i} has unknown kind ${JSON.stringify((op as { op: unknown }).op)}`);
    }
  });
}

/** Turns a filesystem failure into the engine's error, naming what failed. */
function ioFailure(what: string, e: unknown): KvError {
  const errno = (e as NodeJS.ErrnoException)?.code;
  const why = errno === 'ENOSPC' ? 'the disk is full' : 'an I/O error';
  const msg = `engine-lsm refuses writes after ${why} in ${what} (${(e as Error)?.message ?? String(e)}); reads still work, reopen to recover`;
  return new KvError('IO_ERROR', msg, { what, errno }, { cause: e });
}

/** Pinned read state: released when the snapshot or iterator holding it goes away. */
interface Pin {
  readonly seq: number;
  readonly rs: ReadState;
}

const DEFAULT_MEMTABLE_BYTES = 64 * 1024 * 1024;
const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A log-structured merge engine (DESIGN.md section 8). Writes go through one commit pipeline:
 * batches queued while a WAL append or fsync is in flight are framed together and share the
 * next append and fsync (group commit), then applied to the memtable in order and published by
 * raising `visibleSeq`. A full memtable becomes immutable and a new WAL starts; a background
 * task writes it to a level-0 SST while writers continue on the new memtable. Reads are
 * synchronous and look at memtables, then level 0 newest first, then deeper levels, at a
 * sequence number, which is also what a snapshot is.
 */
export class LsmEngine implements StorageEngine {
  readonly name = 'engine-lsm';
  readonly capabilities: EngineCapabilities = Object.freeze({ persistent: true, deleteRange: true });

  private readonly life: Life = { closed: false, name: 'engine-lsm' };
  private mem: Memtable;
  private imms: Memtable[];
  private version: Version;
  private readonly liveVersions = new Set<Version>();
  private wal: LogWriter;
  private visibleSeq: number;
  private lastSeq: number;
  private nextFile: number;
  private readonly queue: Pending[] = [];
  /** True while a commit loop runs; `committing` is its promise (for close to wait on). */
  private leading = false;
  private committing: Promise<void> = Promise.resolve();
  private flushing: Promise<void> | null = null;
  /**
   * fsync of the WAL a memtable switch retired. Writes wait for it before they reach the new
   * WAL: otherwise a crash could keep a newer WAL while tearing the older one's unsynced tail,
   * and recovery would replay a hole (later writes without earlier ones).
   */
  private walRetiring: Promise<void> | null = null;
  private dirLock: DirLock | null = null;
  private failure: KvError | null = null;
  private closing = false;
  private readonly pins = new Map<number, number>();
  private readonly maxGroupBytes: number;
  private readonly memtableBytes: number;
  private readonly maxImms: number;
  private readonly tableOptions: TableOptions;
  readonly cache: BlockCache;
  /** Every open SST reader by file number; versions share them. */
  private readonly tables: Map<number, TableReader>;
  /** SSTs being written right now (in no version yet): never obsolete. */
  private readonly pendingOutputs = new Set<number>();
  private compacting: Promise<void> | null = null;
  private readonly compactPointer: (Uint8Array | null)[] = [];
  private worker: CompactionWorker | null = null;
  private readonly l0Trigger: number;
  private readonly l0Stop: number;
  private readonly levelBase: number;
  private readonly levelMultiplier: number;
  private readonly targetFileSize: number;
  private readonly useWorker: boolean;
  private readonly prepopulate: boolean;
  /** Counters for tests and tools. */
  readonly stats = { flushes: 0, stalls: 0, l0Stalls: 0, walSyncs: 0, compactions: 0, compactionEntriesIn: 0, compactionEntriesOut: 0 };

  private constructor(
    private readonly fs: FS,
    private readonly dir: string,
    private manifest: ManifestWriter,
    init: { mem: Memtable; imms: Memtable[]; version: Version; wal: LogWriter; lastSeq: number; nextFile: number },
    options: LsmOptions,
    cache: BlockCache,
    tables: Map<number, TableReader>,
  ) {
    this.tables = tables;
    this.mem = init.mem;
    this.imms = init.imms;
    this.version = init.version;
    this.version.refs++;
    this.liveVersions.add(this.version);
    this.wal = init.wal;
    this.lastSeq = init.lastSeq;
    this.visibleSeq = init.lastSeq;
    this.nextFile = init.nextFile;
    this.maxGroupBytes = options.maxGroupBytes ?? 1024 * 1024;
    this.memtableBytes = options.memtableBytes ?? DEFAULT_MEMTABLE_BYTES;
    this.maxImms = options.maxImmutableMemtables ?? 2;
    this.tableOptions = options.table ?? {};
    this.prepopulate = options.prepopulateBlockCache ?? true;
    this.cache = cache;
    this.l0Trigger = options.l0CompactionTrigger ?? 4;
    this.l0Stop = Math.max(options.l0StopWritesTrigger ?? 12, this.l0Trigger + 1);
    this.levelBase = options.levelBaseBytes ?? 64 * 1024 * 1024;
    this.levelMultiplier = options.levelMultiplier ?? 10;
    this.targetFileSize = options.targetFileSize ?? 8 * 1024 * 1024;
    this.useWorker = (options.compactionThread ?? (options.fs === undefined ? 'worker' : 'inline')) === 'worker';
    if (this.useWorker && options.fs !== undefined && options.fs !== nodeFS) {
      throw new TypeError('compactionThread "worker" needs the real filesystem: a worker cannot share an injected fs');
    }
  }

  /**
   * Opens (creating if needed) the database in `options.dir`, replaying its WAL. Fails with
   * KvError DIRECTORY_LOCKED while another engine (this process or a live other one) has it open.
   */
  static async open(options: LsmOptions): Promise<LsmEngine> {
    (options.fs ?? nodeFS).mkdirp(options.dir);
    const lock = DirLock.acquire(options.dir);
    try {
      const engine = await LsmEngine.openLocked(options);
      engine.dirLock = lock;
      return engine;
    } catch (e) {
      lock.release();
      throw e;
    }
  }

  private static async openLocked(options: LsmOptions): Promise<LsmEngine> {
    const fs = options.fs ?? nodeFS;
    const dir = options.dir;
    const found = readManifest(fs, dir);
    let state = found?.state ?? emptyState();
    const cache = new BlockCache(options.blockCacheBytes ?? 64 * 1024 * 1024);
    const tables = new Map<number, TableReader>();
    const version = openVersion(fs, dir, state, cache, tables);
    let maxNumber = state.nextFileNumber - 1;
    const logs: number[] = [];
    for (const n of fs.readdir(dir)) {
      const m = /^(\d+)\.(log|sst)$|^MANIFEST-(\d+)$/.exec(n);
      if (m === null) continue;
      const num = Number(m[1] ?? m[3]);
      maxNumber = Math.max(maxNumber, num);
      if (m[2] === 'log' && num >= state.logNumber) logs.push(num);
    }
    logs.sort((a, b) => a - b);
    let next = maxNumber + 1;

    // Replay every WAL the manifest does not cover, oldest first, into one memtable, which
    // becomes immutable and is flushed in the background once the engine is open.
    const replayed = new Memtable(logs[0] ?? next, expectedEntries(options.memtableBytes));
    let lastSeq = state.lastSeq;
    const replayState: ReadState = { mem: replayed, imms: [], version };
    for (const num of logs) {
      const path = `${dir}/${fileName(num, 'log')}`;
      const res = readLog(fs.readFile(path), path, (record, offset) => {
        const seq = batchSeq(record);
        applyBatch(replayState, record, seq, `${path}@${offset}`);
        if (seq > lastSeq) lastSeq = seq;
      });
      // Cut the torn tail so the file ends on a record boundary for every later recovery.
      if (res.torn) fs.truncate(path, res.goodEnd);
    }

    const walNumber = next++;
    const wal = new LogWriter(fs.create(`${dir}/${fileName(walNumber, 'log')}`));
    const imms = replayed.count > 0 || memRangeDels(replayed).length > 0 ? [replayed] : [];
    const manifestNumber = next++;
    state = { ...state, nextFileNumber: next, lastSeq, logNumber: imms.length > 0 ? replayed.logNumber : walNumber };
    const manifest = await ManifestWriter.create(fs, dir, manifestNumber, state);
    const finalVersion = new Version(state, version.levels);
    const engine = new LsmEngine(fs, dir, manifest, { mem: new Memtable(walNumber, expectedEntries(options.memtableBytes)), imms, version: finalVersion, wal, lastSeq, nextFile: next }, options, cache, tables);
    engine.deleteObsoleteFiles();
    engine.scheduleFlush();
    return engine;
  }

  private checkOpen(): void {
    if (this.life.closed) throw new EngineClosedError(this.name);
  }

  private readState(): ReadState {
    return { mem: this.mem, imms: this.imms, version: this.version };
  }

  get(cf: ColumnFamily, key: Uint8Array): Uint8Array | undefined {
    this.checkOpen();
    assertColumnFamily(cf);
    assertBytes('key', key);
    return getAt(this.readState(), prefixed(cf, key), this.visibleSeq);
  }

  iterator(cf: ColumnFamily, options?: IterOptions): EngineIterator {
    this.checkOpen();
    const pin = this.pin();
    try {
      return makeIterator(this.life, pin.rs, pin.seq, cf, options, () => this.unpin(pin));
    } catch (e) {
      this.unpin(pin);
      throw e;
    }
  }

  snapshot(): EngineSnapshot {
    this.checkOpen();
    const pin = this.pin();
    return new LsmSnapshot(this.life, pin.rs, pin.seq, () => this.unpin(pin));
  }

  private pin(): Pin {
    const seq = this.visibleSeq;
    const rs = this.readState();
    this.pins.set(seq, (this.pins.get(seq) ?? 0) + 1);
    rs.version.refs++;
    return { seq, rs };
  }

  private unpin(pin: Pin): void {
    const n = this.pins.get(pin.seq)! - 1;
    if (n === 0) this.pins.delete(pin.seq);
    else this.pins.set(pin.seq, n);
    const v = pin.rs.version;
    if (--v.refs === 0 && v !== this.version) {
      this.liveVersions.delete(v);
      if (!this.life.closed) this.deleteObsoleteFiles();
    }
  }

  /** Sequence numbers pinned by open snapshots and iterators, ascending. */
  private snapshotSeqs(): number[] {
    return [...this.pins.keys()].sort((a, b) => a - b);
  }

  /** Sequence number of the newest published write (for tests and tools). */
  get sequence(): number {
    return this.visibleSeq;
  }

  /** Files per level of the current version (for tests and tools). */
  levelFiles(): number[][] {
    return this.version.levels.map((l) => l.map((t) => t.meta.number));
  }

  /** Metadata of the live SSTs per level (for tests and tools). */
  levelMetas(): FileMeta[][] {
    return this.version.levels.map((l) => l.map((t) => t.meta));
  }

  write(batch: WriteBatch, options?: WriteOptions): Promise<void> {
    try {
      // Refused from the moment close() starts, so close never races a new commit round.
      if (this.closing) throw new EngineClosedError(this.name);
      checkBatch(batch);
      if (this.failure !== null) throw this.failure;
    } catch (e) {
      return Promise.reject(e);
    }
    const record = encodeBatch(batch);
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ record, sync: options?.sync === true, resolve, reject });
      if (!this.leading) this.committing = this.commitLoop();
    });
  }

  /**
   * The group-commit leader. Runs synchronously until its first fsync, so an unsynced write
   * is appended and applied within the `write()` call; while an fsync is in flight, newer
   * writes pile up in `queue` and the next round takes all of them at once.
   */
  private async commitLoop(): Promise<void> {
    this.leading = true;
    try {
      while (this.queue.length > 0) {
        if (this.walRetiring !== null) await this.awaitWalRetired();
        // Write stall: back-pressure instead of unbounded memtables when flush falls behind.
        while (this.imms.length >= this.maxImms && this.flushing !== null && this.failure === null) {
          this.stats.stalls++;
          await this.flushing;
        }
        while (this.version.levels[0]!.length >= this.l0Stop && this.compacting !== null && this.failure === null) {
          this.stats.l0Stalls++;
          await this.compacting;
        }
        // A sync group pays one fsync however many batches it carries. Writers the previous
        // group just released come back in this turn of the event loop (promise callbacks);
        // without this wait the first of them would be cut into a group of its own and the rest
        // would wait a whole fsync for the next one. Unsynced writes never wait here.
        if (this.queue[0]?.sync === true) await yieldToLoop();
        if (this.failure !== null) {
          for (const p of this.queue.splice(0)) p.reject(this.failure);
          return;
        }
        let bytes = 0;
        let n = 0;
        let sync = false;
        while (n < this.queue.length && (n === 0 || bytes + this.queue[n]!.record.length <= this.maxGroupBytes)) {
          bytes += this.queue[n]!.record.length;
          sync ||= this.queue[n]!.sync;
          n++;
        }
        const group = this.queue.splice(0, n);
        let seq = this.lastSeq;
        for (const p of group) {
          setBatchSeq(p.record, ++seq);
          this.wal.add(p.record);
        }
        try {
          this.wal.flush();
          if (sync) {
            this.stats.walSyncs++;
            await this.wal.sync();
          }
        } catch (e) {
          this.fail(ioFailure(sync ? 'WAL append or fsync' : 'WAL append', e));
          for (const p of group) p.reject(this.failure);
          continue;
        }
        seq = this.lastSeq;
        const rs = this.readState();
        for (const p of group) applyBatch(rs, p.record, ++seq, 'commit');
        this.lastSeq = seq;
        this.visibleSeq = seq;
        for (const p of group) p.resolve();
        if (this.mem.approximateBytes >= this.memtableBytes) this.rotateMemtable();
      }
    } finally {
      this.leading = false;
    }
  }

  private async awaitWalRetired(): Promise<void> {
    const p = this.walRetiring;
    try {
      await p;
    } catch (e) {
      this.fail(ioFailure('WAL fsync at memtable switch', e));
    }
    if (this.walRetiring === p) this.walRetiring = null;
  }

  private fail(e: KvError): void {
    if (this.failure === null) this.failure = e;
  }

  /** Freezes the memtable and starts a new WAL for its successor; the flush runs later. */
  private rotateMemtable(): void {
    const number = this.nextFile++;
    let wal: LogWriter;
    try {
      wal = new LogWriter(this.fs.create(`${this.dir}/${fileName(number, 'log')}`));
    } catch (e) {
      this.fail(ioFailure('WAL creation', e));
      return;
    }
    const old = this.wal;
    const prev = this.walRetiring ?? Promise.resolve();
    this.walRetiring = prev.then(() => old.sync()).finally(() => old.close());
    this.wal = wal;
    this.imms = [this.mem, ...this.imms];
    this.mem = new Memtable(number, expectedEntries(this.memtableBytes));
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushing !== null || this.imms.length === 0 || this.failure !== null) return;
    this.flushing = this.flushLoop().finally(() => {
      this.flushing = null;
      // Rotations that happened during the last flush leave more work.
      if (!this.life.closed) {
        this.scheduleFlush();
        this.scheduleCompaction();
      }
    });
  }

  /** Makes the current memtable immutable (if it holds anything) and waits until it is an SST. */
  async flush(): Promise<void> {
    this.checkOpen();
    while (this.leading) await this.committing;
    if (this.mem.count > 0 || memRangeDels(this.mem).length > 0) this.rotateMemtable();
    while (this.flushing !== null) await this.flushing;
    if (this.failure !== null) throw this.failure;
  }

  private levelBytes(level: number): number {
    let n = 0;
    for (const t of this.version.levels[level]!) n += t.meta.size;
    return n;
  }

  private maxBytesForLevel(level: number): number {
    return this.levelBase * this.levelMultiplier ** (level - 1);
  }

  /** LevelDB's scoring: the level most over its budget compacts into the next one. */
  private pickCompaction(): CompactionJob | null {
    const levels = this.version.levels;
    let best = -1;
    let bestScore = 1;
    const l0Score = levels[0]!.length / this.l0Trigger;
    if (l0Score >= bestScore) {
      best = 0;
      bestScore = l0Score;
    }
    for (let l = 1; l < levels.length - 1; l++) {
      const score = this.levelBytes(l) / this.maxBytesForLevel(l);
      if (score > bestScore) {
        best = l;
        bestScore = score;
      }
    }
    if (best < 0) return null;
    let inputs: FileMeta[];
    if (best === 0) {
      inputs = levels[0]!.map((t) => t.meta);
    } else {
      // Round-robin through the level's key space, as LevelDB's compact pointer does.
      const files = levels[best]!;
      const ptr = this.compactPointer[best] ?? null;
      const pick = files.find((t) => ptr === null || compareBytes(t.meta.smallest, ptr) > 0) ?? files[0]!;
      inputs = [pick.meta];
      this.compactPointer[best] = pick.meta.largest;
    }
    return this.makeJob(this.withOverlaps(best, inputs, best + 1), best + 1);
  }

  /** Adds the files of `outputLevel` that overlap `inputs`' key range (they must be rewritten too). */
  private withOverlaps(level: number, inputs: FileMeta[], outputLevel: number): { level: number; files: FileMeta[] }[] {
    let lo = inputs[0]!.smallest;
    let hi = inputs[0]!.largest;
    for (const f of inputs) {
      if (compareBytes(f.smallest, lo) < 0) lo = f.smallest;
      if (compareBytes(f.largest, hi) > 0) hi = f.largest;
    }
    const overlapping = this.version.levels[outputLevel]!.filter((t) => compareBytes(t.meta.largest, lo) >= 0 && compareBytes(t.meta.smallest, hi) <= 0).map((t) => t.meta);
    return overlapping.length > 0 ? [{ level, files: inputs }, { level: outputLevel, files: overlapping }] : [{ level, files: inputs }];
  }

  private makeJob(groups: { level: number; files: FileMeta[] }[], outputLevel: number): CompactionJob {
    let bytes = 0;
    for (const g of groups) for (const f of g.files) bytes += f.size;
    const count = Math.ceil(bytes / this.targetFileSize) + 2;
    const fileNumbers: number[] = [];
    for (let i = 0; i < count; i++) fileNumbers.push(this.nextFile++);
    return {
      dir: this.dir,
      inputs: groups,
      outputLevel,
      snapshots: this.snapshotSeqs(),
      deeper: this.version.levels.slice(outputLevel + 1).map((files) => files.map((t) => ({ smallest: t.meta.smallest, largest: t.meta.largest }))),
      fileNumbers,
      targetFileSize: this.targetFileSize,
      table: this.tableOptions,
    };
  }

  private scheduleCompaction(): void {
    if (this.compacting !== null || this.failure !== null || this.life.closed) return;
    const job = this.pickCompaction();
    if (job === null) return;
    this.compacting = this.runJob(job).finally(() => {
      this.compacting = null;
      this.scheduleCompaction();
    });
  }

  private async runJob(job: CompactionJob): Promise<void> {
    for (const n of job.fileNumbers) this.pendingOutputs.add(n);
    try {
      const result = this.useWorker ? await (this.worker ??= new CompactionWorker()).run(job) : await runCompaction(job, this.fs, yieldToLoop);
      const edit: VersionEdit = {
        nextFileNumber: this.nextFile,
        remove: job.inputs.flatMap((g) => g.files.map((f) => ({ level: g.level, number: f.number }))),
        add: result.outputs.map((file) => ({ level: job.outputLevel, file })),
      };
      await this.manifest.append(edit);
      this.installVersion(edit);
      this.stats.compactions++;
      this.stats.compactionEntriesIn += result.entriesIn;
      this.stats.compactionEntriesOut += result.entriesOut;
    } catch (e) {
      this.fail(e instanceof KvError ? e : ioFailure('compaction', e));
    } finally {
      for (const n of job.fileNumbers) this.pendingOutputs.delete(n);
    }
    this.deleteObsoleteFiles();
  }

  /**
   * Flushes the memtable, then merges every table into the deepest non-empty level in one
   * compaction: obsolete versions and (with no snapshot pinning them) tombstones disappear.
   * For tests, tools and space measurements.
   */
  async compactAll(): Promise<void> {
    await this.flush();
    while (this.compacting !== null) await this.compacting;
    const levels = this.version.levels;
    let deepest = 1;
    for (let l = 1; l < levels.length; l++) if (levels[l]!.length > 0) deepest = l;
    const groups: { level: number; files: FileMeta[] }[] = [];
    for (let l = 0; l <= deepest; l++) if (levels[l]!.length > 0) groups.push({ level: l, files: levels[l]!.map((t) => t.meta) });
    if (groups.length === 0) return;
    const job = this.makeJob(groups, deepest);
    this.compacting = this.runJob(job).finally(() => {
      this.compacting = null;
    });
    await this.compacting;
    if (this.failure !== null) throw this.failure;
  }

  private async flushLoop(): Promise<void> {
    while (this.imms.length > 0 && this.failure === null) {
      const imm = this.imms[this.imms.length - 1]!;
      try {
        await this.flushMemtable(imm);
      } catch (e) {
        this.fail(e instanceof KvError ? e : ioFailure('memtable flush', e));
        return;
      }
    }
  }

  /** Writes `imm` (the oldest immutable memtable) to a level-0 SST and installs it. */
  private async flushMemtable(imm: Memtable): Promise<void> {
    const number = this.nextFile++;
    this.pendingOutputs.add(number);
    try {
      await this.writeFlush(imm, number);
    } finally {
      this.pendingOutputs.delete(number);
    }
    this.deleteObsoleteFiles();
  }

  private async writeFlush(imm: Memtable, number: number): Promise<void> {
    // Nothing older than level 0 can be dropped here without knowing the levels below.
    const filter = new CompactionFilter(this.snapshotSeqs(), () => false);
    const it = imm.iterator();
    let meta: FileMeta | null = null;
    let warm: FlushResult | null = null;
    if (this.useWorker) {
      const out = new ByteWriter(Math.max(4096, imm.approximateBytes));
      for (it.first(); it.valid(); it.next()) {
        const key = it.key();
        if (!filter.keep(key, it.seq(), it.kind())) continue;
        const value = it.value();
        out.varint(key.length);
        out.bytes(key);
        out.u64(it.seq());
        out.byte(it.kind());
        out.varint(value.length);
        out.bytes(value);
      }
      for (const t of memRangeDels(imm)) {
        out.varint(t.start.length);
        out.bytes(t.start);
        out.u64(t.seq);
        out.byte(KIND_DELETE_RANGE);
        out.varint(t.end.length);
        out.bytes(t.end);
      }
      const warmBytes = this.prepopulate ? this.cache.capacity : 0;
      const res = await (this.worker ??= new CompactionWorker()).flush({ dir: this.dir, number, table: this.tableOptions, data: out.view(), warmBytes });
      meta = res?.meta ?? null;
      if (res !== null && res.warm !== null) warm = res;
    } else {
      const path = `${this.dir}/${fileName(number, 'sst')}`;
      const file = this.fs.create(path);
      const writer = new TableWriter(file, number, this.tableOptions);
      let n = 0;
      for (it.first(); it.valid(); it.next()) {
        if (filter.keep(it.key(), it.seq(), it.kind())) writer.add(it.key(), it.seq(), it.kind(), it.value());
        // Let commits and reads run between slices of the flush.
        if (++n % 4096 === 0) await yieldToLoop();
      }
      for (const t of memRangeDels(imm)) writer.addRangeDel(t.start, t.end, t.seq);
      if (writer.count > 0) {
        meta = writer.finish().meta;
        await file.sync();
      }
      file.close();
      if (meta === null) this.fs.unlink(path);
    }
    const rest = this.imms.slice(0, -1);
    const logNumber = (rest.at(-1) ?? this.mem).logNumber;
    const edit: VersionEdit = { logNumber, nextFileNumber: this.nextFile, lastSeq: this.lastSeq, ...(meta !== null ? { add: [{ level: 0, file: meta }] } : {}) };
    await this.manifest.append(edit);
    this.installVersion(edit);
    // Before the memtable goes: a read that misses it now finds the blocks cached.
    if (warm !== null && warm.warm !== null && !this.life.closed) this.tables.get(warm.meta.number)?.warm(warm.warm, warm.warmFrom);
    this.imms = this.imms.filter((m) => m !== imm);
    this.stats.flushes++;
  }

  private installVersion(edit: VersionEdit): void {
    const state = applyEdit(this.version.state, edit);
    const next = openVersion(this.fs, this.dir, state, this.cache, this.tables);
    const old = this.version;
    this.version = next;
    next.refs++;
    this.liveVersions.add(next);
    if (--old.refs === 0) this.liveVersions.delete(old);
  }

  /** Removes WALs the manifest no longer needs, SSTs no live version lists, old manifests. */
  private deleteObsoleteFiles(): void {
    const live = new Set<number>();
    for (const v of this.liveVersions) v.fileNumbers(live);
    const logNumber = this.version.state.logNumber;
    let names: string[];
    try {
      names = this.fs.readdir(this.dir);
    } catch {
      // Best effort, like the unlinks below: the next pass or the next open collects them.
      return;
    }
    for (const n of names) {
      const m = /^(\d+)\.(log|sst)$|^(MANIFEST-\d+)$|^CURRENT\.tmp$/.exec(n);
      if (m === null) continue;
      let obsolete = false;
      if (m[2] === 'log') obsolete = Number(m[1]) < logNumber;
      else if (m[2] === 'sst') obsolete = !live.has(Number(m[1])) && Number(m[1]) < this.nextFile && !this.pendingOutputs.has(Number(m[1]));
      else if (m[3] !== undefined) obsolete = m[3] !== this.manifest.name;
      else obsolete = true;
      if (!obsolete) continue;
      if (m[2] === 'sst') {
        this.closeTable(Number(m[1]));
      }
      try {
        this.fs.unlink(`${this.dir}/${n}`);
      } catch {
        // Best effort: a leftover file is collected by the next pass or the next open.
      }
    }
  }

  private closeTable(number: number): void {
    this.tables.get(number)?.close();
    this.tables.delete(number);
  }

  async close(): Promise<void> {
    if (this.life.closed) return;
    this.closing = true;
    while (this.leading) await this.committing;
    while (this.flushing !== null || this.compacting !== null) {
      if (this.flushing !== null) await this.flushing;
      if (this.compacting !== null) await this.compacting;
    }
    if (this.walRetiring !== null) await this.awaitWalRetired();
    this.life.closed = true;
    await this.worker?.stop();
    try {
      if (this.failure === null) {
        this.wal.flush();
        await this.wal.sync();
      }
    } finally {
      this.wal.close();
      this.manifest.close();
      for (const r of this.tables.values()) r.close();
      this.tables.clear();
      this.dirLock?.release();
    }
  }
}

/** Builds the version of `state`, opening readers for files not yet in `tables`. */
function openVersion(fs: FS, dir: string, state: ManifestState, cache: BlockCache, tables: Map<number, TableReader>): Version {
  const levels: TableEntry[][] = state.levels.map((files) =>
    files.map((meta) => {
      let reader = tables.get(meta.number);
      if (reader === undefined) {
        reader = TableReader.open(fs.open(`${dir}/${fileName(meta.number, 'sst')}`), meta.number, cache);
        tables.set(meta.number, reader);
      }
      return { meta, reader };
    }),
  );
  return new Version(state, levels);
}

/** Entries a memtable of `memtableBytes` is likely to hold (for its bloom filter's size). */
function expectedEntries(memtableBytes = DEFAULT_MEMTABLE_BYTES): number {
  return Math.ceil(memtableBytes / 128);
}

function prefixed(cf: ColumnFamily, key: Uint8Array): Uint8Array {
  const n = key.length;
  const out = new Uint8Array(n + 1);
  out[0] = CF_ID[cf];
  // A loop beats set()'s native call for the short keys point reads mostly see.
  if (n <= 64) for (let i = 0; i < n; i++) out[i + 1] = key[i]!;
  else out.set(key, 1);
  return out;
}

function getAt(rs: ReadState, pk: Uint8Array, seq: number): Uint8Array | undefined {
  const frags = sourceFragments(rs);
  if (frags.length > 0) {
    const cover = coverSeq(frags, pk, seq);
    if (cover > 0) return getCovered(internalIterator(rs), pk, seq, cover);
  }
  const hash = bloomHash(pk);
  let e = rs.mem.get(pk, seq, hash);
  for (let i = 0; e === undefined && i < rs.imms.length; i++) e = rs.imms[i]!.get(pk, seq, hash);
  if (e !== undefined) return e.kind === KIND_PUT ? e.vrec.slice(e.vo, e.vo + e.vl) : undefined;
  let hit: { kind: number; value: Uint8Array } | undefined;
  {
    const levels = rs.version.levels;
    const l0 = levels[0]!;
    for (let i = 0; hit === undefined && i < l0.length; i++) {
      const t = l0[i]!;
      if (compareInternal(pk, 0, t.meta.smallest, 0) < 0 || compareInternal(pk, 0, t.meta.largest, 0) > 0) continue;
      hit = t.reader.get(pk, seq, hash);
    }
    for (let l = 1; hit === undefined && l < levels.length; l++) {
      const t = Version.findFile(levels[l]!, pk);
      if (t !== undefined) hit = t.reader.get(pk, seq, hash);
    }
  }
  if (hit === undefined || hit.kind !== KIND_PUT) return undefined;
  return hit.value.slice();
}

function internalIterator(rs: ReadState): InternalIterator {
  const children: InternalIterator[] = [rs.mem.iterator()];
  for (const m of rs.imms) children.push(m.iterator());
  for (const t of rs.version.levels[0]!) children.push(t.reader.iterator());
  for (let l = 1; l < rs.version.levels.length; l++) {
    const files = rs.version.levels[l]!;
    if (files.length > 0) children.push(new LevelIterator(files));
  }
  return new MergingIterator(children);
}

function makeIterator(life: Life, rs: ReadState, seq: number, cf: ColumnFamily, options: IterOptions | undefined, onClose: () => void): EngineIterator {
  assertColumnFamily(cf);
  if (options !== undefined) {
    if (typeof options !== 'object' || options === null) throw new TypeError('iterator options must be an object');
    if (options.lower !== undefined) assertBytes('lower bound', options.lower);
    if (options.upper !== undefined) assertBytes('upper bound', options.upper);
  }
  const id = CF_ID[cf];
  const lower = options?.lower !== undefined ? prefixedId(id, options.lower) : new Uint8Array([id]);
  const upper = options?.upper !== undefined ? prefixedId(id, options.upper) : new Uint8Array([id + 1]);
  const frags = sourceFragments(rs);
  const inner = frags.length > 0 ? new RangeDelFilter(internalIterator(rs), frags, seq) : internalIterator(rs);
  return new DbIterator(inner, seq, id, lower, upper, onClose, () => {
    if (life.closed) throw new EngineClosedError(life.name);
  });
}

function prefixedId(id: number, key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 1);
  out[0] = id;
  out.set(key, 1);
  return out;
}

/**
 * Applies one batch record at `seq` (every op of a batch shares its sequence number; a later
 * op on the same key replaces the earlier one in the memtable). deleteRange becomes a range
 * tombstone at `seq` (range-del.ts), which hides older versions only; the batch's own earlier
 * writes in the range become point deletes at `seq`, so the batch reads as its ops in order.
 */
function applyBatch(rs: ReadState, record: Uint8Array, seq: number, where: string): void {
  decodeBatchRaw(record, where, (kind, ko, kl, vo, vl) => {
    if (kind === KIND_PUT) rs.mem.addRaw(record, ko, kl, seq, KIND_PUT, record, vo, vl);
    else if (kind === KIND_DELETE) rs.mem.addRaw(record, ko, kl, seq, KIND_DELETE, EMPTY, 0, 0);
    else if (kind === KIND_DELETE_RANGE) {
      const key = record.subarray(ko, ko + kl);
      const end = record.subarray(vo, vo + vl);
      if (compareInternal(key, 0, end, 0) >= 0) return;
      addRangeDel(rs.mem, key.slice(), end.slice(), seq);
      decodeBatchRaw(record, where, (k2, ko2, kl2) => {
        if (ko2 >= ko || k2 === KIND_DELETE_RANGE) return;
        const k = record.subarray(ko2, ko2 + kl2);
        if (compareInternal(k, 0, key, 0) >= 0 && compareInternal(k, 0, end, 0) < 0) rs.mem.addRaw(record, ko2, kl2, seq, KIND_DELETE, EMPTY, 0, 0);
      });
    }
  });
}

class LsmSnapshot implements EngineSnapshot {
  private released = false;

  constructor(
    private readonly life: Life,
    private readonly rs: ReadState,
    private readonly seq: number,
    private readonly onRelease: () => void,
  ) {}

  private check(): void {
    if (this.life.closed) throw new EngineClosedError(this.life.name);
    if (this.released) throw new TypeError('snapshot is released');
  }

  get(cf: ColumnFamily, key: Uint8Array): Uint8Array | undefined {
    this.check();
    assertColumnFamily(cf);
    assertBytes('key', key);
    return getAt(this.rs, prefixed(cf, key), this.seq);
  }

  iterator(cf: ColumnFamily, options?: IterOptions): EngineIterator {
    this.check();
    return makeIterator(this.life, this.rs, this.seq, cf, options, () => {});
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.onRelease();
  }
}
