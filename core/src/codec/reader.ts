import { CorruptedError } from '../errors.js';
import { assertBytes } from './encode-into.js';

// Scratch word for assembling u64s: each function below fills it and reads it back before
// returning. Big-endian by default, like the on-disk formats.
const wordView = new DataView(new ArrayBuffer(8));

/** The 32-bit big-endian word at `at`, unsigned. */
function readU32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

/** Reads 8 bytes big-endian; the caller has checked that they exist. */
export function readU64(bytes: Uint8Array, at: number): bigint {
  wordView.setUint32(0, readU32(bytes, at));
  wordView.setUint32(4, readU32(bytes, at + 4));
  return wordView.getBigUint64(0);
}

/** Reads 8 bytes big-endian and returns their bitwise NOT (`decode_u64_desc`). */
export function readU64Desc(bytes: Uint8Array, at: number): bigint {
  wordView.setUint32(0, ~readU32(bytes, at) >>> 0);
  wordView.setUint32(4, ~readU32(bytes, at + 4) >>> 0);
  return wordView.getBigUint64(0);
}

/** The u64 whose high and low 32-bit halves are given. */
export function u64FromHalves(hi: number, lo: number): bigint {
  if (hi < 0x20_0000) return BigInt(hi * 0x1_0000_0000 + lo);
  wordView.setUint32(0, hi);
  wordView.setUint32(4, lo);
  return wordView.getBigUint64(0);
}

/** Largest integer `varU64Number` returns; anything larger cannot be a length or a count. */
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/**
 * A cursor over bytes read from storage. Every failure is a CorruptedError that names the record,
 * the field, what was wrong and the offset where it started (FORMATS.md: where TiKV panics or
 * returns EOF/BadFormat, we return a clear error). Byte slices it returns are views into the
 * input, not copies.
 */
export class ByteReader {
  pos: number;
  // The last varint's value as two halves, so the number and bigint readers share one decoder
  // without allocating a result object.
  private varHi = 0;
  private varLo = 0;

  constructor(
    readonly buf: Uint8Array,
    /** The record being decoded, e.g. "Write record"; starts every error message. */
    readonly what: string,
    pos = 0,
  ) {
    assertBytes('input', buf);
    if (!Number.isInteger(pos) || pos < 0 || pos > buf.length) {
      throw new RangeError(`${what}: offset ${pos} is outside the input (length ${buf.length})`);
    }
    this.pos = pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  fail(field: string, problem: string, at: number = this.pos): never {
    throw new CorruptedError(`${this.what}: ${field}: ${problem} at offset ${at}`, { record: this.what, field, offset: at });
  }

  /** Fails with EOF unless `n` more bytes exist. */
  need(field: string, n: number): void {
    if (this.buf.length - this.pos < n) {
      this.fail(field, `unexpected end of input (need ${n} bytes, ${this.buf.length - this.pos} left)`);
    }
  }

  u8(field: string): number {
    if (this.pos >= this.buf.length) this.fail(field, 'unexpected end of input (need 1 byte, 0 left)');
    return this.buf[this.pos++]!;
  }

  /** `decode_u64`: 8 bytes big-endian. */
  u64(field: string): bigint {
    this.need(field, 8);
    const v = readU64(this.buf, this.pos);
    this.pos += 8;
    return v;
  }

  /** `n` bytes as a view into the input. */
  bytes(field: string, n: number): Uint8Array {
    this.need(field, n);
    const start = this.pos;
    this.pos += n;
    return this.buf.subarray(start, this.pos);
  }

  /**
   * tikv_util `decode_var_u64`: a byte below 0x80 ends the varint; after 9 continuation bytes the
   * 10th must be 0x00 or 0x01 ("overflow" otherwise); running out of input is EOF; non-minimal
   * encodings such as `80 80 80 00` are accepted (FORMATS.md section 2).
   */
  private readVar(field: string): void {
    const buf = this.buf;
    const start = this.pos;
    let p = start;
    // Bits 0..27 (the first four groups) fit an int32; bits 28..63 go to `hi` as a float,
    // exact because they are at most 36 bits.
    // (A running multiplier, not 2 ** n: Math.pow with a variable exponent is far slower.)
    let lo = 0;
    let hi = 0;
    let scale = 1;
    for (let i = 0; ; i++) {
      if (p >= buf.length) this.fail(field, 'varint runs past the end of input', start);
      const b = buf[p++]!;
      if (i === 9 && b > 1) this.fail(field, `varint overflow: 10th byte is 0x${b.toString(16).padStart(2, '0')}, must be 0x00 or 0x01`, start);
      if (i < 4) {
        lo |= (b & 0x7f) << (7 * i);
      } else {
        hi += (b & 0x7f) * scale;
        scale *= 0x80;
      }
      if (b < 0x80) break;
    }
    this.pos = p;
    // Re-split at bit 32: the low 4 bits of `hi` belong to the low word.
    const hi4 = hi % 16;
    this.varHi = (hi - hi4) / 16;
    this.varLo = hi4 * 0x1000_0000 + lo;
  }

  varU64(field: string): bigint {
    if (this.pos < this.buf.length && this.buf[this.pos]! < 0x80) return BigInt(this.buf[this.pos++]!);
    this.readVar(field);
    return u64FromHalves(this.varHi, this.varLo);
  }

  /** A varint used as a length or count: fails if it exceeds 2^53 - 1, which no input can hold. */
  varU64Number(field: string): number {
    if (this.pos < this.buf.length && this.buf[this.pos]! < 0x80) return this.buf[this.pos++]!;
    const start = this.pos;
    this.readVar(field);
    const v = this.varHi * 0x1_0000_0000 + this.varLo;
    if (v > MAX_SAFE) this.fail(field, `value ${u64FromHalves(this.varHi, this.varLo)} is too large`, start);
    return v;
  }

  /**
   * `decode_compact_bytes`: var_i64(len) then len bytes (FORMATS.md section 2). A negative or
   * oversized length is corruption.
   */
  compactBytes(field: string): Uint8Array {
    const start = this.pos;
    const z = this.varU64Number(field);
    // Zigzag: an odd value is a negative length.
    if (z % 2 === 1) this.fail(field, 'negative compact-bytes length', start);
    const len = z / 2;
    if (len > this.buf.length - this.pos) {
      this.fail(field, `compact-bytes length ${len} exceeds the ${this.buf.length - this.pos} bytes left`, start);
    }
    return this.bytes(field, len);
  }
}
