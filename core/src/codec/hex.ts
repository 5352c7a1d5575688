/**
 * Hex text for byte strings, in the spaced form FORMATS.md writes its examples in
 * (`50 c803 76 0b ...`), for dump tools, error reports and test vectors.
 */

const DIGITS = '0123456789abcdef';

/** Lower-case hex, no separators. */
export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += DIGITS[bytes[i]! >> 4]! + DIGITS[bytes[i]! & 15]!;
  return s;
}

/** Parses hex digits; whitespace and '|' (group separators in FORMATS.md) are ignored. */
export function fromHex(text: string): Uint8Array {
  if (typeof text !== 'string') throw new TypeError(`hex text must be a string, got ${typeof text}`);
  const digits = text.replace(/[\s|]/g, '');
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(digits)) throw new TypeError(`not an even-length hex string: ${JSON.stringify(text)}`);
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.slice(2 * i, 2 * i + 2), 16);
  return out;
}
