/** ScanLock command (TiKV `commands/scan_lock.rs`): locks with startTs <= maxTs in one region's part of a range. */
import type { EncodedKey } from '../../codec/index.js';
import { scanLock } from '../actions/scan-lock.js';
import type { LockEntry } from '../mvcc/reader.js';
import type { Command } from '../scheduler/command.js';
import { assertArgs, withReader, type RegionRoute, type TxnCommandContext } from './context.js';

export interface ScanLockCommandArgs {
  readonly route: RegionRoute;
  readonly maxTs: bigint;
  readonly start?: EncodedKey;
  readonly end?: EncodedKey;
  readonly limit?: number;
}

export class ScanLockCommand implements Command<{ locks: LockEntry[]; hasMore: boolean }, TxnCommandContext> {
  readonly name = 'scanLock';
  constructor(readonly args: ScanLockCommandArgs) {
    assertArgs(this.name, args);
  }
  latchKeys(): readonly EncodedKey[] {
    return [];
  }
  process(ctx: TxnCommandContext): Promise<{ locks: LockEntry[]; hasMore: boolean }> {
    const a = this.args;
    return withReader(ctx, a.route, undefined, (reader) =>
      scanLock(reader, { maxTs: a.maxTs, ...(a.start ? { start: a.start } : {}), ...(a.end ? { end: a.end } : {}), ...(a.limit ? { limit: a.limit } : {}) }),
    );
  }
}
