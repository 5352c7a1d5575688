/**
 * The data of the engine-memory suite, shared by the suite and its child processes so every
 * process sees the same keys: N random 16-byte keys and 100-byte values from a seeded
 * generator (splitmix32), laid out as views over two large buffers (so making them costs the
 * anchor nothing per entry beyond the view it stores).
 */

import SortedBTreeModule from 'sorted-btree';

// sorted-btree is CommonJS with `exports.default`; under NodeNext its default import is the
// whole exports object.
export const BTree = SortedBTreeModule.default;
export type AnchorTree = InstanceType<typeof BTree<Uint8Array, Uint8Array>>;

export const KEY_BYTES = 16;
export const VALUE_BYTES = 100;
export const BATCH = 256;
export const KEY_SEED = 0x5eed;
export const MISSING_SEED = 0xabad;

/** splitmix32: small, fast and good enough to make keys; seeded so runs repeat. */
export class Splitmix {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  u32(): number {
    this.s = (this.s + 0x9e3779b9) >>> 0;
    let z = this.s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  }
  fill(out: Uint8Array): void {
    for (let i = 0; i < out.length; i += 4) {
      const w = this.u32();
      out[i] = w;
      if (i + 1 < out.length) out[i + 1] = w >>> 8;
      if (i + 2 < out.length) out[i + 2] = w >>> 16;
      if (i + 3 < out.length) out[i + 3] = w >>> 24;
    }
  }
}

export interface Entries {
  readonly keys: Uint8Array[];
  readonly values: Uint8Array[];
}

/** N keys and values from `seed`, in generation (random) order. */
export function makeEntries(n: number, seed: number): Entries {
  const rng = new Splitmix(seed);
  const keyBuf = new Uint8Array(n * KEY_BYTES);
  const valBuf = new Uint8Array(n * VALUE_BYTES);
  rng.fill(keyBuf);
  rng.fill(valBuf);
  const keys = new Array<Uint8Array>(n);
  const values = new Array<Uint8Array>(n);
  for (let i = 0; i < n; i++) {
    keys[i] = new Uint8Array(keyBuf.buffer, i * KEY_BYTES, KEY_BYTES);
    values[i] = new Uint8Array(valBuf.buffer, i * VALUE_BYTES, VALUE_BYTES);
  }
  return { keys, values };
}

/** The same entries with keys in ascending byte order (for fillseq). */
export function sortedEntries(e: Entries, compare: (a: Uint8Array, b: Uint8Array) => number): Entries {
  const idx = Array.from({ length: e.keys.length }, (_, i) => i);
  idx.sort((a, b) => compare(e.keys[a]!, e.keys[b]!));
  return { keys: idx.map((i) => e.keys[i]!), values: idx.map((i) => e.values[i]!) };
}
