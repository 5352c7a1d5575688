/**
 * A region: a contiguous range of the key space with its epoch, peers and flashback state
 * (TiKV's `metapb.Region` plus the `is_in_flashback` / `flashback_start_ts` fields).
 *
 * Region boundaries are **encoded keys**: the memcomparable `Key::from_raw(user_key)` bytes
 * (FORMATS.md section 1.1), without the engine's 'z' data prefix and without a timestamp,
 * exactly as TiKV stores `start_key` / `end_key`. To route a user key, encode it first; every
 * version `encoded ++ !ts` of a key lands in the same region as `encoded`, because encoded keys
 * are prefix-free. An empty `startKey` is the start of the key space, an empty `endKey` its end.
 */
import { CorruptedError } from '../errors.js';
import { compareBytes } from '../engine/engine.js';

export interface RegionEpoch {
  /** Bumped by split and merge (range changes). */
  readonly version: number;
  /** Bumped by membership changes. */
  readonly confVer: number;
}

export type PeerRole = 'voter' | 'learner';

export interface Peer {
  readonly id: number;
  readonly storeId: number;
  readonly role: PeerRole;
}

export interface RegionFlashbackState {
  readonly inFlashback: boolean;
  /** The flashback's start_ts while `inFlashback`; 0n otherwise. */
  readonly flashbackStartTs: bigint;
}

/** Immutable: every change produces a new object. Do not mutate the key arrays either. */
export interface Region {
  readonly id: number;
  readonly startKey: Uint8Array;
  readonly endKey: Uint8Array;
  readonly epoch: RegionEpoch;
  readonly peers: readonly Peer[];
  readonly flashback: RegionFlashbackState;
}

export const NOT_IN_FLASHBACK: RegionFlashbackState = Object.freeze({ inFlashback: false, flashbackStartTs: 0n });

export function freezeRegion(r: Region): Region {
  return Object.freeze({
    id: r.id,
    startKey: r.startKey,
    endKey: r.endKey,
    epoch: Object.freeze({ version: r.epoch.version, confVer: r.epoch.confVer }),
    peers: Object.freeze(r.peers.map((p) => Object.freeze({ id: p.id, storeId: p.storeId, role: p.role }))),
    flashback: r.flashback.inFlashback ? Object.freeze({ inFlashback: true, flashbackStartTs: r.flashback.flashbackStartTs }) : NOT_IN_FLASHBACK,
  });
}

/** True when `key` lies in [startKey, endKey) with an empty endKey meaning unbounded. */
export function regionContains(r: Region, key: Uint8Array): boolean {
  return compareBytes(r.startKey, key) <= 0 && (r.endKey.length === 0 || compareBytes(key, r.endKey) < 0);
}

export function epochEquals(a: RegionEpoch, b: RegionEpoch): boolean {
  return a.version === b.version && a.confVer === b.confVer;
}

/**
 * Region record, format 1 (all integers big-endian):
 *
 * ```
 * u8   format = 1
 * u64  id
 * u64  epoch.version
 * u64  epoch.confVer
 * u32  len(startKey), startKey bytes
 * u32  len(endKey),   endKey bytes
 * u8   flags: bit 0 = inFlashback (other bits zero)
 * u64  flashbackStartTs
 * u16  peer count, then per peer: u64 id, u64 storeId, u8 role (0 voter, 1 learner)
 * ```
 */
export const REGION_RECORD_FORMAT = 1;

const FLAG_IN_FLASHBACK = 1;

export function encodeRegion(r: Region): Uint8Array {
  const size = 1 + 8 * 3 + 4 + r.startKey.length + 4 + r.endKey.length + 1 + 8 + 2 + r.peers.length * 17;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  let at = 0;
  dv.setUint8(at, REGION_RECORD_FORMAT);
  at += 1;
  for (const n of [r.id, r.epoch.version, r.epoch.confVer]) {
    dv.setBigUint64(at, BigInt(n));
    at += 8;
  }
  for (const k of [r.startKey, r.endKey]) {
    dv.setUint32(at, k.length);
    at += 4;
    out.set(k, at);
    at += k.length;
  }
  dv.setUint8(at, r.flashback.inFlashback ? FLAG_IN_FLASHBACK : 0);
  at += 1;
  dv.setBigUint64(at, r.flashback.flashbackStartTs);
  at += 8;
  dv.setUint16(at, r.peers.length);
  at += 2;
  for (const p of r.peers) {
    dv.setBigUint64(at, BigInt(p.id));
    dv.setBigUint64(at + 8, BigInt(p.storeId));
    dv.setUint8(at + 16, p.role === 'learner' ? 1 : 0);
    at += 17;
  }
  return out;
}

class RecordReader {
  private at = 0;
  private readonly dv: DataView;
  constructor(private readonly bytes: Uint8Array) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  private need(n: number, what: string): void {
    if (this.at + n > this.bytes.length) {
      throw new CorruptedError(`region record truncated reading ${what} at offset ${this.at}`, { offset: this.at, length: this.bytes.length });
    }
  }
  u8(what: string): number {
    this.need(1, what);
    return this.dv.getUint8(this.at++);
  }
  u16(what: string): number {
    this.need(2, what);
    const v = this.dv.getUint16(this.at);
    this.at += 2;
    return v;
  }
  u64(what: string): bigint {
    this.need(8, what);
    const v = this.dv.getBigUint64(this.at);
    this.at += 8;
    return v;
  }
  safe(what: string): number {
    const v = this.u64(what);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CorruptedError(`region record ${what} ${v} exceeds 2^53`, { field: what });
    return Number(v);
  }
  bytesField(what: string): Uint8Array {
    this.need(4, what);
    const len = this.dv.getUint32(this.at);
    this.at += 4;
    this.need(len, what);
    const v = this.bytes.slice(this.at, this.at + len);
    this.at += len;
    return v;
  }
  end(): void {
    if (this.at !== this.bytes.length) {
      throw new CorruptedError(`region record has ${this.bytes.length - this.at} trailing bytes`, { offset: this.at, length: this.bytes.length });
    }
  }
}

export function decodeRegion(bytes: Uint8Array): Region {
  const rd = new RecordReader(bytes);
  const format = rd.u8('format');
  if (format !== REGION_RECORD_FORMAT) throw new CorruptedError(`region record format ${format} is not supported (expected ${REGION_RECORD_FORMAT})`, { format });
  const id = rd.safe('id');
  const version = rd.safe('epoch.version');
  const confVer = rd.safe('epoch.confVer');
  const startKey = rd.bytesField('startKey');
  const endKey = rd.bytesField('endKey');
  const flags = rd.u8('flags');
  if ((flags & ~FLAG_IN_FLASHBACK) !== 0) throw new CorruptedError(`region record has unknown flags 0x${flags.toString(16)}`, { flags });
  const flashbackStartTs = rd.u64('flashbackStartTs');
  const peerCount = rd.u16('peer count');
  const peers: Peer[] = [];
  for (let i = 0; i < peerCount; i++) {
    const pid = rd.safe('peer id');
    const storeId = rd.safe('peer store id');
    const role = rd.u8('peer role');
    if (role > 1) throw new CorruptedError(`region record peer role ${role} is unknown`, { role });
    peers.push({ id: pid, storeId, role: role === 1 ? 'learner' : 'voter' });
  }
  rd.end();
  const inFlashback = (flags & FLAG_IN_FLASHBACK) !== 0;
  if (endKey.length > 0 && compareBytes(startKey, endKey) >= 0) {
    throw new CorruptedError(`region ${id} has startKey >= endKey`, { regionId: id });
  }
  return freezeRegion({
    id,
    startKey,
    endKey,
    epoch: { version, confVer },
    peers,
    flashback: inFlashback ? { inFlashback, flashbackStartTs } : NOT_IN_FLASHBACK,
  });
}
