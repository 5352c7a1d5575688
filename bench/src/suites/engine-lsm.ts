import { ClassicLevel } from 'classic-level';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { WriteBatch } from '@flashkv/core';
import { LsmEngine } from '@flashkv/engine-lsm';
import type { BenchCase, SuiteContext } from '../harness.js';

/*
 * engine-lsm against LevelDB (classic-level) and RocksDB (@nxtedition/rocksdb), same process,
 * same keys: N = 1,000,000 x BENCH_SCALE random 16-byte keys, 100-byte values (issue 6).
 * Writes are asynchronous in all three, so fills and sync writers are timed by hand around the
 * awaited loop (ctx.record); synchronous point reads go through benchmark.js (ctx.run).
 * RocksDB's binding has no synchronous get, so its readrandom row is the async get (noted in
 * params) and is not part of any ratio.
 */

const KEY = 16;
const VALUE = 100;
const BATCH = 256;

/** Deterministic bytes (32-bit LCG), so every impl sees the same keys in the same order. */
function lcgBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

function dirBytes(dir: string): number {
  let n = 0;
  for (const f of readdirSync(dir)) n += statSync(join(dir, f)).size;
  return n;
}

/** The subset of each store the suite drives. */
interface Store {
  readonly impl: string;
  fill(keys: Uint8Array, value: Uint8Array, n: number): Promise<void>;
  getSync?(key: Uint8Array): unknown;
  getAsync(key: Uint8Array): Promise<unknown>;
  seekNext10(keys: Uint8Array, probes: Uint32Array): Promise<number>;
  putSync(key: Uint8Array, value: Uint8Array): Promise<void>;
  reopen(): Promise<void>;
  close(): Promise<void>;
}

function key(keys: Uint8Array, i: number): Uint8Array {
  return keys.subarray(i * KEY, i * KEY + KEY);
}

async function openLsm(dir: string): Promise<Store> {
  let db = await LsmEngine.open({ dir });
  return {
    impl: 'engine-lsm',
    async fill(keys, value, n) {
      for (let i = 0; i < n; i += BATCH) {
        const b = new WriteBatch();
        const end = Math.min(n, i + BATCH);
        for (let j = i; j < end; j++) b.put('default', key(keys, j), value);
        await db.write(b);
      }
    },
    getSync: (k) => db.get('default', k),
    getAsync: async (k) => db.get('default', k),
    async seekNext10(keys, probes) {
      const it = db.iterator('default');
      let sum = 0;
      for (let p = 0; p < probes.length; p++) {
        if (!it.seek(key(keys, probes[p]!))) continue;
        sum += it.value().length;
        for (let j = 0; j < 10 && it.next(); j++) sum += it.value().length;
      }
      it.close();
      return sum;
    },
    putSync: (k, v) => db.write(new WriteBatch().put('default', k, v), { sync: true }),
    async reopen() {
      await db.close();
      db = await LsmEngine.open({ dir });
    },
    close: () => db.close(),
    // for the space measurement
    ...({ engine: () => db } as object),
  };
}

/** What the suite uses of an abstract-level database (the RocksDB binding ships no types). */
interface LevelLike {
  open(): Promise<void>;
  close(): Promise<void>;
  batch(ops: { type: 'put'; key: Uint8Array; value: Uint8Array }[]): Promise<void>;
  get(key: Uint8Array): Promise<Uint8Array | undefined>;
  put(key: Uint8Array, value: Uint8Array, options: { sync: boolean }): Promise<void>;
  iterator(): { seek(key: Uint8Array): void; nextv(n: number): Promise<[Uint8Array, Uint8Array][]>; close(): Promise<void> };
}

type LevelCtor = new (dir: string, options: { keyEncoding: 'view'; valueEncoding: 'view' }) => LevelLike;

// A variable specifier keeps tsc from looking for the untyped module's declarations.
const ROCKSDB_MODULE = '@nxtedition/rocksdb';

async function openLevel(impl: 'leveldb' | 'rocksdb', dir: string): Promise<Store> {
  const Rocks = impl === 'rocksdb' ? ((await import(ROCKSDB_MODULE)) as { RocksLevel: LevelCtor }).RocksLevel : null;
  const make = (): LevelLike =>
    Rocks === null
      ? (new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' }) as unknown as LevelLike)
      : new Rocks(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  let db = make();
  await db.open();
  const store: Store = {
    impl,
    async fill(keys, value, n) {
      for (let i = 0; i < n; i += BATCH) {
        const ops: { type: 'put'; key: Uint8Array; value: Uint8Array }[] = [];
        const end = Math.min(n, i + BATCH);
        for (let j = i; j < end; j++) ops.push({ type: 'put', key: key(keys, j), value });
        await db.batch(ops);
      }
    },
    getAsync: (k) => db.get(k),
    async seekNext10(keys, probes) {
      const it = db.iterator();
      let sum = 0;
      for (let p = 0; p < probes.length; p++) {
        it.seek(key(keys, probes[p]!));
        const rows = await it.nextv(11);
        for (const [, v] of rows) sum += (v as Uint8Array).length;
      }
      await it.close();
      return sum;
    },
    putSync: (k, v) => db.put(k, v, { sync: true }),
    async reopen() {
      await db.close();
      db = make();
      await db.open();
    },
    close: () => db.close(),
  };
  if (impl === 'leveldb') {
    const level = () => db as unknown as ClassicLevel<Uint8Array, Uint8Array>;
    return { ...store, getSync: (k) => level().getSync(k) };
  }
  return store;
}

const IMPLS = ['engine-lsm', 'leveldb', 'rocksdb'] as const;

function open(impl: (typeof IMPLS)[number], dir: string): Promise<Store> {
  return impl === 'engine-lsm' ? openLsm(dir) : openLevel(impl, dir);
}

let sink = 0;

export default {
  ours: 'engine-lsm',
  anchor: 'leveldb',
  async run(ctx: SuiteContext): Promise<void> {
    const n = Math.max(BATCH, Math.round(1_000_000 * ctx.scale));
    const keys = lcgBytes(n * KEY, 1);
    const value = lcgBytes(VALUE, 2);
    const probeCount = Math.max(1000, Math.round(20_000 * ctx.scale));
    // Probes: indexes of written keys, drawn from their own LCG stream.
    const probeIdx = new Uint32Array(probeCount);
    const pr = lcgBytes(probeCount * 4, 3);
    for (let i = 0; i < probeCount; i++) probeIdx[i] = (((pr[4 * i]! << 24) | (pr[4 * i + 1]! << 16) | (pr[4 * i + 2]! << 8) | pr[4 * i + 3]!) >>> 0) % n;
    const params = { n, keyBytes: KEY, valueBytes: VALUE };

    // Durable single writes from 16 concurrent writers, each write sync: true. First, on a quiet
    // disk: after the fills the kernel is still writing back hundreds of MB, which slows fsync
    // for whoever comes next.
    const writers = 16;
    const perWriter = Math.max(20, Math.round(200 * ctx.scale));
    for (const impl of IMPLS) {
      const dir = mkdtempSync(join(tmpdir(), `bench-${impl}-`));
      try {
        const store = await open(impl, dir);
        const t0 = performance.now();
        await Promise.all(
          Array.from({ length: writers }, async (_, w) => {
            for (let i = 0; i < perWriter; i++) await store.putSync(key(keys, w * perWriter + i), value);
          }),
        );
        const s = (performance.now() - t0) / 1000;
        const total = writers * perWriter;
        ctx.record({ case: 'sync writes x16 writers', impl, ops_per_s: total / s, rme_pct: 0, samples: 1, mean_ms_per_call: (s * 1000) / total, ops_per_call: 1, params: { writers, perWriter } });
        await store.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    for (const impl of IMPLS) {
      const dir = mkdtempSync(join(tmpdir(), `bench-${impl}-`));
      try {
        const store = await open(impl, dir);
        let t0 = performance.now();
        await store.fill(keys, value, n);
        let s = (performance.now() - t0) / 1000;
        ctx.record({ case: 'fillrandom batch=256', impl, ops_per_s: n / s, rme_pct: 0, samples: 1, mean_ms_per_call: (s * 1000 * BATCH) / n, ops_per_call: BATCH, params });

        // readrandom: synchronous point reads where the binding has them.
        let p = 0;
        const reads = 100;
        if (store.getSync !== undefined) {
          const getSync = store.getSync;
          const c: BenchCase = {
            name: 'readrandom',
            impl,
            opsPerCall: reads,
            params: { ...params, api: 'sync get' },
            fn: () => {
              for (let i = 0; i < reads; i++) {
                const v = getSync(key(keys, probeIdx[p]!)) as Uint8Array | undefined;
                sink += v === undefined ? 0 : v.length;
                p = p + 1 === probeCount ? 0 : p + 1;
              }
            },
          };
          await ctx.run([c]);
        } else {
          t0 = performance.now();
          for (let i = 0; i < probeCount; i++) sink += ((await store.getAsync(key(keys, probeIdx[i]!))) as Uint8Array | undefined)?.length ?? 0;
          s = (performance.now() - t0) / 1000;
          ctx.record({ case: 'readrandom', impl, ops_per_s: probeCount / s, rme_pct: 0, samples: 1, mean_ms_per_call: (s * 1000) / probeCount, ops_per_call: 1, params: { ...params, api: 'async get (no sync get in this binding)' } });
        }

        t0 = performance.now();
        sink += await store.seekNext10(keys, probeIdx);
        s = (performance.now() - t0) / 1000;
        ctx.record({ case: 'seek+next10', impl, ops_per_s: probeCount / s, rme_pct: 0, samples: 1, mean_ms_per_call: (s * 1000) / probeCount, ops_per_call: 1, params });

        t0 = performance.now();
        await store.reopen();
        sink += ((await store.getAsync(key(keys, 0))) as Uint8Array | undefined)?.length ?? 0;
        s = (performance.now() - t0) / 1000;
        ctx.record({ case: 'reopen after fill (s^-1)', impl, ops_per_s: 1 / s, rme_pct: 0, samples: 1, mean_ms_per_call: s * 1000, ops_per_call: 1, params, extra: { reopenSeconds: s } });

        if (impl === 'engine-lsm') {
          const engine = (store as unknown as { engine(): LsmEngine }).engine();
          t0 = performance.now();
          await engine.compactAll();
          s = (performance.now() - t0) / 1000;
          const live = n * (KEY + VALUE);
          const bytes = dirBytes(dir);
          ctx.record({ case: 'compactAll', impl, ops_per_s: n / s, rme_pct: 0, samples: 1, mean_ms_per_call: s * 1000, ops_per_call: n, params, extra: { dirBytes: bytes, liveBytes: live, spaceAmp: bytes / live } });
          console.log(`  space amplification after compactAll: ${(bytes / live).toFixed(3)} (${bytes} bytes on disk for ${live} bytes of keys and values)`);
        }
        await store.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }

    if (sink === -1) console.log(sink);
  },
};
