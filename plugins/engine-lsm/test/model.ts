import { compareBytes, WriteBatch, type ColumnFamily, type EngineReader, type BatchOp } from '@flashkv/core';

/** A naive model of the engine: one sorted Map per family, copied for snapshots. */
export class Model {
  tables = new Map<ColumnFamily, Map<string, Uint8Array>>();

  static hex(b: Uint8Array): string {
    return Buffer.from(b).toString('hex');
  }

  table(cf: ColumnFamily): Map<string, Uint8Array> {
    let t = this.tables.get(cf);
    if (t === undefined) this.tables.set(cf, (t = new Map()));
    return t;
  }

  apply(ops: readonly BatchOp[]): void {
    for (const op of ops) {
      const t = this.table(op.cf);
      if (op.op === 'put') t.set(Model.hex(op.key), op.value.slice());
      else if (op.op === 'delete') t.delete(Model.hex(op.key));
      else {
        for (const k of [...t.keys()]) {
          const kb = Buffer.from(k, 'hex');
          if (compareBytes(kb, op.start) >= 0 && compareBytes(kb, op.end) < 0) t.delete(k);
        }
      }
    }
  }

  copy(): Model {
    const m = new Model();
    for (const [cf, t] of this.tables) m.tables.set(cf, new Map(t));
    return m;
  }

  entries(cf: ColumnFamily): [string, string][] {
    return [...this.table(cf).entries()].map(([k, v]) => [k, Model.hex(v)] as [string, string]).sort((a, b) => compareBytes(Buffer.from(a[0], 'hex'), Buffer.from(b[0], 'hex')));
  }
}

export function scanAll(r: EngineReader, cf: ColumnFamily, reverse = false): [string, string][] {
  const it = r.iterator(cf);
  const out: [string, string][] = [];
  for (let ok = reverse ? it.last() : it.first(); ok; ok = reverse ? it.prev() : it.next()) out.push([Model.hex(it.key()), Model.hex(it.value())]);
  it.close();
  return reverse ? out.reverse() : out;
}

export const FAMILIES: ColumnFamily[] = ['default', 'lock', 'write', 'raft'];

/** A random batch over a small key space (collisions are the point). */
export function randomBatch(r: () => number, maxOps: number, valueSize = 20): WriteBatch {
  const b = new WriteBatch();
  const n = 1 + Math.floor(r() * maxOps);
  const key = () => new Uint8Array(Array.from({ length: Math.floor(r() * 3) + 1 }, () => [0, 1, 0x61, 0x62, 0xff][Math.floor(r() * 5)]!));
  for (let i = 0; i < n; i++) {
    const cf = FAMILIES[Math.floor(r() * r() * 4)]!;
    const roll = r();
    if (roll < 0.65) b.put(cf, key(), new Uint8Array(Math.floor(r() * valueSize)).fill(Math.floor(r() * 256)));
    else if (roll < 0.93) b.delete(cf, key());
    else b.deleteRange(cf, key(), key());
  }
  return b;
}
