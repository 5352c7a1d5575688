/** Point gets of several keys of one region over one snapshot (TiKV `Storage::batch_get`). */
import type { EncodedKey } from '../../codec/index.js';
import type { ReadLockOptions } from '../mvcc/lock-check.js';
import type { Command } from '../scheduler/command.js';
import { assertArgs, withReader, type RegionRoute, type TxnCommandContext } from './context.js';

export interface BatchGetCommandArgs {
  readonly route: RegionRoute;
  readonly keys: readonly EncodedKey[];
  readonly ts: bigint;
  readonly options?: ReadLockOptions;
}

export class BatchGetCommand implements Command<Array<Uint8Array | undefined>, TxnCommandContext> {
  readonly name = 'batchGet';
  constructor(readonly args: BatchGetCommandArgs) {
    assertArgs(this.name, args);
  }
  latchKeys(): readonly EncodedKey[] {
    return [];
  }
  /** The value of each key in `keys` order, undefined where there is none. */
  async process(ctx: TxnCommandContext): Promise<Array<Uint8Array | undefined>> {
    const { keys, ts } = this.args;
    await ctx.fence.waitKeys(keys, ts);
    return withReader(ctx, this.args.route, ts, (reader) => keys.map((k) => reader.get(k, ts, this.args.options)?.slice()));
  }
}
