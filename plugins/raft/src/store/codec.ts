/**
 * The store's on-disk layout in the engine's `raft` column family, and the payloads it puts in
 * raft log entries and raft snapshots. Every value starts with a format byte so a later layout
 * can be told apart; a value with an unknown format is refused as CorruptedError.
 *
 * Keys (all integers big-endian; every key starts with LOCAL_PREFIX 0x01 so none can collide with
 * a data key, which starts with 'z'):
 *
 * ```
 * 01 01                         store ident      -> u8 fmt=1, u64 storeId
 * 01 02 u64 regionId 01         raft hard state  -> u8 fmt=1, u64 term, u64 vote, u64 commit
 * 01 02 u64 regionId 02         apply state      -> u8 fmt=1, u64 applied, u64 truncatedIndex, u64 truncatedTerm
 * 01 02 u64 regionId 03         region state     -> u8 fmt=1, u64 peerId (this store's peer), region record (placement's encodeRegion)
 * 01 02 u64 regionId 04 u64 i   raft log entry i -> u8 fmt=1, u8 type (0 normal, 1 confChange), u64 term, data
 * 01 02 u64 regionId 05         tombstone        -> u8 fmt=1, u64 peerId (this store's removed peer; messages to it or older ids are dropped)
 * ```
 *
 * The log entries of one region are contiguous in key order, so a truncation or a snapshot
 * clears them with one range delete. Hard state is written (synced) before the messages of the
 * same Ready are sent; apply state and region state are written in the same batch as the
 * modifies they account for, so the applied index never disagrees with the data.
 */
import { CorruptedError, KvError, decodeRegion, encodeRegion, type BatchOp, type ColumnFamily, type Region, type RequestFlag } from '@flashkv/core';
import type { Entry, HardState } from '../core/index.js';

export const STORE_FORMAT = 1;
/** Local (non-data) keys start with 0x01 (TiKV's keys::LOCAL_PREFIX). */
const LOCAL_PREFIX = 0x01;

const STORE_IDENT_KEY = new Uint8Array([LOCAL_PREFIX, 0x01]);
const REGION_META = 0x02;
const SUFFIX_HARD = 0x01;
const SUFFIX_APPLY = 0x02;
const SUFFIX_REGION = 0x03;
const SUFFIX_LOG = 0x04;
const SUFFIX_TOMBSTONE = 0x05;

export function storeIdentKey(): Uint8Array {
  return STORE_IDENT_KEY;
}

function regionKey(regionId: number, suffix: number, extra = 0): Uint8Array {
  const out = new Uint8Array(2 + 8 + 1 + extra);
  out[0] = LOCAL_PREFIX;
  out[1] = REGION_META;
  new DataView(out.buffer).setBigUint64(2, BigInt(regionId));
  out[10] = suffix;
  return out;
}

export const hardStateKey = (regionId: number): Uint8Array => regionKey(regionId, SUFFIX_HARD);
export const applyStateKey = (regionId: number): Uint8Array => regionKey(regionId, SUFFIX_APPLY);
export const regionStateKey = (regionId: number): Uint8Array => regionKey(regionId, SUFFIX_REGION);

export function logKey(regionId: number, index: number): Uint8Array {
  const k = regionKey(regionId, SUFFIX_LOG, 8);
  new DataView(k.buffer).setBigUint64(11, BigInt(index));
  return k;
}

export const tombstoneKey = (regionId: number): Uint8Array => regionKey(regionId, SUFFIX_TOMBSTONE);

/** [start, end) covering a region's hard, apply and region state and its log (not its tombstone). */
export function regionRaftRange(regionId: number): [Uint8Array, Uint8Array] {
  return [regionKey(regionId, SUFFIX_HARD), regionKey(regionId, SUFFIX_TOMBSTONE)];
}

export function isTombstoneKey(key: Uint8Array): boolean {
  return key.length === 11 && key[0] === LOCAL_PREFIX && key[1] === REGION_META && key[10] === SUFFIX_TOMBSTONE;
}

/** [start, end) covering every log key of a region. */
export function logRange(regionId: number): [Uint8Array, Uint8Array] {
  return [regionKey(regionId, SUFFIX_LOG), regionKey(regionId, SUFFIX_LOG + 1)];
}

/** [start, end) covering every region-state key of every region (the restart scan). */
export function regionMetaRange(): [Uint8Array, Uint8Array] {
  return [new Uint8Array([LOCAL_PREFIX, REGION_META]), new Uint8Array([LOCAL_PREFIX, REGION_META + 1])];
}

export function isRegionStateKey(key: Uint8Array): boolean {
  return key.length === 11 && key[0] === LOCAL_PREFIX && key[1] === REGION_META && key[10] === SUFFIX_REGION;
}

export function regionIdOfKey(key: Uint8Array): number {
  return Number(new DataView(key.buffer, key.byteOffset, key.byteLength).getBigUint64(2));
}

export class Writer {
  private buf: Uint8Array;
  private dv: DataView;
  at = 0;
  constructor(size = 64) {
    this.buf = new Uint8Array(size);
    this.dv = new DataView(this.buf.buffer);
  }
  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.at + n));
    next.set(this.buf);
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }
  u8(v: number): this {
    this.room(1);
    this.dv.setUint8(this.at++, v);
    return this;
  }
  u16(v: number): this {
    this.room(2);
    this.dv.setUint16(this.at, v);
    this.at += 2;
    return this;
  }
  u32(v: number): this {
    this.room(4);
    this.dv.setUint32(this.at, v);
    this.at += 4;
    return this;
  }
  u64(v: number | bigint): this {
    this.room(8);
    this.dv.setBigUint64(this.at, BigInt(v));
    this.at += 8;
    return this;
  }
  raw(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
    return this;
  }
  bytes(b: Uint8Array): this {
    return this.u32(b.length).raw(b);
  }
  done(): Uint8Array {
    return this.buf.slice(0, this.at);
  }
}

export class Reader {
  private at = 0;
  private readonly dv: DataView;
  constructor(private readonly buf: Uint8Array, private readonly what: string) {
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  private need(n: number): void {
    if (this.at + n > this.buf.length) throw new CorruptedError(`${this.what} truncated at offset ${this.at}`, { offset: this.at, length: this.buf.length });
  }
  u8(): number {
    this.need(1);
    return this.dv.getUint8(this.at++);
  }
  u16(): number {
    this.need(2);
    const v = this.dv.getUint16(this.at);
    this.at += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.dv.getUint32(this.at);
    this.at += 4;
    return v;
  }
  big(): bigint {
    this.need(8);
    const v = this.dv.getBigUint64(this.at);
    this.at += 8;
    return v;
  }
  num(): number {
    const v = this.big();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CorruptedError(`${this.what} holds ${v}, above 2^53`, { offset: this.at - 8 });
    return Number(v);
  }
  bytes(): Uint8Array {
    const n = this.u32();
    this.need(n);
    const v = this.buf.slice(this.at, this.at + n);
    this.at += n;
    return v;
  }
  rest(): Uint8Array {
    const v = this.buf.slice(this.at);
    this.at = this.buf.length;
    return v;
  }
  format(): void {
    const f = this.u8();
    if (f !== STORE_FORMAT) throw new CorruptedError(`${this.what} has format ${f}, expected ${STORE_FORMAT}`, { format: f });
  }
  end(): void {
    if (this.at !== this.buf.length) throw new CorruptedError(`${this.what} has ${this.buf.length - this.at} trailing bytes`, { offset: this.at });
  }
}

export function encodeStoreIdent(storeId: number): Uint8Array {
  return new Writer(9).u8(STORE_FORMAT).u64(storeId).done();
}
export function decodeStoreIdent(b: Uint8Array): number {
  const r = new Reader(b, 'store ident');
  r.format();
  const id = r.num();
  r.end();
  return id;
}

export function encodeHardState(hs: HardState): Uint8Array {
  return new Writer(25).u8(STORE_FORMAT).u64(hs.term).u64(hs.vote).u64(hs.commit).done();
}
export function decodeHardState(b: Uint8Array): HardState {
  const r = new Reader(b, 'raft hard state');
  r.format();
  const hs = { term: r.num(), vote: r.num(), commit: r.num() };
  r.end();
  return hs;
}

export interface ApplyState {
  readonly applied: number;
  /** The last index folded away by log compaction (or the bootstrap / snapshot index) and its term. */
  readonly truncatedIndex: number;
  readonly truncatedTerm: number;
}

export function encodeApplyState(s: ApplyState): Uint8Array {
  return new Writer(25).u8(STORE_FORMAT).u64(s.applied).u64(s.truncatedIndex).u64(s.truncatedTerm).done();
}
export function decodeApplyState(b: Uint8Array): ApplyState {
  const r = new Reader(b, 'apply state');
  r.format();
  const s = { applied: r.num(), truncatedIndex: r.num(), truncatedTerm: r.num() };
  r.end();
  return s;
}

export function encodeTombstone(peerId: number): Uint8Array {
  return new Writer(9).u8(STORE_FORMAT).u64(peerId).done();
}
export function decodeTombstone(b: Uint8Array): number {
  const r = new Reader(b, 'tombstone');
  r.format();
  const id = r.num();
  r.end();
  return id;
}

export interface RegionLocalState {
  readonly peerId: number;
  readonly region: Region;
}

export function encodeRegionState(s: RegionLocalState): Uint8Array {
  return new Writer(64).u8(STORE_FORMAT).u64(s.peerId).raw(encodeRegion(s.region)).done();
}
export function decodeRegionState(b: Uint8Array): RegionLocalState {
  const r = new Reader(b, 'region state');
  r.format();
  const peerId = r.num();
  return { peerId, region: decodeRegion(r.rest()) };
}

export function encodeEntry(e: Entry): Uint8Array {
  return new Writer(10 + e.data.length).u8(STORE_FORMAT).u8(e.type === 'confChange' ? 1 : 0).u64(e.term).raw(e.data).done();
}
export function decodeEntry(index: number, b: Uint8Array): Entry {
  const r = new Reader(b, `raft log entry ${index}`);
  r.format();
  const t = r.u8();
  if (t > 1) throw new CorruptedError(`raft log entry ${index} has unknown type ${t}`, { index, type: t });
  const term = r.num();
  return { index, term, type: t === 1 ? 'confChange' : 'normal', data: r.rest() };
}

// ---- Commands: the data of a normal raft entry ----

const CFS: readonly ColumnFamily[] = ['default', 'lock', 'write', 'raft'];
const OP_PUT = 0;
const OP_DELETE = 1;
const OP_DELETE_RANGE = 2;
const KIND_WRITE = 1;
const KIND_ADMIN = 2;
const FLAG_FLASHBACK = 1;
const FLAG_ONE_PC = 2;

export type ReplicatedAdmin =
  | { readonly type: 'split'; readonly splitKey: Uint8Array; readonly newRegionId: number; readonly newPeerIds: readonly number[] }
  | { readonly type: 'prepareFlashback'; readonly startTs: bigint }
  | { readonly type: 'finishFlashback' };

export type Command =
  | { readonly kind: 'write'; readonly regionId: number; readonly version: number; readonly confVer: number; readonly flags: ReadonlySet<RequestFlag>; readonly modifies: readonly BatchOp[] }
  | { readonly kind: 'admin'; readonly regionId: number; readonly version: number; readonly confVer: number; readonly admin: ReplicatedAdmin };

/**
 * Command layout: u8 fmt=1, u8 kind (1 write, 2 admin), u64 regionId, u64 epoch.version,
 * u64 epoch.confVer, then
 * - write: u8 flags (bit 0 flashback, bit 1 onePc), u32 count, per op: u8 op (0 put, 1 delete,
 *   2 deleteRange), u8 cf (0 default, 1 lock, 2 write), u32+key (or start), u32+value (or end; none for delete);
 * - admin: u8 type (1 split, 2 prepareFlashback, 3 finishFlashback), then for split u32+splitKey,
 *   u64 newRegionId, u16 n, n x u64 new peer id (in the order of the parent's peers); for prepare u64 startTs.
 */
export function encodeCommand(c: Command): Uint8Array {
  const w = new Writer(64).u8(STORE_FORMAT).u8(c.kind === 'write' ? KIND_WRITE : KIND_ADMIN).u64(c.regionId).u64(c.version).u64(c.confVer);
  if (c.kind === 'write') {
    w.u8((c.flags.has('flashback') ? FLAG_FLASHBACK : 0) | (c.flags.has('onePc') ? FLAG_ONE_PC : 0)).u32(c.modifies.length);
    for (const m of c.modifies) {
      const cf = CFS.indexOf(m.cf);
      if (cf < 0 || cf > 2) throw new TypeError(`a replicated write cannot target column family ${String(m.cf)}`);
      if (m.op === 'put') w.u8(OP_PUT).u8(cf).bytes(m.key).bytes(m.value);
      else if (m.op === 'delete') w.u8(OP_DELETE).u8(cf).bytes(m.key);
      else w.u8(OP_DELETE_RANGE).u8(cf).bytes(m.start).bytes(m.end);
    }
  } else {
    const a = c.admin;
    if (a.type === 'split') {
      w.u8(1).bytes(a.splitKey).u64(a.newRegionId).u16(a.newPeerIds.length);
      for (const p of a.newPeerIds) w.u64(p);
    } else if (a.type === 'prepareFlashback') w.u8(2).u64(a.startTs);
    else w.u8(3);
  }
  return w.done();
}

export function decodeCommand(b: Uint8Array): Command {
  const r = new Reader(b, 'raft command');
  r.format();
  const kind = r.u8();
  const regionId = r.num();
  const version = r.num();
  const confVer = r.num();
  if (kind === KIND_WRITE) {
    const fl = r.u8();
    const flags = new Set<RequestFlag>();
    if (fl & FLAG_FLASHBACK) flags.add('flashback');
    if (fl & FLAG_ONE_PC) flags.add('onePc');
    const n = r.u32();
    const modifies: BatchOp[] = [];
    for (let i = 0; i < n; i++) {
      const op = r.u8();
      const cfi = r.u8();
      if (cfi > 2) throw new CorruptedError(`raft command has column family ${cfi}`, { cf: cfi });
      const cf = CFS[cfi]!;
      if (op === OP_PUT) modifies.push({ op: 'put', cf, key: r.bytes(), value: r.bytes() });
      else if (op === OP_DELETE) modifies.push({ op: 'delete', cf, key: r.bytes() });
      else if (op === OP_DELETE_RANGE) modifies.push({ op: 'deleteRange', cf, start: r.bytes(), end: r.bytes() });
      else throw new CorruptedError(`raft command has op ${op}`, { op });
    }
    r.end();
    return { kind: 'write', regionId, version, confVer, flags, modifies };
  }
  if (kind !== KIND_ADMIN) throw new CorruptedError(`raft command has kind ${kind}`, { kind });
  const t = r.u8();
  let admin: ReplicatedAdmin;
  if (t === 1) {
    const splitKey = r.bytes();
    const newRegionId = r.num();
    const n = r.u16();
    const newPeerIds: number[] = [];
    for (let i = 0; i < n; i++) newPeerIds.push(r.num());
    admin = { type: 'split', splitKey, newRegionId, newPeerIds };
  } else if (t === 2) admin = { type: 'prepareFlashback', startTs: r.big() };
  else if (t === 3) admin = { type: 'finishFlashback' };
  else throw new CorruptedError(`raft admin command has type ${t}`, { type: t });
  r.end();
  return { kind: 'admin', regionId, version, confVer, admin };
}

// ---- Raft snapshot data: a region's state plus all its data ----

/**
 * u8 fmt=1, u32+region record, then for each data CF (default, lock, write): u32 count, then
 * count x (u32+key, u32+value). Keys are the engine's data keys ('z' + encoded key ...).
 */
export function encodeSnapshotData(region: Region, cfs: readonly (readonly [Uint8Array, Uint8Array][])[]): Uint8Array {
  const w = new Writer(256).u8(STORE_FORMAT).bytes(encodeRegion(region));
  for (const kvs of cfs) {
    w.u32(kvs.length);
    for (const [k, v] of kvs) w.bytes(k).bytes(v);
  }
  return w.done();
}

export const DATA_CFS: readonly ColumnFamily[] = ['default', 'lock', 'write'];

export function decodeSnapshotData(b: Uint8Array): { region: Region; cfs: [Uint8Array, Uint8Array][][] } {
  const r = new Reader(b, 'raft snapshot data');
  r.format();
  const region = decodeRegion(r.bytes());
  const cfs: [Uint8Array, Uint8Array][][] = [];
  for (let c = 0; c < DATA_CFS.length; c++) {
    const n = r.u32();
    const kvs: [Uint8Array, Uint8Array][] = [];
    for (let i = 0; i < n; i++) kvs.push([r.bytes(), r.bytes()]);
    cfs.push(kvs);
  }
  r.end();
  return { region, cfs };
}

/** The engine key range [start, end) of a region's data keys ('z' + encoded key). */
export function dataRange(region: Region): [Uint8Array, Uint8Array] {
  const start = new Uint8Array(1 + region.startKey.length);
  start[0] = 0x7a;
  start.set(region.startKey, 1);
  let end: Uint8Array;
  if (region.endKey.length === 0) end = new Uint8Array([0x7b]);
  else {
    end = new Uint8Array(1 + region.endKey.length);
    end[0] = 0x7a;
    end.set(region.endKey, 1);
  }
  return [start, end];
}

export function notLeader(regionId: number, leader: { peerId: number; storeId: number } | undefined): KvError {
  return new KvError('NOT_LEADER', `this store's peer of region ${regionId} is not its leader`, { regionId, leader });
}
