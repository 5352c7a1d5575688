import type {
  ColumnFamily,
  EngineCapabilities,
  EngineIterator,
  EngineSnapshot,
  IterOptions,
  StorageEngine,
  WriteBatch,
  WriteOptions,
} from '../engine/index.js';

/**
 * Interception points of `wrapEngine`. Each is optional; a missing hook passes straight through.
 * Tests use them to inject faults (a batch rewritten, a snapshot that is not isolated) and
 * to prove the differential harness notices.
 */
export interface EngineHooks {
  /** Declares different capabilities than the inner engine (e.g. a test double that persists). */
  readonly capabilities?: Partial<EngineCapabilities>;
  /** Replaces the batch the inner engine receives. */
  readonly write?: (batch: WriteBatch, options: WriteOptions | undefined) => WriteBatch;
  /** Replaces a snapshot taken from the inner engine; `engine` is the inner engine. */
  readonly snapshot?: (inner: EngineSnapshot, engine: StorageEngine) => EngineSnapshot;
  /** Replaces an iterator made by the inner engine or one of its snapshots. */
  readonly iterator?: (inner: EngineIterator, cf: ColumnFamily, options: IterOptions | undefined) => EngineIterator;
}

export interface WrappedEngine extends StorageEngine {
  /** The engine underneath, e.g. for a `reopen` that must close and reopen the real one. */
  readonly inner: StorageEngine;
}

/**
 * A layer over an engine that forwards every call through its own snapshot and iterator
 * objects. Without hooks it must pass the conformance suite exactly like the engine under it
 * (STYLE.md habit 3: wrappers keep the guarantees).
 */
export function wrapEngine(inner: StorageEngine, hooks: EngineHooks = {}): WrappedEngine {
  return new Wrapped(inner, hooks);
}

class Wrapped implements WrappedEngine {
  readonly name: string;
  readonly capabilities: EngineCapabilities;

  constructor(
    readonly inner: StorageEngine,
    private readonly hooks: EngineHooks,
  ) {
    this.name = `wrapped(${inner.name})`;
    this.capabilities = hooks.capabilities ? Object.freeze({ ...inner.capabilities, ...hooks.capabilities }) : inner.capabilities;
  }

  get(cf: ColumnFamily, key: Uint8Array): Uint8Array | undefined {
    return this.inner.get(cf, key);
  }

  iterator(cf: ColumnFamily, options?: IterOptions): EngineIterator {
    return wrapIterator(this.inner.iterator(cf, options), cf, options, this.hooks);
  }

  snapshot(): EngineSnapshot {
    const snap = this.inner.snapshot();
    return new WrappedSnapshot(this.hooks.snapshot ? this.hooks.snapshot(snap, this.inner) : snap, this.hooks);
  }

  // async so that a hook failing on a malformed batch rejects, as the contract asks of write.
  async write(batch: WriteBatch, options?: WriteOptions): Promise<void> {
    return this.inner.write(this.hooks.write ? this.hooks.write(batch, options) : batch, options);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

class WrappedSnapshot implements EngineSnapshot {
  constructor(
    private readonly inner: EngineSnapshot,
    private readonly hooks: EngineHooks,
  ) {}

  get(cf: ColumnFamily, key: Uint8Array): Uint8Array | undefined {
    return this.inner.get(cf, key);
  }

  iterator(cf: ColumnFamily, options?: IterOptions): EngineIterator {
    return wrapIterator(this.inner.iterator(cf, options), cf, options, this.hooks);
  }

  release(): void {
    this.inner.release();
  }
}

function wrapIterator(it: EngineIterator, cf: ColumnFamily, options: IterOptions | undefined, hooks: EngineHooks): EngineIterator {
  return new WrappedIterator(hooks.iterator ? hooks.iterator(it, cf, options) : it);
}

class WrappedIterator implements EngineIterator {
  constructor(private readonly inner: EngineIterator) {}
  seek(key: Uint8Array): boolean {
    return this.inner.seek(key);
  }
  seekForPrev(key: Uint8Array): boolean {
    return this.inner.seekForPrev(key);
  }
  first(): boolean {
    return this.inner.first();
  }
  last(): boolean {
    return this.inner.last();
  }
  next(): boolean {
    return this.inner.next();
  }
  prev(): boolean {
    return this.inner.prev();
  }
  valid(): boolean {
    return this.inner.valid();
  }
  key(): Uint8Array {
    return this.inner.key();
  }
  value(): Uint8Array {
    return this.inner.value();
  }
  close(): void {
    this.inner.close();
  }
}
