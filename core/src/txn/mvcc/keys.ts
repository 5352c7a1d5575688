/**
 * Engine keys of the three MVCC column families (FORMATS.md 3.3): the lock CF holds
 * 'z' + encoded key, the write and default CFs 'z' + encoded key + u64be(~ts). Built in one
 * allocation each, since every action and read makes several.
 */
import { DATA_PREFIX, TS_LENGTH, decodeU64Desc, U64_MAX } from '../../codec/index.js';
import { InvalidArgumentError } from '../../errors.js';
import { CorruptedError } from '../../errors.js';
import type { EncodedKey } from '../../codec/index.js';

/** 'z' + key: the lock-CF key of an encoded user key. */
export function lockCfKey(key: EncodedKey): Uint8Array {
  const out = new Uint8Array(key.length + 1);
  out[0] = DATA_PREFIX;
  out.set(key, 1);
  return out;
}

/** 'z' + key + u64be(~ts): the write-CF (commit ts) or default-CF (start ts) key. */
export function tsCfKey(key: EncodedKey, ts: bigint): Uint8Array {
  if (typeof ts !== 'bigint') throw new TypeError(`ts must be a bigint, got ${typeof ts}`);
  if (ts < 0n || ts > U64_MAX) throw new InvalidArgumentError(`ts out of u64 range: ${ts}`, { ts });
  const n = key.length;
  const out = new Uint8Array(n + 1 + TS_LENGTH);
  out[0] = DATA_PREFIX;
  for (let i = 0; i < n; i++) out[i + 1] = key[i]!;
  // ~ts byte by byte through one scratch view: no DataView and no bigint subtraction per key.
  TS_SCRATCH_VIEW.setBigUint64(0, ts);
  const at = n + 1;
  for (let j = 0; j < TS_LENGTH; j++) out[at + j] = ~TS_SCRATCH[j]! & 0xff;
  return out;
}

const TS_SCRATCH = new Uint8Array(8);
const TS_SCRATCH_VIEW = new DataView(TS_SCRATCH.buffer);

/**
 * Exclusive upper bound of every version of `key`: 'z' + key + 8 x 0xFF (the key at ts 0) + 0x00.
 * Encoded keys are prefix-free (FORMATS.md 1.4), so no other user key falls in between.
 */
export function versionsUpperBound(key: EncodedKey): Uint8Array {
  const out = new Uint8Array(key.length + 1 + TS_LENGTH + 1);
  out[0] = DATA_PREFIX;
  out.set(key, 1);
  out.fill(0xff, key.length + 1, key.length + 1 + TS_LENGTH);
  return out;
}

/** Splits a write/default-CF engine key into the encoded user key (a view) and its ts. */
export function splitCfKey(cfKey: Uint8Array): { key: EncodedKey; ts: bigint } {
  if (cfKey.length < 1 + TS_LENGTH || cfKey[0] !== DATA_PREFIX) {
    throw new CorruptedError(`not a timestamped data key (${cfKey.length} bytes)`, { reason: 'KeyLength', offset: 0 });
  }
  const cut = cfKey.length - TS_LENGTH;
  return { key: cfKey.subarray(1, cut) as EncodedKey, ts: decodeU64Desc(cfKey, cut) };
}

/** The encoded user key of a lock-CF engine key (a view). */
export function lockCfUserKey(cfKey: Uint8Array): EncodedKey {
  if (cfKey.length < 1 || cfKey[0] !== DATA_PREFIX) {
    throw new CorruptedError(`not a data key (${cfKey.length} bytes)`, { reason: 'DataPrefix', offset: 0 });
  }
  return cfKey.subarray(1) as EncodedKey;
}

/** The engine-key bounds of raw range [start, end): an empty or absent bound is open. */
export function dataRange(start: EncodedKey | undefined, end: EncodedKey | undefined): { lower: Uint8Array; upper: Uint8Array } {
  return {
    lower: start === undefined ? Uint8Array.of(DATA_PREFIX) : lockCfKey(start),
    upper: end === undefined ? Uint8Array.of(DATA_PREFIX + 1) : lockCfKey(end),
  };
}
