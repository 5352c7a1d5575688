/** Range scan at a ts within one region (TiKV `Storage::scan`); bounds are raw keys already clipped to the region. */
import { encodeBytes, type EncodedKey } from '../../codec/index.js';
import type { HotPath } from '../../hotpath/hotpath.js';
import type { KvPair, ScanOptions } from '../mvcc/scanner.js';
import type { Command } from '../scheduler/command.js';
import { assertArgs, withReader, type RegionRoute, type TxnCommandContext } from './context.js';

export interface ScanCommandArgs {
  readonly route: RegionRoute;
  readonly scan: ScanOptions;
  /** Runs the forward scan's batch step; default the TS reference. */
  readonly hotPath?: HotPath;
}

function encodedBound(raw: Uint8Array | undefined): EncodedKey | undefined {
  return raw === undefined || raw.length === 0 ? undefined : encodeBytes(raw);
}

export class ScanCommand implements Command<KvPair[], TxnCommandContext> {
  readonly name = 'scan';
  constructor(readonly args: ScanCommandArgs) {
    assertArgs(this.name, args);
  }
  latchKeys(): readonly EncodedKey[] {
    return [];
  }
  async process(ctx: TxnCommandContext): Promise<KvPair[]> {
    const s = this.args.scan;
    await ctx.fence.waitRange(encodedBound(s.start), encodedBound(s.end), s.ts);
    return withReader(ctx, this.args.route, s.ts, (reader) => reader.scan(s, this.args.hotPath));
  }
}
