/**
 * The record log format shared by the WAL and the manifest (LevelDB's log format, also
 * Pebble's `record` package): the file is a sequence of 32 KiB blocks; a record is split into
 * chunks that never cross a block boundary, each with a 7-byte header
 *   masked crc32c(type ++ data) : u32 LE | length : u16 LE | type : u8
 * FULL holds a whole record; FIRST / MIDDLE* / LAST hold its pieces. A block's last < 7 bytes
 * are zero padding. Blocks make recovery resynchronise after damage: a reader can always find
 * the next chunk header at the next block start, so "is anything valid after this damage?"
 * has an answer, which is what separates a torn tail from corruption in the middle.
 */
export const BLOCK_SIZE = 32 * 1024;
export const HEADER_SIZE = 7;

export const enum ChunkType {
  Zero = 0,
  Full = 1,
  First = 2,
  Middle = 3,
  Last = 4,
}
