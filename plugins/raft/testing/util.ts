/** Bytes as a string usable as a map key (one char per byte). */
export function ctxKeyOf(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}
