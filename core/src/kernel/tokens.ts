import type { InjectionToken } from 'tsyringe';
import type { StorageEngine } from '../engine/engine.js';
import type { HotPath } from '../hotpath/hotpath.js';
import type { EventCatalogue } from './events.js';
import type { Consensus } from '../consensus/consensus.js';
import type { Clock } from '../clock.js';
import type { Placement } from '../placement/placement.js';

/** A contract token: a Symbol (recommended) carrying the type of what it resolves to. */
export type Token<T> = InjectionToken<T>;

/**
 * Contract tokens (DESIGN.md section 2). A plugin `provides` and `requires` these; the kernel
 * registers each provider in the kernel's own child container and checks the graph first.
 * A token's description is the name used in error messages.
 */
export const ENGINE: InjectionToken<StorageEngine> = Symbol('flashkv.engine');
export const HOTPATH: InjectionToken<HotPath> = Symbol('flashkv.hotpath');
export const EVENTS: InjectionToken<EventCatalogue> = Symbol('flashkv.events');
/** Placement (PD's role): TSO, region directory, GC safe point, pauses, durable job records. */
export const PLACEMENT: InjectionToken<Placement> = Symbol('flashkv.placement');
/** Wall time for everything that must not read Date.now itself (STYLE.md habit 1). */
export const CLOCK: InjectionToken<Clock> = Symbol('flashkv.clock');
/** Consensus (TiKV's tikv_kv::Engine): region-gated snapshots, writes and admin commands. */
export const CONSENSUS: InjectionToken<Consensus> = Symbol('flashkv.consensus');
/** The store-level transactional API with explicit timestamps (DESIGN.md section 5). */
export const STORAGE: InjectionToken<import('../txn/storage/storage.js').Storage> = Symbol('flashkv.storage');
/** The transaction client: TSO, routing, retries, lock resolution (DESIGN.md section 5). */
export const TXN_CLIENT: InjectionToken<import('../txn/client/txn-client.js').TxnClient> = Symbol('flashkv.txn-client');
