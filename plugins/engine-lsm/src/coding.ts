// @hot-path
/**
 * Little-endian fixed-width integers and LEB128 varints, the byte encodings of every on-disk
 * format in this package. Numbers stay below 2^53 (sequence numbers, file offsets), so plain
 * JS numbers are exact and no bigint is allocated per entry.
 */

export function putU32(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v & 0xff;
  buf[at + 1] = (v >>> 8) & 0xff;
  buf[at + 2] = (v >>> 16) & 0xff;
  buf[at + 3] = (v >>> 24) & 0xff;
}

export function getU32(buf: Uint8Array, at: number): number {
  return (buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24)) >>> 0;
}

/** 64-bit little-endian of a non-negative safe integer. */
export function putU64(buf: Uint8Array, at: number, v: number): void {
  putU32(buf, at, v >>> 0);
  putU32(buf, at + 4, Math.floor(v / 0x100000000));
}

export function getU64(buf: Uint8Array, at: number): number {
  return getU32(buf, at) + getU32(buf, at + 4) * 0x100000000;
}

/** Bytes a varint of `v` takes. */
export function varintLen(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/** Writes a varint of a non-negative safe integer; returns the offset after it. */
export function putVarint(buf: Uint8Array, at: number, v: number): number {
  while (v >= 0x80) {
    buf[at++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[at++] = v;
  return at;
}

/**
 * Decodes a varint at `cursor.pos`, advancing it. Returns -1 when the bytes end before the
 * varint does or it runs past 8 bytes (callers turn that into a CorruptedError with context).
 */
export function getVarint(buf: Uint8Array, cursor: { pos: number }, end = buf.length): number {
  let result = 0;
  let mul = 1;
  let p = cursor.pos;
  for (let i = 0; i < 8; i++) {
    if (p >= end) return -1;
    const b = buf[p++]!;
    result += (b & 0x7f) * mul;
    if (b < 0x80) {
      cursor.pos = p;
      return result;
    }
    mul *= 128;
  }
  return -1;
}

/** A growable byte buffer for encoders; `bytes()` is a view valid until the next write. */
export class ByteWriter {
  buf: Uint8Array;
  len = 0;

  constructor(initial = 4096) {
    this.buf = new Uint8Array(initial);
  }

  ensure(extra: number): void {
    const need = this.len + extra;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b;
  }

  varint(v: number): void {
    this.ensure(10);
    this.len = putVarint(this.buf, this.len, v);
  }

  u32(v: number): void {
    this.ensure(4);
    putU32(this.buf, this.len, v);
    this.len += 4;
  }

  u64(v: number): void {
    this.ensure(8);
    putU64(this.buf, this.len, v);
    this.len += 8;
  }

  bytes(b: Uint8Array, start = 0, end = b.length): void {
    const n = end - start;
    this.ensure(n);
    this.buf.set(start === 0 && end === b.length ? b : b.subarray(start, end), this.len);
    this.len += n;
  }

  reset(): void {
    this.len = 0;
  }

  view(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }

  /** A copy of what was written, detached from this writer's buffer. */
  take(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}
