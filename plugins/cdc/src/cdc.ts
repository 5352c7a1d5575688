import { Observable, type Subscription, type Subscriber } from 'rxjs';
import {
  codec,
  KvError,
  type AppliedEvent,
  type EngineIterator,
  type EngineSnapshot,
  type EventCatalogue,
  type Placement,
  type Region,
  type RegionChangedEvent,
  type Registration,
  type ResolvedTsSource,
  type StorageEngine,
} from '@flashkv/core';
import type { CdcEvent, CommitEvent, RowEvent, RowOp } from './events.js';

/** Observer priorities on `applied` (STYLE.md habit 9): rows are cut before the lock tracker moves. */
export const CDC_ROWS_PRIORITY = 100;
export const CDC_RESOLVED_TS_PRIORITY = 110;

/** The part of core's OnePcFence CDC needs (Storage.fence): 1PC commits whose ts is taken but not yet applied. */
export interface OnePcFenceView {
  blockingRange(start: Uint8Array | undefined, end: Uint8Array | undefined, readTs: bigint): Promise<void> | undefined;
}

export interface CdcServiceOptions {
  readonly engine: StorageEngine;
  readonly placement: Placement;
  readonly events: EventCatalogue;
  /**
   * Storage's 1PC fence. A 1PC write stores no lock, so without the fence a resolved ts could
   * pass a commit ts that is allocated but not yet applied. Absent: no 1PC writer outside flashback.
   */
  readonly fence?: OnePcFenceView;
  /** Each emission advances resolved ts once (tests drive it; the plugin uses an interval). */
  readonly ticker?: Observable<unknown>;
  /**
   * Runs a feed's delivery and each step of its incremental scan later. Default: deliveries in a
   * microtask (right after the applied batch, outside the apply path), scan steps with
   * setImmediate (the scan yields to the event loop). A stalled scheduler models a stalled subscriber.
   */
  readonly schedule?: (run: () => void) => void;
  /** Events a feed may hold undelivered before it fails with CDC_LAGGING. Default 100,000. */
  readonly maxPendingEvents?: number;
  /** Records the incremental scan reads per scheduler run (it yields between runs). Default 1024. */
  readonly scanChunk?: number;
}

/**
 * Back-pressure from a subscriber to its feed: while paused, the feed delivers nothing (its scan
 * does not advance either) and holds what arrives in its bounded queue; past `maxPendingEvents`
 * the feed fails with CDC_LAGGING. Pass the same object to `changefeed({ flow })` and to the
 * sink (`writeJsonLines(feed$, out, { flow })`), or call `pause()`/`resume()` yourself.
 */
export class FeedFlow {
  private isPaused = false;
  private readonly resumers = new Set<() => void>();

  get paused(): boolean {
    return this.isPaused;
  }

  pause(): void {
    this.isPaused = true;
  }

  resume(): void {
    if (!this.isPaused) return;
    this.isPaused = false;
    for (const r of [...this.resumers]) r();
  }

  /** @internal Called on each resume; returns the unregistration. */
  onResume(run: () => void): () => void {
    this.resumers.add(run);
    return () => void this.resumers.delete(run);
  }
}

export interface ChangefeedOptions {
  /** Raw user keys; empty `endKey` is unbounded. Default: the whole key space. */
  readonly startKey?: Uint8Array;
  readonly endKey?: Uint8Array;
  /** Rows committed at or below it are not delivered (a checkpoint: the last global resolved ts seen). */
  readonly startTs: bigint;
  readonly withOldValue?: boolean;
  /** The subscriber's pause/resume signal (see FeedFlow). */
  readonly flow?: FeedFlow;
}

/** The CDC service (DESIGN.md section 7), also the RESOLVED_TS source of the flashback orchestrator. */
export interface Cdc extends ResolvedTsSource {
  changefeed(options: ChangefeedOptions): Observable<CdcEvent>;
  /** Fetches a TSO and advances every region's resolved ts once. */
  tick(): Promise<void>;
  resolvedTs(regionId: number): bigint;
  /** Min resolved ts of the regions overlapping [startKey, endKey) (raw keys; empty end unbounded). */
  minResolvedTs(startKey: Uint8Array, endKey: Uint8Array): bigint;
  /** What each open feed holds undelivered (bounded by maxPendingEvents). */
  feedStats(): FeedStats[];
}

interface RegionState {
  readonly id: number;
  /** Encoded bounds as latin1 strings (string order is byte order); '' end is unbounded. */
  start: string;
  end: string;
  /** Encoded key -> start ts of its lock: the structure resolved ts reads, never rescanned. */
  readonly locks: Map<string, bigint>;
  readonly counts: Map<bigint, number>;
  resolved: bigint;
}

/**
 * The rows cut from one applied batch: events with the encoded key of each (a view into the
 * batch); the encoded key as a string is made only for a feed that filters or checks on it.
 */
class Rows {
  private eks: (string | undefined)[] | undefined;
  constructor(
    readonly events: RowEvent[],
    readonly encoded: Uint8Array[],
  ) {}
  ek(i: number): string {
    const eks = (this.eks ??= new Array<string | undefined>(this.events.length));
    return (eks[i] ??= str(this.encoded[i]!));
  }
}

/**
 * Raw keys decoded from encoded ones (memcomparable groups of 8 bytes plus a marker) into one
 * buffer per batch, each key a view of it: no array per key. Anything unusual goes to codec.toRaw,
 * which reports a corrupt key as such.
 */
export class RawKeys {
  private buf: Uint8Array;
  private at = 0;
  constructor(rows: number) {
    this.buf = new Uint8Array(Math.min(Math.max(rows, 1) * 24, 65536));
  }
  of(encoded: Uint8Array): Uint8Array {
    const n = encoded.length;
    if (n === 0 || n % 9 !== 0) return codec.toRaw(encoded);
    if (this.buf.length - this.at < n) {
      this.buf = new Uint8Array(Math.max(n, this.buf.length));
      this.at = 0;
    }
    const out = this.buf;
    const from = this.at;
    let o = from;
    for (let g = 0; g < n; g += 9) {
      const pad = 0xff - encoded[g + 8]!;
      if (pad === 0) {
        if (g + 9 === n) return codec.toRaw(encoded);
        for (let j = 0; j < 8; j++) out[o++] = encoded[g + j]!;
        continue;
      }
      if (pad > 8 || g + 9 !== n) return codec.toRaw(encoded);
      for (let j = 8 - pad; j < 8; j++) if (encoded[g + j] !== 0) return codec.toRaw(encoded);
      for (let j = 0; j < 8 - pad; j++) out[o++] = encoded[g + j]!;
    }
    this.at = o;
    return out.subarray(from, o);
  }
}

const tsView = new DataView(new ArrayBuffer(8));

/**
 * Timestamps read from one batch's records. The rows of a batch are one txn's keys, so they
 * share a start ts and a commit ts: the last bigint of each is reused while its bytes repeat.
 */
export class TsReader {
  private commitHi = -1;
  private commitLo = -1;
  private commit = 0n;
  private startHi = -1;
  private startLo = -1;
  private start = 0n;

  /** The descending 8-byte commit ts at the end of a write-CF key. */
  commitTs(k: Uint8Array): bigint {
    const at = k.length - 8;
    const hi = ~((k[at]! << 24) | (k[at + 1]! << 16) | (k[at + 2]! << 8) | k[at + 3]!) >>> 0;
    const lo = ~((k[at + 4]! << 24) | (k[at + 5]! << 16) | (k[at + 6]! << 8) | k[at + 7]!) >>> 0;
    if (hi !== this.commitHi || lo !== this.commitLo) {
      this.commitHi = hi;
      this.commitLo = lo;
      tsView.setUint32(0, hi);
      tsView.setUint32(4, lo);
      this.commit = tsView.getBigUint64(0);
    }
    return this.commit;
  }

  startTs(hi: number, lo: number): bigint {
    if (hi !== this.startHi || lo !== this.startLo) {
      this.startHi = hi;
      this.startLo = lo;
      tsView.setUint32(0, hi);
      tsView.setUint32(4, lo);
      this.start = tsView.getBigUint64(0);
    }
    return this.start;
  }
}

export interface WriteFields {
  writeType: 'Put' | 'Delete' | 'Lock' | 'Rollback';
  startTs: bigint;
  shortValue?: Uint8Array | undefined;
  hasOverlappedRollback: boolean;
}

const WRITE_TYPES: Record<number, WriteFields['writeType'] | undefined> = { 0x50: 'Put', 0x44: 'Delete', 0x4c: 'Lock', 0x52: 'Rollback' };
const SHORT_VALUE_TAG = 0x76;
const TWO_32 = 0x1_0000_0000;

/**
 * The fields CDC reads from a write record, into `into` (one object reused per batch). The common
 * record (type, start ts varint, at most a short value) is read in place; any other shape goes to
 * codec.decodeWrite, which knows every field and reports corruption.
 */
export function decodeWriteInto(v: Uint8Array, ts: TsReader, into: WriteFields): WriteFields {
  const writeType = WRITE_TYPES[v[0]!];
  if (writeType === undefined) return codec.decodeWrite(v);
  // Varint start ts: the low 49 bits exactly in a double, the rest (at most 15 bits) apart.
  let low = 0;
  let high = 0;
  let pos = 1;
  let mul = 1;
  for (let shift = 0; ; shift += 7) {
    if (pos >= v.length || shift > 63) return codec.decodeWrite(v);
    const b = v[pos++]!;
    if (shift < 49) {
      low += (b & 0x7f) * mul;
      mul *= 128;
    } else high += (b & 0x7f) * 2 ** (shift - 49);
    if (b < 0x80) break;
  }
  // low < 2^49: its top 17 bits go to the high word, over which `high` sits at bit 49 - 32 = 17.
  const hi = Math.floor(low / TWO_32) + high * 2 ** 17;
  if (hi >= TWO_32) return codec.decodeWrite(v);
  into.writeType = writeType;
  into.startTs = ts.startTs(hi, low % TWO_32);
  into.hasOverlappedRollback = false;
  if (pos === v.length) {
    into.shortValue = undefined;
    return into;
  }
  if (v[pos] !== SHORT_VALUE_TAG || pos + 2 + v[pos + 1]! !== v.length) return codec.decodeWrite(v);
  into.shortValue = v.subarray(pos + 2);
  return into;
}

const DATA = codec.DATA_PREFIX;
const DATA_END = Uint8Array.of(DATA + 1);
const OPS: Record<string, RowOp | undefined> = { Put: 'put', Delete: 'delete', Lock: 'lock' };

const str = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');
const bytesOf = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));
const inRange = (ek: string, start: string, end: string): boolean => ek >= start && (end === '' || ek < end);
const encodeBound = (raw: Uint8Array | undefined): Uint8Array => (raw === undefined || raw.length === 0 ? new Uint8Array(0) : codec.encodeBytes(raw));

function dataOf(encoded: Uint8Array): Uint8Array {
  return codec.dataKey(encoded);
}

export class CdcService implements Cdc {
  private readonly engine: StorageEngine;
  private readonly placement: Placement;
  private readonly events: EventCatalogue;
  private readonly fence: OnePcFenceView | undefined;
  private readonly ticker: Observable<unknown> | undefined;
  readonly schedule: (run: () => void) => void;
  readonly scheduleStep: (run: () => void) => void;
  readonly maxPendingEvents: number;
  readonly scanChunk: number;
  private readonly regions = new Map<number, RegionState>();
  private readonly feeds = new Set<Feed>();
  private registrations: Registration[] = [];
  private tickSub: Subscription | undefined;
  private ticking: Promise<void> | undefined;
  private started = false;
  /** Commits delivered at or below their region's resolved ts; stays 0 unless the invariant breaks. */
  invariantViolations = 0;

  constructor(options: CdcServiceOptions) {
    this.engine = options.engine;
    this.placement = options.placement;
    this.events = options.events;
    this.fence = options.fence;
    this.ticker = options.ticker;
    this.schedule = options.schedule ?? queueMicrotask;
    this.scheduleStep = options.schedule ?? ((run) => void setImmediate(run));
    const max = options.maxPendingEvents ?? 100_000;
    if (!Number.isInteger(max) || max < 1) throw new KvError('INVALID_ARGUMENT', `maxPendingEvents must be a positive integer, got ${max}`);
    this.maxPendingEvents = max;
    const chunk = options.scanChunk ?? 1024;
    if (!Number.isInteger(chunk) || chunk < 1) throw new KvError('INVALID_ARGUMENT', `scanChunk must be a positive integer, got ${chunk}`);
    this.scanChunk = chunk;
  }

  /** Seeds the lock structure with one scan and starts observing; the ticker starts too. */
  start(): void {
    if (this.started) return;
    this.started = true;
    // A restart re-seeds the locks but keeps each region's resolved ts: it never goes backwards.
    const before = new Map([...this.regions].map(([id, r]) => [id, r.resolved]));
    this.regions.clear();
    for (const r of this.placement.regions()) this.regions.set(r.id, newState(r.id, str(r.startKey), str(r.endKey), before.get(r.id) ?? 0n));
    const it = this.engine.iterator('lock', { lower: Uint8Array.of(DATA), upper: DATA_END });
    try {
      for (let ok = it.first(); ok; ok = it.next()) {
        const encoded = it.key().subarray(1);
        const startTs = trackedLockTs(it.value());
        if (startTs === undefined) continue;
        const ek = str(encoded);
        const region = this.stateForKey(ek);
        if (region) addLock(region, ek, startTs);
      }
    } finally {
      it.close();
    }
    this.registrations = [
      this.events.observe('applied', (e) => this.onRows(e), { priority: CDC_ROWS_PRIORITY, owner: '@flashkv/cdc rows' }),
      this.events.observe('applied', (e) => this.onLocks(e), { priority: CDC_RESOLVED_TS_PRIORITY, owner: '@flashkv/cdc resolved-ts' }),
      this.events.observe('regionChanged', (e) => this.onRegionChanged(e), { owner: '@flashkv/cdc regions' }),
    ];
    if (this.ticker) this.tickSub = this.ticker.subscribe(() => void this.tick().catch(() => undefined));
  }

  stop(): void {
    this.tickSub?.unsubscribe();
    for (const r of this.registrations) r.unregister();
    this.registrations = [];
    // Feeds end cleanly: what was queued is delivered, then complete.
    for (const f of [...this.feeds]) f.complete();
    this.started = false;
  }

  resolvedTs(regionId: number): bigint {
    return this.regions.get(regionId)?.resolved ?? 0n;
  }

  minResolvedTs(startKey: Uint8Array, endKey: Uint8Array): bigint {
    let min: bigint | undefined;
    for (const r of this.placement.regionsInRange(encodeBound(startKey), encodeBound(endKey))) {
      const ts = this.resolvedTs(r.id);
      if (min === undefined || ts < min) min = ts;
    }
    return min ?? 0n;
  }

  tick(): Promise<void> {
    // One TSO request at a time: a second tick while one is out would only repeat it.
    this.ticking ??= this.placement
      .getTs()
      .then((ts) => this.advance(ts))
      .finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  /**
   * Resolved ts = min(start ts of the region's locks, a TSO fetched before this call). A txn
   * with no lock applied yet takes its commit ts from the TSO after its prewrite applies, so above
   * `tso`; a 1PC write takes it with no lock at all, so a region with a fenced 1PC write that may
   * commit at or below the candidate does not advance this time.
   */
  private advance(tso: bigint): void {
    // On a node of a cluster of processes a split proposed elsewhere is applied here before the
    // replicated directory shows it, so the regionChanged event finds no new region: catch up.
    const dir = this.placement.regions();
    if (dir.some((r) => !this.regions.has(r.id))) this.reconcileRegions(dir);
    for (const r of this.regions.values()) {
      let candidate = tso;
      const min = minLock(r);
      if (min !== undefined && min < candidate) candidate = min;
      if (candidate <= r.resolved) continue;
      if (this.fence?.blockingRange(r.start === '' ? undefined : bytesOf(r.start), r.end === '' ? undefined : bytesOf(r.end), candidate) !== undefined) continue;
      r.resolved = candidate;
      this.events.emit('resolvedTs', { regionId: r.id, ts: candidate });
    }
    for (const f of [...this.feeds]) f.onResolved();
  }

  changefeed(options: ChangefeedOptions): Observable<CdcEvent> {
    if (options === null || typeof options !== 'object') throw new TypeError('changefeed options must be an object');
    if (typeof options.startTs !== 'bigint') throw new TypeError(`changefeed startTs must be a bigint, got ${typeof options.startTs}`);
    if (options.startTs < 0n) throw new KvError('INVALID_ARGUMENT', `changefeed startTs must be non-negative, got ${options.startTs}`);
    const start = encodeBound(options.startKey);
    const end = encodeBound(options.endKey);
    if (end.length > 0 && Buffer.compare(start, end) >= 0) throw new KvError('INVALID_ARGUMENT', 'changefeed startKey must be below endKey');
    return new Observable<CdcEvent>((subscriber) => {
      if (!this.started) {
        subscriber.error(new KvError('INVALID_ARGUMENT', 'the CDC service is not started'));
        return undefined;
      }
      const feed = new Feed(this, subscriber, str(start), str(end), options.startTs, options.withOldValue === true, options.flow);
      // The snapshot and the registration happen in one synchronous step: no applied event falls
      // between. A commit at or below the range's resolved ts now cannot come again as a live row,
      // so the scan remembers only the commits above it.
      let floor: bigint | undefined;
      for (const { ts } of this.resolvedOfRange(feed.start, feed.end)) if (floor === undefined || ts < floor) floor = ts;
      this.feeds.add(feed);
      feed.beginScan(this.engine, floor ?? 0n);
      this.placement.getTs().then(
        (ts) => feed.setSettleTs(ts),
        (e: unknown) => feed.fail(e),
      );
      return () => feed.close();
    });
  }

  feedStats(): FeedStats[] {
    return [...this.feeds].map((f) => f.stats());
  }

  /** @internal */
  removeFeed(feed: Feed): void {
    this.feeds.delete(feed);
  }

  /** @internal The feed's view of a region's resolved ts (regions of its range, by key order). */
  resolvedOfRange(start: string, end: string): { id: number; ts: bigint }[] {
    return this.placement.regionsInRange(bytesOf(start), bytesOf(end)).map((r) => ({ id: r.id, ts: this.resolvedTs(r.id) }));
  }

  /** @internal Bumped on every region change, so cached region spans are re-read. */
  regionEpoch = 0;

  /** @internal The region holding an encoded key, with its bounds. */
  regionSpanForKey(encoded: Uint8Array): RegionSpan {
    const r = this.placement.regionForKey(encoded);
    return { id: r.id, start: r.startKey, end: r.endKey };
  }

  private stateForKey(ek: string): RegionState | undefined {
    for (const r of this.regions.values()) if (inRange(ek, r.start, r.end)) return r;
    return undefined;
  }

  private onRows(e: AppliedEvent): void {
    if (this.feeds.size === 0) return;
    const rows = this.cutRows(e);
    const evs = rows.events;
    const n = evs.length;
    if (n === 0) return;
    const region = this.regions.get(e.regionId);
    if (region) {
      for (const ev of evs) if (ev.type !== 'prewrite' && ev.type !== 'rollback' && ev.commitTs <= region.resolved) this.invariantViolations++;
    }
    let withOld: CommitEvent[] | undefined;
    for (const f of this.feeds) {
      const full = f.start === '' && f.end === '';
      for (let i = 0; i < n; i++) {
        if (!full && !inRange(rows.ek(i), f.start, f.end)) continue;
        let ev = evs[i]!;
        if (f.withOldValue && ev.type !== 'prewrite' && ev.type !== 'rollback') {
          withOld ??= new Array<CommitEvent>(n);
          ev = withOld[i] ??= { ...ev, oldValue: this.oldValue(rows.encoded[i]!, ev.commitTs) };
        }
        f.live(rows, i, ev);
      }
    }
  }

  /** Turns one applied batch into row events, in modify order. */
  private cutRows(e: AppliedEvent): Rows {
    let defaults: Map<string, Uint8Array> | undefined;
    let lockDeletes: Set<string> | undefined;
    const onePc = e.flags.has('onePc');
    for (const m of e.modifies) {
      if (m.op === 'deleteRange') continue;
      if (m.cf === 'default' && m.op === 'put') (defaults ??= new Map()).set(str(m.key), m.value);
      else if (!onePc && m.cf === 'lock' && m.op === 'delete') (lockDeletes ??= new Set()).add(str(m.key.subarray(1)));
    }
    const regionId = e.regionId;
    const events: RowEvent[] = [];
    const encodedKeys: Uint8Array[] = [];
    const raw = new RawKeys(e.modifies.length);
    const ts = new TsReader();
    const scratch: WriteFields = { writeType: 'Put', startTs: 0n, shortValue: undefined, hasOverlappedRollback: false };
    for (const m of e.modifies) {
      if (m.op !== 'put') continue;
      const k = m.key;
      if (m.cf === 'write') {
        // 'z' + encoded key + 8-byte descending commit ts.
        const encoded = k.subarray(1, k.length - 8);
        const commitTs = ts.commitTs(k);
        const w = decodeWriteInto(m.value, ts, scratch);
        if (w.writeType === 'Rollback') {
          events.push({ type: 'rollback', regionId, key: raw.of(encoded), startTs: w.startTs });
          encodedKeys.push(encoded);
          continue;
        }
        const op = OPS[w.writeType]!;
        let type: 'commit' | 'committed';
        if (onePc) type = 'committed';
        else if (lockDeletes?.has(str(encoded))) type = 'commit';
        else {
          // A commit record rewritten to mark an overlapped rollback: the txn at this ts rolled back.
          if (w.hasOverlappedRollback) {
            events.push({ type: 'rollback', regionId, key: raw.of(encoded), startTs: commitTs });
            encodedKeys.push(encoded);
          }
          continue;
        }
        const value = op === 'put' ? (w.shortValue ?? this.longValue(encoded, w.startTs, defaults)) : undefined;
        events.push({ type, regionId, key: raw.of(encoded), op, value, startTs: w.startTs, commitTs });
        encodedKeys.push(encoded);
      } else if (m.cf === 'lock') {
        const encoded = k.subarray(1);
        const lock = codec.decodeLockType(m.value);
        if (lock === 'Pessimistic' || lock === 'Shared') continue;
        const l = codec.decodeLock(m.value);
        const op = OPS[l.lockType]!;
        const value = op === 'put' ? (l.shortValue ?? this.longValue(encoded, l.startTs, defaults)) : undefined;
        events.push({ type: 'prewrite', regionId, key: raw.of(encoded), op, value, startTs: l.startTs });
        encodedKeys.push(encoded);
      }
    }
    return new Rows(events, encodedKeys);
  }

  /** A value over 255 bytes: from the batch's own default-CF put, else from the engine. */
  private longValue(encoded: Uint8Array, startTs: bigint, defaults: Map<string, Uint8Array> | undefined): Uint8Array | undefined {
    const k = dataOf(codec.appendTs(encoded, startTs));
    return defaults?.get(str(k)) ?? this.engine.get('default', k);
  }

  /** The newest Put/Delete of the key below `commitTs` (Lock and Rollback records skipped). */
  private oldValue(encoded: Uint8Array, commitTs: bigint): Uint8Array | undefined {
    if (commitTs === 0n) return undefined;
    const it = this.engine.iterator('write', { lower: dataOf(codec.appendTs(encoded, commitTs - 1n)), upper: dataOf(codec.appendTs(encoded, 0n)) });
    try {
      for (let ok = it.first(); ok; ok = it.next()) {
        const w = codec.decodeWrite(it.value());
        if (w.writeType === 'Put') return w.shortValue ?? this.engine.get('default', dataOf(codec.appendTs(encoded, w.startTs)));
        if (w.writeType === 'Delete') return undefined;
      }
    } finally {
      it.close();
    }
    return undefined;
  }

  private onLocks(e: AppliedEvent): void {
    const region = this.regions.get(e.regionId);
    if (!region) return;
    for (const m of e.modifies) {
      if (m.cf !== 'lock' || m.op === 'deleteRange') continue;
      const ek = str(m.key.subarray(1));
      removeLock(region, ek);
      if (m.op === 'put') {
        const ts = trackedLockTs(m.value);
        if (ts !== undefined) addLock(region, ek, ts);
      }
    }
  }

  /**
   * After a split the new region inherits its parent's resolved ts (it never goes backwards) and
   * takes the parent's locks in its range; ranges are re-read from placement.
   */
  private onRegionChanged(e: RegionChangedEvent): void {
    this.regionEpoch++;
    if (e.reason !== 'split' && e.reason !== 'created') return;
    this.reconcileRegions(this.placement.regions());
  }

  /**
   * Tracks the directory's regions not tracked yet (a split's new region gets its parent's
   * resolved ts and locks) and takes every region's range from the directory.
   */
  private reconcileRegions(current: readonly Region[]): void {
    for (const r of current) {
      if (this.regions.has(r.id)) continue;
      const start = str(r.startKey);
      const end = str(r.endKey);
      const parent = this.stateForKey(start);
      const state = newState(r.id, start, end, parent?.resolved ?? 0n);
      if (parent) {
        for (const [ek, ts] of [...parent.locks]) {
          if (!inRange(ek, start, end)) continue;
          removeLock(parent, ek);
          addLock(state, ek, ts);
        }
      }
      this.regions.set(r.id, state);
    }
    for (const r of current) {
      const s = this.regions.get(r.id)!;
      s.start = str(r.startKey);
      s.end = str(r.endKey);
    }
  }
}

/** A key's write records read so far by the scan, newest first (the order of the write CF). */
interface ScanVersion {
  readonly commitTs: bigint;
  readonly writeType: WriteFields['writeType'];
  readonly startTs: bigint;
  readonly shortValue: Uint8Array | undefined;
}

/** A region's id and encoded bounds (empty end: unbounded), as the scan caches it. */
export interface RegionSpan {
  readonly id: number;
  readonly start: Uint8Array;
  readonly end: Uint8Array;
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false;
  for (let i = a.length - 1; i >= 0; i--) if (a[i] !== b[i]) return false;
  return true;
};

const inSpan = (encoded: Uint8Array, r: RegionSpan): boolean => Buffer.compare(encoded, r.start) >= 0 && (r.end.length === 0 || Buffer.compare(encoded, r.end) < 0);

/**
 * The incremental scan of one feed, read from one snapshot in bounded steps: `step()` reads at
 * most `chunk` records and returns the events they make; the snapshot and the iterator position
 * are kept between steps, so the feed can yield to the event loop (and wait for its subscriber)
 * between them. Write-CF rows with commit ts above startTs come first (oldest first per key), then
 * every non-pessimistic lock of the range as a prewrite.
 */
class Scan {
  private snap: EngineSnapshot | undefined;
  private it: EngineIterator | undefined;
  private phase: 'write' | 'lock' | 'done' = 'write';
  private positioned = false;
  private curEncoded: Uint8Array | undefined;
  private versions: ScanVersion[] = [];
  private region: RegionSpan | undefined;
  private regionEpoch = -1;
  private readonly ts = new TsReader();
  private readonly scratch: WriteFields = { writeType: 'Put', startTs: 0n, shortValue: undefined, hasOverlappedRollback: false };
  private raw = new RawKeys(1024);
  private readonly lower: Uint8Array;
  private readonly upper: Uint8Array;

  constructor(
    engine: StorageEngine,
    start: string,
    end: string,
    private readonly startTs: bigint,
    private readonly withOldValue: boolean,
    private readonly service: CdcService,
    /** Commits at or below it cannot come again live (a resolved ts at snapshot time): not remembered. */
    private readonly floor: bigint,
    private readonly scannedCommits: Set<string>,
    private readonly scannedLocks: Set<string>,
  ) {
    this.snap = engine.snapshot();
    this.lower = dataOf(bytesOf(start));
    this.upper = end === '' ? DATA_END : dataOf(bytesOf(end));
  }

  get done(): boolean {
    return this.phase === 'done';
  }

  /** The id of the region holding an encoded key, from a cached span while it holds and no region changed. */
  private regionOf(encoded: Uint8Array): number {
    const epoch = this.service.regionEpoch;
    if (this.region === undefined || epoch !== this.regionEpoch || !inSpan(encoded, this.region)) {
      this.region = this.service.regionSpanForKey(encoded);
      this.regionEpoch = epoch;
    }
    return this.region.id;
  }

  /** Reads up to `chunk` records into `out`; after the last one, releases the snapshot. */
  step(chunk: number, out: CdcEvent[]): void {
    const snap = this.snap;
    if (snap === undefined) return;
    let budget = chunk;
    this.raw = new RawKeys(chunk);
    if (this.phase === 'write') {
      const it = (this.it ??= snap.iterator('write', { lower: this.lower, upper: this.upper }));
      for (let ok = this.positioned ? it.next() : it.first(); ; ok = it.next()) {
        this.positioned = true;
        if (!ok) {
          this.flushKey(snap, out);
          it.close();
          this.it = undefined;
          this.positioned = false;
          this.phase = 'lock';
          break;
        }
        const k = it.key();
        const encoded = k.subarray(1, k.length - 8);
        if (this.curEncoded === undefined || !sameBytes(encoded, this.curEncoded)) {
          this.flushKey(snap, out);
          this.curEncoded = encoded.slice();
          this.versions = [];
        }
        const commitTs = this.ts.commitTs(k);
        const w = decodeWriteInto(it.value(), this.ts, this.scratch);
        // The value is the iterator's view: a short value is copied out.
        this.versions.push({ commitTs, writeType: w.writeType, startTs: w.startTs, shortValue: w.shortValue?.slice() });
        if (--budget === 0) return;
      }
    }
    if (this.phase === 'lock') {
      const it = (this.it ??= snap.iterator('lock', { lower: this.lower, upper: this.upper }));
      for (let ok = this.positioned ? it.next() : it.first(); ; ok = it.next()) {
        this.positioned = true;
        if (!ok) {
          this.close();
          return;
        }
        const value = it.value();
        const t = codec.decodeLockType(value);
        if (t !== 'Pessimistic' && t !== 'Shared') {
          const encoded = new Uint8Array(it.key().subarray(1));
          const l = codec.decodeLock(value);
          const ek = str(encoded);
          const op = OPS[l.lockType]!;
          const v = op === 'put' ? (l.shortValue ? new Uint8Array(l.shortValue) : snap.get('default', dataOf(codec.appendTs(encoded, l.startTs)))) : undefined;
          this.scannedLocks.add(`${ek}@${l.startTs}`);
          out.push({ type: 'prewrite', regionId: this.regionOf(encoded), key: codec.toRaw(encoded), op, value: v, startTs: l.startTs });
        }
        if (--budget === 0) return;
      }
    }
  }

  /** Delivers the versions of the key read so far, oldest first. */
  private flushKey(snap: EngineSnapshot, out: CdcEvent[]): void {
    const encoded = this.curEncoded;
    if (encoded === undefined) return;
    this.curEncoded = undefined;
    const versions = this.versions;
    let key: Uint8Array | undefined;
    let regionId = 0;
    let ek: string | undefined;
    for (let i = versions.length - 1; i >= 0; i--) {
      const w = versions[i]!;
      const commitTs = w.commitTs;
      if (commitTs <= this.startTs) continue;
      const op = OPS[w.writeType];
      if (op === undefined) continue;
      const value = op === 'put' ? (w.shortValue ?? snap.get('default', dataOf(codec.appendTs(encoded, w.startTs)))) : undefined;
      if (commitTs > this.floor) this.scannedCommits.add(`${(ek ??= str(encoded))}@${commitTs}`);
      if (key === undefined) {
        key = this.raw.of(encoded);
        regionId = this.regionOf(encoded);
      }
      if (this.withOldValue) {
        let old: Uint8Array | undefined;
        for (let j = i + 1; j < versions.length; j++) {
          const o = versions[j]!;
          if (o.writeType === 'Put') {
            old = o.shortValue ?? snap.get('default', dataOf(codec.appendTs(encoded, o.startTs)));
            break;
          }
          if (o.writeType === 'Delete') break;
        }
        out.push({ type: 'committed', regionId, key, op, value, startTs: w.startTs, commitTs, oldValue: old });
      } else out.push({ type: 'committed', regionId, key, op, value, startTs: w.startTs, commitTs });
    }
  }

  close(): void {
    this.phase = 'done';
    this.it?.close();
    this.it = undefined;
    this.snap?.release();
    this.snap = undefined;
    this.versions = [];
  }
}

/** What a feed holds undelivered, for tests and metrics (`CdcService.feedStats`). */
export interface FeedStats {
  /** Events waiting: queued for delivery plus live rows held while the scan runs. */
  readonly pending: number;
  /** The most `pending` has been over the feed's life; never above `maxPendingEvents`. */
  readonly peakPending: number;
  readonly scanning: boolean;
  readonly paused: boolean;
}

/**
 * One changefeed. The incremental scan runs in steps of `scanChunk` records, each started by the
 * scheduler once everything before it was delivered (so it yields to the event loop and never
 * runs ahead of a slow or paused subscriber). Live rows that arrive meanwhile are held, then
 * queued after the scan; resolved ts is delivered only once the scan is complete. Until every
 * region of the range has a resolved ts at or above a TSO taken after the snapshot (`settleTs`),
 * live rows are checked against what the scan delivered: a write can be in the engine before the
 * snapshot and reach the `applied` observers after it.
 */
class Feed {
  private queue: CdcEvent[] = [];
  private head = 0;
  private held: { rows: Rows; i: number; ev: RowEvent }[] = [];
  private scan: Scan | undefined;
  private deliveryRequested = false;
  private stepRequested = false;
  private pumping = false;
  private again = false;
  private againStep = false;
  private closed = false;
  private scannedCommits: Set<string> | undefined = new Set();
  private scannedLocks: Set<string> | undefined = new Set();
  private settleTs: bigint | undefined;
  private readonly regionResolved = new Map<number, bigint>();
  private global: bigint;
  private unflow: (() => void) | undefined;
  peakPending = 0;

  constructor(
    private readonly service: CdcService,
    private readonly subscriber: Subscriber<CdcEvent>,
    readonly start: string,
    readonly end: string,
    private readonly startTs: bigint,
    readonly withOldValue: boolean,
    private readonly flow: FeedFlow | undefined,
  ) {
    this.global = startTs;
    if (flow) this.unflow = flow.onResume(() => this.request());
  }

  /** Takes the snapshot (the caller registers the feed in the same synchronous step) and schedules the first scan step. */
  beginScan(engine: StorageEngine, floor: bigint): void {
    this.scan = new Scan(engine, this.start, this.end, this.startTs, this.withOldValue, this.service, floor, this.scannedCommits!, this.scannedLocks!);
    this.requestStep();
  }

  get pending(): number {
    return this.queue.length - this.head + this.held.length;
  }

  stats(): FeedStats {
    return { pending: this.pending, peakPending: this.peakPending, scanning: this.scan !== undefined, paused: this.flow?.paused === true };
  }

  setSettleTs(ts: bigint): void {
    this.settleTs = ts;
    this.checkSettled();
  }

  /** A live row of the feed's range (row `i` of `rows`). */
  live(rows: Rows, i: number, ev: RowEvent): void {
    if (this.scan !== undefined) {
      if (this.lagging()) return;
      this.held.push({ rows, i, ev });
      if (this.pending > this.peakPending) this.peakPending = this.pending;
      return;
    }
    if (this.scannedCommits === undefined && this.scannedLocks === undefined) {
      if ((ev.type === 'commit' || ev.type === 'committed') && ev.commitTs <= this.startTs) return;
    } else if (!this.passes(rows.ek(i), ev)) return;
    this.push(ev);
  }

  private passes(ek: string, ev: RowEvent): boolean {
    if (ev.type === 'prewrite') return !this.scannedLocks?.has(`${ek}@${ev.startTs}`);
    if (ev.type === 'rollback') return true;
    if (ev.commitTs <= this.startTs) return false;
    return !this.scannedCommits?.has(`${ek}@${ev.commitTs}`);
  }

  onResolved(): void {
    if (this.closed || this.scan !== undefined) return;
    let min: bigint | undefined;
    for (const { id, ts } of this.service.resolvedOfRange(this.start, this.end)) {
      if (min === undefined || ts < min) min = ts;
      if (ts > (this.regionResolved.get(id) ?? this.startTs)) {
        this.regionResolved.set(id, ts);
        this.push({ type: 'resolvedTs', regionId: id, ts });
      }
    }
    if (min !== undefined && min > this.global) {
      this.global = min;
      this.push({ type: 'globalResolvedTs', ts: min });
    }
    this.checkSettled();
  }

  private checkSettled(): void {
    if (this.scan === undefined && this.settleTs !== undefined && this.global >= this.settleTs) {
      this.scannedCommits = undefined;
      this.scannedLocks = undefined;
    }
  }

  /** Fails the feed with CDC_LAGGING when it holds `maxPendingEvents` undelivered. */
  private lagging(): boolean {
    if (this.closed) return true;
    const pending = this.pending;
    if (pending < this.service.maxPendingEvents) return false;
    this.fail(new KvError('CDC_LAGGING', `changefeed fell ${pending} events behind (limit ${this.service.maxPendingEvents})`, { pending }));
    return true;
  }

  private push(ev: CdcEvent): void {
    if (this.lagging()) return;
    this.queue.push(ev);
    const pending = this.pending;
    if (pending > this.peakPending) this.peakPending = pending;
    this.request();
  }

  /** Asks the scheduler for one delivery run (at most one outstanding). */
  private request(): void {
    if (this.deliveryRequested || this.closed) return;
    this.deliveryRequested = true;
    this.service.schedule(() => {
      this.deliveryRequested = false;
      this.pump(false);
    });
  }

  /** Asks the step scheduler for one run that may read a scan step (at most one outstanding). */
  private requestStep(): void {
    if (this.stepRequested || this.closed) return;
    this.stepRequested = true;
    this.service.scheduleStep(() => {
      this.stepRequested = false;
      this.pump(true);
    });
  }

  /**
   * Delivers what is queued (until the flow pauses). Then, while the scan is not done and nothing
   * is left undelivered: a step run reads one scan step, delivers it and asks for the next step
   * run; a delivery run only asks for one. So the scan reads at most one step per step run and
   * never runs ahead of the subscriber. A synchronous scheduler re-enters here; that becomes
   * another turn of the loop.
   */
  private pump(step: boolean): void {
    if (this.closed) return;
    if (this.pumping) {
      this.again = true;
      if (step) this.againStep = true;
      return;
    }
    this.pumping = true;
    try {
      for (;;) {
        this.deliver();
        if (!this.closed && this.flow?.paused !== true && this.scan !== undefined && this.head === this.queue.length) {
          if (step) {
            const out: CdcEvent[] = [];
            this.scan.step(this.service.scanChunk, out);
            for (const ev of out) this.queue.push(ev);
            if (this.pending > this.peakPending) this.peakPending = this.pending;
            if (this.scan.done) this.endScan();
            this.deliver();
          }
          if (this.scan !== undefined) this.requestStep();
        }
        if (!this.again || this.closed) break;
        this.again = false;
        step = this.againStep;
        this.againStep = false;
      }
    } finally {
      this.pumping = false;
      this.again = false;
      this.againStep = false;
    }
  }

  private deliver(): void {
    const q = this.queue;
    while (this.head < q.length && !this.closed) {
      if (this.flow?.paused === true) break;
      const ev = q[this.head]!;
      q[this.head++] = undefined as unknown as CdcEvent;
      this.subscriber.next(ev);
    }
    if (this.head === q.length) {
      if (this.queue === q) this.queue = [];
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > q.length) {
      this.queue = q.slice(this.head);
      this.head = 0;
    }
  }

  /** The scan is complete: the held live rows are checked against it and queued, then resolved ts catches up. */
  private endScan(): void {
    this.scan = undefined;
    const held = this.held;
    this.held = [];
    if (this.scannedCommits?.size === 0) this.scannedCommits = undefined;
    if (this.scannedLocks?.size === 0) this.scannedLocks = undefined;
    const check = this.scannedCommits !== undefined || this.scannedLocks !== undefined;
    for (const { rows, i, ev } of held) {
      if (check ? this.passes(rows.ek(i), ev) : ev.type === 'prewrite' || ev.type === 'rollback' || ev.commitTs > this.startTs) this.queue.push(ev);
    }
    this.onResolved();
  }

  /** Ends the feed: what is queued is delivered (a scan still running stops there: no resolved ts was delivered past startTs), then complete. */
  complete(): void {
    if (this.closed) return;
    const q = this.queue;
    for (let i = this.head; i < q.length && !this.closed; i++) this.subscriber.next(q[i]!);
    if (this.closed) return;
    this.close();
    this.subscriber.complete();
  }

  fail(error: unknown): void {
    if (this.closed) return;
    this.close();
    this.subscriber.error(error);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.head = 0;
    this.held = [];
    this.scan?.close();
    this.scan = undefined;
    this.unflow?.();
    this.service.removeFeed(this);
  }
}

function newState(id: number, start: string, end: string, resolved: bigint): RegionState {
  return { id, start, end, locks: new Map(), counts: new Map(), resolved };
}

/** Start ts of a lock resolved ts must wait for; pessimistic locks do not hold it (TiKV's rule). */
function trackedLockTs(value: Uint8Array): bigint | undefined {
  const t = codec.decodeLockType(value);
  if (t === 'Pessimistic') return undefined;
  if (t === 'Shared') {
    // Each sub-lock may commit: wait for the oldest.
    const s = codec.decodeSharedLocks(value);
    let min: bigint | undefined;
    for (const l of s.locks.values()) if (l.lockType !== 'Pessimistic' && (min === undefined || l.startTs < min)) min = l.startTs;
    return min;
  }
  return codec.decodeLockStartTs(value);
}

function addLock(r: RegionState, ek: string, ts: bigint): void {
  r.locks.set(ek, ts);
  r.counts.set(ts, (r.counts.get(ts) ?? 0) + 1);
}

function removeLock(r: RegionState, ek: string): void {
  const ts = r.locks.get(ek);
  if (ts === undefined) return;
  r.locks.delete(ek);
  const n = r.counts.get(ts)! - 1;
  if (n === 0) r.counts.delete(ts);
  else r.counts.set(ts, n);
}

function minLock(r: RegionState): bigint | undefined {
  // Distinct start ts of live locks: one per open txn in the region, not one per key.
  let min: bigint | undefined;
  for (const ts of r.counts.keys()) if (min === undefined || ts < min) min = ts;
  return min;
}
