import type { Region, StorageEngine } from '@flashkv/core';
import type { ConfState, Entry, HardState, InitialState, Snapshot } from '../core/index.js';
import { DATA_CFS, applyStateKey, dataRange, decodeApplyState, decodeRegionState, encodeSnapshotData, logKey, logRange, regionStateKey, type ApplyState } from './codec.js';
import { InMemoryLogStorage } from './log-storage.js';

/** The membership raft sees is the region's peer list (conf changes would edit both together). */
export function confStateOf(region: Region): ConfState {
  return {
    voters: region.peers.filter((p) => p.role === 'voter').map((p) => p.id),
    learners: region.peers.filter((p) => p.role === 'learner').map((p) => p.id),
  };
}

/**
 * A region peer's raft storage over the engine's raft CF (log in memory too, loaded at open; see
 * `InMemoryLogStorage`). Its membership is the region's peer list and its snapshot the region's data.
 */
export class PeerStorage extends InMemoryLogStorage {
  constructor(
    private readonly engine: StorageEngine,
    readonly regionId: number,
    private region: () => Region,
    hard: HardState,
    apply: ApplyState,
    entries: Entry[],
  ) {
    super(hard, apply, entries);
  }

  initialState(): InitialState {
    return { hardState: this.hard, confState: confStateOf(this.region()) };
  }

  protected logKeyAt(index: number): Uint8Array {
    return logKey(this.regionId, index);
  }

  /**
   * A snapshot of the region as of what is applied on disk: the region state, the apply state
   * and every data key in the range are read from one engine snapshot, so they agree.
   */
  snapshot(): Snapshot {
    const snap = this.engine.snapshot();
    try {
      const applyBytes = snap.get('raft', applyStateKey(this.regionId));
      const regionBytes = snap.get('raft', regionStateKey(this.regionId));
      if (!applyBytes || !regionBytes) throw new Error(`raft store: region ${this.regionId} has no persisted state to snapshot`);
      const applied = decodeApplyState(applyBytes).applied;
      if (this.cachedSnap && this.cachedSnap.metadata.index === applied) return this.cachedSnap;
      const region = decodeRegionState(regionBytes).region;
      const [lower, upper] = dataRange(region);
      const cfs = DATA_CFS.map((cf) => {
        const kvs: [Uint8Array, Uint8Array][] = [];
        const it = snap.iterator(cf, { lower, upper });
        try {
          for (let ok = it.first(); ok; ok = it.next()) kvs.push([it.key().slice(), it.value().slice()]);
        } finally {
          it.close();
        }
        return kvs;
      });
      this.cachedSnap = { metadata: { index: applied, term: this.term(applied), confState: confStateOf(region) }, data: encodeSnapshotData(region, cfs) };
      return this.cachedSnap;
    } finally {
      snap.release();
    }
  }

  logRange(): [Uint8Array, Uint8Array] {
    return logRange(this.regionId);
  }
}
