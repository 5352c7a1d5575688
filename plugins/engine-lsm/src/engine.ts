import {
  assertColumnFamily,
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
import { batchSeq, decodeBatch, encodeBatch, setBatchSeq } from './batch-codec.js';
import { DbIterator } from './db-iterator.js';
import { nodeFS, type FS } from './fs.js';
import type { InternalIterator } from './internal-iterator.js';
import { CF_ID, compareInternal, KIND_DELETE, KIND_DELETE_RANGE, KIND_PUT } from './keys.js';
import { emptyState, fileName, ManifestWriter, readManifest, type ManifestState } from './manifest.js';
import { Memtable } from './memtable.js';
import { MergingIterator } from './merging-iterator.js';
import { readLog } from './wal/log-reader.js';
import { LogWriter } from './wal/log-writer.js';

export interface LsmOptions {
  /** Directory of the database; created if missing. */
  readonly dir: string;
  /** Filesystem to use (tests inject `FaultFS`). Default: node:fs. */
  readonly fs?: FS;
  /** Most bytes one group commit frames into a single WAL append. Default 1 MiB. */
  readonly maxGroupBytes?: number;
}

const EMPTY = new Uint8Array(0);

/** The pieces a read looks at, newest first; pinned by snapshots and iterators. */
interface ReadState {
  readonly mem: Memtable;
  readonly imms: readonly Memtable[];
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

/**
 * A log-structured merge engine (DESIGN.md section 8). Writes go through one commit pipeline:
 * batches queued while a WAL append or fsync is in flight are framed together and share the
 * next append and fsync (group commit), then applied to the memtable in order and published by
 * raising `visibleSeq`. Reads are synchronous and look at memtables and tables newest first,
 * at a sequence number, which is also what a snapshot is.
 */
export class LsmEngine implements StorageEngine {
  readonly name = 'engine-lsm';
  readonly capabilities: EngineCapabilities = Object.freeze({ persistent: true, deleteRange: true });

  private readonly life: Life = { closed: false, name: 'engine-lsm' };
  private mem: Memtable;
  private imms: Memtable[] = [];
  private wal: LogWriter;
  private walNumber: number;
  private visibleSeq: number;
  private lastSeq: number;
  private readonly queue: Pending[] = [];
  /** True while a commit loop runs; `committing` is its promise (for close to wait on). */
  private leading = false;
  private committing: Promise<void> = Promise.resolve();
  private failure: KvError | null = null;
  private readonly snapshots = new Map<number, number>();
  private readonly maxGroupBytes: number;

  private constructor(
    private readonly fs: FS,
    private readonly dir: string,
    private state: ManifestState,
    private manifest: ManifestWriter,
    mem: Memtable,
    wal: LogWriter,
    walNumber: number,
    lastSeq: number,
    options: LsmOptions,
  ) {
    this.mem = mem;
    this.wal = wal;
    this.walNumber = walNumber;
    this.lastSeq = lastSeq;
    this.visibleSeq = lastSeq;
    this.maxGroupBytes = options.maxGroupBytes ?? 1024 * 1024;
  }

  /** Opens (creating if needed) the database in `options.dir`, replaying its WAL. */
  static async open(options: LsmOptions): Promise<LsmEngine> {
    const fs = options.fs ?? nodeFS;
    const dir = options.dir;
    fs.mkdirp(dir);
    const found = readManifest(fs, dir);
    let state = found?.state ?? emptyState();
    const names = fs.readdir(dir);
    let maxNumber = state.nextFileNumber - 1;
    const logs: number[] = [];
    for (const n of names) {
      const m = /^(\d+)\.(log|sst)$|^MANIFEST-(\d+)$/.exec(n);
      if (m === null) continue;
      const num = Number(m[1] ?? m[3]);
      maxNumber = Math.max(maxNumber, num);
      if (m[2] === 'log' && num >= state.logNumber) logs.push(num);
    }
    logs.sort((a, b) => a - b);
    let next = maxNumber + 1;

    // Replay every WAL the manifest does not cover, oldest first, into one memtable.
    const mem = new Memtable(logs[0] ?? next);
    let lastSeq = state.lastSeq;
    const replayer = { mem, imms: [] as Memtable[] };
    for (const num of logs) {
      const path = `${dir}/${fileName(num, 'log')}`;
      const res = readLog(fs.readFile(path), path, (record, offset) => {
        const seq = batchSeq(record);
        applyBatch(replayer, record, seq, `${path}@${offset}`);
        if (seq > lastSeq) lastSeq = seq;
      });
      // Cut the torn tail so the file ends on a record boundary for every later recovery.
      if (res.torn) fs.truncate(path, res.goodEnd);
    }

    const walNumber = next++;
    const wal = new LogWriter(fs.create(`${dir}/${fileName(walNumber, 'log')}`));
    const manifestNumber = next++;
    state = { ...state, nextFileNumber: next, lastSeq, logNumber: logs[0] ?? walNumber };
    const manifest = await ManifestWriter.create(fs, dir, manifestNumber, state);
    if (found !== null && found.manifest !== manifest.name) fs.unlink(`${dir}/${found.manifest}`);
    return new LsmEngine(fs, dir, state, manifest, mem, wal, walNumber, lastSeq, options);
  }

  private checkOpen(): void {
    if (this.life.closed) throw new EngineClosedError(this.name);
  }

  private readState(): ReadState {
    return { mem: this.mem, imms: this.imms };
  }

  get(cf: ColumnFamily, key: Uint8Array): Uint8Array | undefined {
    this.checkOpen();
    assertColumnFamily(cf);
    assertBytes('key', key);
    return getAt(this.readState(), prefixed(cf, key), this.visibleSeq);
  }

  iterator(cf: ColumnFamily, options?: IterOptions): EngineIterator {
    this.checkOpen();
    const seq = this.visibleSeq;
    this.pin(seq);
    return makeIterator(this.life, this.readState(), seq, cf, options, () => this.unpin(seq));
  }

  snapshot(): EngineSnapshot {
    this.checkOpen();
    const seq = this.visibleSeq;
    this.pin(seq);
    return new LsmSnapshot(this.life, this.readState(), seq, () => this.unpin(seq));
  }

  private pin(seq: number): void {
    this.snapshots.set(seq, (this.snapshots.get(seq) ?? 0) + 1);
  }

  private unpin(seq: number): void {
    const n = this.snapshots.get(seq)! - 1;
    if (n === 0) this.snapshots.delete(seq);
    else this.snapshots.set(seq, n);
  }

  /** Sequence number of the newest published write (for tests and tools). */
  get sequence(): number {
    return this.visibleSeq;
  }

  write(batch: WriteBatch, options?: WriteOptions): Promise<void> {
    try {
      this.checkOpen();
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
          if (sync) await this.wal.sync();
        } catch (e) {
          this.failure = ioFailure(sync ? 'WAL append or fsync' : 'WAL append', e);
          for (const p of group) p.reject(this.failure);
          continue;
        }
        seq = this.lastSeq;
        const rs = { mem: this.mem, imms: this.imms };
        for (const p of group) applyBatch(rs, p.record, ++seq, 'commit');
        this.lastSeq = seq;
        this.visibleSeq = seq;
        for (const p of group) p.resolve();
      }
    } finally {
      this.leading = false;
    }
  }

  async close(): Promise<void> {
    if (this.life.closed) return;
    while (this.leading) await this.committing;
    this.life.closed = true;
    try {
      if (this.failure === null) {
        this.wal.flush();
        await this.wal.sync();
      }
    } finally {
      this.wal.close();
      this.manifest.close();
    }
  }
}

function prefixed(cf: ColumnFamily, key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 1);
  out[0] = CF_ID[cf];
  out.set(key, 1);
  return out;
}

function getAt(rs: ReadState, pk: Uint8Array, seq: number): Uint8Array | undefined {
  let hit = rs.mem.get(pk, seq);
  for (let i = 0; hit === undefined && i < rs.imms.length; i++) hit = rs.imms[i]!.get(pk, seq);
  if (hit === undefined || hit.kind !== KIND_PUT) return undefined;
  return hit.value.slice();
}

function internalIterator(rs: ReadState): InternalIterator {
  const children: InternalIterator[] = [rs.mem.iterator()];
  for (const m of rs.imms) children.push(m.iterator());
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
  return new DbIterator(internalIterator(rs), seq, id, lower, upper, onClose, () => {
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
 * op on the same key replaces the earlier one in the memtable). deleteRange is expanded here
 * into point deletes of the keys live at that moment, reading at `seq` itself so earlier ops
 * of the same batch count. Replay applies records in the same order over the same state, so
 * it expands to the same deletes.
 */
function applyBatch(rs: ReadState, record: Uint8Array, seq: number, where: string): void {
  decodeBatch(record, where, (kind, key, v) => {
    if (kind === KIND_PUT) rs.mem.add(key, seq, KIND_PUT, v!);
    else if (kind === KIND_DELETE) rs.mem.add(key, seq, KIND_DELETE, EMPTY);
    else if (kind === KIND_DELETE_RANGE) {
      const end = v!;
      if (compareInternal(key, 0, end, 0) >= 0) return;
      const live: Uint8Array[] = [];
      const it = internalIterator(rs);
      const cf = key[0]!;
      const dbi = new DbIterator(it, seq, cf, key, end, () => {}, () => {});
      for (let ok = dbi.first(); ok; ok = dbi.next()) live.push(prefixedId(cf, dbi.key()));
      dbi.close();
      for (const k of live) rs.mem.add(k, seq, KIND_DELETE, EMPTY);
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
