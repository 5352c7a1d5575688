import {
  COLUMN_FAMILIES,
  WriteBatch,
  compareBytes,
  type BatchOp,
  type ColumnFamily,
  type EngineIterator,
  type EngineReader,
  type EngineSnapshot,
  type IterOptions,
  type StorageEngine,
} from '../engine/index.js';
import { avaTest } from './ava.js';
import { bytesEqual, showKey, showValue } from './bytes.js';
import { ReferenceEngine } from './reference-engine.js';
import { Rng, testSeed } from './rng.js';

/**
 * Differential testing of a storage engine against ReferenceEngine (STYLE.md habit 7):
 * a seeded list of steps is generated first, then played on both engines, every read
 * compared. Steps are plain data so an engine's own tests can replay, filter or extend them
 * (crash and reopen for the LSM engine) and so a failure can print the exact step.
 */

/** Which reader a read step uses: the live engine or a held snapshot, by id. */
export type ReaderRef = 'engine' | number;

export type IterMove =
  | { readonly move: 'first' | 'last' | 'next' | 'prev' }
  | { readonly move: 'seek' | 'seekForPrev'; readonly key: Uint8Array };

export type DiffStep =
  | { readonly kind: 'write'; readonly ops: readonly BatchOp[]; readonly sync: boolean }
  /** Take a snapshot on both engines and hold it under `id` (ids count up from 0). */
  | { readonly kind: 'snapshot'; readonly id: number }
  /** Release snapshot `id`; it may already be released (release is idempotent). */
  | { readonly kind: 'release'; readonly id: number }
  | { readonly kind: 'get'; readonly reader: ReaderRef; readonly cf: ColumnFamily; readonly key: Uint8Array }
  /** Open an iterator and play `moves`; next/prev are skipped while the iterator is not valid. */
  | {
      readonly kind: 'scan';
      readonly reader: ReaderRef;
      readonly cf: ColumnFamily;
      readonly options: IterOptions;
      readonly moves: readonly IterMove[];
    }
  /** Compare the whole content of the engine and of every held snapshot. */
  | { readonly kind: 'check' }
  /** Release every held snapshot, then close and reopen the engine (persistent engines only). */
  | { readonly kind: 'reopen' };

export interface DiffGenOptions {
  /** Emit deleteRange ops. Default true. */
  readonly deleteRange?: boolean;
  /** Emit reopen steps. Default false. */
  readonly reopen?: boolean;
  /** Bytes keys are made of. Few bytes and short keys make keys collide, which is the point. */
  readonly keyAlphabet?: readonly number[];
  readonly maxKeyLength?: number;
  readonly maxValueLength?: number;
  readonly maxBatchOps?: number;
  /** Most snapshots held at once. */
  readonly maxSnapshots?: number;
}

// 0x00, 0x01 and 0xfe, 0xff sit at the edges of byte order where off-by-one comparisons hide.
const DEFAULT_ALPHABET: readonly number[] = [0x00, 0x01, 0x61, 0x62, 0xfe, 0xff];
// Skewed toward two families so each sees enough traffic to build up state.
const CF_CHOICE: readonly ColumnFamily[] = ['default', 'default', 'default', 'write', 'write', 'lock', 'raft'];

function genKey(rng: Rng, alphabet: readonly number[], maxLen: number): Uint8Array {
  const len = rng.int(maxLen + 1);
  const key = new Uint8Array(len);
  for (let i = 0; i < len; i++) key[i] = rng.pick(alphabet);
  return key;
}

/** A seeded list of `count` steps. The same rng state and options give the same steps. */
export function generateSteps(rng: Rng, count: number, options: DiffGenOptions = {}): DiffStep[] {
  const alphabet = options.keyAlphabet ?? DEFAULT_ALPHABET;
  const maxKeyLength = options.maxKeyLength ?? 3;
  const maxValueLength = options.maxValueLength ?? 300;
  const maxBatchOps = options.maxBatchOps ?? 8;
  const maxSnapshots = options.maxSnapshots ?? 6;
  const withDeleteRange = options.deleteRange ?? true;
  const key = (): Uint8Array => genKey(rng, alphabet, maxKeyLength);
  const value = (): Uint8Array => rng.bytes(rng.chance(0.3) ? rng.int(9) : rng.int(maxValueLength + 1));

  const live: number[] = [];
  let nextId = 0;
  const reader = (): ReaderRef => (live.length > 0 && rng.chance(0.4) ? rng.pick(live) : 'engine');
  const steps: DiffStep[] = [];

  while (steps.length < count) {
    const roll = rng.int(100);
    if (roll < 36) {
      const ops: BatchOp[] = [];
      const n = rng.chance(0.04) ? 0 : rng.between(1, maxBatchOps);
      for (let i = 0; i < n; i++) {
        const cf = rng.pick(CF_CHOICE);
        const kind = rng.int(100);
        if (withDeleteRange && kind < 15) {
          let start = key();
          let end = key();
          // Mostly proper ranges; the rest may be empty or inverted, which must delete nothing.
          if (rng.chance(0.8) && compareBytes(start, end) > 0) [start, end] = [end, start];
          ops.push({ op: 'deleteRange', cf, start, end });
        } else if (kind < 40) {
          ops.push({ op: 'delete', cf, key: key() });
        } else {
          ops.push({ op: 'put', cf, key: key(), value: value() });
        }
      }
      steps.push({ kind: 'write', ops, sync: rng.chance(0.1) });
    } else if (roll < 60) {
      steps.push({ kind: 'get', reader: reader(), cf: rng.pick(CF_CHOICE), key: key() });
    } else if (roll < 80) {
      const options: { lower?: Uint8Array; upper?: Uint8Array } = {};
      if (rng.chance(0.5)) options.lower = key();
      if (rng.chance(0.5)) options.upper = key();
      const moves: IterMove[] = [];
      const start = rng.int(4);
      if (start === 0) moves.push({ move: 'first' });
      else if (start === 1) moves.push({ move: 'last' });
      else moves.push({ move: start === 2 ? 'seek' : 'seekForPrev', key: key() });
      const n = rng.between(2, 14);
      for (let i = 0; i < n; i++) {
        const m = rng.int(100);
        if (m < 36) moves.push({ move: 'next' });
        else if (m < 72) moves.push({ move: 'prev' });
        else if (m < 82) moves.push({ move: 'seek', key: key() });
        else if (m < 92) moves.push({ move: 'seekForPrev', key: key() });
        else moves.push({ move: m < 96 ? 'first' : 'last' });
      }
      steps.push({ kind: 'scan', reader: reader(), cf: rng.pick(CF_CHOICE), options, moves });
    } else if (roll < 88) {
      if (live.length < maxSnapshots) {
        live.push(nextId);
        steps.push({ kind: 'snapshot', id: nextId++ });
      }
    } else if (roll < 94) {
      if (nextId > 0) {
        // Now and then release one that is already gone: release must be idempotent.
        const id = live.length > 0 && rng.chance(0.85) ? rng.pick(live) : rng.int(nextId);
        const at = live.indexOf(id);
        if (at >= 0) live.splice(at, 1);
        steps.push({ kind: 'release', id });
      }
    } else if (roll < 97 || !options.reopen) {
      steps.push({ kind: 'check' });
    } else {
      live.length = 0;
      steps.push({ kind: 'reopen' });
    }
  }
  return steps;
}

function showReader(r: ReaderRef): string {
  return r === 'engine' ? 'engine' : `snapshot #${r}`;
}

function showBounds(o: IterOptions): string {
  return `[${o.lower ? showKey(o.lower) : '-inf'}, ${o.upper ? showKey(o.upper) : '+inf'})`;
}

function showMove(m: IterMove): string {
  return m.move === 'seek' || m.move === 'seekForPrev' ? `${m.move} ${showKey(m.key)}` : m.move;
}

export function describeOp(op: BatchOp): string {
  switch (op.op) {
    case 'put':
      return `put ${op.cf} ${showKey(op.key)}=${showValue(op.value)}`;
    case 'delete':
      return `delete ${op.cf} ${showKey(op.key)}`;
    case 'deleteRange':
      return `deleteRange ${op.cf} [${showKey(op.start)}, ${showKey(op.end)})`;
  }
}

/** One line naming a step precisely enough to rebuild it by hand. */
export function describeStep(step: DiffStep): string {
  switch (step.kind) {
    case 'write':
      return `write${step.sync ? ' (sync)' : ''} {${step.ops.map(describeOp).join('; ')}}`;
    case 'snapshot':
      return `take snapshot #${step.id}`;
    case 'release':
      return `release snapshot #${step.id}`;
    case 'get':
      return `get ${step.cf} ${showKey(step.key)} on ${showReader(step.reader)}`;
    case 'scan':
      return `iterate ${step.cf} ${showBounds(step.options)} on ${showReader(step.reader)}: ${step.moves.map(showMove).join(', ')}`;
    case 'check':
      return 'compare everything';
    case 'reopen':
      return 'reopen';
  }
}

/** Two engines (or snapshots) disagree. `seed`, `step` and `op` are set by the differential run. */
export class EngineMismatchError extends Error {
  readonly detail: string;
  readonly seed: number | undefined;
  readonly step: number | undefined;
  readonly op: string | undefined;
  /** The engine under test when the run stopped (after a reopen, not the one passed in). */
  readonly engine: StorageEngine | undefined;

  constructor(
    detail: string,
    context: { seed?: number; step?: number; steps?: number; op?: string; engine?: StorageEngine; cause?: unknown } = {},
  ) {
    const where =
      context.seed === undefined
        ? ''
        : `seed ${context.seed} (replay with SEED=${context.seed}), step ${context.step}${context.steps === undefined ? '' : ` of ${context.steps}`}: ${context.op}\n  `;
    super(`${where}${detail}`, context.cause === undefined ? undefined : { cause: context.cause });
    this.name = 'EngineMismatchError';
    this.detail = detail;
    this.seed = context.seed;
    this.step = context.step;
    this.op = context.op;
    this.engine = context.engine;
  }
}

function readAll(reader: EngineReader, cf: ColumnFamily, reverse: boolean): Array<[Uint8Array, Uint8Array]> {
  const it = reader.iterator(cf);
  try {
    const out: Array<[Uint8Array, Uint8Array]> = [];
    // Copies: the contract lets an engine hand out views it reuses after the next move.
    for (let ok = reverse ? it.last() : it.first(); ok; ok = reverse ? it.prev() : it.next()) {
      out.push([it.key().slice(), it.value().slice()]);
    }
    return out;
  } finally {
    it.close();
  }
}

function showEntry(e: [Uint8Array, Uint8Array] | undefined): string {
  return e === undefined ? 'end' : `${showKey(e[0])}=${showValue(e[1])}`;
}

/**
 * Throws EngineMismatchError unless `actual` holds exactly what `expected` holds in every
 * column family (or in `options.cfs`): forward and backward walks, and a point read of every key.
 * Works on engines and snapshots alike, e.g. an LSM engine after reopen against the model.
 */
export function compareEngines(
  actual: EngineReader,
  expected: EngineReader,
  options: { readonly cfs?: readonly ColumnFamily[]; readonly label?: string } = {},
): void {
  const label = options.label === undefined ? '' : `${options.label}: `;
  for (const cf of options.cfs ?? COLUMN_FAMILIES) {
    const want = readAll(expected, cf, false);
    for (const reverse of [false, true]) {
      const got = readAll(actual, cf, reverse);
      const wantDir = reverse ? want.slice().reverse() : want;
      const n = Math.max(got.length, wantDir.length);
      for (let i = 0; i < n; i++) {
        const g = got[i];
        const w = wantDir[i];
        if (g === undefined || w === undefined || !bytesEqual(g[0], w[0]) || !bytesEqual(g[1], w[1])) {
          throw new EngineMismatchError(
            `${label}${cf} walked ${reverse ? 'backward' : 'forward'}, entry ${i}: engine has ${showEntry(g)}, reference has ${showEntry(w)} ` +
              `(engine ${got.length} entries, reference ${wantDir.length})`,
          );
        }
      }
    }
    for (const [key, value] of want) {
      const got = actual.get(cf, key);
      if (got === undefined || !bytesEqual(got, value)) {
        throw new EngineMismatchError(`${label}get ${cf} ${showKey(key)}: engine has ${showValue(got)}, reference has ${showValue(value)}`);
      }
    }
  }
}

/** The WriteBatch holding `ops` in order (for harnesses that play generated steps). */
export function writeBatchOf(ops: readonly BatchOp[]): WriteBatch {
  const b = new WriteBatch();
  for (const op of ops) {
    if (op.op === 'put') b.put(op.cf, op.key, op.value);
    else if (op.op === 'delete') b.delete(op.cf, op.key);
    else b.deleteRange(op.cf, op.start, op.end);
  }
  return b;
}

function position(it: EngineIterator): string {
  return it.valid() ? showEntry([it.key(), it.value()]) : 'invalid';
}

function playScan(a: EngineIterator, b: EngineIterator, moves: readonly IterMove[], names: readonly [string, string]): void {
  for (let i = 0; i < moves.length; i++) {
    const m = moves[i]!;
    if ((m.move === 'next' || m.move === 'prev') && !b.valid() && !a.valid()) continue;
    const ra = move(a, m);
    const rb = move(b, m);
    const pa = position(a);
    const pb = position(b);
    if (ra !== rb || pa !== pb || ra !== a.valid()) {
      throw new EngineMismatchError(
        `after move ${i} (${showMove(m)}): ${names[0]} returned ${ra} at ${pa}, ${names[1]} returned ${rb} at ${pb}`,
      );
    }
  }
}

/**
 * Plays one read step (`get`, or `scan` with its moves) on two readers and throws
 * EngineMismatchError, naming them by `names`, where they differ. For harnesses that play the
 * steps themselves (crash-and-reopen in an engine's own tests).
 */
export function compareRead(
  step: Extract<DiffStep, { kind: 'get' | 'scan' }>,
  a: EngineReader,
  b: EngineReader,
  names: readonly [string, string] = ['engine', 'reference'],
): void {
  if (step.kind === 'get') {
    const va = a.get(step.cf, step.key);
    const vb = b.get(step.cf, step.key);
    if (va === undefined ? vb !== undefined : vb === undefined || !bytesEqual(va, vb)) {
      throw new EngineMismatchError(`${names[0]} read ${showValue(va)}, ${names[1]} read ${showValue(vb)}`);
    }
    return;
  }
  const ia = a.iterator(step.cf, step.options);
  const ib = b.iterator(step.cf, step.options);
  try {
    playScan(ia, ib, step.moves, names);
  } finally {
    ia.close();
    ib.close();
  }
}

function move(it: EngineIterator, m: IterMove): boolean {
  switch (m.move) {
    case 'first':
      return it.first();
    case 'last':
      return it.last();
    case 'next':
      return it.next();
    case 'prev':
      return it.prev();
    case 'seek':
      return it.seek(m.key);
    case 'seekForPrev':
      return it.seekForPrev(m.key);
  }
}

export interface DifferentialOptions {
  /** The engine under test, fresh and empty unless `reference` holds the same content. */
  readonly engine: StorageEngine;
  /** The model; a new ReferenceEngine by default. */
  readonly reference?: StorageEngine;
  readonly steps: readonly DiffStep[];
  /** Only for messages: the seed the steps came from. */
  readonly seed: number;
  /** Close and reopen the engine's location; required if `steps` hold reopen steps. */
  readonly reopen?: (engine: StorageEngine) => Promise<StorageEngine>;
}

export interface DifferentialResult {
  /** The engine under test at the end (a reopen replaces it); the caller closes it. */
  readonly engine: StorageEngine;
  readonly counts: Readonly<Record<DiffStep['kind'], number>>;
}

/**
 * Plays `steps` on the engine and on the reference, comparing every read, and finishes with
 * a full comparison. Throws EngineMismatchError carrying the seed, the step number and the
 * step, on the first disagreement or on any error the engine throws that the model did not.
 */
export async function runDifferential(options: DifferentialOptions): Promise<DifferentialResult> {
  const reference = options.reference ?? new ReferenceEngine();
  const { steps, seed } = options;
  let engine = options.engine;
  const held = new Map<number, { a: EngineSnapshot; b: EngineSnapshot }>();
  const taken = new Map<number, { a: EngineSnapshot; b: EngineSnapshot }>();
  const counts: Record<DiffStep['kind'], number> = { write: 0, snapshot: 0, release: 0, get: 0, scan: 0, check: 0, reopen: 0 };

  const readers = (r: ReaderRef): { a: EngineReader; b: EngineReader } => {
    if (r === 'engine') return { a: engine, b: reference };
    const pair = held.get(r);
    if (pair === undefined) throw new TypeError(`step reads snapshot #${r}, which is not held: the steps are malformed`);
    return pair;
  };
  const checkAll = (): void => {
    compareEngines(engine, reference, { label: 'engine' });
    for (const [id, pair] of held) compareEngines(pair.a, pair.b, { label: `snapshot #${id}` });
  };

  let index = 0;
  try {
    for (; index <= steps.length; index++) {
      // One extra round after the last step: the closing full comparison.
      const step: DiffStep = index < steps.length ? steps[index]! : { kind: 'check' };
      counts[step.kind]++;
      switch (step.kind) {
        case 'write':
          await reference.write(writeBatchOf(step.ops), { sync: step.sync });
          await engine.write(writeBatchOf(step.ops), { sync: step.sync });
          break;
        case 'snapshot': {
          const pair = { a: engine.snapshot(), b: reference.snapshot() };
          held.set(step.id, pair);
          taken.set(step.id, pair);
          break;
        }
        case 'release': {
          const pair = taken.get(step.id);
          if (pair === undefined) throw new TypeError(`step releases snapshot #${step.id}, never taken: the steps are malformed`);
          pair.a.release();
          pair.b.release();
          held.delete(step.id);
          break;
        }
        case 'get':
        case 'scan': {
          const { a, b } = readers(step.reader);
          compareRead(step, a, b);
          break;
        }
        case 'check':
          checkAll();
          break;
        case 'reopen': {
          if (options.reopen === undefined) throw new TypeError('a reopen step needs the reopen option');
          for (const pair of held.values()) {
            pair.a.release();
            pair.b.release();
          }
          held.clear();
          engine = await options.reopen(engine);
          checkAll();
          break;
        }
      }
    }
  } catch (e) {
    const op = index < steps.length ? describeStep(steps[index]!) : 'final comparison';
    const detail = e instanceof EngineMismatchError ? e.detail : `engine threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
    throw new EngineMismatchError(detail, { seed, step: index, steps: steps.length, op, engine, cause: e });
  } finally {
    for (const pair of held.values()) {
      pair.a.release();
      pair.b.release();
    }
    if (options.reference === undefined) await reference.close();
  }
  return { engine, counts };
}

export interface EngineDifferentialOptions {
  /** Prefix of the test title. */
  readonly name: string;
  /** A fresh, empty engine. */
  readonly factory: () => StorageEngine | Promise<StorageEngine>;
  /** Number of steps. Default 600. */
  readonly ops?: number;
  /** Fixed seed; `SEED` in the environment overrides it, otherwise a fresh one per run. */
  readonly seed?: number;
  /** Close and reopen the same location; used only when the engine declares `persistent`. */
  readonly reopen?: (engine: StorageEngine) => Promise<StorageEngine>;
  /** Overrides of the step generator (capability switches are set from the engine). */
  readonly gen?: Omit<DiffGenOptions, 'deleteRange' | 'reopen'>;
}

/** Registers one ava test: a seeded differential run of the engine against ReferenceEngine. */
export function runEngineDifferential(options: EngineDifferentialOptions): void {
  const test = avaTest();
  test(`${options.name}: differential against ReferenceEngine`, async (t) => {
    const seed = process.env['SEED'] !== undefined && process.env['SEED'].trim() !== '' ? testSeed() : (options.seed ?? testSeed());
    t.log(`seed ${seed} (replay with SEED=${seed})`);
    const engine = await options.factory();
    const reopen = engine.capabilities.persistent ? options.reopen : undefined;
    const steps = generateSteps(new Rng(seed), options.ops ?? 600, {
      ...options.gen,
      deleteRange: engine.capabilities.deleteRange,
      reopen: reopen !== undefined,
    });
    let current = engine;
    try {
      const result = await runDifferential(reopen === undefined ? { engine, steps, seed } : { engine, steps, seed, reopen });
      current = result.engine;
      t.log(`steps played: ${JSON.stringify(result.counts)}`);
      t.is(result.counts.write + result.counts.get + result.counts.scan + result.counts.snapshot + result.counts.release + result.counts.check + result.counts.reopen, steps.length + 1);
    } catch (e) {
      if (e instanceof EngineMismatchError && e.engine !== undefined) current = e.engine;
      throw e;
    } finally {
      await current.close();
    }
  });
}
