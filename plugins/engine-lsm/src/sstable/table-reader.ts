import { CorruptedError, InvalidArgumentError } from '@flashkv/core';
import { getU32, getU64, getVarint } from '../coding.js';
import { crc32c, crc32cUpdate, unmaskCrc } from '../crc32c.js';
import { readFully, type ReadableFile } from '../fs.js';
import type { InternalIterator } from '../internal-iterator.js';
import { BlockIter } from './block.js';
import { BlockCache, type CacheEntry } from './block-cache.js';
import { bloomHash, bloomMayContain } from './bloom.js';
import { BLOCK_TRAILER_SIZE, FOOTER_SIZE, KEY_TRAILER, SST_FORMAT_VERSION, SST_FORMAT_VERSION_RANGE_DELS, SST_MAGIC, type BlockHandle } from './format.js';
import { compareEncoded, trailerKind, trailerSeq } from './internal-key.js';
import type { TableProperties } from './table-writer.js';

const TYPE_NONE = new Uint8Array([0]);

/** One found version: kind and value (a view into a cached block). */
export interface TableHit {
  kind: number;
  value: Uint8Array;
}

/**
 * An open SST. Footer, index, filter and properties are read once at open; data blocks are
 * read on demand through the shared block cache, their checksums verified on every read from
 * disk.
 */
export class TableReader {
  readonly index: Uint8Array;
  readonly filter: Uint8Array;
  readonly props: TableProperties;
  private readonly hit: TableHit = { kind: 0, value: new Uint8Array(0) };
  /** This table's entries in the shared block cache. */
  private readonly cached = new Map<number, CacheEntry>();
  /** Reused by `get` (reads are synchronous, so one at a time). */
  private readonly getIndex: BlockIter;
  private getData: BlockIter | null = null;
  private readonly handle = { offset: 0, size: 0 };

  private constructor(
    readonly file: ReadableFile,
    readonly number: number,
    private readonly cache: BlockCache,
    index: Uint8Array,
    filter: Uint8Array,
    props: TableProperties,
    /** End of the data blocks (the filter block's offset, as the writer lays tables out). */
    private readonly dataEnd: number,
  ) {
    this.index = index;
    this.filter = filter;
    this.props = props;
    this.getIndex = new BlockIter(index, `${file.path} index`);
  }

  static open(file: ReadableFile, number: number, cache: BlockCache): TableReader {
    const where = file.path;
    if (file.size < FOOTER_SIZE) throw new CorruptedError(`${where}: ${file.size} bytes is too short for an SST`, { file: where });
    const footer = new Uint8Array(FOOTER_SIZE);
    readFully(file, footer, FOOTER_SIZE, file.size - FOOTER_SIZE);
    for (let i = 0; i < 8; i++) {
      if (footer[56 + i] !== SST_MAGIC[i]) throw new CorruptedError(`${where}: not an SST (bad magic)`, { file: where });
    }
    const version = getU32(footer, 48);
    if (version !== SST_FORMAT_VERSION && version !== SST_FORMAT_VERSION_RANGE_DELS) {
      throw new InvalidArgumentError(`${where} is SST format version ${version}; this build reads versions ${SST_FORMAT_VERSION} and ${SST_FORMAT_VERSION_RANGE_DELS} only`, {
        file: where,
        format: version,
      });
    }
    if (unmaskCrc(getU32(footer, 52)) !== crc32c(footer, 0, 52)) throw new CorruptedError(`${where}: footer checksum mismatch`, { file: where, offset: file.size - FOOTER_SIZE });
    const h = (i: number): BlockHandle => ({ offset: getU64(footer, 16 * i), size: getU64(footer, 16 * i + 8) });
    const filter = readBlock(file, h(0));
    const propsBytes = readBlock(file, h(1));
    const index = readBlock(file, h(2));
    let props: TableProperties;
    try {
      props = JSON.parse(new TextDecoder().decode(propsBytes)) as TableProperties;
    } catch {
      throw new CorruptedError(`${where}: properties block is not JSON`, { file: where });
    }
    return new TableReader(file, number, cache, index, filter, props, h(0).offset);
  }

  /** A data block, from the cache or read and verified; the caller may keep views of it. */
  block(h: BlockHandle): Uint8Array {
    let b = this.cache.get(this.cached, h.offset);
    if (b === undefined) {
      b = readBlock(this.file, h);
      this.cache.set(this.cached, h.offset, b);
    }
    return b;
  }

  /**
   * A data block for `get` only, which is synchronous and copies what it returns: on a miss
   * the block is read into a recycled buffer and stays recyclable until someone calls `block`.
   */
  private blockForGet(h: BlockHandle): Uint8Array {
    const e = this.cache.entry(this.cached, h.offset);
    if (e !== undefined) return e.block;
    const total = h.size + BLOCK_TRAILER_SIZE;
    checkInFile(this.file, h);
    const buf = this.cache.take(total);
    const got = readFully(this.file, buf, total, h.offset);
    if (got !== total) throw new CorruptedError(`${this.file.path}: short read of block at ${h.offset}`, { file: this.file.path, offset: h.offset });
    const b = verifyBlock(this.file.path, buf, h);
    this.cache.set(this.cached, h.offset, b, buf, true);
    return b;
  }

  /**
   * The data blocks of this table's last `budget` bytes of data, read from disk in one call and
   * every block's checksum verified: `bytes` holds the file from offset `from` up to the end of
   * the data blocks. For a flush to hand its new blocks to the block cache.
   */
  readDataTail(budget: number): { bytes: Uint8Array; from: number } {
    const idx = new BlockIter(this.index, `${this.file.path} index`);
    const handles: BlockHandle[] = [];
    for (idx.first(); idx.valid(); idx.next()) handles.push(decodeHandle(idx, this.file.path));
    let first = handles.length;
    while (first > 0 && this.dataEnd - handles[first - 1]!.offset <= budget) first--;
    if (first === handles.length) return { bytes: new Uint8Array(0), from: this.dataEnd };
    const from = handles[first]!.offset;
    const len = this.dataEnd - from;
    const bytes = new Uint8Array(len);
    if (readFully(this.file, bytes, len, from) !== len) throw new CorruptedError(`${this.file.path}: short read of data blocks at ${from}`, { file: this.file.path, offset: from });
    for (let i = first; i < handles.length; i++) {
      const h = handles[i]!;
      if (h.offset + h.size + BLOCK_TRAILER_SIZE > this.dataEnd) throw new CorruptedError(`${this.file.path}: block at ${h.offset} runs past the data blocks`, { file: this.file.path, offset: h.offset });
      verifyBlock(this.file.path, bytes.subarray(h.offset - from), h);
    }
    return { bytes, from };
  }

  /**
   * Puts the blocks of `bytes` (file bytes from offset `from`, as readDataTail returns them,
   * already verified) into the block cache, each copied into its own cache buffer. Blocks not
   * wholly inside `bytes` are skipped.
   */
  warm(bytes: Uint8Array, from: number): number {
    const idx = new BlockIter(this.index, `${this.file.path} index`);
    const h = { offset: 0, size: 0 };
    let n = 0;
    for (idx.first(); idx.valid(); idx.next()) {
      decodeHandleInto(idx, this.file.path, h);
      if (h.offset < from || h.offset + h.size > from + bytes.length) continue;
      if (this.cached.has(h.offset)) continue;
      const buf = this.cache.take(h.size + BLOCK_TRAILER_SIZE);
      buf.set(bytes.subarray(h.offset - from, h.offset - from + h.size));
      this.cache.set(this.cached, h.offset, buf.subarray(0, h.size), buf, true);
      n++;
    }
    return n;
  }

  mayContain(pk: Uint8Array, hash = bloomHash(pk)): boolean {
    return bloomMayContain(this.filter, hash);
  }

  /**
   * The newest version of `pk` at or below `seq`, or undefined. `hash` is `bloomHash(pk)`,
   * computed once by the caller for every table it asks. The returned object is reused by the
   * next call.
   */
  get(pk: Uint8Array, seq: number, hash = bloomHash(pk)): TableHit | undefined {
    if (!bloomMayContain(this.filter, hash)) return undefined;
    const idx = this.getIndex;
    idx.seekGE(pk, seq);
    if (!idx.valid()) return undefined;
    decodeHandleInto(idx, this.file.path, this.handle);
    const block = this.blockForGet(this.handle);
    let data = this.getData;
    if (data === null) data = this.getData = new BlockIter(block, this.file.path);
    else data.reset(block, this.file.path);
    data.seekGE(pk, seq);
    if (!data.valid()) return undefined;
    if (compareEncoded(data.keyBuf, data.keyLen, pk, -1) > 0) {
      // First entry >= (pk, seq) belongs to a larger key: pk has no visible version here.
      return undefined;
    }
    const ulen = data.keyLen - KEY_TRAILER;
    if (ulen !== pk.length) return undefined;
    for (let i = 0; i < ulen; i++) if (data.keyBuf[i] !== pk[i]) return undefined;
    this.hit.kind = trailerKind(data.keyBuf, data.keyLen);
    this.hit.value = data.value();
    return this.hit;
  }

  iterator(): InternalIterator {
    return new TableIterator(this);
  }

  close(): void {
    this.cache.drop(this.cached);
    this.file.close();
  }
}

function checkInFile(file: ReadableFile, h: BlockHandle): void {
  if (h.offset + h.size + BLOCK_TRAILER_SIZE > file.size) {
    throw new CorruptedError(`${file.path}: block at ${h.offset} (+${h.size}) runs past the end of the file`, { file: file.path, offset: h.offset });
  }
}

function readBlock(file: ReadableFile, h: BlockHandle): Uint8Array {
  const total = h.size + BLOCK_TRAILER_SIZE;
  checkInFile(file, h);
  const buf = new Uint8Array(total);
  const got = readFully(file, buf, total, h.offset);
  if (got !== total) throw new CorruptedError(`${file.path}: short read of block at ${h.offset}`, { file: file.path, offset: h.offset });
  return verifyBlock(file.path, buf, h);
}

/** The block at buf[0, h.size) after checking its trailer (compression type and checksum). */
function verifyBlock(where: string, buf: Uint8Array, h: BlockHandle): Uint8Array {
  const type = buf[h.size]!;
  if (type !== 0) throw new CorruptedError(`${where}: unknown block compression ${type} at ${h.offset}`, { file: where, offset: h.offset });
  if (unmaskCrc(getU32(buf, h.size + 1)) !== crc32cUpdate(crc32c(buf, 0, h.size), TYPE_NONE)) {
    throw new CorruptedError(`${where}: block checksum mismatch at offset ${h.offset}`, { file: where, offset: h.offset });
  }
  return buf.subarray(0, h.size);
}

function decodeHandle(idx: BlockIter, where: string): BlockHandle {
  return decodeHandleInto(idx, where, { offset: 0, size: 0 });
}

const handleCursor = { pos: 0 };

function decodeHandleInto(idx: BlockIter, where: string, out: { offset: number; size: number }): BlockHandle {
  handleCursor.pos = idx.valueStart;
  const offset = getVarint(idx.data, handleCursor, idx.valueEnd);
  const size = getVarint(idx.data, handleCursor, idx.valueEnd);
  if (offset < 0 || size < 0) throw new CorruptedError(`${where}: bad block handle in index`, { file: where });
  out.offset = offset;
  out.size = size;
  return out;
}

/** Two-level cursor: the index block picks a data block, a BlockIter walks it. */
class TableIterator implements InternalIterator {
  private readonly idx: BlockIter;
  private data: BlockIter | null = null;
  private curKey: Uint8Array | null = null;

  constructor(private readonly table: TableReader) {
    this.idx = new BlockIter(table.index, `${table.file.path} index`);
  }

  private load(): boolean {
    if (!this.idx.valid()) {
      this.data = null;
      return false;
    }
    this.data = new BlockIter(this.table.block(decodeHandle(this.idx, this.table.file.path)), this.table.file.path);
    return true;
  }

  private settle(): void {
    this.curKey = null;
  }

  valid(): boolean {
    return this.data !== null && this.data.valid();
  }

  private skipForward(): void {
    while (this.data !== null && !this.data.valid()) {
      this.idx.next();
      if (!this.load()) return;
      this.data!.first();
    }
  }

  private skipBackward(): void {
    while (this.data !== null && !this.data.valid()) {
      this.idx.prev();
      if (!this.load()) return;
      this.data!.last();
    }
  }

  seekGE(key: Uint8Array, seq: number): void {
    this.settle();
    this.idx.seekGE(key, seq);
    if (!this.load()) return;
    this.data!.seekGE(key, seq);
    this.skipForward();
  }

  seekLT(key: Uint8Array, seq: number): void {
    this.settle();
    this.idx.seekGE(key, seq);
    if (!this.idx.valid()) {
      this.idx.last();
      if (!this.load()) return;
      this.data!.last();
      return;
    }
    this.load();
    this.data!.seekLT(key, seq);
    this.skipBackward();
  }

  first(): void {
    this.settle();
    this.idx.first();
    if (!this.load()) return;
    this.data!.first();
    this.skipForward();
  }

  last(): void {
    this.settle();
    this.idx.last();
    if (!this.load()) return;
    this.data!.last();
    this.skipBackward();
  }

  next(): void {
    this.settle();
    this.data!.next();
    this.skipForward();
  }

  prev(): void {
    this.settle();
    this.data!.prev();
    this.skipBackward();
  }

  key(): Uint8Array {
    return (this.curKey ??= this.data!.keyBuf.slice(0, this.data!.keyLen - KEY_TRAILER));
  }

  seq(): number {
    return trailerSeq(this.data!.keyBuf, this.data!.keyLen);
  }

  kind(): number {
    return trailerKind(this.data!.keyBuf, this.data!.keyLen);
  }

  value(): Uint8Array {
    return this.data!.value();
  }

  close(): void {
    this.data = null;
  }
}
