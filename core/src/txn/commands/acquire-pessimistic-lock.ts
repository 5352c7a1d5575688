/** AcquirePessimisticLock command (TiKV `commands/acquire_pessimistic_lock.rs`): all keys of one region or none. */
import type { EncodedKey } from '../../codec/index.js';
import { acquirePessimisticLock } from '../actions/acquire-pessimistic-lock.js';
import { MvccTxn } from '../mvcc/txn.js';
import type { Command } from '../scheduler/command.js';
import { assertArgs, withReader, writeTxn, type RegionRoute, type TxnCommandContext } from './context.js';

export interface AcquirePessimisticLockCommandArgs {
  readonly route: RegionRoute;
  readonly keys: readonly EncodedKey[];
  readonly primary: Uint8Array;
  readonly startTs: bigint;
  readonly forUpdateTs: bigint;
  readonly lockTtl: bigint;
  readonly returnValues?: boolean;
  readonly minCommitTs?: bigint;
}

export interface AcquirePessimisticLockCommandResult {
  /** With returnValues: the value of each key at forUpdateTs, in `keys` order. */
  readonly values?: Array<Uint8Array | undefined>;
}

export class AcquirePessimisticLockCommand implements Command<AcquirePessimisticLockCommandResult, TxnCommandContext> {
  readonly name = 'acquirePessimisticLock';
  constructor(readonly args: AcquirePessimisticLockCommandArgs) {
    assertArgs(this.name, args);
  }
  latchKeys(): readonly EncodedKey[] {
    return this.args.keys;
  }
  async process(ctx: TxnCommandContext): Promise<AcquirePessimisticLockCommandResult> {
    const a = this.args;
    const txn = new MvccTxn(a.startTs);
    const values = await withReader(ctx, a.route, undefined, (reader) =>
      a.keys.map(
        (key) =>
          acquirePessimisticLock(txn, reader, {
            key,
            primary: a.primary,
            forUpdateTs: a.forUpdateTs,
            lockTtl: a.lockTtl,
            returnValue: a.returnValues === true,
            ...(a.minCommitTs !== undefined ? { minCommitTs: a.minCommitTs } : {}),
          }).value,
      ),
    );
    await writeTxn(ctx, a.route, txn);
    return a.returnValues === true ? { values } : {};
  }
}
