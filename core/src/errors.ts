/**
 * Every error FlashKV returns for a request is a KvError with a stable `code`
 * (DESIGN.md section 5). Programmer mistakes (wrong argument types) are plain TypeErrors.
 */
export type KvErrorCode =
  | 'KEY_IS_LOCKED'
  | 'WRITE_CONFLICT'
  // a pessimistic lock wait that would close a cycle of waiting txns (TiKV's KeyError.deadlock)
  | 'DEADLOCK'
  | 'ALREADY_EXIST'
  | 'TXN_NOT_FOUND'
  | 'TXN_LOCK_NOT_FOUND'
  | 'COMMITTED'
  | 'INVALID_TXN_TSO'
  | 'GC_TOO_EARLY'
  | 'FUTURE_TS'
  | 'FLASHBACK_IN_PROGRESS'
  | 'FLASHBACK_NOT_PREPARED'
  | 'NOT_LEADER'
  | 'EPOCH_NOT_MATCH'
  | 'REGION_NOT_FOUND'
  | 'KEY_TOO_LARGE'
  | 'SERVER_BUSY'
  | 'CORRUPTED'
  | 'CDC_LAGGING'
  | 'PLUGIN_MISSING'
  | 'ENGINE_CLOSED'
  // a storage engine's disk failed (EIO, ENOSPC); the engine refuses writes until reopened
  | 'IO_ERROR'
  // a storage directory is already open in a live engine (its LOCK file is held)
  | 'DIRECTORY_LOCKED'
  | 'KEY_NOT_IN_REGION'
  | 'INVALID_ARGUMENT'
  // kernel manifest and lifecycle errors (STYLE.md habit 8)
  | 'PLUGIN_INVALID'
  | 'PLUGIN_DUPLICATE'
  | 'PROVIDER_MISSING'
  | 'PROVIDER_DUPLICATE'
  | 'PLUGIN_CYCLE'
  | 'PLUGIN_VERSION'
  | 'PLUGIN_START_FAILED'
  | 'PLUGIN_STOP_FAILED'
  | 'KERNEL_STATE';

export class KvError extends Error {
  readonly code: KvErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: KvErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KvError';
    this.code = code;
    this.details = details;
  }
}

/** Bytes read from storage or the wire that do not decode. Never thrown for caller mistakes. */
export class CorruptedError extends KvError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('CORRUPTED', message, details);
    this.name = 'CorruptedError';
  }
}

export class InvalidArgumentError extends KvError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('INVALID_ARGUMENT', message, details);
    this.name = 'InvalidArgumentError';
  }
}

export class EngineClosedError extends KvError {
  constructor(engine: string) {
    super('ENGINE_CLOSED', `engine ${engine} is closed`, { engine });
    this.name = 'EngineClosedError';
  }
}

export function isKvError(e: unknown, code?: KvErrorCode): e is KvError {
  return e instanceof KvError && (code === undefined || e.code === code);
}
