/** Point get at a ts (TiKV `Storage::get` / `PointGetter`). A read: no latches, no writes. */
import type { EncodedKey } from '../../codec/index.js';
import type { ReadLockOptions } from '../mvcc/lock-check.js';
import type { Command } from '../scheduler/command.js';
import { assertArgs, withReader, type RegionRoute, type TxnCommandContext } from './context.js';

export interface GetCommandArgs {
  readonly route: RegionRoute;
  readonly key: EncodedKey;
  readonly ts: bigint;
  readonly options?: ReadLockOptions;
}

export class GetCommand implements Command<Uint8Array | undefined, TxnCommandContext> {
  readonly name = 'get';
  constructor(readonly args: GetCommandArgs) {
    assertArgs(this.name, args);
  }
  latchKeys(): readonly EncodedKey[] {
    return [];
  }
  async process(ctx: TxnCommandContext): Promise<Uint8Array | undefined> {
    const { key, ts } = this.args;
    await ctx.fence.waitKeys([key], ts);
    return withReader(ctx, this.args.route, ts, (reader) => reader.get(key, ts, this.args.options)?.slice());
  }
}
