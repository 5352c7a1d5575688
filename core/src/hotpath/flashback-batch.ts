// @hot-path
/**
 * The FlashbackWrite step for one batch (FLASHBACK.md a.5.3): the TS reference of
 * `HotPath.flashbackBatch`, which the WASM kernel in @flashkv/asm mirrors byte for byte. A batch
 * of up to 256 keys, each with its value as of the flashback version (or "absent"), becomes the
 * write-CF records at commit_ts C (Put of the old value, or Delete; start_ts S) plus default-CF
 * copies at S for values longer than 255 bytes. Inputs and outputs are flat buffers with offset
 * arrays; nothing is allocated per key, and the parts shared by every key (the ~C and ~S
 * suffixes, the type byte and varint S) are encoded once per call at the start of `buf`, then
 * copied into each op.
 *
 * Batch limit (TiKV's MAX_TXN_WRITE_SIZE rule, a.4.1/a.5.2): keys are taken in order while the
 * accumulated modification size (key + value bytes of every put) stays within `maxWriteSize`; the
 * first key that would push it over ends the batch, unless the batch is still empty (one key
 * larger than the limit still goes, alone). The caller resumes from the first key not taken.
 */

/** TiKV MAX_TXN_WRITE_SIZE: bytes of modifications per write command. */
export const FLASHBACK_MAX_WRITE_SIZE = 32 * 1024;
/** `oldKind[i]`: the key had no value at the version (the batch writes a Delete). */
export const FLASHBACK_OLD_ABSENT = 0;
/** `oldKind[i]`: the key had a value at the version (a Put of it). Any other byte means absent. */
export const FLASHBACK_OLD_PUT = 1;
/** `cf[j]` of an output op. */
export const FLASHBACK_OUT_WRITE_CF = 0;
export const FLASHBACK_OUT_DEFAULT_CF = 1;

const SHORT_VALUE_MAX = 255; // FORMATS.md 3.4: longer values live in the default CF
const DATA_PREFIX = 0x7a; // 'z'
const TYPE_PUT = 0x50; // 'P'
const TYPE_DELETE = 0x44; // 'D'
const SHORT_VALUE_TAG = 0x76; // 'v'
const TS_LEN = 8;
const U64_MAX = 0xffff_ffff_ffff_ffffn;
/** From this length a copy is one `set` of a subarray: one view per 64+ byte run, cheap next to the copy. */
const BULK_COPY_MIN = 64;

/**
 * One batch: key i is `keys[keyEnd[i-1] .. keyEnd[i])` (encoded user key, no 'z'; key 0 starts
 * at 0), its value as of the version `values[valueEnd[i-1] .. valueEnd[i])` when `oldKind[i]` is
 * FLASHBACK_OLD_PUT (an absent key's value range is ignored; it is normally empty).
 */
export interface FlashbackBatchInput {
  count: number;
  keys: Uint8Array;
  keyEnd: Uint32Array;
  oldKind: Uint8Array;
  values: Uint8Array;
  valueEnd: Uint32Array;
}

/**
 * Op j puts `buf[keyStart[j] .. keyEnd[j])` -> `buf[valueStart[j] .. valueEnd[j])` into column
 * family `cf[j]` (FLASHBACK_OUT_WRITE_CF or FLASHBACK_OUT_DEFAULT_CF). The first bytes of `buf`
 * hold the shared parts the ops were copied from; only the op ranges are meaningful.
 */
export interface FlashbackBatchResult {
  readonly buf: Uint8Array;
  readonly opCount: number;
  /** Keys of the input taken into this batch (a prefix of it). */
  readonly keysTaken: number;
  /** Sum of key and value bytes of every op: the batch's modification size. */
  readonly writeSize: number;
  readonly cf: Uint8Array;
  readonly keyStart: Uint32Array;
  readonly keyEnd: Uint32Array;
  readonly valueStart: Uint32Array;
  readonly valueEnd: Uint32Array;
}

/** A caller-owned output for `flashbackBatchReference`; `buf` needs `flashbackBatchBound` bytes. */
export interface FlashbackBatchOutput extends FlashbackBatchResult {
  buf: Uint8Array;
  opCount: number;
  keysTaken: number;
  writeSize: number;
}

/** Room for at most `maxKeys` keys (the byte buffers start small; callers grow them). */
export function newFlashbackBatchInput(maxKeys: number): FlashbackBatchInput {
  return { count: 0, keys: new Uint8Array(4096), keyEnd: new Uint32Array(maxKeys), oldKind: new Uint8Array(maxKeys), values: new Uint8Array(4096), valueEnd: new Uint32Array(maxKeys) };
}

/** An output with `bound` bytes of `buf` and room for `maxKeys` keys (two ops each). */
export function newFlashbackBatchOutput(bound: number, maxKeys: number): FlashbackBatchOutput {
  const ops = maxKeys * 2;
  return {
    buf: new Uint8Array(bound),
    opCount: 0,
    keysTaken: 0,
    writeSize: 0,
    cf: new Uint8Array(ops),
    keyStart: new Uint32Array(ops),
    keyEnd: new Uint32Array(ops),
    valueStart: new Uint32Array(ops),
    valueEnd: new Uint32Array(ops),
  };
}

/** Output bytes of `buf` a batch can need at most (every key a long value). */
export function flashbackBatchBound(input: FlashbackBatchInput): number {
  const n = input.count;
  const keyBytes = n === 0 ? 0 : input.keyEnd[n - 1]!;
  const valueBytes = n === 0 ? 0 : input.valueEnd[n - 1]!;
  // Per key: two data keys ('z' + key + ts) and one Write record (type, varint S <= 10, 'v' + len).
  return 2 * keyBytes + valueBytes + n * (2 * (1 + TS_LEN) + 1 + 10 + 2) + 32;
}

/**
 * Copies `n` bytes of `src` from `from` to `out` at `at`. Short runs (keys, short values) go byte
 * by byte: `set(subarray(...))` would allocate a view per key, which a hot-path file must not.
 */
function copyBytes(out: Uint8Array, at: number, src: Uint8Array, from: number, n: number): void {
  if (n >= BULK_COPY_MIN) {
    out.set(src.subarray(from, from + n), at);
    return;
  }
  for (let k = 0; k < n; k++) out[at + k] = src[from + k]!;
}

function writeDescTs(out: Uint8Array, at: number, ts: bigint): void {
  let v = U64_MAX - ts;
  for (let i = TS_LEN - 1; i >= 0; i--) {
    out[at + i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

function writeVarU64(out: Uint8Array, at: number, v: bigint): number {
  while (v >= 0x80n) {
    out[at++] = Number(v & 0x7fn) | 0x80;
    v >>= 7n;
  }
  out[at++] = Number(v);
  return at;
}

/**
 * Fills `out` with the ops of the longest prefix of `input` that fits `maxWriteSize`; returns
 * the number of keys taken. The Write records carry no last_change, txn_source or gc_fence
 * (TiKV's constructor defaults, a.5.3). Arguments are not checked here (HotPath callers go
 * through `checkFlashbackBatchArgs`); `out.buf` must hold `flashbackBatchBound(input)` bytes.
 */
export function flashbackBatchReference(input: FlashbackBatchInput, startTs: bigint, commitTs: bigint, out: FlashbackBatchOutput, maxWriteSize: number = FLASHBACK_MAX_WRITE_SIZE): number {
  const buf = out.buf;
  const n = input.count;
  let at = 0;
  // Shared parts, encoded once: ~C and ~S suffixes, and the record heads (type byte, varint S).
  const commitSuffix = at;
  writeDescTs(buf, at, commitTs);
  at += TS_LEN;
  const startSuffix = at;
  writeDescTs(buf, at, startTs);
  at += TS_LEN;
  const putHead = at;
  buf[at++] = TYPE_PUT;
  at = writeVarU64(buf, at, startTs);
  const headLen = at - putHead;
  const deleteHead = at;
  buf[at++] = TYPE_DELETE;
  at = writeVarU64(buf, at, startTs);

  let ops = 0;
  let size = 0;
  let taken = 0;
  let keyFrom = 0;
  let valueFrom = 0;
  for (let i = 0; i < n; i++) {
    const keyTo = input.keyEnd[i]!;
    const valueTo = input.valueEnd[i]!;
    const klen = keyTo - keyFrom;
    const dataKeyLen = 1 + klen + TS_LEN;
    const isPut = input.oldKind[i] === FLASHBACK_OLD_PUT;
    const vlen = isPut ? valueTo - valueFrom : 0;
    const isLong = isPut && vlen > SHORT_VALUE_MAX;
    const recordLen = headLen + (isPut && !isLong ? 2 + vlen : 0);
    const keySize = dataKeyLen + recordLen + (isLong ? dataKeyLen + vlen : 0);
    if (taken > 0 && size + keySize > maxWriteSize) break;

    // write CF: 'z' + key + ~C -> record
    out.cf[ops] = FLASHBACK_OUT_WRITE_CF;
    out.keyStart[ops] = at;
    buf[at++] = DATA_PREFIX;
    copyBytes(buf, at, input.keys, keyFrom, klen);
    at += klen;
    copyBytes(buf, at, buf, commitSuffix, TS_LEN);
    at += TS_LEN;
    out.keyEnd[ops] = at;
    out.valueStart[ops] = at;
    copyBytes(buf, at, buf, isPut ? putHead : deleteHead, headLen);
    at += headLen;
    if (isPut && !isLong) {
      buf[at++] = SHORT_VALUE_TAG;
      buf[at++] = vlen;
      copyBytes(buf, at, input.values, valueFrom, vlen);
      at += vlen;
    }
    out.valueEnd[ops] = at;
    ops++;

    if (isLong) {
      // default CF: 'z' + key + ~S -> the old value
      out.cf[ops] = FLASHBACK_OUT_DEFAULT_CF;
      out.keyStart[ops] = at;
      buf[at++] = DATA_PREFIX;
      copyBytes(buf, at, input.keys, keyFrom, klen);
      at += klen;
      copyBytes(buf, at, buf, startSuffix, TS_LEN);
      at += TS_LEN;
      out.keyEnd[ops] = at;
      out.valueStart[ops] = at;
      copyBytes(buf, at, input.values, valueFrom, vlen);
      at += vlen;
      out.valueEnd[ops] = at;
      ops++;
    }
    size += keySize;
    taken++;
    keyFrom = keyTo;
    valueFrom = valueTo;
  }
  out.opCount = ops;
  out.keysTaken = taken;
  out.writeSize = size;
  return taken;
}
