/**
 * The timestamp oracle (PD's TSO, `server/tso`). Timestamps are strictly increasing for the
 * life of the store, across restarts, even when the wall clock steps backwards.
 *
 * How: like PD's "save the time window ahead" scheme, the allocator keeps a high-water mark
 * `mark` on disk (TSO_KEY, written with `sync: true`), with the invariant that every ts ever
 * handed out has a physical part strictly below the durable mark. Before a ts at or above the
 * mark leaves this object, a new mark `max(physical, now) + windowMs` is made durable. After a
 * restart the allocator starts at physical = mark, logical 0, which is above every earlier ts
 * whatever the clock now says. The window trades one fsync per `windowMs` of allocation against
 * how far ahead of the wall clock a restart may push the ts (at most `windowMs`).
 *
 * Allocation itself is synchronous (JS runs one caller at a time), so concurrent callers get
 * disjoint, increasing values in call order; only the wait for durability is shared.
 */
import type { Clock } from '../clock.js';
import type { StorageEngine } from '../engine/engine.js';
import { WriteBatch } from '../engine/write-batch.js';
import { CorruptedError, InvalidArgumentError } from '../errors.js';
import { TSO_KEY, u64be } from './keys.js';
import { composeTs, LOGICAL_LIMIT, MAX_PHYSICAL_MS } from './ts.js';

export const DEFAULT_TSO_WINDOW_MS = 3000;

interface PendingMark {
  readonly target: number;
  readonly done: Promise<void>;
}

export class TsoAllocator {
  private physical: number;
  private nextLogical = 0;
  /** Durable high-water mark: physical parts below it may be handed out. */
  private durable: number;
  private pending: PendingMark | undefined;

  private constructor(
    private readonly engine: StorageEngine,
    private readonly clock: Clock,
    private readonly windowMs: number,
    mark: number,
  ) {
    this.physical = mark;
    this.durable = mark;
  }

  /** Reads the persisted mark; the first ts handed out will be at or above it. */
  static load(engine: StorageEngine, clock: Clock, windowMs = DEFAULT_TSO_WINDOW_MS): TsoAllocator {
    if (!Number.isSafeInteger(windowMs) || windowMs < 1) {
      throw new InvalidArgumentError(`the TSO window must be a positive whole number of milliseconds, got ${windowMs}`, { windowMs });
    }
    const raw = engine.get('raft', TSO_KEY);
    let mark = 0;
    if (raw !== undefined) {
      if (raw.length !== 8) throw new CorruptedError(`TSO high-water mark has ${raw.length} bytes, expected 8`, { length: raw.length });
      const v = new DataView(raw.buffer, raw.byteOffset, 8).getBigUint64(0);
      if (v > BigInt(MAX_PHYSICAL_MS)) throw new CorruptedError(`TSO high-water mark ${v} is beyond the 46-bit physical range`, { mark: v.toString() });
      mark = Number(v);
    }
    return new TsoAllocator(engine, clock, windowMs, mark);
  }

  /** The durable mark, for tests and dump tools. */
  get highWaterMark(): number {
    return this.durable;
  }

  /**
   * Reserves `count` timestamps and resolves once they are covered by the durable mark.
   * If the mark cannot be written, the promise rejects and the reserved values are never
   * handed out (they are skipped; gaps are harmless, repeats are not).
   */
  allocate(count: number): Promise<bigint[]> {
    if (typeof count !== 'number') return Promise.reject(new TypeError(`getTs count must be a number, got ${typeof count}`));
    if (!Number.isSafeInteger(count) || count < 1 || count > LOGICAL_LIMIT) {
      return Promise.reject(new InvalidArgumentError(`getTs count must be a whole number in 1..${LOGICAL_LIMIT}, got ${count}`, { count }));
    }
    let out: bigint[];
    try {
      out = this.reserve(count);
    } catch (e) {
      return Promise.reject(e);
    }
    if (this.physical < this.durable) return Promise.resolve(out);
    return this.ensureDurable(this.physical).then(() => out);
  }

  /** `allocate(1)` without the array: the one-ts call every txn makes (begin, 1PC commit). */
  allocateOne(): Promise<bigint> {
    let ts: bigint;
    try {
      ts = this.reserveOne();
    } catch (e) {
      return Promise.reject(e);
    }
    if (this.physical < this.durable) return Promise.resolve(ts);
    return this.ensureDurable(this.physical).then(() => ts);
  }

  /** Resolves once no high-water mark write is in flight (its failure is the caller's, not ours). */
  async drain(): Promise<void> {
    while (this.pending !== undefined) await this.pending.done.catch(() => undefined);
  }

  private reserveOne(): bigint {
    const now = this.now();
    if (now > this.physical) {
      this.physical = now;
      this.nextLogical = 0;
    }
    if (this.nextLogical >= LOGICAL_LIMIT) {
      this.physical += 1;
      this.nextLogical = 0;
    }
    return composeTs(this.physical, this.nextLogical++);
  }

  private reserve(count: number): bigint[] {
    const now = this.now();
    if (now > this.physical) {
      this.physical = now;
      this.nextLogical = 0;
    }
    const out = new Array<bigint>(count);
    for (let i = 0; i < count; i++) {
      if (this.nextLogical >= LOGICAL_LIMIT) {
        // Logical overflow: PD waits for the clock; we step the physical part forward instead,
        // which the high-water mark then covers like any other advance.
        this.physical += 1;
        this.nextLogical = 0;
      }
      out[i] = composeTs(this.physical, this.nextLogical);
      this.nextLogical += 1;
    }
    return out;
  }

  private now(): number {
    const ms = this.clock.nowMs();
    if (typeof ms !== 'number' || !Number.isFinite(ms)) throw new TypeError(`the clock returned ${String(ms)}, not a time in milliseconds`);
    return Math.floor(ms);
  }

  private async ensureDurable(physical: number): Promise<void> {
    while (this.durable <= physical) {
      const cur = this.pending;
      if (cur !== undefined) {
        if (cur.target > physical) {
          // Its failure is ours too: nothing we reserved may leave.
          await cur.done;
        } else {
          await cur.done.catch(() => undefined);
        }
        continue;
      }
      const target = Math.min(Math.max(physical, this.now()) + this.windowMs, MAX_PHYSICAL_MS);
      if (target <= physical) throw new InvalidArgumentError('the TSO physical time has reached the end of its 46-bit range', { physical });
      const entry: PendingMark = {
        target,
        done: this.persist(target).finally(() => {
          if (this.pending === entry) this.pending = undefined;
        }),
      };
      this.pending = entry;
      await entry.done;
    }
  }

  private async persist(target: number): Promise<void> {
    const batch = new WriteBatch().put('raft', TSO_KEY, u64be(BigInt(target)));
    await this.engine.write(batch, { sync: true });
    if (target > this.durable) this.durable = target;
  }
}
