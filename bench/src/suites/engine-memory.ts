import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compareBytes, WriteBatch } from '@flashkv/core';
import { MemoryEngine } from '@flashkv/engine-memory';
import { BATCH, BTree, KEY_BYTES, KEY_SEED, makeEntries, MISSING_SEED, Splitmix, VALUE_BYTES, type AnchorTree, type Entries } from '../engine-memory-data.js';
import { median, type BenchCase, type SuiteContext } from '../harness.js';

/*
 * engine-memory against sorted-btree (the npm package; the same keys and values, compared by
 * core's compareBytes, its default node size). N = 1,000,000 x BENCH_SCALE random 16-byte
 * keys with 100-byte values, from a seeded generator.
 *
 * - fillseq / fillrandom: ours is asynchronous (`await engine.write(batch)` per batch of 256,
 *   the batch built inside the timed loop), so benchmark.js cannot time it call by call. Each
 *   fill is timed as one full pass instead, in a fresh child process (no other structure and no
 *   earlier pass's garbage in its heap), passes alternating between the two impls; the row is
 *   the median pass in entries per CPU-second of the child (wall-clock rates are in `extra`).
 *   The anchor does the same entries with `set`, synchronously. Ours copies every key and value
 *   (two new views that survive, so the scavenger promotes them); sorted-btree keeps the
 *   caller's arrays, which were made before timing started.
 * - readrandom, readmissing, seek+next10, scanall: both structures loaded in this process,
 *   timed by benchmark.js (wall time), then once more as paired rows: alternating short slices
 *   of the two impls timed in process CPU time, so load from other processes on a shared
 *   machine neither lands on one side of the ratio nor counts as our time.
 *   seek+next10 counts one op per seek: make an iterator, seek, read the entry, then ten
 *   next() each reading key and value (sorted-btree: `entries(key)` and 11 `next()`).
 *   scanall counts entries: ours through an iterator, sorted-btree through forEachPair (its
 *   fastest full walk).
 * - peak RSS (KiB): `process.resourceUsage().maxRSS` of child processes that load N entries made
 *   batch by batch as views into one buffer per batch (see engine-memory-child.ts); median of
 *   three per impl, lower is better. sorted-btree keeps the caller's arrays, so its memory
 *   depends on how the caller made them: 'peak RSS, caller arrays' repeats the measurement with
 *   a fresh Uint8Array per key and per value. Ours copies into its own slabs either way.
 */

const PASSES = 3;
const RSS_RUNS = 3;
const here = dirname(fileURLToPath(import.meta.url));
const CHILD = join(here, '..', 'engine-memory-child.js');

const OURS = 'engine-memory';
const ANCHOR = 'sorted-btree';

// Results are folded in here so no engine can drop the work as dead code.
let sink = 0;

function child(args: readonly string[]): Record<string, number> {
  const out = execFileSync(process.execPath, [CHILD, ...args], { encoding: 'utf8', maxBuffer: 1 << 20 });
  const line = out.trim().split('\n').pop()!;
  return JSON.parse(line) as Record<string, number>;
}

/** 95% margin of the mean, in percent (normal approximation, as the codec suite reports it). */
function rme(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1));
  return ((1.96 * sd) / Math.sqrt(xs.length) / mean) * 100;
}

async function loadOurs(engine: MemoryEngine, e: Entries): Promise<void> {
  const batch = new WriteBatch();
  for (let i = 0; i < e.keys.length; i += BATCH) {
    batch.clear();
    const end = Math.min(e.keys.length, i + BATCH);
    for (let j = i; j < end; j++) batch.put('default', e.keys[j]!, e.values[j]!);
    await engine.write(batch);
  }
}

function loadAnchor(e: Entries): AnchorTree {
  const tree = new BTree<Uint8Array, Uint8Array>(undefined, compareBytes);
  for (let j = 0; j < e.keys.length; j++) tree.set(e.keys[j]!, e.values[j]!);
  return tree;
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  return a === undefined || b === undefined ? a === b : compareBytes(a, b) === 0;
}

/** A speed comparison only means something if both hold the same thing. */
function mustAgree(engine: MemoryEngine, tree: AnchorTree, e: Entries, missing: readonly Uint8Array[]): void {
  if (engine.count('default') !== e.keys.length || tree.size !== e.keys.length) {
    throw new Error(`sizes differ: engine ${engine.count('default')}, sorted-btree ${tree.size}, expected ${e.keys.length}`);
  }
  for (let i = 0; i < e.keys.length; i += Math.max(1, e.keys.length >> 10)) {
    if (!sameBytes(engine.get('default', e.keys[i]!), e.values[i]) || !sameBytes(tree.get(e.keys[i]!), e.values[i])) {
      throw new Error(`entry ${i} reads back differently`);
    }
  }
  for (const k of missing.slice(0, 1000)) {
    if (engine.get('default', k) !== undefined || tree.get(k) !== undefined) throw new Error('a missing key was found');
  }
  const it = engine.iterator('default');
  let seen = 0;
  let same = true;
  tree.forEachPair((k, v) => {
    if (!(seen === 0 ? it.first() : it.next()) || !sameBytes(it.key(), k) || !sameBytes(it.value(), v)) same = false;
    seen++;
  });
  if (!same || it.next()) throw new Error('full scans differ');
  it.close();
}

/** This process's CPU time in microseconds (user + system). */
function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/**
 * Calls per CPU-second of `fn` over one slice of about `ms` milliseconds of CPU time (at least
 * one call). CPU time rather than wall time: on a machine shared with other busy processes,
 * time spent descheduled is not the code's cost (cache and memory contention still are).
 */
function sliceRate(fn: () => void, ms: number): number {
  const t0 = cpuMicros();
  const budget = ms * 1000;
  let calls = 0;
  let elapsed = 0;
  do {
    fn();
    calls++;
    elapsed = cpuMicros() - t0;
  } while (elapsed < budget);
  return calls / (elapsed / 1e6);
}

/** Alternates slices of the two impls of a case; records each impl's median rate. */
function paired(ctx: SuiteContext, ours: BenchCase, anchor: BenchCase, rounds: number, sliceMs: number): void {
  const pair = [ours, anchor] as const;
  const rates: number[][] = [[], []];
  const ratios: number[] = [];
  for (let r = -2; r < rounds; r++) {
    const round = pair.map((c) => sliceRate(c.fn, sliceMs) * (c.opsPerCall ?? 1));
    if (r < 0) continue;
    rates[0]!.push(round[0]!);
    rates[1]!.push(round[1]!);
    ratios.push(round[0]! / round[1]!);
  }
  pair.forEach((c, k) => {
    const xs = rates[k]!;
    const per = c.opsPerCall ?? 1;
    const ops = median(xs);
    ctx.record({
      case: `${c.name} [paired]`,
      impl: c.impl,
      ops_per_s: ops,
      rme_pct: rme(xs),
      samples: xs.length,
      mean_ms_per_call: (per / ops) * 1000,
      ops_per_call: per,
      ...(c.params ? { params: c.params } : {}),
      extra: { method: `median of ${rounds} alternating slices of ${sliceMs} ms CPU time`, median_ratio_vs_anchor: median(ratios) },
    });
  });
}

function fills(ctx: SuiteContext, n: number, params: Record<string, unknown>): void {
  for (const order of ['seq', 'random'] as const) {
    const rates: Record<string, number[]> = { [OURS]: [], [ANCHOR]: [] };
    const wall: Record<string, number[]> = { [OURS]: [], [ANCHOR]: [] };
    for (let p = 0; p < PASSES; p++) {
      for (const impl of p % 2 === 0 ? [OURS, ANCHOR] : [ANCHOR, OURS]) {
        const r = child(['fill', impl, order, String(n)]);
        rates[impl]!.push(r['cpu_ops_per_s']!);
        wall[impl]!.push(r['ops_per_s']!);
      }
    }
    const ratios = rates[OURS]!.map((r, i) => r / rates[ANCHOR]![i]!);
    for (const impl of [OURS, ANCHOR]) {
      const xs = rates[impl]!;
      const ops = median(xs);
      ctx.record({
        case: `fill${order}`,
        impl,
        ops_per_s: ops,
        rme_pct: rme(xs),
        samples: xs.length,
        mean_ms_per_call: (n / ops) * 1000,
        ops_per_call: n,
        params: { ...params, order: order === 'seq' ? 'ascending keys' : 'random keys', api: impl === OURS ? 'WriteBatch of 256 puts, await engine.write(batch)' : 'tree.set(key, value)' },
        extra: {
          method: `median of ${PASSES} full passes in CPU time (GC threads included), each in a fresh child process, impls alternating`,
          passes_ops_per_s: xs,
          passes_wall_ops_per_s: wall[impl],
          median_ratio_vs_anchor: median(ratios),
        },
      });
    }
  }
}

function peakRss(ctx: SuiteContext, n: number, params: Record<string, unknown>): void {
  // The same process with nothing loaded: what node and the modules cost on their own.
  const empty = child(['rss', OURS, '0'])['maxRSS_kib']!;
  const layouts = [
    ['views', 'peak RSS (KiB)', 'keys and values handed over as views into one buffer per batch of 256'],
    ['arrays', 'peak RSS, caller arrays (KiB)', 'keys and values handed over as a fresh Uint8Array each'],
  ] as const;
  for (const [layout, name, made] of layouts) {
    const runs: Record<string, number[]> = { [OURS]: [], [ANCHOR]: [] };
    for (let r = 0; r < RSS_RUNS; r++) {
      for (const impl of r % 2 === 0 ? [OURS, ANCHOR] : [ANCHOR, OURS]) runs[impl]!.push(child(['rss', impl, String(n), layout])['maxRSS_kib']!);
    }
    for (const impl of [OURS, ANCHOR]) {
      const xs = runs[impl]!;
      ctx.record({
        case: name,
        impl,
        ops_per_s: median(xs),
        rme_pct: rme(xs),
        samples: xs.length,
        mean_ms_per_call: 0,
        ops_per_call: 1,
        params: {
          ...params,
          unit: 'KiB',
          lowerIsBetter: true,
          measures: `process.resourceUsage().maxRSS of a child that loads N entries, ${made}; median of ${RSS_RUNS} runs`,
        },
        extra: { runs_kib: xs, empty_process_kib: empty },
      });
    }
  }
}

export default {
  ours: OURS,
  anchor: ANCHOR,
  async run(ctx: SuiteContext): Promise<void> {
    const n = Math.max(BATCH, Math.round(1_000_000 * ctx.scale));
    const params = { n, keyBytes: KEY_BYTES, valueBytes: VALUE_BYTES, seed: KEY_SEED };

    fills(ctx, n, params);

    const e = makeEntries(n, KEY_SEED);
    const missing = makeEntries(Math.min(n, 100_000), MISSING_SEED).keys;
    const engine = new MemoryEngine();
    await loadOurs(engine, e);
    const tree = loadAnchor(e);
    mustAgree(engine, tree, e, missing);

    // Probes: existing keys in a seeded random order, and absent keys.
    const rng = new Splitmix(KEY_SEED + 1);
    const probes = Array.from({ length: Math.min(n, 200_000) }, () => e.keys[rng.u32() % n]!);
    const reads = 1000;
    let p = 0;
    let q = 0;
    const next = (i: number, len: number): number => (i + 1 === len ? 0 : i + 1);

    const seeks = 100;
    const reused: Uint8Array[] = [];
    const cases: BenchCase[] = [
      {
        name: 'readrandom',
        impl: OURS,
        opsPerCall: reads,
        params,
        fn: () => {
          for (let i = 0; i < reads; i++) {
            sink += engine.get('default', probes[p]!)!.length;
            p = next(p, probes.length);
          }
        },
      },
      {
        name: 'readrandom',
        impl: ANCHOR,
        opsPerCall: reads,
        params,
        fn: () => {
          for (let i = 0; i < reads; i++) {
            sink += tree.get(probes[p]!)!.length;
            p = next(p, probes.length);
          }
        },
      },
      {
        name: 'readmissing',
        impl: OURS,
        opsPerCall: reads,
        params,
        fn: () => {
          for (let i = 0; i < reads; i++) {
            sink += engine.get('default', missing[q]!) === undefined ? 1 : 0;
            q = next(q, missing.length);
          }
        },
      },
      {
        name: 'readmissing',
        impl: ANCHOR,
        opsPerCall: reads,
        params,
        fn: () => {
          for (let i = 0; i < reads; i++) {
            sink += tree.get(missing[q]!) === undefined ? 1 : 0;
            q = next(q, missing.length);
          }
        },
      },
      {
        name: 'seek+next10',
        impl: OURS,
        opsPerCall: seeks,
        params: { ...params, op: 'one op = new iterator, seek, read entry, 10 x (next, read key and value)' },
        fn: () => {
          for (let i = 0; i < seeks; i++) {
            const it = engine.iterator('default');
            if (it.seek(probes[p]!)) {
              sink += it.key().length + it.value().length;
              for (let j = 0; j < 10 && it.next(); j++) sink += it.key().length + it.value().length;
            }
            it.close();
            p = next(p, probes.length);
          }
        },
      },
      {
        name: 'seek+next10',
        impl: ANCHOR,
        opsPerCall: seeks,
        params: { ...params, op: 'one op = entries(key) then 11 x next() reading key and value' },
        fn: () => {
          for (let i = 0; i < seeks; i++) {
            const it = tree.entries(probes[p]!, reused);
            for (let j = 0; j < 11; j++) {
              const r = it.next();
              if (r.done === true) break;
              sink += r.value[0].length + r.value[1].length;
            }
            p = next(p, probes.length);
          }
        },
      },
      {
        name: 'scanall',
        impl: OURS,
        opsPerCall: n,
        params: { ...params, unit: 'entries/s', api: 'iterator first/next, key() and value()' },
        fn: () => {
          const it = engine.iterator('default');
          for (let ok = it.first(); ok; ok = it.next()) sink += it.key().length + it.value().length;
          it.close();
        },
      },
      {
        name: 'scanall',
        impl: ANCHOR,
        opsPerCall: n,
        params: { ...params, unit: 'entries/s', api: 'forEachPair' },
        fn: () => {
          tree.forEachPair((k, v) => {
            sink += k.length + v.length;
          });
        },
      },
    ];
    await ctx.run(cases);
    for (let i = 0; i < cases.length; i += 2) {
      const big = cases[i]!.name === 'scanall';
      paired(ctx, cases[i]!, cases[i + 1]!, 15, big ? 250 : 50);
    }

    peakRss(ctx, n, params);
    if (sink === 0.5) console.log('(sink)');
  },
} satisfies { ours: string; anchor: string; run(ctx: SuiteContext): Promise<void> };

