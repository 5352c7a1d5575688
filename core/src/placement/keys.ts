/**
 * Where placement keeps its state: local keys (FORMATS.md section 3.3, `components/keys`: local
 * keys start with 0x01) in the `raft` column family. Every placement key starts with
 * `0x01 0x50` ('P' for placement). TiKV's own local keys use `0x01 0x01` (store ident),
 * `0x01 0x02` (raft log and state) and `0x01 0x03` (region meta), so a consensus layer that
 * keeps TiKV's layout in the same column family never collides with us.
 *
 * ```
 * 0x01 0x50 0x01                   format version          u32be (currently 1)
 * 0x01 0x50 0x02                   TSO high-water mark     u64be physical ms; every ts ever handed
 *                                                          out has a physical part below it
 * 0x01 0x50 0x03                   GC safe point           u64be ts
 * 0x01 0x50 0x04                   next id                 u64be; region and peer ids come from it
 * 0x01 0x50 0x05 u64be(regionId)   region record           see region-codec.ts
 * 0x01 0x50 0x06 utf8(jobId)       durable job record      see jobs.ts
 * 0x01 0x50 0x07 utf8(owner)       GC pause held by owner  empty value; absent when not held
 * 0x01 0x50 0x08 utf8(owner)       scheduling pause held   empty value; absent when not held
 * ```
 *
 * The single-byte tags after the namespace keep each family a contiguous range, so a family
 * is listed with one bounded iterator (`lower = prefix`, `upper = prefixEnd(prefix)`).
 */
/** `keys::LOCAL_PREFIX` (the codec's LOCAL_PREFIX); restated so placement loads without the codec. */
const LOCAL_PREFIX = 0x01;

export const PLACEMENT_NAMESPACE = 0x50;

export const TAG_FORMAT_VERSION = 0x01;
export const TAG_TSO = 0x02;
export const TAG_GC_SAFE_POINT = 0x03;
export const TAG_NEXT_ID = 0x04;
export const TAG_REGION = 0x05;
export const TAG_JOB = 0x06;
export const TAG_GC_PAUSE = 0x07;
export const TAG_SCHEDULING_PAUSE = 0x08;

/** The version of the layout above; a store written by a newer layout is refused, not guessed at. */
export const PLACEMENT_FORMAT_VERSION = 1;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function tagKey(tag: number, suffixLength = 0): Uint8Array {
  const k = new Uint8Array(3 + suffixLength);
  k[0] = LOCAL_PREFIX;
  k[1] = PLACEMENT_NAMESPACE;
  k[2] = tag;
  return k;
}

export const FORMAT_VERSION_KEY = tagKey(TAG_FORMAT_VERSION);
export const TSO_KEY = tagKey(TAG_TSO);
export const GC_SAFE_POINT_KEY = tagKey(TAG_GC_SAFE_POINT);
export const NEXT_ID_KEY = tagKey(TAG_NEXT_ID);

/** The whole placement namespace, for dump tools: [0x01 0x50, 0x01 0x51). */
export const NAMESPACE_LOWER = Uint8Array.of(LOCAL_PREFIX, PLACEMENT_NAMESPACE);
export const NAMESPACE_UPPER = Uint8Array.of(LOCAL_PREFIX, PLACEMENT_NAMESPACE + 1);

/** The prefix of one tagged family. */
export function familyPrefix(tag: number): Uint8Array {
  return tagKey(tag);
}

/** The exclusive upper bound of a tagged family: the prefix with its tag byte plus one. */
export function familyEnd(tag: number): Uint8Array {
  return tagKey(tag + 1);
}

export function regionKey(regionId: number): Uint8Array {
  const k = tagKey(TAG_REGION, 8);
  new DataView(k.buffer).setBigUint64(3, BigInt(regionId));
  return k;
}

/** A key with a UTF-8 string suffix: jobs and pause owners. */
export function stringKey(tag: number, name: string): Uint8Array {
  const suffix = encoder.encode(name);
  const k = tagKey(tag, suffix.length);
  k.set(suffix, 3);
  return k;
}

/** The string suffix of a key made by `stringKey`; throws on bytes that are not UTF-8. */
export function stringSuffix(key: Uint8Array): string {
  return decoder.decode(key.subarray(3));
}

/** Length in UTF-8 bytes, used to bound job ids and owner names. */
export function utf8Length(s: string): number {
  return encoder.encode(s).length;
}

export function u32be(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

/** Reads an 8-byte big-endian value, or undefined when the length is wrong. */
export function readU64be(bytes: Uint8Array): bigint | undefined {
  if (bytes.length !== 8) return undefined;
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0);
}

export function u64be(n: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, n);
  return out;
}
