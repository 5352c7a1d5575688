import { Observable, Subject } from 'rxjs';
import type { BatchOp } from '../engine/write-batch.js';

/**
 * The typed event catalogue (DESIGN.md section 2). Events are emitted per batch, never per key.
 * Payload shapes grow as the layers that emit them land; fields here are the stable core.
 */
export interface AppliedEvent {
  readonly regionId: number;
  /** Raft log index, or a local sequence for LocalConsensus. */
  readonly index: bigint;
  /** Request flags (e.g. flashback, one-phase commit) as set by the proposer. */
  readonly flags: ReadonlySet<string>;
  readonly modifies: readonly BatchOp[];
}

export interface RegionChangedEvent {
  readonly regionId: number;
  readonly reason: 'created' | 'split' | 'merged' | 'epoch' | 'flashback' | 'removed';
  readonly startKey: Uint8Array;
  readonly endKey: Uint8Array;
  readonly epoch: { readonly version: number; readonly confVer: number };
}

export interface RaftRoleChangedEvent {
  readonly regionId: number;
  readonly storeId: number;
  readonly role: 'leader' | 'follower' | 'candidate' | 'pre-candidate' | 'learner';
  readonly term: bigint;
}

export interface FlashbackProgressEvent {
  readonly jobId: string;
  readonly phase: 'check' | 'prepare' | 'finish' | 'done' | 'failed';
  readonly regionsTotal: number;
  /** Regions done in the current phase (prepared while preparing, finished while finishing). */
  readonly regionsDone: number;
  readonly keysRewritten: number;
  readonly regionsPrepared?: number;
  readonly regionsFinished?: number;
  readonly locksRolledBack?: number;
  readonly startTs?: bigint;
  readonly commitTs?: bigint;
  readonly keysPerSecond?: number;
  readonly etaMs?: number;
}

export interface ResolvedTsEvent {
  readonly regionId: number;
  readonly ts: bigint;
}

export interface EngineFlushedEvent {
  readonly engine: string;
  readonly bytes: number;
  readonly entries: number;
}

export interface EventMap {
  applied: AppliedEvent;
  regionChanged: RegionChangedEvent;
  raftRoleChanged: RaftRoleChangedEvent;
  flashbackProgress: FlashbackProgressEvent;
  resolvedTs: ResolvedTsEvent;
  engineFlushed: EngineFlushedEvent;
}

export type EventName = keyof EventMap;

export const EVENT_NAMES: readonly EventName[] = [
  'applied',
  'regionChanged',
  'raftRoleChanged',
  'flashbackProgress',
  'resolvedTs',
  'engineFlushed',
];

export interface ObserveOptions {
  /**
   * Observers with a priority run first, lowest number first, each exactly once per event and
   * before any plain subscriber (STYLE.md habit 9). Two observers of one event may not share a
   * priority: the order must be explicit. Observers without a priority run afterwards and must
   * not depend on order.
   */
  readonly priority?: number;
  /** Who registers it, for error messages. */
  readonly owner?: string;
}

export interface ObserverError {
  readonly event: EventName;
  readonly owner: string;
  readonly error: unknown;
}

interface Observer<T> {
  readonly handler: (payload: T) => void;
  readonly priority: number | undefined;
  readonly owner: string;
}

/** A registration that can be undone. */
export interface Registration {
  unregister(): void;
}

/**
 * Emission is synchronous: `emit` returns after every observer ran. An observer that throws does
 * not stop the others and does not reach the emitter (the emitter is usually the apply path,
 * which must not fail because an observer did); its error goes to `observerErrors$`.
 */
export class EventCatalogue {
  private readonly observers = new Map<EventName, Observer<never>[]>();
  private readonly subjects = new Map<EventName, Subject<unknown>>();
  private readonly errors = new Subject<ObserverError>();
  private closed = false;

  readonly observerErrors$: Observable<ObserverError> = this.errors.asObservable();

  get applied$(): Observable<AppliedEvent> {
    return this.stream('applied');
  }
  get regionChanged$(): Observable<RegionChangedEvent> {
    return this.stream('regionChanged');
  }
  get raftRoleChanged$(): Observable<RaftRoleChangedEvent> {
    return this.stream('raftRoleChanged');
  }
  get flashbackProgress$(): Observable<FlashbackProgressEvent> {
    return this.stream('flashbackProgress');
  }
  get resolvedTs$(): Observable<ResolvedTsEvent> {
    return this.stream('resolvedTs');
  }
  get engineFlushed$(): Observable<EngineFlushedEvent> {
    return this.stream('engineFlushed');
  }

  /** The plain (unordered) stream of one event; completes when the kernel stops. */
  stream<K extends EventName>(name: K): Observable<EventMap[K]> {
    return this.subject(name).asObservable() as Observable<EventMap[K]>;
  }

  /** Registers an observer that runs synchronously inside `emit`, ordered by priority. */
  observe<K extends EventName>(name: K, handler: (payload: EventMap[K]) => void, options: ObserveOptions = {}): Registration {
    assertEventName(name);
    if (typeof handler !== 'function') throw new TypeError('observer handler must be a function');
    const { priority, owner = 'anonymous' } = options;
    if (priority !== undefined && !Number.isFinite(priority)) throw new TypeError(`priority must be a finite number, got ${priority}`);
    const list = (this.observers.get(name) ?? []) as Observer<EventMap[K]>[];
    if (priority !== undefined) {
      const clash = list.find((o) => o.priority === priority);
      if (clash) {
        throw new TypeError(`observers of ${name} need distinct priorities: ${owner} and ${clash.owner} both asked for ${priority}`);
      }
    }
    const obs: Observer<EventMap[K]> = { handler, priority, owner };
    const next = [...list, obs].sort(byPriority);
    this.observers.set(name, next as Observer<never>[]);
    return {
      unregister: () => {
        const cur = this.observers.get(name) ?? [];
        this.observers.set(
          name,
          cur.filter((o) => o !== (obs as Observer<never>)),
        );
      },
    };
  }

  emit<K extends EventName>(name: K, payload: EventMap[K]): void {
    if (this.closed) return;
    const list = this.observers.get(name) as Observer<EventMap[K]>[] | undefined;
    if (list) {
      for (const o of list) {
        try {
          o.handler(payload);
        } catch (error) {
          this.errors.next({ event: name, owner: o.owner, error });
        }
      }
    }
    const s = this.subjects.get(name);
    if (s) {
      try {
        s.next(payload);
      } catch (error) {
        this.errors.next({ event: name, owner: 'subscriber', error });
      }
    }
  }

  /** Completes every stream; later emits are dropped. Called by the kernel at stop. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.subjects.values()) s.complete();
    this.errors.complete();
    this.observers.clear();
  }

  private subject(name: EventName): Subject<unknown> {
    assertEventName(name);
    let s = this.subjects.get(name);
    if (!s) {
      s = new Subject<unknown>();
      if (this.closed) s.complete();
      this.subjects.set(name, s);
    }
    return s;
  }
}

function byPriority(a: { readonly priority: number | undefined }, b: { readonly priority: number | undefined }): number {
  // Prioritised observers first (ascending); unprioritised keep registration order after them.
  if (a.priority === undefined) return b.priority === undefined ? 0 : 1;
  if (b.priority === undefined) return -1;
  return a.priority - b.priority;
}

function assertEventName(name: unknown): asserts name is EventName {
  if (!(EVENT_NAMES as readonly unknown[]).includes(name)) {
    throw new TypeError(`unknown event ${String(name)}: expected one of ${EVENT_NAMES.join(', ')}`);
  }
}
