/** Commit command (TiKV `commands/commit.rs`): commits txn `startTs` on `keys` at `commitTs`, atomically per region. */
import type { EncodedKey } from '../../codec/index.js';
import { commit } from '../actions/commit.js';
import { MvccTxn } from '../mvcc/txn.js';
import type { Command } from '../scheduler/command.js';
import { assertArgs, withReader, writeTxn, type RegionRoute, type TxnCommandContext } from './context.js';

export interface CommitCommandArgs {
  readonly route: RegionRoute;
  readonly keys: readonly EncodedKey[];
  readonly startTs: bigint;
  readonly commitTs: bigint;
}

export class CommitCommand implements Command<void, TxnCommandContext> {
  readonly name = 'commit';
  constructor(readonly args: CommitCommandArgs) {
    assertArgs(this.name, args);
  }
  latchKeys(): readonly EncodedKey[] {
    return this.args.keys;
  }
  async process(ctx: TxnCommandContext): Promise<void> {
    const txn = new MvccTxn(this.args.startTs);
    await withReader(ctx, this.args.route, undefined, (reader) => {
      for (const key of this.args.keys) commit(txn, reader, key, this.args.commitTs);
    });
    await writeTxn(ctx, this.args.route, txn);
  }
}
