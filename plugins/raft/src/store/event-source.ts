import type { EventCatalogue, EventMap, EventName } from '@flashkv/core';

/** What a store emits on: the kernel's `emit` only. */
export type StoreEventSink = Pick<EventCatalogue, 'emit'>;

/**
 * The kernel's `applied` and `regionChanged` events for N stores in one process: every store
 * reports, and an event passes only from the **first store to apply** its log index.
 *
 * Every replica applies a region's log in the same order, so when a store applies index i for the
 * first time anywhere, no store has applied anything past i yet: the highest index reported for
 * the region is below i and the event passes. A later replica applying i (a follower, a store
 * catching up, a restarted store replaying unsynced entries) finds it reported and is dropped.
 * So each region's `applied` stream is in log order, with no index twice and none missing,
 * whichever replicas come and go: a replica moved off a store, a stopped store, a new store. And
 * since the leader applies a write before acknowledging it, its event is out by then (CDC's
 * resolved ts relies on that, as with LocalConsensus).
 *
 * Data a store installs from a raft snapshot emits nothing (as before): the entries it covers
 * were applied, and so reported, by the store that sent it.
 *
 * `regionChanged` passes the same way, keyed by the reporting store's applied index of the
 * region when it changes (a split's new region starts its own count). A store's replica being
 * destroyed (`removed`) is not the region going away while other replicas hold it (no merges
 * exist), so it is not reported; the membership change that removed it was (`epoch`).
 */
export class FirstApplierEvents {
  private readonly applied = new Map<number, bigint>();
  private readonly changed = new Map<number, number>();

  constructor(private readonly events: StoreEventSink) {}

  /** The highest applied index reported for a region (-1 when none). */
  reportedIndex(regionId: number): bigint {
    return this.applied.get(regionId) ?? -1n;
  }

  /**
   * The sink a store is opened with. `appliedOf` gives that store's applied index of a region
   * (undefined when it holds none), read when the region changes.
   */
  forStore(appliedOf: (regionId: number) => number | undefined): StoreEventSink {
    const self = this;
    return {
      emit<K extends EventName>(name: K, payload: EventMap[K]): void {
        if (name === 'applied') {
          const ev = payload as EventMap['applied'];
          if (ev.index <= self.reportedIndex(ev.regionId)) return;
          self.applied.set(ev.regionId, ev.index);
        } else if (name === 'regionChanged') {
          const ev = payload as EventMap['regionChanged'];
          if (ev.reason === 'removed') return;
          const at = appliedOf(ev.regionId);
          if (at === undefined || at <= (self.changed.get(ev.regionId) ?? -1)) return;
          self.changed.set(ev.regionId, at);
        }
        self.events.emit(name, payload);
      },
    };
  }
}
