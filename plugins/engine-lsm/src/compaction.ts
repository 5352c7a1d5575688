import { compareBytes } from '@flashkv/core';
import { getU64, getVarint } from './coding.js';
import { CompactionFilter } from './compaction-filter.js';
import type { FS, WritableFile } from './fs.js';
import type { InternalIterator } from './internal-iterator.js';
import { equalBytes, KIND_DELETE_RANGE } from './keys.js';
import { CompactionRangeDels, stripeOf, tableRangeDels, type RangeTombstone } from './range-del.js';
import { LevelIterator } from './level-iterator.js';
import { fileName, type FileMeta } from './manifest.js';
import { MergingIterator } from './merging-iterator.js';
import { BlockCache } from './sstable/block-cache.js';
import { TableReader } from './sstable/table-reader.js';
import { TableWriter, type TableOptions } from './sstable/table-writer.js';
import type { TableEntry } from './version.js';

/**
 * Everything a compaction needs, as plain structured-cloneable data, so the same job runs
 * inline or in a worker thread (compaction-worker.ts) that shares nothing with the engine.
 */
export interface CompactionJob {
  readonly dir: string;
  /** Input files by level; level-0 files newest first. */
  readonly inputs: readonly { readonly level: number; readonly files: readonly FileMeta[] }[];
  readonly outputLevel: number;
  /** Sequence numbers pinned by open snapshots, ascending. */
  readonly snapshots: readonly number[];
  /** Key ranges of the files in levels below the output level, per level, sorted. */
  readonly deeper: readonly (readonly { readonly smallest: Uint8Array; readonly largest: Uint8Array }[])[];
  /** File numbers reserved for the outputs. */
  readonly fileNumbers: readonly number[];
  readonly targetFileSize: number;
  readonly table: TableOptions;
}

export interface CompactionResult {
  readonly outputs: FileMeta[];
  readonly entriesIn: number;
  readonly entriesOut: number;
}

/** Can an older version of `key` exist below the output level? */
function makeBottommost(deeper: CompactionJob['deeper']): (key: Uint8Array) => boolean {
  return (key) => {
    for (const files of deeper) {
      let lo = 0;
      let hi = files.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (compareBytes(files[mid]!.largest, key) < 0) lo = mid + 1;
        else hi = mid;
      }
      const f = files[lo];
      if (f !== undefined && compareBytes(f.smallest, key) <= 0) return false;
    }
    return true;
  };
}

/** Does any file below the output level overlap [start, end)? */
function makeOverlapsDeeper(deeper: CompactionJob['deeper']): (start: Uint8Array, end: Uint8Array) => boolean {
  return (start, end) => deeper.some((files) => files.some((f) => compareBytes(f.largest, start) >= 0 && compareBytes(f.smallest, end) < 0));
}

/**
 * Merges the inputs, keeps what the CompactionFilter keeps, and writes output tables of about
 * `targetFileSize`, cut only between user keys (so a key's versions never straddle two files
 * of one level, which point reads rely on). `pause` lets an inline run yield to the event loop.
 */
export async function runCompaction(job: CompactionJob, fs: FS, pause?: () => Promise<void>): Promise<CompactionResult> {
  const cache = new BlockCache(8 * 1024 * 1024);
  const readers: TableReader[] = [];
  const children: InternalIterator[] = [];
  const entryOf = (meta: FileMeta): TableEntry => {
    const reader = TableReader.open(fs.open(`${job.dir}/${fileName(meta.number, 'sst')}`), meta.number, cache);
    readers.push(reader);
    return { meta, reader };
  };
  for (const input of job.inputs) {
    if (input.level === 0) for (const f of input.files) children.push(entryOf(f).reader.iterator());
    else children.push(new LevelIterator(input.files.map(entryOf)));
  }
  const it = new MergingIterator(children);
  const filter = new CompactionFilter(job.snapshots, makeBottommost(job.deeper));
  const tombstones: RangeTombstone[] = [];
  for (const r of readers) for (const t of tableRangeDels(r)) tombstones.push(t);
  const rangeDels = new CompactionRangeDels(tombstones, (seq) => stripeOf(job.snapshots, seq), makeOverlapsDeeper(job.deeper));
  const kept = rangeDels.kept;
  let nextDel = 0;
  // Largest end of the tombstones in the current output: no cut at or before it, so a
  // tombstone never straddles two files of a level and file ranges stay disjoint.
  let delEnd: Uint8Array | null = null;
  const addDelsUpTo = (key: Uint8Array | null) => {
    while (nextDel < kept.length && (key === null || compareBytes(kept[nextDel]!.start, key) <= 0)) {
      const t = kept[nextDel++]!;
      (writer as TableWriter).addRangeDel(t.start, t.end, t.seq);
      if (delEnd === null || compareBytes(t.end, delEnd) > 0) delEnd = t.end;
    }
  };
  const openOutput = (): TableWriter => {
    if (next >= job.fileNumbers.length) throw new Error('compaction ran out of reserved file numbers');
    const number = job.fileNumbers[next++]!;
    file = fs.create(`${job.dir}/${fileName(number, 'sst')}`);
    const w = new TableWriter(file, number, job.table);
    writer = w;
    delEnd = null;
    return w;
  };
  const outputs: FileMeta[] = [];
  let writer: TableWriter | null = null;
  let file: WritableFile | null = null;
  let next = 0;
  let entriesIn = 0;
  let entriesOut = 0;
  let lastKey: Uint8Array | null = null;
  const finishOutput = async () => {
    if (writer === null) return;
    const { meta } = writer.finish();
    await file!.sync();
    file!.close();
    outputs.push(meta);
    writer = null;
    file = null;
  };
  try {
    for (it.first(); it.valid(); it.next()) {
      entriesIn++;
      const key = it.key();
      const newKey = lastKey === null || !equalBytes(lastKey, key);
      if (rangeDels.covers(key, it.seq())) continue;
      if (!filter.keep(key, it.seq(), it.kind())) continue;
      // Tombstones starting at or before this key join the current output before the cut check.
      if (writer !== null) addDelsUpTo(key);
      if (newKey && writer !== null && (writer as TableWriter).estimatedSize() >= job.targetFileSize && (delEnd === null || compareBytes(key, delEnd) > 0)) {
        await finishOutput();
      }
      const out: TableWriter = writer ?? openOutput();
      addDelsUpTo(key);
      out.add(key, it.seq(), it.kind(), it.value());
      lastKey = key;
      entriesOut++;
      if (pause !== undefined && entriesIn % 4096 === 0) await pause();
    }
    if (nextDel < kept.length) {
      if (writer === null) openOutput();
      addDelsUpTo(null);
    }
    await finishOutput();
  } finally {
    it.close();
    for (const r of readers) r.close();
    (file as WritableFile | null)?.close();
  }
  return { outputs, entriesIn, entriesOut };
}

/**
 * A memtable flush handed to a worker: the kept entries packed into one transferable buffer,
 *   entry := varint len(key) | key | seq u64 | kind u8 | varint len(value) | value
 * Packing is one copy on the main thread; building blocks, filter, checksums and the fsync
 * then happen off it.
 */
export interface FlushJob {
  readonly dir: string;
  readonly number: number;
  readonly table: TableOptions;
  readonly data: Uint8Array;
  /**
   * Also read the new table's data blocks back (checksums verified here, off the main thread)
   * and return at most this many bytes of them, the table's tail, for the engine to put in its
   * block cache (RocksDB's prepopulate_block_cache = kFlushOnly). 0: none.
   */
  readonly warmBytes?: number;
}

/** What a flush job returns: the table (null if nothing was kept) and its warm blocks. */
export interface FlushResult {
  readonly meta: FileMeta;
  /** Data blocks for the block cache: each block's bytes at its file offset - `warmFrom`. */
  readonly warm: Uint8Array | null;
  readonly warmFrom: number;
}

export async function runFlushJob(job: FlushJob, fs: FS): Promise<FlushResult | null> {
  const d = job.data;
  const cur = { pos: 0 };
  const path = `${job.dir}/${fileName(job.number, 'sst')}`;
  const file = fs.create(path);
  const writer = new TableWriter(file, job.number, job.table);
  try {
    while (cur.pos < d.length) {
      const klen = getVarint(d, cur);
      const key = d.subarray(cur.pos, cur.pos + klen);
      cur.pos += klen;
      const seq = getU64(d, cur.pos);
      const kind = d[cur.pos + 8]!;
      cur.pos += 9;
      const vlen = getVarint(d, cur);
      const value = d.subarray(cur.pos, cur.pos + vlen);
      cur.pos += vlen;
      if (kind === KIND_DELETE_RANGE) writer.addRangeDel(key, value, seq);
      else writer.add(key, seq, kind, value);
    }
    if (writer.count === 0) {
      file.close();
      fs.unlink(path);
      return null;
    }
    const { meta } = writer.finish();
    await file.sync();
    file.close();
    const warmBytes = job.warmBytes ?? 0;
    if (warmBytes <= 0) return { meta, warm: null, warmFrom: 0 };
    const reader = TableReader.open(fs.open(path), job.number, new BlockCache(0));
    try {
      const { bytes, from } = reader.readDataTail(warmBytes);
      return { meta, warm: bytes, warmFrom: from };
    } finally {
      reader.close();
    }
  } catch (e) {
    file.close();
    throw e;
  }
}
