/**
 * Per-key latches for the scheduler, after TiKV's `src/storage/txn/latch.rs`: a command's keys
 * are hashed, each hash lives in one of N slots, and each slot keeps a FIFO of (hash, command).
 * A command holds a key when it is the first entry for that hash in the slot; it may run when it
 * holds all its keys. Two commands conflict only when they share a key hash; different keys
 * that merely share a slot do not block each other (TiKV does the same since it started
 * queueing by hash rather than by slot).
 *
 * One deliberate difference from TiKV: a command is enqueued on all its slots at once, at
 * arrival, instead of slot by slot as it acquires them. In TiKV a later command can slip into
 * a slot the earlier one has not reached yet and run first; here commands with a common key
 * always run in arrival order. It is also why there is no deadlock: every queue is ordered by
 * arrival, so the oldest waiting command is first in all of its queues and can always run.
 * Hashes are still sorted and deduplicated: a command that names a key twice must not wait
 * on itself, and a fixed order keeps acquisition deterministic.
 *
 * A key is identified by a 53-bit hash (two independent 32-bit FNV-style hashes, 21 + 32
 * bits). A collision between different keys only serialises two commands that could have run
 * together; it never lets conflicting ones overlap. No key bytes are retained.
 */

/** The latch set of one command: distinct key hashes, sorted. */
export interface LatchLock {
  readonly hashes: readonly number[];
  /** Set once the command is in the slot queues. */
  enqueued: boolean;
}

export const DEFAULT_LATCH_SLOTS = 2048;

const TWO_POW_32 = 4294967296;

/** A 53-bit hash of `key`: FNV-1a 32 (low 32 bits) joined with 21 bits of a second hash. */
export function latchHash(key: Uint8Array): number {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < key.length; i++) {
    const x = key[i]!;
    a = Math.imul(a ^ x, 0x01000193);
    b = Math.imul(b ^ x, 0x5bd1e995);
    b ^= b >>> 15;
  }
  // Length goes into the second hash so keys that differ only by trailing zero bytes differ.
  b = Math.imul(b ^ key.length, 0x5bd1e995);
  b ^= b >>> 13;
  return (b >>> 11) * TWO_POW_32 + (a >>> 0);
}

/** Builds the latch set of a command from the keys it declares. */
export function latchLockFor(keys: readonly Uint8Array[]): LatchLock {
  if (!Array.isArray(keys)) throw new TypeError('latchKeys() must return an array of Uint8Array');
  // Sorted as a Float64Array (numeric, no comparator): a comparator returning x - y boxes a
  // heap number per comparison for 53-bit hashes, which showed up as the largest allocation
  // of 256-key commands.
  const sorted = new Float64Array(keys.length);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    if (!(k instanceof Uint8Array)) throw new TypeError(`latch key ${i} must be a Uint8Array, got ${k === null ? 'null' : typeof k}`);
    sorted[i] = latchHash(k);
  }
  sorted.sort();
  const hashes: number[] = [];
  for (let i = 0; i < sorted.length; i++) {
    if (i === 0 || sorted[i] !== sorted[i - 1]) hashes.push(sorted[i]!);
  }
  return { hashes, enqueued: false };
}

export class Latches {
  /**
   * Per slot, its queue as flat (hash, cid) pairs in slots[s][0 .. 2 * lens[s]): no object per
   * queued key, and a slot's array keeps its capacity when it empties (an array pushed to from
   * empty again and again reallocates its backing store every time).
   */
  private readonly slots: number[][];
  private readonly lens: Int32Array;
  private readonly mask: number;

  /** `slotCount` is rounded up to a power of two. */
  constructor(slotCount = DEFAULT_LATCH_SLOTS) {
    if (!Number.isSafeInteger(slotCount) || slotCount < 1 || slotCount > 1 << 24) {
      throw new TypeError(`latch slot count must be an integer in 1..${1 << 24}, got ${slotCount}`);
    }
    let n = 1;
    while (n < slotCount) n <<= 1;
    this.mask = n - 1;
    this.slots = Array.from({ length: n }, () => []);
    this.lens = new Int32Array(n);
  }

  get slotCount(): number {
    return this.mask + 1;
  }

  /** The slot a hash lives in; the low bits are FNV-1a's, which spread well. */
  slotOf(hash: number): number {
    return (hash % TWO_POW_32) & this.mask;
  }

  /**
   * Enqueues `cid` behind every earlier holder of its keys (first call only) and reports whether
   * it now holds all of them. Call it again for a command `release` names as woken.
   */
  acquire(lock: LatchLock, cid: number): boolean {
    const hashes = lock.hashes;
    if (!lock.enqueued) {
      for (let i = 0; i < hashes.length; i++) {
        const s = this.slotOf(hashes[i]!);
        const q = this.slots[s]!;
        const at = 2 * this.lens[s]!;
        if (at === q.length) q.push(hashes[i]!, cid);
        else {
          q[at] = hashes[i]!;
          q[at + 1] = cid;
        }
        this.lens[s]++;
      }
      lock.enqueued = true;
    }
    for (let i = 0; i < hashes.length; i++) {
      if (this.frontFor(hashes[i]!) !== cid) return false;
    }
    return true;
  }

  /**
   * Removes `cid` from the queues of its keys (it need not hold them: a command that gives up
   * while waiting is released the same way) and returns, in ascending order, the commands that
   * became first in line for one of those keys. They may still wait for other keys; the caller
   * calls `acquire` for each to find out.
   */
  release(lock: LatchLock, cid: number): number[] {
    if (!lock.enqueued) return [];
    lock.enqueued = false;
    const woken: number[] = [];
    const hashes = lock.hashes;
    for (let h = 0; h < hashes.length; h++) {
      const hash = hashes[h]!;
      const s = this.slotOf(hash);
      const q = this.slots[s]!;
      const len = 2 * this.lens[s]!;
      let i = 0;
      let wasFront = true;
      for (; i < len; i += 2) {
        if (q[i] !== hash) continue;
        if (q[i + 1] === cid) break;
        wasFront = false;
      }
      if (i >= len) continue;
      // Remove the pair in place (splice would allocate the removed part).
      for (let j = i + 2; j < len; j++) q[j - 2] = q[j]!;
      this.lens[s]--;
      // Only a departing holder hands the key on; a waiter leaving changes no one's turn.
      if (!wasFront) continue;
      const next = this.frontFor(hash);
      if (next !== undefined && !woken.includes(next)) woken.push(next);
    }
    return woken.sort((x, y) => x - y);
  }

  /** Entries waiting or held across all slots; 0 when idle. For tests and metrics. */
  get queued(): number {
    let n = 0;
    for (let s = 0; s < this.lens.length; s++) n += this.lens[s]!;
    return n;
  }

  private frontFor(hash: number): number | undefined {
    const s = this.slotOf(hash);
    const q = this.slots[s]!;
    const len = 2 * this.lens[s]!;
    for (let i = 0; i < len; i += 2) {
      if (q[i] === hash) return q[i + 1];
    }
    return undefined;
  }
}
