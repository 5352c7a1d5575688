/**
 * The read phases of flashback (FLASHBACK.md a.4.2, a.5.2): walking the write CF of one region
 * snapshot key by key, in order, to find the keys whose latest *data* version (Put or Delete;
 * Lock and Rollback records are ignored, tikv#13844) is newer than the version V, and reading
 * each one's value as of V. One iterator walks the range; scratch buffers are reused, so the
 * walk allocates per batch, not per key (except the bigint of a Put's start ts).
 */
import { codec, CorruptedError, KvError, type EngineIterator, type EngineReader } from '@flashkv/core';
import { OLD_ABSENT, OLD_PUT, type FlashbackBatchInput } from './flashback-batch.js';

const DATA_PREFIX = 0x7a;
const TS_LEN = 8;
const TYPE_PUT = 0x50;
const TYPE_DELETE = 0x44;
const U64_MAX = 0xffff_ffff_ffff_ffffn;

function descTs(ts: bigint): Uint8Array {
  const out = new Uint8Array(TS_LEN);
  let v = U64_MAX - ts;
  for (let i = TS_LEN - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function readDescTs(k: Uint8Array, at: number): bigint {
  let v = 0n;
  for (let i = 0; i < TS_LEN; i++) v = (v << 8n) | BigInt(k[at + i]!);
  return U64_MAX - v;
}

/** Compares the ts suffix of a write-CF key with a desc-encoded ts: < 0 means the key's ts is newer. */
function compareSuffix(k: Uint8Array, desc: Uint8Array): number {
  const at = k.length - TS_LEN;
  for (let i = 0; i < TS_LEN; i++) {
    const d = k[at + i]! - desc[i]!;
    if (d !== 0) return d;
  }
  return 0;
}

function grow(buf: Uint8Array, need: number): Uint8Array {
  if (need <= buf.length) return buf;
  const next = new Uint8Array(Math.max(need, buf.length * 2));
  next.set(buf);
  return next;
}

function dataBound(key: Uint8Array | undefined, fallback: number): Uint8Array {
  if (key === undefined || key.length === 0) return Uint8Array.of(fallback);
  const out = new Uint8Array(key.length + 1);
  out[0] = DATA_PREFIX;
  out.set(key, 1);
  return out;
}

/**
 * Walks the keys of [start, end) (encoded user keys; empty or absent end is unbounded) whose
 * latest data version has commit ts > V. After `next()` returns true, `key` (a scratch view,
 * valid until the next call) is such a key and `latestTs` its latest data commit ts.
 */
export class ChangedKeyWalker {
  private readonly it: EngineIterator;
  private readonly descVersion: Uint8Array;
  private cur: Uint8Array = new Uint8Array(64);
  private curLen = 0;
  private seekBuf: Uint8Array = new Uint8Array(64);
  private ok: boolean | undefined;
  private done = false;
  latestTs = 0n;
  /** The latest data record's type: 'P' or 'D' byte. */
  latestType = 0;

  constructor(
    private readonly snapshot: EngineReader,
    start: Uint8Array | undefined,
    end: Uint8Array | undefined,
    readonly version: bigint,
  ) {
    this.it = snapshot.iterator('write', { lower: dataBound(start, DATA_PREFIX), upper: dataBound(end, DATA_PREFIX + 1) });
    this.descVersion = descTs(version);
  }

  get key(): Uint8Array {
    return this.cur.subarray(0, this.curLen);
  }

  close(): void {
    this.it.close();
  }

  /** Positions the walk at the first key >= `from` (call before the first `next`). */
  seek(from: Uint8Array): void {
    this.ok = this.it.seek(dataBound(from, DATA_PREFIX));
  }

  private sameKey(k: Uint8Array): boolean {
    const n = this.curLen;
    if (k.length - 1 - TS_LEN !== n) return false;
    const cur = this.cur;
    for (let i = 0; i < n; i++) if (k[i + 1] !== cur[i]) return false;
    return true;
  }

  /** Seeks to 'z' + cur + suffix, where suffix is a desc ts or (undefined) past every version. */
  private seekCur(desc: Uint8Array | undefined): boolean {
    const n = this.curLen;
    const len = 1 + n + TS_LEN + (desc === undefined ? 1 : 0);
    this.seekBuf = grow(this.seekBuf, len);
    const b = this.seekBuf;
    b[0] = DATA_PREFIX;
    b.set(this.cur.subarray(0, n), 1);
    if (desc === undefined) {
      b.fill(0xff, 1 + n, 1 + n + TS_LEN);
      b[1 + n + TS_LEN] = 0;
    } else b.set(desc, 1 + n);
    return this.it.seek(b.subarray(0, len));
  }

  next(): boolean {
    if (this.done) return false;
    const it = this.it;
    // `this.ok` is the iterator state the previous call (or `seek`) left: past the last key returned.
    let ok = this.ok === undefined ? it.first() : this.ok;
    while (ok) {
      const k = it.key();
      if (k.length < 1 + TS_LEN || k[0] !== DATA_PREFIX) throw new CorruptedError(`write CF key of ${k.length} bytes is not a versioned data key`, {});
      const n = k.length - 1 - TS_LEN;
      this.cur = grow(this.cur, n);
      this.cur.set(k.subarray(1, 1 + n));
      this.curLen = n;
      // Newest record first: skip Lock and Rollback records to the latest Put/Delete.
      let found = false;
      while (ok) {
        const kk = it.key();
        if (!this.sameKey(kk)) break;
        const t = it.value()[0];
        if (t === TYPE_PUT || t === TYPE_DELETE) {
          found = true;
          this.latestType = t;
          if (compareSuffix(kk, this.descVersion) < 0) this.latestTs = readDescTs(kk, kk.length - TS_LEN);
          else this.latestTs = 0n;
          break;
        }
        ok = it.next();
      }
      if (found && this.latestTs !== 0n) {
        // Leave the iterator past this key for the next call.
        this.ok = this.seekCur(undefined);
        return true;
      }
      if (!ok) break;
      if (found) ok = this.seekCur(undefined);
      // Not found and still valid: the iterator already sits on the next user key.
    }
    this.ok = false;
    this.done = true;
    return false;
  }

  /**
   * The value of the current key as of V (its newest Put at or below V, skipping Lock and
   * Rollback; a Delete or nothing means absent; gc fences ignored, a.5.3), appended to `input`.
   * Moves the iterator; the walk continues correctly afterwards.
   */
  appendOld(input: FlashbackBatchInput): void {
    const it = this.it;
    const i = input.count;
    const n = this.curLen;
    const keyFrom = i === 0 ? 0 : input.keyEnd[i - 1]!;
    input.keys = grow(input.keys, keyFrom + n);
    input.keys.set(this.cur.subarray(0, n), keyFrom);
    input.keyEnd[i] = keyFrom + n;
    const valueFrom = i === 0 ? 0 : input.valueEnd[i - 1]!;
    input.oldKind[i] = OLD_ABSENT;
    input.valueEnd[i] = valueFrom;
    let ok = this.seekCur(this.descVersion);
    while (ok) {
      const k = it.key();
      if (!this.sameKey(k)) break;
      const v = it.value();
      const t = v[0];
      if (t === TYPE_DELETE) break;
      if (t === TYPE_PUT) {
        const w = codec.decodeWrite(v);
        const value = w.shortValue ?? this.loadDefault(w.startTs);
        input.values = grow(input.values, valueFrom + value.length);
        input.values.set(value, valueFrom);
        input.valueEnd[i] = valueFrom + value.length;
        input.oldKind[i] = OLD_PUT;
        break;
      }
      ok = it.next();
    }
    input.count = i + 1;
    this.ok = this.seekCur(undefined);
  }

  /** The current key's value as of `ts` (undefined: absent), copied. For preview. */
  valueAt(ts: bigint): Uint8Array | undefined {
    const it = this.it;
    let out: Uint8Array | undefined;
    let ok = this.seekCur(descTs(ts));
    while (ok) {
      const k = it.key();
      if (!this.sameKey(k)) break;
      const v = it.value();
      const t = v[0];
      if (t === TYPE_DELETE) break;
      if (t === TYPE_PUT) {
        const w = codec.decodeWrite(v);
        out = (w.shortValue ?? this.loadDefault(w.startTs)).slice();
        break;
      }
      ok = it.next();
    }
    this.ok = this.seekCur(undefined);
    return out;
  }

  private loadDefault(startTs: bigint): Uint8Array {
    const n = this.curLen;
    const key = new Uint8Array(1 + n + TS_LEN);
    key[0] = DATA_PREFIX;
    key.set(this.cur.subarray(0, n), 1);
    key.set(descTs(startTs), 1 + n);
    const v = this.snapshot.get('default', key);
    if (v === undefined) {
      // TiKV default_not_found_error: a committed Put without its value is corruption.
      throw new CorruptedError(`default CF value missing for a Put of txn ${startTs}`, { key: this.cur.slice(0, n), startTs });
    }
    return v;
  }
}

/**
 * After this many `next()` calls inside one user key's records, the scan seeks instead: a key
 * with a long history costs one seek, a key with a few versions costs a few steps.
 */
const STEPS_BEFORE_SEEK = 8;
const SHORT_VALUE_TAG = 0x76;

/**
 * One forward pass over the write CF of [start, end) for the FlashbackWrite read phase and K*
 * (FLASHBACK.md a.4.2, a.5.2, a.5.3). Records of a user key come newest first, so the latest
 * Put/Delete (Lock and Rollback skipped, tikv#13844) and the old version (the newest Put or
 * Delete at or below V) are both found walking forward; the walk then steps to the next user
 * key. Seeks only happen for keys with long histories (STEPS_BEFORE_SEEK). Timestamps are
 * compared as encoded suffix bytes against the desc-encoded V and C, so the walk allocates no
 * bigint and no key per key; `first` is the engine's own key view of the key's first record
 * (engines hand out stable, immutable views), so nothing is copied either.
 */
class WriteCfScan {
  private readonly it: EngineIterator;
  private readonly descVersion: Uint8Array;
  private ok: boolean;
  private seekBuf: Uint8Array = new Uint8Array(64);
  /** The first record (write-CF key) of the current user key; the user key is first[1 .. 1 + n). */
  first: Uint8Array = new Uint8Array(0);
  n = 0;
  /** The write-CF key of the current user key's latest data record (after `nextChanged`). */
  latest: Uint8Array = new Uint8Array(0);

  constructor(
    private readonly snapshot: EngineReader,
    start: Uint8Array | undefined,
    end: Uint8Array | undefined,
    version: bigint,
  ) {
    this.it = snapshot.iterator('write', { lower: dataBound(start, DATA_PREFIX), upper: dataBound(end, DATA_PREFIX + 1) });
    this.descVersion = descTs(version);
    this.ok = this.it.first();
  }

  close(): void {
    this.it.close();
  }

  private sameKey(k: Uint8Array): boolean {
    const n = this.n;
    if (k.length - 1 - TS_LEN !== n) return false;
    const f = this.first;
    // Compare from the end: keys in one range tend to share their prefixes.
    for (let i = n; i >= 1; i--) if (k[i] !== f[i]) return false;
    return true;
  }

  /** Seeks to 'z' + user key + suffix; `desc` undefined means past every version of the key. */
  private seekKey(desc: Uint8Array | undefined): boolean {
    const n = this.n;
    const len = 1 + n + TS_LEN + (desc === undefined ? 1 : 0);
    this.seekBuf = grow(this.seekBuf, len);
    const b = this.seekBuf;
    b.set(this.first.subarray(0, 1 + n), 0);
    if (desc === undefined) {
      b.fill(0xff, 1 + n, 1 + n + TS_LEN);
      b[1 + n + TS_LEN] = 0;
    } else b.set(desc, 1 + n);
    return this.it.seek(b.subarray(0, len));
  }

  /** Moves to the first record of the next user key (or the end). */
  skipKey(): void {
    const it = this.it;
    let ok = this.ok;
    for (let steps = 0; ok; steps++) {
      if (steps === STEPS_BEFORE_SEEK) {
        ok = this.seekKey(undefined);
        break;
      }
      ok = it.next();
      if (ok && !this.sameKey(it.key())) break;
    }
    this.ok = ok;
  }

  /**
   * Moves to the next user key whose latest data version is newer than V; `first`, `n` and
   * `latest` describe it and the iterator stays on its latest data record.
   */
  nextChanged(): boolean {
    const it = this.it;
    while (this.ok) {
      const first = it.key();
      if (first.length < 1 + TS_LEN || first[0] !== DATA_PREFIX) throw new CorruptedError(`write CF key of ${first.length} bytes is not a versioned data key`, {});
      this.first = first;
      this.n = first.length - 1 - TS_LEN;
      // Newest record first: skip Lock and Rollback records to the latest Put/Delete.
      let k = first;
      let found = false;
      for (;;) {
        const t = it.value()[0];
        if (t === TYPE_PUT || t === TYPE_DELETE) {
          found = true;
          break;
        }
        if (!it.next()) {
          this.ok = false;
          break;
        }
        k = it.key();
        if (!this.sameKey(k)) break;
      }
      if (!found) continue; // on the next user key already, or at the end
      if (compareSuffix(k, this.descVersion) < 0) {
        this.latest = k;
        return true;
      }
      this.skipKey();
    }
    return false;
  }

  /** The latest data version's commit ts (for errors; allocates). */
  latestTs(): bigint {
    return readDescTs(this.latest, this.latest.length - TS_LEN);
  }

  /** Whether the current user key equals `key` (no view made). */
  isUserKey(key: Uint8Array): boolean {
    const n = this.n;
    if (key.length !== n) return false;
    const f = this.first;
    for (let i = 0; i < n; i++) if (f[1 + i] !== key[i]) return false;
    return true;
  }

  /** The current user key (a view of the engine's key). */
  userKey(): Uint8Array {
    return this.first.subarray(1, 1 + this.n);
  }

  /**
   * Appends the current key and its value as of V to `input` (its newest Put at or below V,
   * skipping Lock and Rollback; a Delete or nothing means absent; gc fences ignored, a.5.3),
   * then moves to the next user key.
   */
  appendOld(input: FlashbackBatchInput): void {
    const it = this.it;
    const i = input.count;
    const n = this.n;
    const keyFrom = i === 0 ? 0 : input.keyEnd[i - 1]!;
    input.keys = grow(input.keys, keyFrom + n);
    const keys = input.keys;
    const first = this.first;
    for (let j = 0; j < n; j++) keys[keyFrom + j] = first[1 + j]!;
    input.keyEnd[i] = keyFrom + n;
    const valueFrom = i === 0 ? 0 : input.valueEnd[i - 1]!;
    input.oldKind[i] = OLD_ABSENT;
    input.valueEnd[i] = valueFrom;
    input.count = i + 1;
    // From the latest record (newer than V) forward to the first record at or below V.
    let ok = this.ok;
    for (let steps = 0; ; steps++) {
      if (steps === STEPS_BEFORE_SEEK) {
        ok = this.seekKey(this.descVersion);
        if (ok && !this.sameKey(it.key())) {
          this.ok = ok;
          return;
        }
        break;
      }
      ok = it.next();
      if (!ok) {
        this.ok = false;
        return;
      }
      const k = it.key();
      if (!this.sameKey(k)) {
        this.ok = true;
        return;
      }
      if (compareSuffix(k, this.descVersion) >= 0) break;
    }
    // On a record of this key at or below V: the first Put or Delete decides.
    while (ok) {
      const v = it.value();
      const t = v[0];
      if (t === TYPE_DELETE) break;
      if (t === TYPE_PUT) {
        this.copyValue(v, input, i, valueFrom);
        break;
      }
      ok = it.next();
      if (ok && !this.sameKey(it.key())) {
        this.ok = true;
        return;
      }
    }
    this.ok = ok;
    if (ok) this.skipKey();
  }

  private copyValue(v: Uint8Array, input: FlashbackBatchInput, i: number, valueFrom: number): void {
    // Fast path for the common record shape: type, var_u64 start_ts, 'v' len bytes, nothing after.
    let p = 1;
    while (p < v.length && (v[p]! & 0x80) !== 0) p++;
    p++;
    let from = -1;
    let len = 0;
    if (p + 1 < v.length && v[p] === SHORT_VALUE_TAG && p + 2 + v[p + 1]! === v.length) {
      from = p + 2;
      len = v[p + 1]!;
    }
    input.oldKind[i] = OLD_PUT;
    if (from >= 0) {
      input.values = grow(input.values, valueFrom + len);
      const out = input.values;
      for (let j = 0; j < len; j++) out[valueFrom + j] = v[from + j]!;
      input.valueEnd[i] = valueFrom + len;
      return;
    }
    const w = codec.decodeWrite(v);
    const value = w.shortValue ?? this.loadDefault(w.startTs);
    input.values = grow(input.values, valueFrom + value.length);
    input.values.set(value, valueFrom);
    input.valueEnd[i] = valueFrom + value.length;
  }

  private loadDefault(startTs: bigint): Uint8Array {
    const n = this.n;
    const key = new Uint8Array(1 + n + TS_LEN);
    key.set(this.first.subarray(0, 1 + n), 0);
    key.set(descTs(startTs), 1 + n);
    const v = this.snapshot.get('default', key);
    if (v === undefined) {
      // TiKV default_not_found_error: a committed Put without its value is corruption.
      throw new CorruptedError(`default CF value missing for a Put of txn ${startTs}`, { key: this.userKey().slice(), startTs });
    }
    return v;
  }
}

/** FLASHBACK.md a.4.2: the first key of [start, end) whose latest data version is newer than V (K*). */
export function findFlashbackKey(snapshot: EngineReader, start: Uint8Array | undefined, end: Uint8Array | undefined, version: bigint): Uint8Array | undefined {
  const w = new WriteCfScan(snapshot, start, end, version);
  try {
    return w.nextChanged() ? w.userKey().slice() : undefined;
  } finally {
    w.close();
  }
}

export interface WriteScanResult {
  /** The key to start the next read phase at; undefined when the range is exhausted. */
  readonly next: Uint8Array | undefined;
}

/**
 * The FlashbackWrite read phase (a.5.2): from `from`, fills `input` with up to `batchKeys` keys
 * with V < latest < C (K* excluded; latest == C was already rewritten by this flashback) and
 * their values as of V, in one forward pass (see WriteCfScan). A key with latest > C breaks an
 * invariant (no write can land during a flashback; TiKV asserts) and is reported as CORRUPTED.
 */
export function scanFlashbackWrites(
  snapshot: EngineReader,
  from: Uint8Array | undefined,
  end: Uint8Array | undefined,
  version: bigint,
  commitTs: bigint,
  exclude: Uint8Array | undefined,
  input: FlashbackBatchInput,
  batchKeys: number,
): WriteScanResult {
  input.count = 0;
  const descCommit = descTs(commitTs);
  const w = new WriteCfScan(snapshot, from, end, version);
  try {
    while (w.nextChanged()) {
      const c = compareSuffix(w.latest, descCommit);
      if (c === 0) {
        w.skipKey();
        continue;
      }
      if (c < 0) {
        const latestTs = w.latestTs();
        throw new KvError('CORRUPTED', `flashback invariant broken: a version committed at ${latestTs} is newer than the flashback commit ts ${commitTs}`, {
          key: w.userKey().slice(),
          commitTs: latestTs,
          flashbackCommitTs: commitTs,
        });
      }
      if (exclude !== undefined && w.isUserKey(exclude)) {
        w.skipKey();
        continue;
      }
      // The 257th key of a scan is not taken: it is where the next read phase resumes.
      if (input.count === batchKeys) return { next: w.userKey().slice() };
      w.appendOld(input);
    }
    return { next: undefined };
  } finally {
    w.close();
  }
}

/** Key i of a batch input (a view). */
export function batchKey(input: FlashbackBatchInput, i: number): Uint8Array {
  return input.keys.subarray(i === 0 ? 0 : input.keyEnd[i - 1]!, input.keyEnd[i]!);
}

export { descTs };
