/** MvccByKey (TiKV's debug `MvccGetByKey`): every lock, write and value stored for one key. */
import type { EncodedKey } from '../../codec/index.js';
import type { MvccInfo } from '../mvcc/reader.js';
import type { Command } from '../scheduler/command.js';
import { assertArgs, withReader, type RegionRoute, type TxnCommandContext } from './context.js';

export interface MvccByKeyCommandArgs {
  readonly route: RegionRoute;
  readonly key: EncodedKey;
}

export class MvccByKeyCommand implements Command<MvccInfo, TxnCommandContext> {
  readonly name = 'mvccByKey';
  constructor(readonly args: MvccByKeyCommandArgs) {
    assertArgs(this.name, args);
  }
  latchKeys(): readonly EncodedKey[] {
    return [];
  }
  process(ctx: TxnCommandContext): Promise<MvccInfo> {
    return withReader(ctx, this.args.route, undefined, (reader) => {
      const info = reader.mvccByKey(this.args.key);
      // Values are views into the snapshot; the caller keeps them after it is released.
      return { ...info, values: info.values.map((v) => ({ startTs: v.startTs, value: v.value.slice() })) };
    });
  }
}
