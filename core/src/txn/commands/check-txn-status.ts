/** CheckTxnStatus command (TiKV `commands/check_txn_status.rs`): the status of txn `lockTs` read on its primary. */
import type { EncodedKey } from '../../codec/index.js';
import { checkTxnStatus, type TxnStatus } from '../actions/check-txn-status.js';
import { MvccTxn } from '../mvcc/txn.js';
import type { Command } from '../scheduler/command.js';
import { assertArgs, withReader, writeTxn, type RegionRoute, type TxnCommandContext } from './context.js';

export interface CheckTxnStatusCommandArgs {
  readonly route: RegionRoute;
  readonly primaryKey: EncodedKey;
  readonly lockTs: bigint;
  readonly callerStartTs: bigint;
  readonly currentTs: bigint;
  readonly rollbackIfNotExist: boolean;
  readonly resolvingPessimisticLock?: boolean;
}

export class CheckTxnStatusCommand implements Command<TxnStatus, TxnCommandContext> {
  readonly name = 'checkTxnStatus';
  constructor(readonly args: CheckTxnStatusCommandArgs) {
    assertArgs(this.name, args);
  }
  latchKeys(): readonly EncodedKey[] {
    return [this.args.primaryKey];
  }
  async process(ctx: TxnCommandContext): Promise<TxnStatus> {
    const a = this.args;
    const txn = new MvccTxn(a.lockTs);
    const status = await withReader(ctx, a.route, undefined, (reader) =>
      checkTxnStatus(txn, reader, {
        primaryKey: a.primaryKey,
        currentTs: a.currentTs,
        callerStartTs: a.callerStartTs,
        rollbackIfNotExist: a.rollbackIfNotExist,
        resolvingPessimisticLock: a.resolvingPessimisticLock === true,
      }),
    );
    await writeTxn(ctx, a.route, txn);
    return status;
  }
}
