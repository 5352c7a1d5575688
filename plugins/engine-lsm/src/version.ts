import { compareBytes } from '@flashkv/core';
import type { FileMeta, ManifestState } from './manifest.js';
import type { TableReader } from './sstable/table-reader.js';

export interface TableEntry {
  readonly meta: FileMeta;
  readonly reader: TableReader;
}

/**
 * One immutable set of live SSTs (LevelDB's Version). Readers pin the version they started
 * with, so a compaction that replaces files never pulls a table out from under a snapshot;
 * files leave the disk only when no pinned version lists them.
 */
export class Version {
  refs = 0;

  constructor(
    readonly state: ManifestState,
    readonly levels: readonly (readonly TableEntry[])[],
  ) {}

  /** Level >= 1 files are disjoint and sorted: the one file that may hold `pk`, or undefined. */
  static findFile(files: readonly TableEntry[], pk: Uint8Array): TableEntry | undefined {
    let lo = 0;
    let hi = files.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareBytes(files[mid]!.meta.largest, pk) < 0) lo = mid + 1;
      else hi = mid;
    }
    const f = files[lo];
    return f !== undefined && compareBytes(f.meta.smallest, pk) <= 0 ? f : undefined;
  }

  fileNumbers(into: Set<number>): void {
    for (const level of this.levels) for (const t of level) into.add(t.meta.number);
  }
}
