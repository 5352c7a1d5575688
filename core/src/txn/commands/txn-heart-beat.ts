/** TxnHeartBeat command (TiKV `commands/txn_heart_beat.rs`): raises the primary lock's TTL. */
import type { EncodedKey } from '../../codec/index.js';
import type { TxnStatus } from '../actions/check-txn-status.js';
import { txnHeartBeat } from '../actions/txn-heart-beat.js';
import { MvccTxn } from '../mvcc/txn.js';
import type { Command } from '../scheduler/command.js';
import { assertArgs, withReader, writeTxn, type RegionRoute, type TxnCommandContext } from './context.js';

export interface TxnHeartBeatCommandArgs {
  readonly route: RegionRoute;
  readonly primaryKey: EncodedKey;
  readonly startTs: bigint;
  readonly adviseLockTtl: bigint;
}

export class TxnHeartBeatCommand implements Command<TxnStatus, TxnCommandContext> {
  readonly name = 'txnHeartBeat';
  constructor(readonly args: TxnHeartBeatCommandArgs) {
    assertArgs(this.name, args);
  }
  latchKeys(): readonly EncodedKey[] {
    return [this.args.primaryKey];
  }
  async process(ctx: TxnCommandContext): Promise<TxnStatus> {
    const txn = new MvccTxn(this.args.startTs);
    const status = await withReader(ctx, this.args.route, undefined, (reader) => txnHeartBeat(txn, reader, this.args.primaryKey, this.args.adviseLockTtl));
    await writeTxn(ctx, this.args.route, txn);
    return status;
  }
}
