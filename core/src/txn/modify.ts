/**
 * Writes as data (STYLE.md habit 5, TiKV's `tikv_kv::Modify`): an action records Modifies, and a
 * separate layer (the engine directly, LocalConsensus, or raft) applies them. A Modify has the
 * shape of an engine `BatchOp` put or delete, so a list of them becomes one atomic WriteBatch.
 * Keys are data keys ('z' + encoded key [+ ~ts]), exactly as the engine stores them.
 */
import { WriteBatch, type ColumnFamily } from '../engine/index.js';

export type Modify =
  | { readonly op: 'put'; readonly cf: ColumnFamily; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly op: 'delete'; readonly cf: ColumnFamily; readonly key: Uint8Array };

/** Bytes a Modify adds to a write: what a raft-entry size limit is measured against. */
export function modifySize(m: Modify): number {
  return m.op === 'put' ? m.key.length + m.value.length : m.key.length;
}

/** Appends `modifies` in order to `batch` (a new one by default); later ops on a key win. */
export function toWriteBatch(modifies: readonly Modify[], batch: WriteBatch = new WriteBatch()): WriteBatch {
  for (const m of modifies) {
    if (m.op === 'put') batch.put(m.cf, m.key, m.value);
    else if (m.op === 'delete') batch.delete(m.cf, m.key);
    else throw new TypeError(`unknown modify op ${JSON.stringify((m as { op: unknown }).op)}`);
  }
  return batch;
}
