/** Rollback command (TiKV `commands/rollback.rs`): the txn's owner rolls it back on `keys`. */
import type { EncodedKey } from '../../codec/index.js';
import { rollback } from '../actions/rollback.js';
import { MvccTxn } from '../mvcc/txn.js';
import type { Command } from '../scheduler/command.js';
import { assertArgs, withReader, writeTxn, type RegionRoute, type TxnCommandContext } from './context.js';

export interface RollbackCommandArgs {
  readonly route: RegionRoute;
  readonly keys: readonly EncodedKey[];
  readonly startTs: bigint;
}

export class RollbackCommand implements Command<void, TxnCommandContext> {
  readonly name = 'rollback';
  constructor(readonly args: RollbackCommandArgs) {
    assertArgs(this.name, args);
  }
  latchKeys(): readonly EncodedKey[] {
    return this.args.keys;
  }
  async process(ctx: TxnCommandContext): Promise<void> {
    const txn = new MvccTxn(this.args.startTs);
    await withReader(ctx, this.args.route, undefined, (reader) => {
      for (const key of this.args.keys) rollback(txn, reader, key);
    });
    await writeTxn(ctx, this.args.route, txn);
  }
}
