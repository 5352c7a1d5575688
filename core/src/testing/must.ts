import { WriteBatch, type ColumnFamily, type EngineIterator, type EngineReader, type IterOptions, type StorageEngine } from '../engine/index.js';
import { bytes, latin1, showKey, showValue } from './bytes.js';

/**
 * `must*` helpers for engine tests (STYLE.md names): they return a value or throw with the
 * context needed to read the failure. Keys and values are given as latin1 strings (see bytes.ts).
 */

export function mustGet(reader: EngineReader, cf: ColumnFamily, key: string): string {
  const got = reader.get(cf, bytes(key));
  if (got === undefined) throw new Error(`mustGet: ${cf} ${showKey(bytes(key))} is missing`);
  return latin1(got);
}

export function mustGetNone(reader: EngineReader, cf: ColumnFamily, key: string): void {
  const got = reader.get(cf, bytes(key));
  if (got !== undefined) throw new Error(`mustGetNone: ${cf} ${showKey(bytes(key))} holds ${showValue(got)}`);
}

export async function mustPut(engine: StorageEngine, cf: ColumnFamily, key: string, value: string): Promise<void> {
  await engine.write(new WriteBatch().put(cf, bytes(key), bytes(value)));
}

/** Writes `[key, value]` pairs of one column family in one batch. */
export async function mustFill(engine: StorageEngine, cf: ColumnFamily, pairs: ReadonlyArray<readonly [string, string]>): Promise<void> {
  const batch = new WriteBatch();
  for (const [k, v] of pairs) batch.put(cf, bytes(k), bytes(v));
  await engine.write(batch);
}

/**
 * Every `[key, value]` in bounds, walked forward; throws unless the backward walk is its
 * mirror image, so one call checks both directions.
 */
export function mustScan(reader: EngineReader, cf: ColumnFamily, options?: IterOptions): Array<[string, string]> {
  const forward = walkAll(reader, cf, options, false);
  const backward = walkAll(reader, cf, options, true).reverse();
  const a = JSON.stringify(forward);
  const b = JSON.stringify(backward);
  if (a !== b) throw new Error(`mustScan: ${cf} forward walk ${a} differs from backward walk reversed ${b}`);
  return forward;
}

/** Keys only, in order (both directions checked). */
export function mustKeys(reader: EngineReader, cf: ColumnFamily, options?: IterOptions): string[] {
  return mustScan(reader, cf, options).map(([k]) => k);
}

function walkAll(reader: EngineReader, cf: ColumnFamily, options: IterOptions | undefined, reverse: boolean): Array<[string, string]> {
  const it = reader.iterator(cf, options);
  try {
    const out: Array<[string, string]> = [];
    for (let ok = reverse ? it.last() : it.first(); ok; ok = reverse ? it.prev() : it.next()) {
      out.push([latin1(it.key()), latin1(it.value())]);
    }
    return out;
  } finally {
    it.close();
  }
}

export type Move = readonly ['first' | 'last' | 'next' | 'prev'] | readonly ['seek' | 'seekForPrev', string];

/**
 * Plays iterator moves and returns, per move, the key it landed on or null when off the end.
 * Throws if a move's return value disagrees with `valid()`.
 */
export function mustWalk(it: EngineIterator, moves: readonly Move[]): Array<string | null> {
  return moves.map((m) => {
    let ok: boolean;
    switch (m[0]) {
      case 'first':
        ok = it.first();
        break;
      case 'last':
        ok = it.last();
        break;
      case 'next':
        ok = it.next();
        break;
      case 'prev':
        ok = it.prev();
        break;
      case 'seek':
        ok = it.seek(bytes(m[1]!));
        break;
      case 'seekForPrev':
        ok = it.seekForPrev(bytes(m[1]!));
        break;
    }
    if (ok !== it.valid()) throw new Error(`mustWalk: ${m.join(' ')} returned ${ok} but valid() is ${it.valid()}`);
    return ok ? latin1(it.key()) : null;
  });
}
