/**
 * Durable job records (FLASHBACK.md section b.2: TiDB persists the flashback job's start_ts and
 * commit_ts so a crash resumes with the same values). A record is any JSON-shaped object whose
 * leaves may also be bigints.
 *
 * Stored value, format 1: `u8 1` followed by UTF-8 JSON. A bigint is written as the object
 * `{"$bigint": "<decimal digits>"}` so that it reads back as a bigint and never as a string that
 * happens to hold digits; for that reason an object key named `$bigint` is refused on write.
 */
import { CorruptedError, InvalidArgumentError } from '../errors.js';

export type JobValue = string | number | boolean | null | bigint | readonly JobValue[] | { readonly [key: string]: JobValue };
export type JobRecord = { readonly [key: string]: JobValue };

export const JOB_RECORD_FORMAT = 1;
const BIGINT_TAG = '$bigint';
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Rejects what JSON would silently drop or change: undefined, functions, NaN, class instances, cycles. */
function check(v: unknown, path: string, seen: Set<object>): void {
  switch (typeof v) {
    case 'string':
    case 'boolean':
    case 'bigint':
      return;
    case 'number':
      if (!Number.isFinite(v)) throw new InvalidArgumentError(`job record ${path} is ${v}, which JSON cannot hold`, { path });
      return;
    case 'object': {
      if (v === null) return;
      if (seen.has(v)) throw new InvalidArgumentError(`job record ${path} refers back to itself`, { path });
      seen.add(v);
      if (Array.isArray(v)) {
        v.forEach((x, i) => check(x, `${path}[${i}]`, seen));
      } else {
        if (!isPlainObject(v)) throw new InvalidArgumentError(`job record ${path} is a ${v.constructor?.name ?? 'class'} instance, not a plain object`, { path });
        for (const [k, x] of Object.entries(v)) {
          if (k === BIGINT_TAG) throw new InvalidArgumentError(`job record ${path} uses the reserved key ${BIGINT_TAG}`, { path });
          check(x, `${path}.${k}`, seen);
        }
      }
      seen.delete(v);
      return;
    }
    default:
      throw new InvalidArgumentError(`job record ${path} is a ${typeof v}, which JSON cannot hold`, { path });
  }
}

export function encodeJobRecord(record: JobRecord): Uint8Array {
  if (record === null || typeof record !== 'object' || Array.isArray(record)) {
    throw new InvalidArgumentError('a job record must be a plain object', {});
  }
  check(record, 'record', new Set());
  const json = JSON.stringify(record, (_k, v: unknown) => (typeof v === 'bigint' ? { [BIGINT_TAG]: v.toString() } : v));
  const body = encoder.encode(json);
  const out = new Uint8Array(1 + body.length);
  out[0] = JOB_RECORD_FORMAT;
  out.set(body, 1);
  return out;
}

export function decodeJobRecord(bytes: Uint8Array, jobId: string): JobRecord {
  if (bytes.length < 1 || bytes[0] !== JOB_RECORD_FORMAT) {
    throw new CorruptedError(`job ${jobId}: record format ${bytes[0] ?? 'missing'} is not supported (expected ${JOB_RECORD_FORMAT})`, { jobId });
  }
  try {
    return JSON.parse(decoder.decode(bytes.subarray(1)), (_k, v: unknown) => {
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
        const keys = Object.keys(v);
        const tag = (v as Record<string, unknown>)[BIGINT_TAG];
        if (keys.length === 1 && keys[0] === BIGINT_TAG && typeof tag === 'string' && /^-?\d+$/.test(tag)) return BigInt(tag);
      }
      return v;
    }) as JobRecord;
  } catch (cause) {
    throw new CorruptedError(`job ${jobId}: record is not valid JSON: ${cause instanceof Error ? cause.message : String(cause)}`, { jobId });
  }
}
