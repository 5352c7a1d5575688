/**
 * ResolveLock command (TiKV `commands/resolve_lock.rs`, the "lite" form with explicit keys):
 * commits txn `startTs` on `keys` at `commitTs`, or rolls it back when `commitTs` is 0n. Storage
 * finds the keys of a range-wide resolve with scanLock first, then latches exactly those.
 */
import type { EncodedKey } from '../../codec/index.js';
import { resolveLock } from '../actions/resolve-lock.js';
import { MvccTxn } from '../mvcc/txn.js';
import type { Command } from '../scheduler/command.js';
import { assertArgs, withReader, writeTxn, type RegionRoute, type TxnCommandContext } from './context.js';

export interface ResolveLockCommandArgs {
  readonly route: RegionRoute;
  readonly startTs: bigint;
  readonly commitTs: bigint;
  readonly keys: readonly EncodedKey[];
}

export class ResolveLockCommand implements Command<void, TxnCommandContext> {
  readonly name = 'resolveLock';
  constructor(readonly args: ResolveLockCommandArgs) {
    assertArgs(this.name, args);
  }
  latchKeys(): readonly EncodedKey[] {
    return this.args.keys;
  }
  async process(ctx: TxnCommandContext): Promise<void> {
    const txn = new MvccTxn(this.args.startTs);
    await withReader(ctx, this.args.route, undefined, (reader) => {
      for (const key of this.args.keys) resolveLock(txn, reader, key, this.args.commitTs);
    });
    await writeTxn(ctx, this.args.route, txn);
  }
}
