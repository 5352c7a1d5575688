import type { CdcEvent, RowOp } from '@flashkv/cdc';

type Raw = Record<string, unknown>;
const EMPTY = new Uint8Array(0);
const ROW_OPS = new Set<string>(['put', 'delete', 'lock']);

/** A CDC event as a ChangefeedEvent message (proto3 has no "absent bytes": `has_*` flags say it). */
export function eventMessage(e: CdcEvent): Raw {
  switch (e.type) {
    case 'resolvedTs':
      return { type: e.type, regionId: String(e.regionId), ts: e.ts.toString() };
    case 'globalResolvedTs':
      return { type: e.type, ts: e.ts.toString() };
    case 'rollback':
      return { type: e.type, regionId: String(e.regionId), key: e.key, startTs: e.startTs.toString() };
    case 'prewrite':
      return { type: e.type, regionId: String(e.regionId), key: e.key, op: e.op, hasValue: e.value !== undefined, value: e.value ?? EMPTY, startTs: e.startTs.toString() };
    case 'commit':
    case 'committed': {
      const requested = 'oldValue' in e;
      return {
        type: e.type,
        regionId: String(e.regionId),
        key: e.key,
        op: e.op,
        hasValue: e.value !== undefined,
        value: e.value ?? EMPTY,
        startTs: e.startTs.toString(),
        commitTs: e.commitTs.toString(),
        oldValueRequested: requested,
        hasOldValue: requested && e.oldValue !== undefined,
        oldValue: (requested ? e.oldValue : undefined) ?? EMPTY,
      };
    }
  }
}

const big = (v: unknown): bigint => BigInt(String(v ?? '0'));
const bytesOf = (v: unknown): Uint8Array => (v instanceof Uint8Array ? v : EMPTY);

/** The client side: a ChangefeedEvent message back to the in-process CdcEvent shape. */
export function eventOf(m: Raw): CdcEvent {
  const type = String(m['type']);
  const regionId = Number(m['regionId'] ?? 0);
  switch (type) {
    case 'resolvedTs':
      return { type, regionId, ts: big(m['ts']) };
    case 'globalResolvedTs':
      return { type, ts: big(m['ts']) };
    case 'rollback':
      return { type, regionId, key: bytesOf(m['key']), startTs: big(m['startTs']) };
    case 'prewrite':
    case 'commit':
    case 'committed': {
      const op = String(m['op']);
      if (!ROW_OPS.has(op)) throw new Error(`changefeed event with unknown op "${op}"`);
      const value = m['hasValue'] === true ? bytesOf(m['value']) : undefined;
      if (type === 'prewrite') return { type, regionId, key: bytesOf(m['key']), op: op as RowOp, value, startTs: big(m['startTs']) };
      return {
        type,
        regionId,
        key: bytesOf(m['key']),
        op: op as RowOp,
        value,
        startTs: big(m['startTs']),
        commitTs: big(m['commitTs']),
        ...(m['oldValueRequested'] === true ? { oldValue: m['hasOldValue'] === true ? bytesOf(m['oldValue']) : undefined } : {}),
      };
    }
    default:
      throw new Error(`changefeed event of unknown type "${type}"`);
  }
}
