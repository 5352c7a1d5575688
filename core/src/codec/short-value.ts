/**
 * The short value carried inside Write and Lock records (FORMATS.md 3.4): tag 'v', one u8 length,
 * the bytes. Values longer than 255 bytes go to the default CF instead.
 */
import { InvalidArgumentError } from '../errors.js';
import { assertBytes } from './encode-into.js';
import type { ByteReader } from './reader.js';

/** `SHORT_VALUE_MAX_LEN`: the length is written as one u8. */
export const SHORT_VALUE_MAX_LEN = 255;
/** `SHORT_VALUE_PREFIX`, the 'v' tag shared by Write and Lock. */
export const SHORT_VALUE_TAG = 0x76;

/** Never silently truncate the u8 length (FORMATS.md section 7 item 5). */
export function assertShortValue(v: Uint8Array | undefined): void {
  if (v === undefined) return;
  assertBytes('shortValue', v);
  if (v.length > SHORT_VALUE_MAX_LEN) {
    throw new InvalidArgumentError(`shortValue of ${v.length} bytes exceeds ${SHORT_VALUE_MAX_LEN}; store it in the default CF`, {
      field: 'shortValue',
      length: v.length,
    });
  }
}

/** Bytes the 'v' field takes, tag included; 0 when absent. */
export function shortValueSize(v: Uint8Array | undefined): number {
  return v === undefined ? 0 : 2 + v.length;
}

/** Writes the 'v' field unless absent. */
export function writeShortValue(out: Uint8Array, at: number, v: Uint8Array | undefined): number {
  if (v === undefined) return at;
  out[at++] = SHORT_VALUE_TAG;
  out[at++] = v.length;
  out.set(v, at);
  return at + v.length;
}

/** Reads the payload after a 'v' tag, as a view; a length past the end (a TiKV panic) is corruption. */
export function readShortValue(r: ByteReader): Uint8Array {
  return r.bytes('short value', r.u8('short value length'));
}
