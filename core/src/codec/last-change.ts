/**
 * `LastChange`: where the last real write (Put or Delete) of a key is, so readers can skip runs of
 * Lock/Rollback records. Shared by Write (FORMATS.md section 4, field 6) and Lock (section 5.1,
 * field 11): tag 'l', u64be(ts), var_u64(versions).
 */
import { InvalidArgumentError } from '../errors.js';
import { assertU64, varU64Length, writeU64, writeVarU64 } from './encode-into.js';
import type { ByteReader } from './reader.js';

export type LastChange =
  /** Not recorded (older writers, or not computed); not serialized. */
  | { readonly kind: 'Unknown' }
  /** The key has no Put/Delete before this record. Serialized as ts=0, versions=1. */
  | { readonly kind: 'NotExist' }
  /** The last Put/Delete is at commit `ts`, an estimated `versions` records back (both > 0). */
  | { readonly kind: 'Exist'; readonly ts: bigint; readonly versions: bigint };

export const LAST_CHANGE_TAG = 0x6c; // 'l'

export const LAST_CHANGE_UNKNOWN: LastChange = Object.freeze({ kind: 'Unknown' });
export const LAST_CHANGE_NOT_EXIST: LastChange = Object.freeze({ kind: 'NotExist' });

/** `LastChange::make_exist`: both ts and versions must be non-zero. */
export function lastChangeExist(ts: bigint, versions: bigint): LastChange {
  const lc: LastChange = { kind: 'Exist', ts, versions };
  assertLastChange(lc);
  return lc;
}

export function assertLastChange(lc: LastChange): void {
  if (lc === null || typeof lc !== 'object') throw new TypeError('lastChange must be a LastChange object');
  switch (lc.kind) {
    case 'Unknown':
    case 'NotExist':
      return;
    case 'Exist':
      assertU64('lastChange.ts', lc.ts);
      assertU64('lastChange.versions', lc.versions);
      // TiKV's make_exist asserts both; (0, n) would read back as NotExist and (ts, 0) panics.
      if (lc.ts === 0n || lc.versions === 0n) {
        throw new InvalidArgumentError(`lastChange: Exist needs ts > 0 and versions > 0, got ts=${lc.ts} versions=${lc.versions}`, { field: 'lastChange' });
      }
      return;
    default:
      throw new TypeError(`lastChange.kind must be 'Unknown', 'NotExist' or 'Exist', got ${JSON.stringify((lc as { kind: unknown }).kind)}`);
  }
}

/** Bytes the 'l' field takes, tag included; 0 for Unknown, which is omitted. */
export function lastChangeSize(lc: LastChange): number {
  if (lc.kind === 'Unknown') return 0;
  return lc.kind === 'NotExist' ? 1 + 8 + 1 : 1 + 8 + varU64Length(lc.versions);
}

/** Writes the 'l' field (tag included) unless Unknown. */
export function writeLastChange(out: Uint8Array, at: number, lc: LastChange): number {
  if (lc.kind === 'Unknown') return at;
  out[at++] = LAST_CHANGE_TAG;
  if (lc.kind === 'NotExist') {
    at = writeU64(out, at, 0n);
    out[at++] = 1;
    return at;
  }
  at = writeU64(out, at, lc.ts);
  return writeVarU64(out, at, lc.versions);
}

/** Reads the payload after an 'l' tag: `LastChange::from_parts(ts, versions)`. */
export function readLastChange(r: ByteReader): LastChange {
  const start = r.pos;
  const ts = r.u64('last_change ts');
  const versions = r.varU64('last_change versions');
  if (ts === 0n) return versions === 0n ? LAST_CHANGE_UNKNOWN : LAST_CHANGE_NOT_EXIST;
  // TiKV's make_exist asserts versions > 0 (a panic there); here it is corruption.
  if (versions === 0n) r.fail('last_change', `ts ${ts} with 0 versions`, start);
  return { kind: 'Exist', ts, versions };
}
