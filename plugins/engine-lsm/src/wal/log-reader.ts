import { CorruptedError } from '@flashkv/core';
import { getU32 } from '../coding.js';
import { crc32c, crc32cUpdate, unmaskCrc } from '../crc32c.js';
import { BLOCK_SIZE, ChunkType, HEADER_SIZE } from './log-format.js';

export interface LogReadResult {
  readonly records: number;
  /** Offset just past the last complete record: where a torn file is truncated. */
  readonly goodEnd: number;
  /** True when the file ended inside a record (a crash during an append). */
  readonly torn: boolean;
}

const TYPE_CRC = [0, 1, 2, 3, 4].map((t) => crc32c(new Uint8Array([t])));

/** Is there a checksum-valid chunk header at `at` (one whose data fits the file and block)? */
function validChunkAt(buf: Uint8Array, at: number): boolean {
  const inBlock = BLOCK_SIZE - (at % BLOCK_SIZE);
  if (inBlock < HEADER_SIZE || at + HEADER_SIZE > buf.length) return false;
  const len = buf[at + 4]! | (buf[at + 5]! << 8);
  const type = buf[at + 6]!;
  if (type < ChunkType.Full || type > ChunkType.Last) return false;
  if (HEADER_SIZE + len > inBlock || at + HEADER_SIZE + len > buf.length) return false;
  const crc = crc32cUpdate(TYPE_CRC[type]!, buf, at + HEADER_SIZE, at + HEADER_SIZE + len);
  return crc === unmaskCrc(getU32(buf, at));
}

/**
 * Anything valid after damage at `at` means the damage is not a torn tail: a crash only ever
 * loses the end of the file. Looks right after the damaged chunk (when its length is
 * plausible) and at every later block start, where chunks are guaranteed to begin.
 */
function validDataAfter(buf: Uint8Array, at: number, declaredLen: number): boolean {
  const next = at + HEADER_SIZE + declaredLen;
  if (declaredLen > 0 && next <= buf.length && next % BLOCK_SIZE !== 0 && validChunkAt(buf, next)) return true;
  for (let b = (Math.floor(at / BLOCK_SIZE) + 1) * BLOCK_SIZE; b < buf.length; b += BLOCK_SIZE) {
    if (validChunkAt(buf, b)) return true;
  }
  return false;
}

/**
 * Replays every complete record of a log file's bytes, in order, through `onRecord`. A record
 * that fits one chunk is passed as a view into `buf` (no copy: the memtable may keep it).
 * Damage with nothing valid after it is a torn tail: reading stops cleanly and `goodEnd`
 * says where. Damage followed by valid data is corruption: CorruptedError naming the file and
 * the offset of the damaged chunk.
 */
export function readLog(
  buf: Uint8Array,
  file: string,
  onRecord: (record: Uint8Array, offset: number) => void,
): LogReadResult {
  let pos = 0;
  let records = 0;
  let goodEnd = 0;
  let parts: Uint8Array[] | null = null;
  let recordStart = 0;

  const damage = (at: number, declaredLen: number, why: string): LogReadResult => {
    if (validDataAfter(buf, at, declaredLen)) {
      throw new CorruptedError(`log ${file}: ${why} at offset ${at}, followed by valid records`, { file, offset: at, reason: why });
    }
    return { records, goodEnd, torn: true };
  };

  while (pos < buf.length) {
    const inBlock = BLOCK_SIZE - (pos % BLOCK_SIZE);
    if (inBlock < HEADER_SIZE) {
      pos += inBlock;
      continue;
    }
    if (pos + HEADER_SIZE > buf.length) return damage(pos, 0, 'truncated chunk header');
    const len = buf[pos + 4]! | (buf[pos + 5]! << 8);
    const type = buf[pos + 6]!;
    if (type === ChunkType.Zero || type > ChunkType.Last) return damage(pos, len, `bad chunk type ${type}`);
    if (HEADER_SIZE + len > inBlock) return damage(pos, 0, `chunk length ${len} crosses a block boundary`);
    if (pos + HEADER_SIZE + len > buf.length) return damage(pos, 0, 'truncated chunk');
    const dataStart = pos + HEADER_SIZE;
    const crc = crc32cUpdate(TYPE_CRC[type]!, buf, dataStart, dataStart + len);
    if (crc !== unmaskCrc(getU32(buf, pos))) return damage(pos, len, 'checksum mismatch');
    const data = buf.subarray(dataStart, dataStart + len);
    switch (type) {
      case ChunkType.Full:
        if (parts !== null) return damage(pos, len, 'FULL chunk inside a fragmented record');
        onRecord(data, pos);
        records++;
        goodEnd = dataStart + len;
        break;
      case ChunkType.First:
        if (parts !== null) return damage(pos, len, 'FIRST chunk inside a fragmented record');
        parts = [data];
        recordStart = pos;
        break;
      case ChunkType.Middle:
        if (parts === null) return damage(pos, len, 'MIDDLE chunk without FIRST');
        parts.push(data);
        break;
      case ChunkType.Last: {
        if (parts === null) return damage(pos, len, 'LAST chunk without FIRST');
        parts.push(data);
        let total = 0;
        for (const p of parts) total += p.length;
        const whole = new Uint8Array(total);
        let at = 0;
        for (const p of parts) {
          whole.set(p, at);
          at += p.length;
        }
        parts = null;
        onRecord(whole, recordStart);
        records++;
        goodEnd = dataStart + len;
        break;
      }
    }
    pos = dataStart + len;
  }
  // A fragmented record whose LAST chunk never landed is a torn tail too.
  return { records, goodEnd, torn: parts !== null };
}
