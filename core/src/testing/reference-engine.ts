import {
  COLUMN_FAMILIES,
  assertColumnFamily,
  checkBatchOps,
  compareBytes,
  type ColumnFamily,
  type EngineCapabilities,
  type EngineIterator,
  type EngineSnapshot,
  type IterOptions,
  type StorageEngine,
  type WriteOptions,
  type BatchOp,
  type WriteBatch,
} from '../engine/index.js';
import { EngineClosedError } from '../errors.js';

/**
 * The oracle of the differential tests (STYLE.md habit 7): deliberately naive, so that it is
 * obviously correct. Each column family is a sorted array of immutable entries searched by
 * binary search; a snapshot copies every array; an iterator copies its bounded range when it
 * is created. Nothing here is fast and nothing is meant to be.
 */

interface Entry {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

type Tables = Record<ColumnFamily, Entry[]>;

/** The engine's open flag, shared with its snapshots and iterators so they fail once it closes. */
interface Life {
  closed: boolean;
  readonly name: string;
}

function checkOpen(life: Life): void {
  if (life.closed) throw new EngineClosedError(life.name);
}

function assertKey(what: string, v: unknown): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array, got ${v === null ? 'null' : typeof v}`);
}

/** First index whose key is >= key (entries.length if none). */
function lowerBound(entries: readonly Entry[], key: Uint8Array): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareBytes(entries[mid]!.key, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index whose key is > key (entries.length if none). */
function upperBound(entries: readonly Entry[], key: Uint8Array): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareBytes(entries[mid]!.key, key) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function lookup(entries: readonly Entry[], key: Uint8Array): Uint8Array | undefined {
  const i = lowerBound(entries, key);
  const e = entries[i];
  return e !== undefined && compareBytes(e.key, key) === 0 ? e.value.slice() : undefined;
}

function checkIterOptions(options: IterOptions | undefined): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null) throw new TypeError('iterator options must be an object');
  if (options.lower !== undefined) assertKey('lower bound', options.lower);
  if (options.upper !== undefined) assertKey('upper bound', options.upper);
}

/** The entries of `entries` inside [lower, upper), copied so later writes cannot reach them. */
function boundedCopy(entries: readonly Entry[], options: IterOptions | undefined): Entry[] {
  const from = options?.lower === undefined ? 0 : lowerBound(entries, options.lower);
  const to = options?.upper === undefined ? entries.length : lowerBound(entries, options.upper);
  return from < to ? entries.slice(from, to) : [];
}

/** Applies one op in place. Keys and values are copied so the caller may reuse its arrays. */
function applyOp(tables: Tables, op: BatchOp): void {
  const entries = tables[op.cf];
  switch (op.op) {
    case 'put': {
      const i = lowerBound(entries, op.key);
      const entry = { key: op.key.slice(), value: op.value.slice() };
      const hit = entries[i];
      if (hit !== undefined && compareBytes(hit.key, op.key) === 0) entries[i] = entry;
      else entries.splice(i, 0, entry);
      return;
    }
    case 'delete': {
      const i = lowerBound(entries, op.key);
      const hit = entries[i];
      if (hit !== undefined && compareBytes(hit.key, op.key) === 0) entries.splice(i, 1);
      return;
    }
    case 'deleteRange': {
      // start <= k < end; with start >= end that is no key at all.
      if (compareBytes(op.start, op.end) >= 0) return;
      const from = lowerBound(entries, op.start);
      const to = lowerBound(entries, op.end);
      entries.splice(from, to - from);
      return;
    }
  }
}

class ReferenceIterator implements EngineIterator {
  /** -1 when not on an entry. */
  private pos = -1;
  private closed = false;

  constructor(
    private readonly life: Life,
    private readonly entries: readonly Entry[],
  ) {}

  private check(): void {
    checkOpen(this.life);
    if (this.closed) throw new TypeError('iterator is closed');
  }

  private land(i: number): boolean {
    this.pos = i >= 0 && i < this.entries.length ? i : -1;
    return this.pos >= 0;
  }

  seek(key: Uint8Array): boolean {
    this.check();
    assertKey('seek key', key);
    // The copied range already starts at the lower bound, which is what clamping means.
    return this.land(lowerBound(this.entries, key));
  }

  seekForPrev(key: Uint8Array): boolean {
    this.check();
    assertKey('seekForPrev key', key);
    return this.land(upperBound(this.entries, key) - 1);
  }

  first(): boolean {
    this.check();
    return this.land(0);
  }

  last(): boolean {
    this.check();
    return this.land(this.entries.length - 1);
  }

  // Stepping off an entry is unspecified by the contract; the oracle refuses it loudly so
  // tests that lean on it are caught instead of passing by accident.
  next(): boolean {
    this.check();
    if (this.pos < 0) throw new TypeError('next() on an iterator that is not valid');
    return this.land(this.pos + 1);
  }

  prev(): boolean {
    this.check();
    if (this.pos < 0) throw new TypeError('prev() on an iterator that is not valid');
    return this.land(this.pos - 1);
  }

  valid(): boolean {
    this.check();
    return this.pos >= 0;
  }

  key(): Uint8Array {
    this.check();
    if (this.pos < 0) throw new TypeError('key() on an iterator that is not valid');
    return this.entries[this.pos]!.key.slice();
  }

  value(): Uint8Array {
    this.check();
    if (this.pos < 0) throw new TypeError('value() on an iterator that is not valid');
    return this.entries[this.pos]!.value.slice();
  }

  close(): void {
    this.closed = true;
    this.pos = -1;
  }
}

function readerGet(life: Life, tables: Tables, cf: ColumnFamily, key: Uint8Array): Uint8Array | undefined {
  checkOpen(life);
  assertColumnFamily(cf);
  assertKey('key', key);
  return lookup(tables[cf], key);
}

function readerIterator(life: Life, tables: Tables, cf: ColumnFamily, options: IterOptions | undefined): EngineIterator {
  checkOpen(life);
  assertColumnFamily(cf);
  checkIterOptions(options);
  return new ReferenceIterator(life, boundedCopy(tables[cf], options));
}

class ReferenceSnapshot implements EngineSnapshot {
  private tables: Tables | undefined;

  constructor(
    private readonly life: Life,
    tables: Tables,
  ) {
    this.tables = tables;
  }

  private held(): Tables {
    checkOpen(this.life);
    if (this.tables === undefined) throw new TypeError('snapshot is released');
    return this.tables;
  }

  get(cf: ColumnFamily, key: Uint8Array): Uint8Array | undefined {
    return readerGet(this.life, this.held(), cf, key);
  }

  iterator(cf: ColumnFamily, options?: IterOptions): EngineIterator {
    return readerIterator(this.life, this.held(), cf, options);
  }

  release(): void {
    this.tables = undefined;
  }
}

export interface ReferenceEngineOptions {
  readonly name?: string;
  /** Declare (and enforce) deleteRange support. Default true. */
  readonly deleteRange?: boolean;
}

export class ReferenceEngine implements StorageEngine {
  readonly name: string;
  readonly capabilities: EngineCapabilities;
  private readonly life: Life;
  private tables: Tables = emptyTables();

  constructor(options: ReferenceEngineOptions = {}) {
    this.name = options.name ?? 'reference';
    this.capabilities = Object.freeze({ persistent: false, deleteRange: options.deleteRange ?? true });
    this.life = { closed: false, name: this.name };
  }

  get(cf: ColumnFamily, key: Uint8Array): Uint8Array | undefined {
    return readerGet(this.life, this.tables, cf, key);
  }

  iterator(cf: ColumnFamily, options?: IterOptions): EngineIterator {
    return readerIterator(this.life, this.tables, cf, options);
  }

  snapshot(): EngineSnapshot {
    checkOpen(this.life);
    return new ReferenceSnapshot(this.life, copyTables(this.tables));
  }

  async write(batch: WriteBatch, _options?: WriteOptions): Promise<void> {
    checkOpen(this.life);
    if (typeof batch !== 'object' || batch === null || !Array.isArray(batch.ops)) {
      throw new TypeError('write() needs a WriteBatch');
    }
    const ops = batch.ops;
    // Validate everything before touching anything: a bad op rejects the whole batch.
    checkBatchOps(ops, this.capabilities);
    // Applying in place is atomic because nothing can run between two ops of this loop.
    for (const op of ops) applyOp(this.tables, op);
  }

  async close(): Promise<void> {
    this.life.closed = true;
    this.tables = emptyTables();
  }

  /** Every live entry of `cf` in order; for tests and for `compareEngines` messages. */
  entries(cf: ColumnFamily): Array<[Uint8Array, Uint8Array]> {
    checkOpen(this.life);
    assertColumnFamily(cf);
    return this.tables[cf].map((e) => [e.key.slice(), e.value.slice()]);
  }
}

function emptyTables(): Tables {
  return { default: [], lock: [], write: [], raft: [] };
}

function copyTables(tables: Tables): Tables {
  const out = emptyTables();
  for (const cf of COLUMN_FAMILIES) out[cf] = tables[cf].slice();
  return out;
}
