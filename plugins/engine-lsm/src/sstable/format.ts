/**
 * SST layout (format version 1; see README "SST format"):
 *   data block* | filter block | properties block | index block | footer (64 bytes)
 * Each block is followed by a 5-byte trailer: compression type u8 (0 = none) | masked
 * crc32c(block ++ type) u32 LE. The footer:
 *   filter, properties, index handles (offset u64 LE, size u64 LE each; size excludes trailer)
 *   format version u32 LE | masked crc32c(footer[0..52)) u32 LE | magic 8 bytes
 */
export const SST_MAGIC = new Uint8Array([0x46, 0x4b, 0x56, 0x2d, 0x53, 0x53, 0x54, 0x01]); // "FKV-SST\x01"
export const SST_FORMAT_VERSION = 1;
/**
 * Version 2 = version 1 plus a range-del block (range-del.ts) named by the properties'
 * `rangeDels` handle. Written only by tables that hold range tombstones, so a table without
 * any stays readable by builds that know version 1 only (which refuse version 2 clearly
 * instead of silently ignoring the deletions).
 */
export const SST_FORMAT_VERSION_RANGE_DELS = 2;
export const FOOTER_SIZE = 64;
export const BLOCK_TRAILER_SIZE = 5;
/** Internal key = prefixed user key ++ kind u8 ++ seq (7 bytes LE). */
export const KEY_TRAILER = 8;

export interface BlockHandle {
  readonly offset: number;
  readonly size: number;
}
