import { CorruptedError } from '@flashkv/core';
import type { ConfChange, ConfChangeType } from './types.js';

/**
 * A membership change travels through the log as an entry of type `confChange`. Its data is
 * 1 byte of format version, 1 byte of change type and the node id as a big-endian u64 (node ids
 * are safe integers, so the high word never exceeds 2^21), then the optional context: bytes the
 * core carries but never reads (the multi-raft store puts the peer's store and the region epoch
 * there).
 */
const FORMAT_VERSION = 1;
const TYPE_CODES: Record<ConfChangeType, number> = { addNode: 1, addLearner: 2, removeNode: 3 };
const CODE_TYPES: Record<number, ConfChangeType> = { 1: 'addNode', 2: 'addLearner', 3: 'removeNode' };

export function encodeConfChange(cc: ConfChange): Uint8Array {
  assertNodeId(cc.nodeId);
  const code = TYPE_CODES[cc.type];
  if (code === undefined) throw new TypeError(`unknown conf change type ${String(cc.type)}`);
  const ctx = cc.context;
  if (ctx !== undefined && !(ctx instanceof Uint8Array)) throw new TypeError('conf change context must be a Uint8Array');
  const out = new Uint8Array(10 + (ctx?.length ?? 0));
  const view = new DataView(out.buffer);
  if (ctx !== undefined) out.set(ctx, 10);
  out[0] = FORMAT_VERSION;
  out[1] = code;
  view.setUint32(2, Math.floor(cc.nodeId / 0x1_0000_0000));
  view.setUint32(6, cc.nodeId >>> 0);
  return out;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  if (data.length < 10 || data[0] !== FORMAT_VERSION) {
    throw new CorruptedError('conf change entry does not decode', { length: data.length, version: data[0] });
  }
  const type = CODE_TYPES[data[1]!];
  if (type === undefined) throw new CorruptedError('unknown conf change type code', { code: data[1] });
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const nodeId = view.getUint32(2) * 0x1_0000_0000 + view.getUint32(6);
  return data.length > 10 ? { type, nodeId, context: data.slice(10) } : { type, nodeId };
}

export function assertNodeId(id: unknown): asserts id is number {
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0) {
    throw new TypeError(`a raft node id is a positive safe integer, got ${String(id)}`);
  }
}
