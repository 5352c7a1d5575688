import { compareBytes, CorruptedError } from '@flashkv/core';
import { ByteWriter, getU64, getVarint } from './coding.js';
import type { InternalIterator } from './internal-iterator.js';
import { equalBytes, KIND_DELETE, KIND_PUT } from './keys.js';
import type { Memtable } from './memtable.js';
import type { TableReader } from './sstable/table-reader.js';
import type { Version } from './version.js';

/**
 * Range tombstones (deleteRange): `[start, end)` over prefixed keys, written at `seq`. A
 * tombstone hides every version of a key in its range with a LOWER sequence number, for
 * readers at or above `seq`. Versions at the same sequence number (the same batch) are not
 * hidden: the batch applier turns the batch's own earlier writes in the range into point
 * deletes, so a batch reads as its ops in order.
 *
 * Where they live: a list beside each memtable, a range-del block in SSTs (format version 2),
 * and, for reads, "fragments": the tombstones of a set of sources cut into disjoint sorted
 * intervals, each with the sequence numbers that cover it.
 */
export interface RangeTombstone {
  readonly start: Uint8Array;
  readonly end: Uint8Array;
  readonly seq: number;
}

/** Disjoint, sorted intervals [starts[i], ends[i]), each with covering seqs descending. */
export class Fragments {
  constructor(
    readonly starts: readonly Uint8Array[],
    readonly ends: readonly Uint8Array[],
    readonly seqs: readonly (readonly number[])[],
  ) {}

  private find(pk: Uint8Array): number {
    let lo = 0;
    let hi = this.starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareBytes(this.starts[mid]!, pk) <= 0) lo = mid + 1;
      else hi = mid;
    }
    const i = lo - 1;
    return i >= 0 && compareBytes(pk, this.ends[i]!) < 0 ? i : -1;
  }

  /** Highest seq <= readSeq of a tombstone covering pk, or 0. */
  maxSeq(pk: Uint8Array, readSeq: number): number {
    const i = this.find(pk);
    if (i < 0) return 0;
    for (const s of this.seqs[i]!) if (s <= readSeq) return s;
    return 0;
  }

  /** Lowest seq > seq of a tombstone covering pk, or 0. */
  minSeqAbove(pk: Uint8Array, seq: number): number {
    const i = this.find(pk);
    if (i < 0) return 0;
    const s = this.seqs[i]!;
    for (let j = s.length - 1; j >= 0; j--) if (s[j]! > seq) return s[j]!;
    return 0;
  }
}

/** Sweeps `list` into fragments (null when empty). */
export function fragment(list: readonly RangeTombstone[]): Fragments | null {
  if (list.length === 0) return null;
  const bounds: Uint8Array[] = [];
  for (const t of list) bounds.push(t.start, t.end);
  bounds.sort(compareBytes);
  const uniq: Uint8Array[] = [];
  for (const b of bounds) if (uniq.length === 0 || compareBytes(uniq[uniq.length - 1]!, b) !== 0) uniq.push(b);
  const byStart = [...list].sort((a, b) => compareBytes(a.start, b.start));
  const starts: Uint8Array[] = [];
  const ends: Uint8Array[] = [];
  const seqs: number[][] = [];
  let active: RangeTombstone[] = [];
  let next = 0;
  for (let i = 0; i + 1 < uniq.length; i++) {
    const lo = uniq[i]!;
    const hi = uniq[i + 1]!;
    active = active.filter((t) => compareBytes(t.end, lo) > 0);
    while (next < byStart.length && compareBytes(byStart[next]!.start, lo) <= 0) {
      const t = byStart[next++]!;
      if (compareBytes(t.end, lo) > 0) active.push(t);
    }
    if (active.length === 0) continue;
    starts.push(lo);
    ends.push(hi);
    seqs.push(active.map((t) => t.seq).sort((a, b) => b - a));
  }
  return starts.length === 0 ? null : new Fragments(starts, ends, seqs);
}

/** Set once any tombstone exists in this process: until then reads skip every check. */
let seen = false;

interface MemDels {
  readonly list: RangeTombstone[];
  frag: Fragments | null;
  fragLen: number;
}
const memDels = new WeakMap<Memtable, MemDels>();
const tableDels = new WeakMap<TableReader, readonly RangeTombstone[]>();
const versionDels = new WeakMap<Version, Fragments | null>();

export function addRangeDel(mem: Memtable, start: Uint8Array, end: Uint8Array, seq: number): void {
  seen = true;
  let d = memDels.get(mem);
  if (d === undefined) memDels.set(mem, (d = { list: [], frag: null, fragLen: 0 }));
  d.list.push({ start, end, seq });
}

export function memRangeDels(mem: Memtable): readonly RangeTombstone[] {
  return memDels.get(mem)?.list ?? [];
}

function memFragments(mem: Memtable): Fragments | null {
  const d = memDels.get(mem);
  if (d === undefined) return null;
  if (d.fragLen !== d.list.length) {
    d.frag = fragment(d.list);
    d.fragLen = d.list.length;
  }
  return d.frag;
}

// The SST range-del block: varint count, then per tombstone
//   varint len(start) | start | varint len(end) | end | seq u64 LE
export function encodeRangeDels(list: readonly RangeTombstone[]): Uint8Array {
  const w = new ByteWriter(64);
  w.varint(list.length);
  for (const t of list) {
    w.varint(t.start.length);
    w.bytes(t.start);
    w.varint(t.end.length);
    w.bytes(t.end);
    w.u64(t.seq);
  }
  return w.view().slice();
}

export function decodeRangeDels(block: Uint8Array, where: string): RangeTombstone[] {
  const cur = { pos: 0 };
  const out: RangeTombstone[] = [];
  try {
    const n = getVarint(block, cur);
    for (let i = 0; i < n; i++) {
      const sl = getVarint(block, cur);
      const start = block.slice(cur.pos, cur.pos + sl);
      cur.pos += sl;
      const el = getVarint(block, cur);
      const end = block.slice(cur.pos, cur.pos + el);
      cur.pos += el;
      if (cur.pos + 8 > block.length || start.length !== sl || end.length !== el) throw new Error('truncated');
      out.push({ start, end, seq: getU64(block, cur.pos) });
      cur.pos += 8;
    }
  } catch {
    throw new CorruptedError(`${where}: range-del block does not decode`, { file: where });
  }
  return out;
}

/** The table's range tombstones (read from its range-del block once). */
export function tableRangeDels(reader: TableReader): readonly RangeTombstone[] {
  let list = tableDels.get(reader);
  if (list === undefined) {
    const h = (reader.props as { rangeDels?: { offset: number; size: number } }).rangeDels;
    list = h === undefined ? [] : decodeRangeDels(reader.block({ offset: h.offset, size: h.size }), `${reader.file.path} range-del block`);
    if (list.length > 0) seen = true;
    tableDels.set(reader, list);
  }
  return list;
}

function versionFragments(v: Version): Fragments | null {
  let f = versionDels.get(v);
  if (f === undefined) {
    const all: RangeTombstone[] = [];
    for (const level of v.levels) for (const t of level) for (const d of tableRangeDels(t.reader)) all.push(d);
    f = fragment(all);
    versionDels.set(v, f);
  }
  return f;
}

/** What a read looks at (the engine's ReadState). */
export interface RangeDelSources {
  readonly mem: Memtable;
  readonly imms: readonly Memtable[];
  readonly version: Version;
}

/** Every fragment set of `rs` that holds tombstones; empty (cheaply) when none exist. */
const NONE: readonly Fragments[] = [];

export function sourceFragments(rs: RangeDelSources): readonly Fragments[] {
  if (!seen) return NONE;
  const out: Fragments[] = [];
  const add = (f: Fragments | null) => {
    if (f !== null) out.push(f);
  };
  add(memFragments(rs.mem));
  for (const m of rs.imms) add(memFragments(m));
  add(versionFragments(rs.version));
  return out.length > 0 ? out : NONE;
}

/** Highest seq <= readSeq of a tombstone covering pk in any of `frags`, or 0. */
export function coverSeq(frags: readonly Fragments[], pk: Uint8Array, readSeq: number): number {
  let m = 0;
  for (const f of frags) {
    const s = f.maxSeq(pk, readSeq);
    if (s > m) m = s;
  }
  return m;
}

/**
 * A point read of a key some tombstone covers (`cover` = its highest seq at `seq`): the newest
 * version at or below `seq` from a merged walk, shown only if it is newer than the tombstone.
 */
export function getCovered(it: InternalIterator, pk: Uint8Array, seq: number, cover: number): Uint8Array | undefined {
  try {
    it.seekGE(pk, seq);
    if (!it.valid() || !equalBytes(it.key(), pk) || it.seq() < cover || it.kind() !== KIND_PUT) return undefined;
    return it.value().slice();
  } finally {
    it.close();
  }
}

/**
 * Wraps a merged internal iterator for a reader at `readSeq`: a put hidden by a newer
 * tombstone reports itself as a delete, which DbIterator already knows to skip (with the
 * key's older versions, which the same tombstone hides too).
 */
export class RangeDelFilter implements InternalIterator {
  constructor(
    private readonly inner: InternalIterator,
    private readonly frags: readonly Fragments[],
    private readonly readSeq: number,
  ) {}
  valid(): boolean {
    return this.inner.valid();
  }
  seekGE(key: Uint8Array, seq: number): void {
    this.inner.seekGE(key, seq);
  }
  seekLT(key: Uint8Array, seq: number): void {
    this.inner.seekLT(key, seq);
  }
  first(): void {
    this.inner.first();
  }
  last(): void {
    this.inner.last();
  }
  next(): void {
    this.inner.next();
  }
  prev(): void {
    this.inner.prev();
  }
  key(): Uint8Array {
    return this.inner.key();
  }
  seq(): number {
    return this.inner.seq();
  }
  kind(): number {
    const k = this.inner.kind();
    if (k !== KIND_PUT) return k;
    const s = this.inner.seq();
    return coverSeq(this.frags, this.inner.key(), this.readSeq) > s ? KIND_DELETE : k;
  }
  value(): Uint8Array {
    return this.inner.value();
  }
  close(): void {
    this.inner.close();
  }
}

/**
 * Compaction's view of its inputs' tombstones: which point versions they make unreadable
 * (covered by a newer tombstone with no snapshot in between), and which tombstones can go
 * (no snapshot needs them and nothing older of their range exists below the output).
 */
export class CompactionRangeDels {
  private readonly frags: Fragments | null;
  /** The tombstones the output keeps, by start. */
  readonly kept: RangeTombstone[];

  constructor(
    inputs: readonly RangeTombstone[],
    private readonly stripe: (seq: number) => number,
    overlapsDeeper: (start: Uint8Array, end: Uint8Array) => boolean,
  ) {
    this.frags = fragment(inputs);
    this.kept = inputs.filter((t) => !(stripe(t.seq) === 0 && !overlapsDeeper(t.start, t.end))).sort((a, b) => compareBytes(a.start, b.start));
  }

  /** Is the version (pk, seq) hidden from every reader by a newer tombstone? */
  covers(pk: Uint8Array, seq: number): boolean {
    if (this.frags === null) return false;
    const t = this.frags.minSeqAbove(pk, seq);
    return t !== 0 && this.stripe(t) === this.stripe(seq);
  }
}

/** Compaction stripe of `seq` (compaction-filter.ts): index of the first snapshot >= seq. */
export function stripeOf(snapshots: readonly number[], seq: number): number {
  let lo = 0;
  let hi = snapshots.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (snapshots[mid]! < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
