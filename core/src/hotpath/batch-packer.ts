// @hot-path
import { HOT_BATCH_MAX, type PackedBatch } from './hotpath.js';

/**
 * Packs separate byte strings into one reused buffer, for callers that hold a Uint8Array per key
 * and call a hot path batch after batch. Unlike `packBatch` it allocates nothing once its buffer
 * is big enough; the result is valid until the next `pack` on the same packer.
 */
export class BatchPacker {
  #data: Uint8Array;
  readonly #offsets = new Uint32Array(HOT_BATCH_MAX + 1);

  constructor(initialBytes = 4096) {
    if (!Number.isInteger(initialBytes) || initialBytes < 0) throw new TypeError(`BatchPacker: initialBytes must be a non-negative integer`);
    this.#data = new Uint8Array(initialBytes);
  }

  pack(items: readonly Uint8Array[]): PackedBatch {
    const count = items.length;
    if (count > HOT_BATCH_MAX) throw new RangeError(`BatchPacker: ${count} items, at most ${HOT_BATCH_MAX} per batch`);
    let total = 0;
    for (let i = 0; i < count; i++) {
      const it = items[i];
      if (!(it instanceof Uint8Array)) throw new TypeError(`BatchPacker: item ${i} is not a Uint8Array`);
      total += it.length;
    }
    if (total > this.#data.length) {
      let size = Math.max(this.#data.length * 2, 64);
      while (size < total) size *= 2;
      this.#data = new Uint8Array(size);
    }
    const data = this.#data;
    const offsets = this.#offsets;
    let at = 0;
    offsets[0] = 0;
    for (let i = 0; i < count; i++) {
      // One `set` per item: for 16-byte keys a byte loop measured no faster in Node 20.
      const it = items[i]!;
      data.set(it, at);
      at += it.length;
      offsets[i + 1] = at;
    }
    return { data, offsets, count };
  }
}
