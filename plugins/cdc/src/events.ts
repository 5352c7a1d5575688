/**
 * What a changefeed delivers (DESIGN.md section 7). Keys are raw user keys; timestamps bigints.
 */

/** The mutation a row carries: a Delete has no value; a Lock (SELECT FOR UPDATE) changes nothing. */
export type RowOp = 'put' | 'delete' | 'lock';

/** A lock put by a 2PC prewrite: the row may commit later at a ts above `startTs`. */
export interface PrewriteEvent {
  readonly type: 'prewrite';
  readonly regionId: number;
  readonly key: Uint8Array;
  readonly op: RowOp;
  readonly value: Uint8Array | undefined;
  readonly startTs: bigint;
}

/**
 * A committed row. `commit` is the 2PC commit of a lock (a write put that removes it);
 * `committed` is a row written without a lock: a 1PC write (flashback rewrites arrive this way)
 * or a row found by a feed's incremental scan.
 */
export interface CommitEvent {
  readonly type: 'commit' | 'committed';
  readonly regionId: number;
  readonly key: Uint8Array;
  readonly op: RowOp;
  readonly value: Uint8Array | undefined;
  readonly startTs: bigint;
  readonly commitTs: bigint;
  /** The previous committed value; only on feeds opened with `withOldValue` (undefined = absent). */
  readonly oldValue?: Uint8Array | undefined;
}

/** The lock of the txn at `startTs` on `key` was rolled back: drop its prewrite. */
export interface RollbackEvent {
  readonly type: 'rollback';
  readonly regionId: number;
  readonly key: Uint8Array;
  readonly startTs: bigint;
}

/** No commit with commit ts <= `ts` will be delivered for the region after this event. */
export interface ResolvedTsRowEvent {
  readonly type: 'resolvedTs';
  readonly regionId: number;
  readonly ts: bigint;
}

/** The min over every region of the feed's range: a checkpoint to restart the feed from. */
export interface GlobalResolvedTsEvent {
  readonly type: 'globalResolvedTs';
  readonly ts: bigint;
}

export type RowEvent = PrewriteEvent | CommitEvent | RollbackEvent;
export type CdcEvent = RowEvent | ResolvedTsRowEvent | GlobalResolvedTsEvent;
