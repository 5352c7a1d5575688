import { CorruptedError, type WriteBatch } from '@flashkv/core';
import { getU64, getVarint, putU64, varintLen } from './coding.js';
import { CF_ID, KIND_DELETE, KIND_DELETE_RANGE, KIND_PUT } from './keys.js';

/**
 * A WAL record is one write batch:
 *   seq : u64 LE | count : varint | op*
 *   op  := kind : u8 | varint len(cf ++ key) | cf : u8 | key
 *          [put: varint len(value) | value]
 *          [deleteRange: varint len(cf ++ end) | cf : u8 | end]
 * The prefixed key is contiguous so the memtable can keep views into the record instead of
 * copying every key and value a second time.
 */
export function encodeBatch(batch: WriteBatch): Uint8Array {
  const ops = batch.ops;
  let size = 8 + varintLen(ops.length);
  for (const op of ops) {
    if (op.op === 'put') size += 1 + varintLen(op.key.length + 1) + 1 + op.key.length + varintLen(op.value.length) + op.value.length;
    else if (op.op === 'delete') size += 1 + varintLen(op.key.length + 1) + 1 + op.key.length;
    else size += 2 + varintLen(op.start.length + 1) + op.start.length + 1 + varintLen(op.end.length + 1) + op.end.length;
  }
  const out = new Uint8Array(size);
  let p = 8;
  const varint = (v: number) => {
    while (v >= 0x80) {
      out[p++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    out[p++] = v;
  };
  varint(ops.length);
  for (const op of ops) {
    const cf = CF_ID[op.cf];
    if (op.op === 'put') {
      out[p++] = KIND_PUT;
      varint(op.key.length + 1);
      out[p++] = cf;
      out.set(op.key, p);
      p += op.key.length;
      varint(op.value.length);
      out.set(op.value, p);
      p += op.value.length;
    } else if (op.op === 'delete') {
      out[p++] = KIND_DELETE;
      varint(op.key.length + 1);
      out[p++] = cf;
      out.set(op.key, p);
      p += op.key.length;
    } else {
      out[p++] = KIND_DELETE_RANGE;
      varint(op.start.length + 1);
      out[p++] = cf;
      out.set(op.start, p);
      p += op.start.length;
      varint(op.end.length + 1);
      out[p++] = cf;
      out.set(op.end, p);
      p += op.end.length;
    }
  }
  return out;
}

export function setBatchSeq(record: Uint8Array, seq: number): void {
  putU64(record, 0, seq);
}

export function batchSeq(record: Uint8Array): number {
  return getU64(record, 0);
}

/** Receives a decoded op; `key`, `value` and `end` are views into the record. */
export type BatchVisitor = (kind: number, key: Uint8Array, valueOrEnd: Uint8Array | null) => void;

/** Decodes a batch record into views; throws CorruptedError (with `where`) if it does not parse. */
export function decodeBatch(record: Uint8Array, where: string, visit: BatchVisitor): number {
  return decodeBatchRaw(record, where, (kind, ko, kl, vo, vl) =>
    visit(kind, record.subarray(ko, ko + kl), kind === KIND_DELETE ? null : record.subarray(vo, vo + vl)),
  );
}

/**
 * Receives a decoded op as offsets into the record (no views allocated): the prefixed key is
 * record[ko, ko + kl); the value (put) or prefixed end key (deleteRange) is record[vo, vo + vl).
 */
export type RawBatchVisitor = (kind: number, ko: number, kl: number, vo: number, vl: number) => void;

export function decodeBatchRaw(record: Uint8Array, where: string, visit: RawBatchVisitor): number {
  const bad = (why: string): never => {
    throw new CorruptedError(`batch record in ${where}: ${why}`, { where, reason: why });
  };
  if (record.length < 9) bad('shorter than its header');
  const cur = { pos: 8 };
  const count = getVarint(record, cur);
  if (count < 0) bad('bad op count');
  const span = (): number => {
    const n = getVarint(record, cur);
    if (n < 0 || cur.pos + n > record.length) bad('length runs past the record');
    cur.pos += n;
    return n;
  };
  for (let i = 0; i < count; i++) {
    if (cur.pos >= record.length) bad(`ends after ${i} of ${count} ops`);
    const kind = record[cur.pos++]!;
    const kl = span();
    const ko = cur.pos - kl;
    if (kl < 1 || record[ko]! > 3) bad('bad column family');
    if (kind === KIND_PUT || kind === KIND_DELETE_RANGE) {
      const vl = span();
      visit(kind, ko, kl, cur.pos - vl, vl);
    } else if (kind === KIND_DELETE) visit(kind, ko, kl, 0, 0);
    else bad(`unknown op kind ${kind}`);
  }
  if (cur.pos !== record.length) bad('trailing bytes');
  return count;
}
