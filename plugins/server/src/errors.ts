import * as grpc from '@grpc/grpc-js';
import { KvError, type KvErrorCode } from '@flashkv/core';

/** Trailer keys that carry a KvError across the wire. */
export const ERROR_CODE_KEY = 'flashkv-error-code';
export const ERROR_DETAILS_KEY = 'flashkv-error-details';

/**
 * KvError code -> gRPC status. Retryable txn conflicts are ABORTED (gRPC's "retry at a higher
 * level"), region and state preconditions FAILED_PRECONDITION, overload UNAVAILABLE. Codes not
 * listed map to INTERNAL. The table is documented in plugins/server/README.md.
 */
export const STATUS_OF: Readonly<Partial<Record<KvErrorCode, grpc.status>>> = {
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  KEY_TOO_LARGE: grpc.status.INVALID_ARGUMENT,
  KEY_IS_LOCKED: grpc.status.ABORTED,
  WRITE_CONFLICT: grpc.status.ABORTED,
  DEADLOCK: grpc.status.ABORTED,
  TXN_LOCK_NOT_FOUND: grpc.status.ABORTED,
  ALREADY_EXIST: grpc.status.ALREADY_EXISTS,
  TXN_NOT_FOUND: grpc.status.NOT_FOUND,
  REGION_NOT_FOUND: grpc.status.NOT_FOUND,
  COMMITTED: grpc.status.FAILED_PRECONDITION,
  INVALID_TXN_TSO: grpc.status.FAILED_PRECONDITION,
  GC_TOO_EARLY: grpc.status.FAILED_PRECONDITION,
  FUTURE_TS: grpc.status.FAILED_PRECONDITION,
  FLASHBACK_IN_PROGRESS: grpc.status.FAILED_PRECONDITION,
  FLASHBACK_NOT_PREPARED: grpc.status.FAILED_PRECONDITION,
  NOT_LEADER: grpc.status.FAILED_PRECONDITION,
  EPOCH_NOT_MATCH: grpc.status.FAILED_PRECONDITION,
  KEY_NOT_IN_REGION: grpc.status.FAILED_PRECONDITION,
  SERVER_BUSY: grpc.status.UNAVAILABLE,
  ENGINE_CLOSED: grpc.status.UNAVAILABLE,
  CDC_LAGGING: grpc.status.UNAVAILABLE,
  CORRUPTED: grpc.status.DATA_LOSS,
  PLUGIN_MISSING: grpc.status.UNIMPLEMENTED,
};

function jsonSafe(v: unknown, depth = 0): unknown {
  if (depth > 4) return undefined;
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (Array.isArray(v)) return v.map((x) => jsonSafe(x, depth + 1));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = jsonSafe(x, depth + 1);
    return out;
  }
  return v;
}

/** A handler's failure as a gRPC status: KvErrors keep their code in the trailers; anything else is INTERNAL. */
export function toServiceError(e: unknown): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  if (e instanceof KvError) {
    metadata.set(ERROR_CODE_KEY, e.code);
    try {
      metadata.set(ERROR_DETAILS_KEY, JSON.stringify(jsonSafe(e.details)));
    } catch {
      // details that do not serialise are dropped; the code and message still go
    }
    return { code: STATUS_OF[e.code] ?? grpc.status.INTERNAL, details: `${e.code}: ${e.message}`, metadata };
  }
  // Storage reports caller mistakes as TypeErrors (STYLE.md): over the wire they are bad input.
  if (e instanceof TypeError || e instanceof RangeError || e instanceof SyntaxError) {
    metadata.set(ERROR_CODE_KEY, 'INVALID_ARGUMENT');
    return { code: grpc.status.INVALID_ARGUMENT, details: `INVALID_ARGUMENT: ${e.message}`, metadata };
  }
  return { code: grpc.status.INTERNAL, details: e instanceof Error ? e.message : String(e), metadata };
}

/** The client side: a KvError rebuilt from a failed call's trailers, or the gRPC error itself. */
export function fromServiceError(e: unknown): Error {
  const se = e as grpc.ServiceError;
  if (se === null || typeof se !== 'object' || typeof se.code !== 'number') return e instanceof Error ? e : new Error(String(e));
  const code = se.metadata?.get(ERROR_CODE_KEY)[0];
  if (typeof code === 'string') {
    let details: Record<string, unknown> = {};
    const raw = se.metadata.get(ERROR_DETAILS_KEY)[0];
    if (typeof raw === 'string') {
      try {
        details = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        details = {};
      }
    }
    const message = se.details.startsWith(`${code}: `) ? se.details.slice(code.length + 2) : se.details;
    return new KvError(code as KvErrorCode, message, { ...details, grpcStatus: se.code }, { cause: e });
  }
  return se;
}
