import { equalBytes, KIND_DELETE } from './keys.js';

/**
 * Decides which versions an output table keeps (LevelDB's DoCompactionWork rule). Snapshots
 * split each key's history into stripes: stripe i holds the versions a reader at snapshot i
 * (and not at snapshot i-1) could see; the last stripe is "now". Only the newest version of
 * each stripe can ever be read, so the others are dropped. A delete in the oldest stripe is
 * dropped too when nothing older of the key can exist below the output (`bottommost`).
 */
export class CompactionFilter {
  private lastKey: Uint8Array | null = null;
  private lastStripe = -1;

  /** `snapshots` ascending: the sequence numbers pinned by open snapshots and iterators. */
  constructor(
    private readonly snapshots: readonly number[],
    private readonly bottommost: (key: Uint8Array) => boolean,
  ) {}

  private stripe(seq: number): number {
    const s = this.snapshots;
    let lo = 0;
    let hi = s.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid]! < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Entries must be offered in internal order; returns whether to keep this one. */
  keep(key: Uint8Array, seq: number, kind: number): boolean {
    const stripe = this.stripe(seq);
    if (this.lastKey === null || !equalBytes(this.lastKey, key)) {
      this.lastKey = key;
      this.lastStripe = -1;
    }
    if (stripe === this.lastStripe) return false;
    this.lastStripe = stripe;
    if (kind === KIND_DELETE && stripe === 0 && this.bottommost(key)) return false;
    return true;
  }
}
