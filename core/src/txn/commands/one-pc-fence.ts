/**
 * Keeps reads from racing a 1PC commit (the role TiKV's concurrency manager plays with its
 * in-memory lock table and max_ts). A 1PC prewrite stores no lock: it takes its commit ts from
 * the TSO and writes the Write record directly. A reader whose ts was issued after that commit
 * ts, but whose snapshot is taken before the write lands, would miss a committed value and see
 * it on a second read at the same ts. So a 1PC command enters the fence before it asks the TSO
 * for its commit ts, and a read waits for every overlapping entry whose commit ts is unknown or
 * at or below its read ts. The ordering argument: a read ts above the commit ts was issued after
 * it, hence after the entry was made, hence before the read checked the fence.
 *
 * One fence per store: it only covers writes that go through this process's Storage.
 */
import { compareBytes } from '../../engine/engine.js';
import type { EncodedKey } from '../../codec/index.js';

/** One in-flight 1PC commit. Its `done` promise is made only when a read has to wait for it. */
class Entry {
  commitTs: bigint | undefined = undefined;
  private waiters: Promise<void> | undefined;
  private release: (() => void) | undefined;
  private ended = false;

  constructor(readonly keys: readonly EncodedKey[]) {}

  get done(): Promise<void> {
    if (this.ended) return Promise.resolve();
    return (this.waiters ??= new Promise<void>((r) => (this.release = r)));
  }

  end(): void {
    this.ended = true;
    this.release?.();
  }
}

export interface FenceTicket {
  setCommitTs(ts: bigint): void;
  end(): void;
}

export class OnePcFence {
  private readonly entries = new Set<Entry>();

  get size(): number {
    return this.entries.size;
  }

  enter(keys: readonly EncodedKey[]): FenceTicket {
    const entry = new Entry(keys);
    this.entries.add(entry);
    return new Ticket(this.entries, entry);
  }

  /** Undefined when nothing blocks a read of `keys` at `readTs`; else a promise to await and retry. */
  blockingKeys(keys: readonly EncodedKey[], readTs: bigint): Promise<void> | undefined {
    if (this.entries.size === 0) return undefined;
    for (const e of this.entries) {
      if (e.commitTs !== undefined && e.commitTs > readTs) continue;
      for (const k of keys) if (e.keys.some((x) => compareBytes(x, k) === 0)) return e.done;
    }
    return undefined;
  }

  /** Like `blockingKeys` for the encoded range [start, end); an absent bound is open. */
  blockingRange(start: EncodedKey | undefined, end: EncodedKey | undefined, readTs: bigint): Promise<void> | undefined {
    if (this.entries.size === 0) return undefined;
    for (const e of this.entries) {
      if (e.commitTs !== undefined && e.commitTs > readTs) continue;
      for (const k of e.keys) {
        if ((start === undefined || compareBytes(k, start) >= 0) && (end === undefined || compareBytes(k, end) < 0)) return e.done;
      }
    }
    return undefined;
  }

  /** Waits until nothing blocks the read (entries may come and go meanwhile). */
  async waitKeys(keys: readonly EncodedKey[], readTs: bigint): Promise<void> {
    for (let w = this.blockingKeys(keys, readTs); w !== undefined; w = this.blockingKeys(keys, readTs)) await w;
  }

  async waitRange(start: EncodedKey | undefined, end: EncodedKey | undefined, readTs: bigint): Promise<void> {
    for (let w = this.blockingRange(start, end, readTs); w !== undefined; w = this.blockingRange(start, end, readTs)) await w;
  }
}

class Ticket implements FenceTicket {
  constructor(
    private readonly entries: Set<Entry>,
    private readonly entry: Entry,
  ) {}

  setCommitTs(ts: bigint): void {
    this.entry.commitTs = ts;
  }

  end(): void {
    if (this.entries.delete(this.entry)) this.entry.end();
  }
}
