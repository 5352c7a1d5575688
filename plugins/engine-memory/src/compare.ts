// @hot-path
/**
 * Byte-wise lexicographic order, shorter prefix first: the same order as core's
 * `compareBytes`, written for the B+tree's inner loops. Measured on 16-byte keys (random and
 * with 8-byte shared prefixes) against a 4-bytes-at-a-time variant that assembles big-endian
 * words from four loads: the plain loop was as fast or faster, because random keys differ in
 * the first byte or two, and V8 compiles the loop to one bounds-checked load per byte.
 */
export function cmp(a: Uint8Array, b: Uint8Array): number {
  const la = a.length;
  const lb = b.length;
  const n = la < lb ? la : lb;
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return la - lb;
}
