import { ByteWriter, putU32 } from '../coding.js';
import { crc32c, crc32cUpdate, maskCrc } from '../crc32c.js';
import type { WritableFile } from '../fs.js';
import { BLOCK_SIZE, ChunkType, HEADER_SIZE } from './log-format.js';

const TYPE_BYTE = [new Uint8Array([0]), new Uint8Array([1]), new Uint8Array([2]), new Uint8Array([3]), new Uint8Array([4])];

/**
 * Frames records into the block format. `add` only encodes into an in-memory buffer;
 * `flush` hands everything added since the last flush to the file in ONE append: group commit
 * frames many writers' batches and pays one write (and at most one fsync) for all of them.
 */
export class LogWriter {
  private blockOffset: number;
  private readonly out = new ByteWriter(64 * 1024);

  constructor(readonly file: WritableFile) {
    this.blockOffset = file.size() % BLOCK_SIZE;
  }

  add(record: Uint8Array): void {
    let left = record.length;
    let pos = 0;
    let begin = true;
    do {
      const room = BLOCK_SIZE - this.blockOffset;
      if (room < HEADER_SIZE) {
        // Too small for a header: pad with zeros, which readers skip.
        this.out.ensure(room);
        this.out.buf.fill(0, this.out.len, this.out.len + room);
        this.out.len += room;
        this.blockOffset = 0;
        continue;
      }
      const avail = BLOCK_SIZE - this.blockOffset - HEADER_SIZE;
      const n = left < avail ? left : avail;
      const end = n === left;
      const type = begin && end ? ChunkType.Full : begin ? ChunkType.First : end ? ChunkType.Last : ChunkType.Middle;
      this.emit(type, record, pos, n);
      pos += n;
      left -= n;
      begin = false;
    } while (left > 0);
  }

  private emit(type: ChunkType, data: Uint8Array, pos: number, n: number): void {
    const w = this.out;
    w.ensure(HEADER_SIZE + n);
    const crc = crc32cUpdate(crc32c(TYPE_BYTE[type]!), data, pos, pos + n);
    putU32(w.buf, w.len, maskCrc(crc));
    w.buf[w.len + 4] = n & 0xff;
    w.buf[w.len + 5] = n >>> 8;
    w.buf[w.len + 6] = type;
    w.len += HEADER_SIZE;
    w.bytes(data, pos, pos + n);
    this.blockOffset += HEADER_SIZE + n;
  }

  /** Bytes added but not yet flushed. */
  pending(): number {
    return this.out.len;
  }

  /** Appends everything added since the last flush (throws what the file throws). */
  flush(): void {
    if (this.out.len === 0) return;
    const data = this.out.view();
    this.out.reset();
    this.file.append(data);
    if (this.out.buf.length > 4 * 1024 * 1024) this.out.buf = new Uint8Array(64 * 1024);
  }

  sync(): Promise<void> {
    return this.file.sync();
  }

  close(): void {
    this.file.close();
  }
}
