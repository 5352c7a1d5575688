import {
  assertColumnFamily,
  checkBatchOps,
  type ColumnFamily,
  type EngineCapabilities,
  type EngineIterator,
  type EngineSnapshot,
  type IterOptions,
  type StorageEngine,
  type WriteBatch,
  type WriteOptions,
} from '@flashkv/core';
import { type BNode, CowBTree, lookup } from './btree.js';
import { assertKey, checkOpen, type Life, MemoryIterator } from './iterator.js';
import { Slab } from './slab.js';

export interface MemoryEngineOptions {
  /** Shown in errors (default 'engine-memory'). */
  readonly name?: string;
  /** Most entries per B+tree leaf (default 64); small values are for tests that want deep trees. */
  readonly leafSize?: number;
  /** Most children per B+tree branch (default 64). */
  readonly branchSize?: number;
}

const CAPABILITIES: EngineCapabilities = Object.freeze({ persistent: false, deleteRange: true, batchRead: true });

/** The four frozen roots of a snapshot, in COLUMN_FAMILIES order. */
class MemorySnapshot implements EngineSnapshot {
  private held = true;

  constructor(
    private readonly life: Life,
    private rDefault: BNode | null,
    private rLock: BNode | null,
    private rWrite: BNode | null,
    private rRaft: BNode | null,
  ) {}

  private root(cf: ColumnFamily): BNode {
    checkOpen(this.life);
    if (!this.held) throw new TypeError('snapshot is released');
    switch (cf) {
      case 'default':
        return this.rDefault!;
      case 'lock':
        return this.rLock!;
      case 'write':
        return this.rWrite!;
      case 'raft':
        return this.rRaft!;
      default:
        assertColumnFamily(cf);
        throw new TypeError(`unknown column family ${String(cf)}`);
    }
  }

  get(cf: ColumnFamily, key: Uint8Array): Uint8Array | undefined {
    const root = this.root(cf);
    assertKey('key', key);
    return lookup(root, key);
  }

  iterator(cf: ColumnFamily, options?: IterOptions): EngineIterator {
    return new MemoryIterator(this.life, this.root(cf), options);
  }

  /** Drops the roots: nodes only this snapshot reached become garbage. */
  release(): void {
    this.held = false;
    this.rDefault = this.rLock = this.rWrite = this.rRaft = null;
  }
}

/**
 * The ordered in-memory StorageEngine: one copy-on-write B+tree per column family. Reads and
 * iterators see a frozen root, snapshots hold the four roots (O(1), no data copied), and a
 * batch is applied synchronously inside `write()`, so no reader can observe half of it.
 */
export class MemoryEngine implements StorageEngine {
  readonly name: string;
  readonly capabilities: EngineCapabilities = CAPABILITIES;
  private readonly life: Life;
  private readonly treeOptions: { leafSize?: number; branchSize?: number };
  private tDefault: CowBTree;
  private tLock: CowBTree;
  private tWrite: CowBTree;
  private tRaft: CowBTree;
  /** Where stored keys and values are copied to (see slab.ts for why). */
  private slab = new Slab();

  constructor(options: MemoryEngineOptions = {}) {
    this.name = options.name ?? 'engine-memory';
    this.life = { closed: false, name: this.name };
    this.treeOptions = {
      ...(options.leafSize !== undefined ? { leafSize: options.leafSize } : {}),
      ...(options.branchSize !== undefined ? { branchSize: options.branchSize } : {}),
    };
    this.tDefault = new CowBTree(this.treeOptions);
    this.tLock = new CowBTree(this.treeOptions);
    this.tWrite = new CowBTree(this.treeOptions);
    this.tRaft = new CowBTree(this.treeOptions);
  }

  private tree(cf: ColumnFamily): CowBTree {
    switch (cf) {
      case 'default':
        return this.tDefault;
      case 'lock':
        return this.tLock;
      case 'write':
        return this.tWrite;
      case 'raft':
        return this.tRaft;
      default:
        assertColumnFamily(cf);
        throw new TypeError(`unknown column family ${String(cf)}`);
    }
  }

  get(cf: ColumnFamily, key: Uint8Array): Uint8Array | undefined {
    checkOpen(this.life);
    const tree = this.tree(cf);
    assertKey('key', key);
    return tree.get(key);
  }

  iterator(cf: ColumnFamily, options?: IterOptions): EngineIterator {
    checkOpen(this.life);
    return new MemoryIterator(this.life, this.tree(cf).freeze(), options);
  }

  snapshot(): EngineSnapshot {
    checkOpen(this.life);
    return new MemorySnapshot(this.life, this.tDefault.freeze(), this.tLock.freeze(), this.tWrite.freeze(), this.tRaft.freeze());
  }

  /** Entries in `cf` (not part of StorageEngine; for tests, benchmarks and stats). */
  count(cf: ColumnFamily): number {
    checkOpen(this.life);
    return this.tree(cf).size;
  }

  async write(batch: WriteBatch, options?: WriteOptions): Promise<void> {
    checkOpen(this.life);
    if (typeof batch !== 'object' || batch === null || !Array.isArray(batch.ops)) {
      throw new TypeError('write() needs a WriteBatch');
    }
    const ops = batch.ops;
    // Check every op before applying any: a bad op must reject the whole batch, not half of it.
    checkBatchOps(ops, CAPABILITIES);
    // Nothing can run between two iterations of this loop, so the batch is atomic for every
    // reader; `sync` has nothing to make durable here.
    // Handed-over arrays are kept as they are; anything else is copied into the slab.
    const slab = options?.handOver === true ? null : this.slab;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      switch (op.op) {
        case 'put':
          this.tree(op.cf).set(op.key, op.value, slab);
          break;
        case 'delete':
          this.tree(op.cf).delete(op.key);
          break;
        case 'deleteRange':
          this.tree(op.cf).deleteRange(op.start, op.end);
          break;
      }
    }
  }

  async close(): Promise<void> {
    this.life.closed = true;
    // Let the data go even if the caller keeps the engine object around.
    this.tDefault = new CowBTree(this.treeOptions);
    this.tLock = new CowBTree(this.treeOptions);
    this.tWrite = new CowBTree(this.treeOptions);
    this.tRaft = new CowBTree(this.treeOptions);
    this.slab = new Slab();
  }
}
