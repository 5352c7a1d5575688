/**
 * The commands of the meta raft group (placement on raft, issue 8 item 5): each committed entry
 * of the meta region is one placement mutation, applied by every store to its own copy of the
 * placement state. Layout: `u8 1` (format), then UTF-8 JSON in which a bigint is written as
 * `{"$b": "<digits>"}` and a byte string as `{"$u": "<hex>"}`. Placement commands are rare
 * (one TSO advance per window, splits, pauses, jobs), so readability beats compactness here.
 */
import { CorruptedError, freezeRegion, type Region, type RegionEpoch } from '@flashkv/core';

export const META_COMMAND_FORMAT = 1;

export type PauseKind = 'gc' | 'scheduling';

export type MetaCommand =
  /** Raise the TSO high-water mark (physical ms) to at least `mark`. */
  | { readonly op: 'tso'; readonly mark: number }
  | { readonly op: 'allocId' }
  | { readonly op: 'split'; readonly regionId: number; readonly splitKey: Uint8Array; readonly epoch?: RegionEpoch }
  | { readonly op: 'recordSplit'; readonly left: Region; readonly right: Region }
  | { readonly op: 'recordRegion'; readonly region: Region }
  | { readonly op: 'setFlashback'; readonly regionId: number; readonly inFlashback: boolean; readonly startTs: bigint; readonly epoch?: RegionEpoch }
  | { readonly op: 'safePoint'; readonly ts: bigint }
  | { readonly op: 'pause'; readonly kind: PauseKind; readonly owner: string; readonly on: boolean }
  /** `record` is the job record already encoded (core's encodeJobRecord), so apply never re-validates it. */
  | { readonly op: 'putJob'; readonly id: string; readonly record: Uint8Array }
  | { readonly op: 'deleteJob'; readonly id: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function toHex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

function fromHex(s: string): Uint8Array {
  if (s.length % 2 !== 0 || !/^[0-9a-f]*$/.test(s)) throw new CorruptedError('meta command holds a malformed byte string', {});
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function encodeMetaCommand(cmd: MetaCommand): Uint8Array {
  return encodeMetaValue(cmd);
}

/** Any JSON-shaped value whose leaves may be bigints or byte strings, in the command layout (outcomes cross the wire this way). */
export function encodeMetaValue(value: unknown): Uint8Array {
  const json = JSON.stringify(value ?? null, (_k, v: unknown) => {
    if (typeof v === 'bigint') return { $b: v.toString() };
    if (v instanceof Uint8Array) return { $u: toHex(v) };
    return v;
  });
  const body = encoder.encode(json);
  const out = new Uint8Array(1 + body.length);
  out[0] = META_COMMAND_FORMAT;
  out.set(body, 1);
  return out;
}

export function decodeMetaValue(bytes: Uint8Array): unknown {
  if (bytes.length < 1 || bytes[0] !== META_COMMAND_FORMAT) throw new CorruptedError(`meta command format ${bytes[0] ?? 'missing'} is not supported`, {});
  try {
    return JSON.parse(decoder.decode(bytes.subarray(1)), (_k, v: unknown) => {
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
        const o = v as Record<string, unknown>;
        const keys = Object.keys(o);
        if (keys.length === 1 && keys[0] === '$b' && typeof o.$b === 'string') return BigInt(o.$b);
        if (keys.length === 1 && keys[0] === '$u' && typeof o.$u === 'string') return fromHex(o.$u);
      }
      return v;
    });
  } catch (e) {
    if (e instanceof CorruptedError) throw e;
    throw new CorruptedError(`meta command is not valid JSON: ${e instanceof Error ? e.message : String(e)}`, {});
  }
}

export function decodeMetaCommand(bytes: Uint8Array): MetaCommand {
  const cmd = decodeMetaValue(bytes) as MetaCommand;
  if (cmd === null || typeof cmd !== 'object' || typeof (cmd as { op?: unknown }).op !== 'string') throw new CorruptedError('meta command has no op', {});
  if (cmd.op === 'recordSplit') return { ...cmd, left: freezeRegion(cmd.left), right: freezeRegion(cmd.right) };
  if (cmd.op === 'recordRegion') return { ...cmd, region: freezeRegion(cmd.region) };
  return cmd;
}
