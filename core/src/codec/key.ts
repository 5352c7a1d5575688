/**
 * TiKV's `txn_types::Key` operations (FORMATS.md section 3) and the engine-level data prefix
 * (`components/keys`). A timestamped key is `encodeBytes(raw) ++ u64be(!ts)`, so for one user key
 * the larger ts sorts first, and different user keys order by the user key alone.
 */
import { CorruptedError } from '../errors.js';
import { decodeBytes, encodeBytes } from './bytes.js';
import { assertBytes, assertRoom, assertU64, encodedLength, writeEncodedBytes, writeU64Desc } from './encode-into.js';
import { readU64Desc } from './reader.js';
import type { EncodedKey, RawKey, TsKey } from './types.js';

/** `DATA_PREFIX`: every data key of every CF starts with 'z' in the engine. */
export const DATA_PREFIX = 0x7a;
/** `LOCAL_PREFIX`: local/meta keys start with 0x01. */
export const LOCAL_PREFIX = 0x01;
/** Length of the `!ts` suffix. */
export const TS_LENGTH = 8;

function assertTsKeyLength(op: string, key: Uint8Array): void {
  assertBytes('key', key);
  if (key.length < TS_LENGTH) {
    throw new CorruptedError(`${op}: a timestamped key needs at least ${TS_LENGTH} bytes, got ${key.length} at offset 0 (KeyLength)`, {
      reason: 'KeyLength',
      offset: 0,
      length: key.length,
    });
  }
}

/** `Key::append_ts`: `key ++ u64be(!ts)`. `key` is normally an EncodedKey but any bytes are accepted, as in TiKV. */
export function appendTs(key: Uint8Array, ts: bigint): TsKey {
  assertBytes('key', key);
  assertU64('ts', ts);
  const out = new Uint8Array(key.length + TS_LENGTH);
  out.set(key, 0);
  writeU64Desc(out, key.length, ts);
  return out as TsKey;
}

/** `Key::from_raw(raw).append_ts(ts)` in one allocation. */
export function encodeTsKey(raw: Uint8Array, ts: bigint): TsKey {
  assertBytes('raw', raw);
  assertU64('ts', ts);
  const n = encodedLength(raw.length);
  const out = new Uint8Array(n + TS_LENGTH);
  writeEncodedBytes(out, 0, raw);
  writeU64Desc(out, n, ts);
  return out as TsKey;
}

/**
 * `Key::from_raw(raw).append_ts(ts)` into `out` at `at`; returns the end offset. For batch
 * writers that pack many keys into one buffer (a key over 64 bytes is a costly allocation in V8).
 */
export function encodeTsKeyInto(raw: Uint8Array, ts: bigint, out: Uint8Array, at: number): number {
  assertBytes('raw', raw);
  assertU64('ts', ts);
  const n = encodedLength(raw.length);
  assertRoom(out, at, n + TS_LENGTH);
  return writeU64Desc(out, writeEncodedBytes(out, at, raw), ts);
}

/** `Key::decode_ts_from`: `!u64be(last 8 bytes)`; CorruptedError (KeyLength) below 8 bytes. */
export function decodeTs(tsKey: Uint8Array): bigint {
  assertTsKeyLength('decodeTs', tsKey);
  return readU64Desc(tsKey, tsKey.length - TS_LENGTH);
}

/** `Key::truncate_ts_for`: the key without its last 8 bytes, as a view; not validated. */
export function truncateTs(tsKey: Uint8Array): EncodedKey {
  assertTsKeyLength('truncateTs', tsKey);
  return tsKey.subarray(0, tsKey.length - TS_LENGTH) as EncodedKey;
}

/** `Key::split_on_ts_for`: the encoded key (a view) and the decoded ts. */
export function splitTs(tsKey: Uint8Array): { key: EncodedKey; ts: bigint } {
  assertTsKeyLength('splitTs', tsKey);
  const cut = tsKey.length - TS_LENGTH;
  return { key: tsKey.subarray(0, cut) as EncodedKey, ts: readU64Desc(tsKey, cut) };
}

/**
 * `Key::is_user_key_eq`: true iff `tsKey` is `userKey` plus exactly 8 more bytes. The ts bytes
 * themselves are not checked. Allocates nothing.
 */
export function isUserKeyEq(tsKey: Uint8Array, userKey: Uint8Array): boolean {
  assertBytes('tsKey', tsKey);
  assertBytes('userKey', userKey);
  const n = userKey.length;
  if (tsKey.length !== n + TS_LENGTH) return false;
  for (let i = 0; i < n; i++) if (tsKey[i] !== userKey[i]) return false;
  return true;
}

/** `Key::to_raw`: the raw key of an encoded or timestamped key; trailing bytes (the ts) are ignored. */
export function toRaw(key: Uint8Array): RawKey {
  return decodeBytes(key).raw;
}

/** `Key::from_raw_maybe_unbounded`: undefined for an empty raw key (an unbounded range end). */
export function fromRawMaybeUnbounded(raw: Uint8Array): EncodedKey | undefined {
  assertBytes('raw', raw);
  return raw.length === 0 ? undefined : encodeBytes(raw);
}

/** `keys::data_key`: 'z' ++ key, the form every CF key has inside the engine. */
export function dataKey(key: Uint8Array): Uint8Array {
  assertBytes('key', key);
  const out = new Uint8Array(key.length + 1);
  out[0] = DATA_PREFIX;
  out.set(key, 1);
  return out;
}

/** `keys::origin_key`: strips the 'z' prefix (a view); CorruptedError if it is missing. */
export function originKey(dataKey: Uint8Array): Uint8Array {
  assertBytes('dataKey', dataKey);
  if (dataKey.length === 0 || dataKey[0] !== DATA_PREFIX) {
    const got = dataKey.length === 0 ? 'an empty key' : `first byte 0x${dataKey[0]!.toString(16).padStart(2, '0')}`;
    throw new CorruptedError(`originKey: not a data key: ${got}, expected prefix 0x7a ('z') at offset 0`, { reason: 'DataPrefix', offset: 0 });
  }
  return dataKey.subarray(1);
}
