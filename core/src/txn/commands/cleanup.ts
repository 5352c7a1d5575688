/** Cleanup command (TiKV `commands/cleanup.rs`): rolls back txn `startTs` on one key once its lock expired by `currentTs`. */
import type { EncodedKey } from '../../codec/index.js';
import { cleanup } from '../actions/cleanup.js';
import { MvccTxn } from '../mvcc/txn.js';
import type { Command } from '../scheduler/command.js';
import { assertArgs, withReader, writeTxn, type RegionRoute, type TxnCommandContext } from './context.js';

export interface CleanupCommandArgs {
  readonly route: RegionRoute;
  readonly key: EncodedKey;
  readonly startTs: bigint;
  readonly currentTs: bigint;
}

export class CleanupCommand implements Command<void, TxnCommandContext> {
  readonly name = 'cleanup';
  constructor(readonly args: CleanupCommandArgs) {
    assertArgs(this.name, args);
  }
  latchKeys(): readonly EncodedKey[] {
    return [this.args.key];
  }
  async process(ctx: TxnCommandContext): Promise<void> {
    const txn = new MvccTxn(this.args.startTs);
    // Protected, as TiKV's Cleanup command does: the rollback must stop a late prewrite.
    await withReader(ctx, this.args.route, undefined, (reader) => cleanup(txn, reader, this.args.key, this.args.currentTs, true));
    await writeTxn(ctx, this.args.route, txn);
  }
}
