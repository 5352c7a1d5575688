/**
 * GC of one region's part of a range (TiKV's GC worker running `gc` per key): no latches, as in
 * TiKV. Everything GC deletes is at or below the safe point, and no running txn reads or writes
 * there (the safe point is below every live start ts by definition), so it races nothing.
 */
import type { EncodedKey } from '../../codec/index.js';
import { gc } from '../actions/gc.js';
import { MvccTxn } from '../mvcc/txn.js';
import type { Command } from '../scheduler/command.js';
import { assertArgs, withReader, writeTxn, type RegionRoute, type TxnCommandContext } from './context.js';

export interface GcCommandArgs {
  readonly route: RegionRoute;
  readonly safePoint: bigint;
  readonly start?: EncodedKey;
  readonly end?: EncodedKey;
}

export interface GcCommandResult {
  readonly keys: number;
  readonly deletedVersions: number;
}

export class GcCommand implements Command<GcCommandResult, TxnCommandContext> {
  readonly name = 'gc';
  constructor(readonly args: GcCommandArgs) {
    assertArgs(this.name, args);
  }
  latchKeys(): readonly EncodedKey[] {
    return [];
  }
  async process(ctx: TxnCommandContext): Promise<GcCommandResult> {
    const a = this.args;
    // The txn's start ts only labels the Modifies; GC writes no record carrying it.
    const txn = new MvccTxn(a.safePoint);
    let keys = 0;
    let deletedVersions = 0;
    await withReader(ctx, a.route, undefined, (reader) => {
      for (const key of reader.scanWriteKeys(a.start, a.end)) {
        keys++;
        deletedVersions += gc(txn, reader, key, a.safePoint).deletedVersions;
      }
    });
    await writeTxn(ctx, a.route, txn);
    return { keys, deletedVersions };
  }
}
