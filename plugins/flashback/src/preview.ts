/**
 * Preview (beyond TiKV, FLASHBACK.md first section): what a flashback of one region's part of a
 * range to V would change, from an ordinary snapshot: no admin command, no latch, no write. A
 * region already in flashback refuses the read (FLASHBACK_IN_PROGRESS), as any read would.
 */
import { MvccReader, type Command, type FlashbackPreviewSample, type RegionRoute, type TxnCommandContext } from '@flashkv/core';
import { scanKeyLocks } from './locks.js';
import { ChangedKeyWalker } from './read-phase.js';
import { codec } from '@flashkv/core';

const U64_MAX = 0xffff_ffff_ffff_ffffn;
export const PREVIEW_COMMAND = 'flashbackPreview';

export interface PreviewArgs {
  readonly route: RegionRoute;
  readonly startKey?: Uint8Array;
  readonly endKey?: Uint8Array;
  readonly version: bigint;
  readonly sampleSize: number;
}

export interface PreviewCounts {
  keysToRewrite: number;
  toDelete: number;
  toRestore: number;
  toUpdate: number;
  unchanged: number;
  locks: number;
  sample: FlashbackPreviewSample[];
}

function same(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class FlashbackPreviewCommand implements Command<PreviewCounts, TxnCommandContext> {
  readonly name = PREVIEW_COMMAND;
  constructor(readonly args: PreviewArgs) {}
  latchKeys(): readonly Uint8Array[] {
    return [];
  }
  async process(ctx: TxnCommandContext): Promise<PreviewCounts> {
    const a = this.args;
    const snap = await ctx.consensus.snapshot({ regionId: a.route.regionId, epoch: a.route.epoch });
    try {
      const out: PreviewCounts = { keysToRewrite: 0, toDelete: 0, toRestore: 0, toUpdate: 0, unchanged: 0, locks: 0, sample: [] };
      const end = a.endKey !== undefined && a.endKey.length > 0 ? a.endKey : undefined;
      const start = a.startKey !== undefined && a.startKey.length > 0 ? a.startKey : undefined;
      // Every lock a Prepare would roll back, each SharedLocks sub-lock counted.
      out.locks = scanKeyLocks(snap, start as codec.EncodedKey | undefined, end as codec.EncodedKey | undefined, undefined, 0).reduce((n, l) => n + l.locks.length, 0);
      const w = new ChangedKeyWalker(snap, start, end, a.version);
      try {
        while (w.next()) {
          out.keysToRewrite++;
          const current = w.latestType === 0x50 ? w.valueAt(U64_MAX) : undefined;
          const target = w.valueAt(a.version);
          let kind: FlashbackPreviewSample['kind'];
          if (current !== undefined && target === undefined) kind = 'delete';
          else if (current === undefined && target !== undefined) kind = 'restore';
          else if (same(current, target)) kind = 'unchanged';
          else kind = 'rewrite';
          if (kind === 'delete') out.toDelete++;
          else if (kind === 'restore') out.toRestore++;
          else if (kind === 'unchanged') out.unchanged++;
          else out.toUpdate++;
          if (out.sample.length < a.sampleSize) out.sample.push({ key: codec.decodeBytes(w.key).raw, kind, current, target });
        }
      } finally {
        w.close();
      }
      return out;
    } finally {
      snap.release();
    }
  }
}
