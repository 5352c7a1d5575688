/** PessimisticRollback command (TiKV `commands/pessimistic_rollback.rs`): releases pessimistic locks taken at or before forUpdateTs. */
import type { EncodedKey } from '../../codec/index.js';
import { pessimisticRollback } from '../actions/pessimistic-rollback.js';
import { MvccTxn } from '../mvcc/txn.js';
import type { Command } from '../scheduler/command.js';
import { assertArgs, withReader, writeTxn, type RegionRoute, type TxnCommandContext } from './context.js';

export interface PessimisticRollbackCommandArgs {
  readonly route: RegionRoute;
  readonly keys: readonly EncodedKey[];
  readonly startTs: bigint;
  readonly forUpdateTs: bigint;
}

export class PessimisticRollbackCommand implements Command<void, TxnCommandContext> {
  readonly name = 'pessimisticRollback';
  constructor(readonly args: PessimisticRollbackCommandArgs) {
    assertArgs(this.name, args);
  }
  latchKeys(): readonly EncodedKey[] {
    return this.args.keys;
  }
  async process(ctx: TxnCommandContext): Promise<void> {
    const txn = new MvccTxn(this.args.startTs);
    await withReader(ctx, this.args.route, undefined, (reader) => {
      for (const key of this.args.keys) pessimisticRollback(txn, reader, key, this.args.forUpdateTs);
    });
    await writeTxn(ctx, this.args.route, txn);
  }
}
