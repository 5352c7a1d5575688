import { assertColumnFamily, type ColumnFamily } from './column-family.js';

/** One operation of a batch. Writes are data (STYLE.md habit 5): an engine only applies them. */
export type BatchOp =
  | { readonly op: 'put'; readonly cf: ColumnFamily; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly op: 'delete'; readonly cf: ColumnFamily; readonly key: Uint8Array }
  | { readonly op: 'deleteRange'; readonly cf: ColumnFamily; readonly start: Uint8Array; readonly end: Uint8Array };

function assertBytes(what: string, v: unknown): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array, got ${v === null ? 'null' : typeof v}`);
}

/**
 * An ordered list of puts, deletes and range deletes across column families, applied
 * atomically by `StorageEngine.write`. Later operations on the same key win.
 * The batch keeps references to the caller's arrays: do not mutate them before the write resolves.
 */
export class WriteBatch {
  private list: BatchOp[] = [];
  private bytes = 0;

  /**
   * A batch over `ops` itself, not a copy (one object per op fewer on a hot write path). The
   * caller has checked the ops (column family, byte arrays) and never changes the array again.
   */
  static adopt(ops: BatchOp[], byteSize: number): WriteBatch {
    const b = new WriteBatch();
    b.list = ops;
    b.bytes = byteSize;
    return b;
  }

  put(cf: ColumnFamily, key: Uint8Array, value: Uint8Array): this {
    assertColumnFamily(cf);
    assertBytes('key', key);
    assertBytes('value', value);
    this.list.push({ op: 'put', cf, key, value });
    this.bytes += key.length + value.length;
    return this;
  }

  delete(cf: ColumnFamily, key: Uint8Array): this {
    assertColumnFamily(cf);
    assertBytes('key', key);
    this.list.push({ op: 'delete', cf, key });
    this.bytes += key.length;
    return this;
  }

  /** Deletes every key k with start <= k < end in `cf`. */
  deleteRange(cf: ColumnFamily, start: Uint8Array, end: Uint8Array): this {
    assertColumnFamily(cf);
    assertBytes('start', start);
    assertBytes('end', end);
    this.list.push({ op: 'deleteRange', cf, start, end });
    this.bytes += start.length + end.length;
    return this;
  }

  get ops(): readonly BatchOp[] {
    return this.list;
  }

  get count(): number {
    return this.list.length;
  }

  /** Sum of key and value lengths: what a 32 KiB raft-write limit is measured against. */
  get byteSize(): number {
    return this.bytes;
  }

  clear(): void {
    this.list.length = 0;
    this.bytes = 0;
  }
}

/**
 * Validates every op of a batch before an engine applies any of it, so a malformed op (a batch
 * built by hand, not through WriteBatch's methods) rejects the whole batch and writes nothing.
 */
export function checkBatchOps(ops: readonly BatchOp[], options: { readonly deleteRange: boolean }): void {
  for (let index = 0; index < ops.length; index++) {
    const op = ops[index] as BatchOp | null;
    if (typeof op !== 'object' || op === null) throw new TypeError(`batch op ${index} is not an object`);
    assertColumnFamily(op.cf);
    // The instanceof tests come first so the messages are only built for a bad op (a template
    // string per op showed up as most of an engine-memory write's allocation).
    switch (op.op) {
      case 'put':
        if (!(op.key instanceof Uint8Array)) assertBytes(`batch op ${index} key`, op.key);
        if (!(op.value instanceof Uint8Array)) assertBytes(`batch op ${index} value`, op.value);
        break;
      case 'delete':
        if (!(op.key instanceof Uint8Array)) assertBytes(`batch op ${index} key`, op.key);
        break;
      case 'deleteRange':
        if (!options.deleteRange) throw new TypeError('this engine does not support deleteRange');
        assertBytes(`batch op ${index} start`, op.start);
        assertBytes(`batch op ${index} end`, op.end);
        break;
      default:
        throw new TypeError(`batch op ${index} has unknown kind ${JSON.stringify((op as { op: unknown }).op)}`);
    }
  }
}
