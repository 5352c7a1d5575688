import {
  COLUMN_FAMILIES,
  compareBytes,
  WriteBatch,
  type BatchOp,
  type ColumnFamily,
  type EngineReader,
  type EngineSnapshot,
} from '@flashkv/core';
import { compareEngines, compareRead, writeBatchOf, describeStep, EngineMismatchError, Rng, type DiffStep, type IterMove, type ReaderRef } from '@flashkv/core/testing';
import { MemoryEngine } from '@flashkv/engine-memory';
import { LsmEngine, type LsmOptions } from '../src/engine.js';
import { CrashFS, Disk } from './crash-fs.js';

/**
 * The LSM engine's own differential run against engine-memory: the core step kinds plus the
 * ones only a persistent LSM has (explicit flush, full compaction, clean reopen, and a crash
 * that drops unsynced bytes). Steps are generated lazily, so a run of millions holds only
 * the state it needs.
 */
export type LsmStep = DiffStep | { readonly kind: 'flush' } | { readonly kind: 'compact' } | { readonly kind: 'crash' };

export interface LsmGenOptions {
  /** Percent of steps that crash (cut the power) or cleanly reopen. */
  readonly crashPercent?: number;
  readonly reopenPercent?: number;
  readonly flushPercent?: number;
  readonly compactPercent?: number;
  /** Percent of steps that compare everything (costly: every key of every family). */
  readonly checkPercent?: number;
  readonly maxValueLength?: number;
}

const ALPHABET: readonly number[] = [0x00, 0x01, 0x61, 0x62, 0xfe, 0xff];
const CFS: readonly ColumnFamily[] = ['default', 'default', 'default', 'write', 'write', 'lock', 'raft'];

function key(rng: Rng): Uint8Array {
  const k = new Uint8Array(rng.int(4));
  for (let i = 0; i < k.length; i++) k[i] = rng.pick(ALPHABET);
  return k;
}

/** `count` seeded steps; the same seed gives the same steps whatever the engine options. */
export function* lsmSteps(rng: Rng, count: number, o: LsmGenOptions = {}): Generator<LsmStep> {
  const crash = o.crashPercent ?? 0.5;
  const reopen = o.reopenPercent ?? 0.3;
  const flush = o.flushPercent ?? 1;
  const compact = o.compactPercent ?? 0.3;
  const check = o.checkPercent ?? 1;
  const maxValue = o.maxValueLength ?? 120;
  const live: number[] = [];
  let nextId = 0;
  const reader = (): ReaderRef => (live.length > 0 && rng.chance(0.35) ? rng.pick(live) : 'engine');
  for (let made = 0; made < count; made++) {
    const roll = rng.float() * 100;
    let p = 0;
    if (roll < (p += crash)) {
      live.length = 0;
      yield { kind: 'crash' };
    } else if (roll < (p += reopen)) {
      live.length = 0;
      yield { kind: 'reopen' };
    } else if (roll < (p += flush)) {
      yield { kind: 'flush' };
    } else if (roll < (p += compact)) {
      yield { kind: 'compact' };
    } else if (roll < (p += check)) {
      yield { kind: 'check' };
    } else if (roll < (p += 40)) {
      const ops: BatchOp[] = [];
      const n = rng.chance(0.03) ? 0 : rng.between(1, 8);
      for (let i = 0; i < n; i++) {
        const cf = rng.pick(CFS);
        const k = rng.int(100);
        if (k < 8) {
          let start = key(rng);
          let end = key(rng);
          if (rng.chance(0.85) && compareBytes(start, end) > 0) [start, end] = [end, start];
          ops.push({ op: 'deleteRange', cf, start, end });
        } else if (k < 35) {
          ops.push({ op: 'delete', cf, key: key(rng) });
        } else {
          ops.push({ op: 'put', cf, key: key(rng), value: rng.bytes(rng.chance(0.4) ? rng.int(8) : rng.int(maxValue + 1)) });
        }
      }
      yield { kind: 'write', ops, sync: rng.chance(0.08) };
    } else if (roll < (p += 22)) {
      yield { kind: 'get', reader: reader(), cf: rng.pick(CFS), key: key(rng) };
    } else if (roll < (p += 22)) {
      const options: { lower?: Uint8Array; upper?: Uint8Array } = {};
      if (rng.chance(0.5)) options.lower = key(rng);
      if (rng.chance(0.5)) options.upper = key(rng);
      const moves: IterMove[] = [];
      const s = rng.int(4);
      moves.push(s === 0 ? { move: 'first' } : s === 1 ? { move: 'last' } : { move: s === 2 ? 'seek' : 'seekForPrev', key: key(rng) });
      for (let i = rng.between(2, 12); i > 0; i--) {
        const m = rng.int(100);
        if (m < 38) moves.push({ move: 'next' });
        else if (m < 76) moves.push({ move: 'prev' });
        else if (m < 86) moves.push({ move: 'seek', key: key(rng) });
        else if (m < 96) moves.push({ move: 'seekForPrev', key: key(rng) });
        else moves.push({ move: m < 98 ? 'first' : 'last' });
      }
      yield { kind: 'scan', reader: reader(), cf: rng.pick(CFS), options, moves };
    } else if (roll < (p += 8)) {
      if (live.length < 6) {
        live.push(nextId);
        yield { kind: 'snapshot', id: nextId++ };
      } else made--;
    } else {
      if (live.length > 0) {
        const id = live.splice(rng.int(live.length), 1)[0]!;
        yield { kind: 'release', id };
      } else made--;
    }
  }
}

export function describeLsmStep(s: LsmStep): string {
  switch (s.kind) {
    case 'flush':
      return 'flush the memtable';
    case 'compact':
      return 'compact everything';
    case 'crash':
      return 'crash (drop unsynced bytes, torn tails) and reopen';
    default:
      return describeStep(s);
  }
}


export interface LsmDiffOptions {
  readonly seed: number;
  readonly steps: Iterable<LsmStep>;
  readonly dir: string;
  /** Engine options (no dir, no fs: crash mode brings its own fs). */
  readonly engine: Omit<LsmOptions, 'dir' | 'fs'>;
  /**
   * Crash steps cut the power through CrashFS (needs inline compaction); without it they
   * become clean reopens (a compaction worker writes through node:fs directly).
   */
  readonly crash: boolean;
}

export interface LsmDiffResult {
  readonly counts: Record<LsmStep['kind'], number>;
  readonly batchOps: number;
  /** Acknowledged unsynced writes a crash took away (allowed: nothing promised them). */
  readonly lostWrites: number;
  readonly tornBytes: number;
  readonly flushes: number;
  readonly compactions: number;
}

/**
 * Plays `steps` on LsmEngine and on MemoryEngine and compares every read. Durability is
 * checked against the promise, not against everything written: after a crash the engine
 * must hold exactly the writes up to some batch boundary at or after the last durable point
 * (a `sync: true` write, an explicit flush or compaction, a clean reopen), and the model is
 * rebuilt to that boundary from a snapshot taken at the durable point.
 */
export async function runLsmDifferential(o: LsmDiffOptions): Promise<LsmDiffResult> {
  const disk = new Disk();
  const tear = new Rng(o.seed ^ 0x5eed);
  let fs: CrashFS | undefined = o.crash ? new CrashFS(disk) : undefined;
  const open = (): Promise<LsmEngine> => LsmEngine.open({ ...o.engine, dir: o.dir, ...(fs !== undefined ? { fs } : {}) });
  let lsm = await open();
  let ref = new MemoryEngine();
  let base = { snap: ref.snapshot(), seq: lsm.sequence };
  let window: { seq: number; ops: readonly BatchOp[] }[] = [];
  const held = new Map<number, { a: EngineSnapshot; b: EngineSnapshot }>();
  const counts: Record<LsmStep['kind'], number> = { write: 0, snapshot: 0, release: 0, get: 0, scan: 0, check: 0, reopen: 0, flush: 0, compact: 0, crash: 0 };
  let batchOps = 0;
  let lostWrites = 0;
  let flushes = 0;
  let compactions = 0;

  const durableNow = (): void => {
    base.snap.release();
    base = { snap: ref.snapshot(), seq: lsm.sequence };
    window = [];
  };
  const releaseAll = (): void => {
    for (const p of held.values()) {
      p.a.release();
      p.b.release();
    }
    held.clear();
  };
  const checkAll = (): void => {
    compareEngines(lsm, ref, { label: 'engine' });
    for (const [id, p] of held) compareEngines(p.a, p.b, { label: `snapshot #${id}` });
  };
  const readers = (r: ReaderRef): { a: EngineReader; b: EngineReader } => (r === 'engine' ? { a: lsm, b: ref } : held.get(r)!);
  const retire = (e: LsmEngine): void => {
    flushes += e.stats.flushes;
    compactions += e.stats.compactions;
  };

  let index = 0;
  let step: LsmStep | undefined;
  try {
    for (step of o.steps) {
      counts[step.kind]++;
      switch (step.kind) {
        case 'write': {
          batchOps += step.ops.length;
          await ref.write(writeBatchOf(step.ops));
          await lsm.write(writeBatchOf(step.ops), { sync: step.sync });
          if (step.sync) durableNow();
          else window.push({ seq: lsm.sequence, ops: step.ops });
          break;
        }
        case 'snapshot':
          held.set(step.id, { a: lsm.snapshot(), b: ref.snapshot() });
          break;
        case 'release': {
          const p = held.get(step.id);
          p?.a.release();
          p?.b.release();
          held.delete(step.id);
          break;
        }
        case 'get':
        case 'scan': {
          const { a, b } = readers(step.reader);
          compareRead(step, a, b, ['lsm', 'memory']);
          break;
        }
        case 'check':
          checkAll();
          break;
        case 'flush':
          await lsm.flush();
          durableNow();
          break;
        case 'compact':
          await lsm.compactAll();
          durableNow();
          break;
        case 'reopen': {
          releaseAll();
          const before = lsm.sequence;
          retire(lsm);
          await lsm.close();
          lsm = await open();
          if (lsm.sequence !== before) throw new EngineMismatchError(`clean reopen recovered sequence ${lsm.sequence}, closed at ${before}`);
          durableNow();
          checkAll();
          break;
        }
        case 'crash': {
          releaseAll();
          if (fs === undefined) {
            // No injectable fs with a worker: the closest thing is a reopen.
            retire(lsm);
            await lsm.close();
            lsm = await open();
            durableNow();
            checkAll();
            break;
          }
          const newest = window.at(-1)?.seq ?? base.seq;
          fs.kill();
          retire(lsm);
          await lsm.close().catch(() => {});
          disk.cut((unsynced) => (tear.chance(0.4) ? 0 : tear.int(unsynced + 1)));
          fs = new CrashFS(disk);
          lsm = await open();
          const s = lsm.sequence;
          if (process.env.LSM_DIFF_DEBUG) console.error(`crash at step ${index}: base ${base.seq} recovered ${s} window ${window.map((w) => w.seq).join(",")} files ${JSON.stringify(lsm.levelFiles())}`);
          const kept = s === base.seq ? 0 : window.findIndex((w) => w.seq === s) + 1;
          if (s < base.seq || s > newest || kept === 0 && s !== base.seq) {
            throw new EngineMismatchError(`after the crash the engine recovered sequence ${s}; durable point was ${base.seq}, newest acknowledged ${newest}, batch ends ${window.map((w) => w.seq).join(',')}`);
          }
          lostWrites += window.length - kept;
          const next = new MemoryEngine();
          for (const cf of COLUMN_FAMILIES) {
            const it = base.snap.iterator(cf);
            const b = new WriteBatch();
            for (let ok = it.first(); ok; ok = it.next()) b.put(cf, it.key().slice(), it.value().slice());
            it.close();
            await next.write(b);
          }
          for (const w of window.slice(0, kept)) await next.write(writeBatchOf(w.ops));
          base.snap.release();
          await ref.close();
          ref = next;
          durableNow();
          checkAll();
          break;
        }
      }
      index++;
    }
    step = undefined;
    checkAll();
  } catch (e) {
    const what = step === undefined ? (index === 0 ? 'open' : 'final comparison') : describeLsmStep(step);
    const detail = e instanceof EngineMismatchError ? e.detail : `engine threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
    throw new EngineMismatchError(detail, { seed: o.seed, step: index, op: what, cause: e });
  } finally {
    releaseAll();
    retire(lsm);
    await lsm.close().catch(() => {});
    base.snap.release();
    await ref.close();
  }
  return { counts, batchOps, lostWrites, tornBytes: disk.tornBytes, flushes, compactions };
}
