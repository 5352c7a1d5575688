import { compareBytes } from '@flashkv/core';
import { putU32, putU64, putVarint } from '../coding.js';
import { crc32c, crc32cUpdate, maskCrc } from '../crc32c.js';
import type { WritableFile } from '../fs.js';
import type { FileMeta } from '../manifest.js';
import { BlockBuilder } from './block.js';
import { bloomHash, buildBloom } from './bloom.js';
import { BLOCK_TRAILER_SIZE, FOOTER_SIZE, KEY_TRAILER, SST_FORMAT_VERSION, SST_FORMAT_VERSION_RANGE_DELS, SST_MAGIC, type BlockHandle } from './format.js';
import { encodeRangeDels, type RangeTombstone } from '../range-del.js';
import { putTrailer } from './internal-key.js';

export interface TableOptions {
  /** Target uncompressed data block size. Default 4 KiB. */
  readonly blockSize?: number;
  readonly restartInterval?: number;
  readonly bloomBitsPerKey?: number;
}

/** Table-wide facts written to the properties block (JSON) and returned as FileMeta. */
export interface TableProperties {
  readonly format: number;
  readonly entries: number;
  readonly dataBlocks: number;
  readonly smallest: string;
  readonly largest: string;
  readonly smallestSeq: number;
  readonly largestSeq: number;
  readonly rawKeyBytes: number;
  readonly rawValueBytes: number;
  /** Format version 2 only: the range-del block (see range-del.ts). */
  readonly rangeDels?: { readonly offset: number; readonly size: number; readonly count: number };
}

const TYPE_NONE = new Uint8Array([0]);

/** Writes one SST from entries added in internal order. */
export class TableWriter {
  private readonly data: BlockBuilder;
  private readonly index = new BlockBuilder(1);
  private readonly blockSize: number;
  private readonly bitsPerKey: number;
  private offset = 0;
  private keyBuf = new Uint8Array(256);
  private lastKey = new Uint8Array(256);
  private lastKeyLen = 0;
  private hashes = new Uint32Array(1024);
  private hashCount = 0;
  private lastPk: Uint8Array | null = null;
  private entries = 0;
  private dataBlocks = 0;
  private smallest: Uint8Array | null = null;
  private largest: Uint8Array | null = null;
  private smallestSeq = Number.MAX_SAFE_INTEGER;
  private largestSeq = 0;
  private rawKeyBytes = 0;
  private rawValueBytes = 0;
  private readonly handleBuf = new Uint8Array(20);
  private readonly rangeDels: RangeTombstone[] = [];

  constructor(
    private readonly file: WritableFile,
    private readonly number: number,
    options: TableOptions = {},
  ) {
    this.data = new BlockBuilder(options.restartInterval ?? 16);
    this.blockSize = options.blockSize ?? 4096;
    this.bitsPerKey = options.bloomBitsPerKey ?? 10;
  }

  /** Entries plus range tombstones: zero means there is no table to write. */
  get count(): number {
    return this.entries + this.rangeDels.length;
  }

  /** Adds a range tombstone [start, end) at `seq` (any order; kept in a block of its own). */
  addRangeDel(start: Uint8Array, end: Uint8Array, seq: number): void {
    this.rangeDels.push({ start: start.slice(), end: end.slice(), seq });
    if (seq < this.smallestSeq) this.smallestSeq = seq;
    if (seq > this.largestSeq) this.largestSeq = seq;
  }

  /** Bytes written so far plus the pending block: when to cut an output table. */
  estimatedSize(): number {
    return this.offset + this.data.estimatedSize();
  }

  add(pk: Uint8Array, seq: number, kind: number, value: Uint8Array): void {
    const klen = pk.length + KEY_TRAILER;
    if (this.keyBuf.length < klen) this.keyBuf = new Uint8Array(klen * 2);
    this.keyBuf.set(pk, 0);
    putTrailer(this.keyBuf, pk.length, seq, kind);
    this.data.add(this.keyBuf, klen, value);
    if (this.lastKey.length < klen) this.lastKey = new Uint8Array(klen * 2);
    this.lastKey.set(this.keyBuf.subarray(0, klen), 0);
    this.lastKeyLen = klen;
    // One filter entry per user key, not per version.
    if (this.lastPk === null || !sameBytes(this.lastPk, pk)) {
      if (this.hashCount === this.hashes.length) {
        const nh = new Uint32Array(this.hashes.length * 2);
        nh.set(this.hashes);
        this.hashes = nh;
      }
      this.hashes[this.hashCount++] = bloomHash(pk);
      this.lastPk = pk;
    }
    if (this.smallest === null) this.smallest = pk.slice();
    this.largest = pk;
    if (seq < this.smallestSeq) this.smallestSeq = seq;
    if (seq > this.largestSeq) this.largestSeq = seq;
    this.entries++;
    this.rawKeyBytes += pk.length;
    this.rawValueBytes += value.length;
    if (this.data.estimatedSize() >= this.blockSize) this.flushBlock();
  }

  private writeBlock(block: Uint8Array): BlockHandle {
    const trailer = new Uint8Array(BLOCK_TRAILER_SIZE);
    trailer[0] = 0;
    putU32(trailer, 1, maskCrc(crc32cUpdate(crc32c(block), TYPE_NONE)));
    this.file.append(block);
    this.file.append(trailer);
    const h = { offset: this.offset, size: block.length };
    this.offset += block.length + BLOCK_TRAILER_SIZE;
    return h;
  }

  private flushBlock(): void {
    if (this.data.empty()) return;
    const h = this.writeBlock(this.data.finish());
    this.dataBlocks++;
    let at = putVarint(this.handleBuf, 0, h.offset);
    at = putVarint(this.handleBuf, at, h.size);
    this.index.add(this.lastKey, this.lastKeyLen, this.handleBuf.subarray(0, at));
  }

  /** Writes filter, properties, index and footer; returns the table's metadata. */
  finish(): { meta: FileMeta; props: TableProperties } {
    if (this.count === 0) throw new TypeError('an SST needs at least one entry');
    this.flushBlock();
    const filter = this.writeBlock(buildBloom(this.hashes, this.hashCount, this.bitsPerKey));
    // The table's key range covers its tombstones' ranges too (the exclusive end as an
    // inclusive bound: conservative), so level lookups and overlap checks see them.
    let smallest = this.smallest;
    let largest = this.largest;
    for (const t of this.rangeDels) {
      if (smallest === null || compareBytes(t.start, smallest) < 0) smallest = t.start;
      if (largest === null || compareBytes(t.end, largest) > 0) largest = t.end;
    }
    this.smallest = smallest;
    this.largest = largest;
    const format = this.rangeDels.length > 0 ? SST_FORMAT_VERSION_RANGE_DELS : SST_FORMAT_VERSION;
    let rangeDels: TableProperties['rangeDels'];
    if (this.rangeDels.length > 0) {
      const h = this.writeBlock(encodeRangeDels(this.rangeDels));
      rangeDels = { offset: h.offset, size: h.size, count: this.rangeDels.length };
    }
    const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
    const props: TableProperties = {
      ...(rangeDels !== undefined ? { rangeDels } : {}),
      format,
      entries: this.entries,
      dataBlocks: this.dataBlocks,
      smallest: hex(this.smallest!),
      largest: hex(this.largest!),
      smallestSeq: this.smallestSeq,
      largestSeq: this.largestSeq,
      rawKeyBytes: this.rawKeyBytes,
      rawValueBytes: this.rawValueBytes,
    };
    const propsH = this.writeBlock(new TextEncoder().encode(JSON.stringify(props)));
    const indexH = this.writeBlock(this.index.finish());
    const footer = new Uint8Array(FOOTER_SIZE);
    let at = 0;
    for (const h of [filter, propsH, indexH]) {
      putU64(footer, at, h.offset);
      putU64(footer, at + 8, h.size);
      at += 16;
    }
    putU32(footer, 48, format);
    putU32(footer, 52, maskCrc(crc32c(footer, 0, 52)));
    footer.set(SST_MAGIC, 56);
    this.file.append(footer);
    this.offset += FOOTER_SIZE;
    const meta: FileMeta = {
      number: this.number,
      size: this.offset,
      smallest: this.smallest!,
      largest: this.largest!.slice(),
      smallestSeq: this.smallestSeq,
      largestSeq: this.largestSeq,
      entries: this.entries,
    };
    return { meta, props };
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
