/**
 * Byte helpers for tests. Test keys are written as JS strings whose char codes are the bytes
 * ('a\x00' is [0x61, 0x00]), so binary keys stay readable in test source and in ava's diffs.
 */

/** The bytes of a latin1 string: each char code (0..255) is one byte. */
export function bytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff) throw new TypeError(`bytes(): char code ${c} at ${i} is not a byte`);
    out[i] = c;
  }
  return out;
}

/** The inverse of `bytes`: one char per byte, so equal strings mean equal bytes. */
export function latin1(data: Uint8Array): string {
  let s = '';
  for (let i = 0; i < data.length; i++) s += String.fromCharCode(data[i]!);
  return s;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A short printable form for messages: printable ASCII as is, other bytes as \xNN. */
export function showKey(data: Uint8Array): string {
  let s = '"';
  for (let i = 0; i < data.length; i++) {
    const c = data[i]!;
    if (c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c) s += String.fromCharCode(c);
    else s += '\\x' + c.toString(16).padStart(2, '0');
  }
  return s + '"';
}

/** Values can be large: length plus the first bytes in hex, enough to tell two apart. */
export function showValue(data: Uint8Array | undefined): string {
  if (data === undefined) return 'none';
  const head = Array.from(data.subarray(0, 8), (c) => c.toString(16).padStart(2, '0')).join('');
  return `<${data.length}B ${head}${data.length > 8 ? '..' : ''}>`;
}

/** Big-endian u32, so numeric order is byte order: handy for many ordered test keys. */
export function u32be(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}
