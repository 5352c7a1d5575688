import { performance } from 'node:perf_hooks';
import {
  EntryBatch,
  HOT_BATCH_MAX,
  KvPage,
  MvccReader,
  WriteBatch,
  codec,
  createJsHotPath,
  readEntries,
  readEntriesGeneric,
  tsCfKey,
  type HotPath,
  type KvPair,
  type PackedBatch,
} from '@flashkv/core';
import { createWasmHotPath } from '@flashkv/asm';
import { MemoryEngine } from '@flashkv/engine-memory';
import { median, type SuiteContext } from '../harness.js';

/*
 * MVCC forward scan at a read ts (issue 3's goal: >= 2M visible keys/s through WASM, and the
 * WASM path >= 2x the TS reference on the same engine in the same run).
 *
 * Data: 1,000,000 x scale user keys, 3 versions each (Puts committed at 10, 20 and 30 with
 * 16-byte short values), written straight into engine-memory's write CF with the codec (no
 * transactions, so setup is fast). The scan reads at ts 25, which sees the middle version, so
 * every key costs the batch step a skipped newer version, a visible one and an older one.
 *
 * Cases, each timed as alternating wasm / js passes (median of the rounds, and the median of the
 * per-round ratios), so load on the shared machine hits both alike:
 * - 'scan end to end (page)': MvccReader.scanPage over the whole range, in pages of PAGE keys (a
 *   client's paging; one KvPage refilled page after page), through the real scanner: engine readBatch (256 entries per call) ->
 *   HotPath.mvccScanEntries (raw keys and short values emitted by the kernel) -> one copy per
 *   batch into the page; every pair's key and value length is read back from the page.
 * - 'scan end to end (KvPair[])': the same through MvccReader.scan, which returns a fresh page per
 *   call and one KvPair (two views) per key, and every pair is read.
 * - 'entries step alone': HotPath.mvccScanEntries over pre-read 256-entry batches (copy-in
 *   included, every result read): the kernel without engine iteration or paging.
 * - 'batch step alone': the older HotPath.mvccScanBatch (groups only) over pre-packed batches.
 * - 'engine readBatch' and 'engine walk (write CF)': what the scanner pays before any MVCC work,
 *   one impl, to show where end-to-end time goes: the batch read into one packed buffer, and
 *   the iterator walk (next + key + value, no copy) that the generic fallback starts from.
 */

const VERSIONS = [30n, 20n, 10n] as const;
const READ_TS = 25n;
const PAGE = 10_000;
const KEY_BYTES = 12;

function rawKey(i: number): Uint8Array {
  const k = new Uint8Array(KEY_BYTES);
  const v = new DataView(k.buffer);
  v.setUint32(0, 0x6b657900); // 'key\0'
  v.setUint32(4, Math.floor(i / 0x1_0000_0000));
  v.setUint32(8, i >>> 0);
  return k;
}

async function load(engine: MemoryEngine, keys: number): Promise<number> {
  const value = new Uint8Array(16).fill(0x76);
  let entries = 0;
  let batch = new WriteBatch();
  for (let i = 0; i < keys; i++) {
    const enc = codec.encodeBytes(rawKey(i));
    for (const ts of VERSIONS) {
      batch.put('write', tsCfKey(enc, ts), codec.encodeWrite(codec.newWrite('Put', ts - 1n, value)));
      entries++;
    }
    if (batch.count >= 30_000) {
      await engine.write(batch);
      batch = new WriteBatch();
    }
  }
  if (batch.count > 0) await engine.write(batch);
  return entries;
}

let sink = 0;

/** One full scan in KvPair pages; returns the visible keys seen. */
function scanAll(engine: MemoryEngine, hp: HotPath): number {
  const reader = new MvccReader(engine.snapshot());
  let seen = 0;
  let acc = 0;
  let start: Uint8Array | undefined;
  for (;;) {
    const page: KvPair[] = reader.scan({ ts: READ_TS, limit: PAGE, ...(start !== undefined ? { start } : {}) }, hp);
    seen += page.length;
    for (const p of page) acc += p.key.length + p.value.length;
    if (page.length < PAGE) break;
    const last = page[page.length - 1]!;
    // The next page starts right after the last key: its raw bytes plus a zero byte.
    start = new Uint8Array(last.key.length + 1);
    start.set(last.key);
  }
  sink = (sink + acc) | 0;
  return seen;
}

/**
 * One full scan in packed pages (KvPage), each page read before the next refills the same
 * KvPage (a streaming consumer's pattern); every pair's key and value length is read.
 */
function scanAllPages(engine: MemoryEngine, hp: HotPath): number {
  const reader = new MvccReader(engine.snapshot());
  const into = new KvPage();
  let seen = 0;
  let acc = 0;
  let start: Uint8Array | undefined;
  for (;;) {
    const page = reader.scanPage({ ts: READ_TS, limit: PAGE, ...(start !== undefined ? { start } : {}) }, hp, into);
    const n = page.count;
    const o = page.offsets;
    for (let i = 0; i < n; i++) acc += o[2 * i + 2]! - o[2 * i]!;
    seen += n;
    if (n < PAGE) break;
    const last = page.key(n - 1);
    start = new Uint8Array(last.length + 1);
    start.set(last);
  }
  sink = (sink + acc) | 0;
  return seen;
}

/** Pre-read entry batches (as readBatch fills them) of the data's first entries. */
function entryBatches(engine: MemoryEngine, count: number): EntryBatch[] {
  const it = engine.snapshot().iterator('write', {});
  const out: EntryBatch[] = [];
  it.first();
  while (out.length < count) {
    const b = new EntryBatch(HOT_BATCH_MAX);
    if (readEntries(it, b) === 0) break;
    out.push(b);
  }
  it.close();
  return out;
}

/** Visible keys emitted over all batches; every pair's bytes are summed. */
function entriesAll(hp: HotPath, batches: readonly EntryBatch[]): number {
  let visible = 0;
  let acc = 0;
  for (const b of batches) {
    const r = hp.mvccScanEntries!(b, READ_TS, 0);
    visible += r.pairs;
    acc += r.offsets[2 * r.pairs]!;
  }
  sink = (sink + acc) | 0;
  return visible;
}

/** The write CF through readEntries, batch by batch (`generic`: the key()/value()/next() fallback). */
function readAll(engine: MemoryEngine, batch: EntryBatch, generic: boolean): number {
  const it = engine.snapshot().iterator('write', {});
  let n = 0;
  let acc = 0;
  it.first();
  for (;;) {
    const got = generic ? readEntriesGeneric(it, batch, HOT_BATCH_MAX) : readEntries(it, batch);
    if (got === 0) break;
    n += got;
    acc += batch.offsets[2 * got]!;
  }
  it.close();
  sink = (sink + acc) | 0;
  return n;
}

/** Pre-packed batches of the data's first entries, as the scanner packs them. */
function packBatches(engine: MemoryEngine, count: number): Array<{ keys: PackedBatch; values: PackedBatch }> {
  const it = engine.snapshot().iterator('write', {});
  const out: Array<{ keys: PackedBatch; values: PackedBatch }> = [];
  let ok = it.first();
  while (ok && out.length < count) {
    const ks: Uint8Array[] = [];
    const vs: Uint8Array[] = [];
    while (ok && ks.length < HOT_BATCH_MAX) {
      ks.push(it.key().slice());
      vs.push(it.value().slice());
      ok = it.next();
    }
    out.push({ keys: pack(ks), values: pack(vs) });
  }
  it.close();
  return out;
}

function pack(items: readonly Uint8Array[]): PackedBatch {
  let total = 0;
  for (const x of items) total += x.length;
  const data = new Uint8Array(total);
  const offsets = new Uint32Array(HOT_BATCH_MAX + 1);
  let at = 0;
  items.forEach((x, i) => {
    data.set(x, at);
    at += x.length;
    offsets[i + 1] = at;
  });
  return { data, offsets, count: items.length };
}

/** Visible keys found in all batches (the per-call result is read in full, as the scanner does). */
function stepAll(hp: HotPath, batches: ReadonlyArray<{ keys: PackedBatch; values: PackedBatch }>): number {
  let visible = 0;
  for (const b of batches) {
    const r = hp.mvccScanBatch(b.keys, b.values, READ_TS);
    for (let g = 0; g < r.groups; g++) if (r.visible[g]! >= 0) visible++;
    sink = (sink + r.groupStart[r.groups - 1]!) | 0;
  }
  return visible;
}

function walkEngine(engine: MemoryEngine): number {
  const it = engine.snapshot().iterator('write', {});
  let n = 0;
  let acc = 0;
  for (let ok = it.first(); ok; ok = it.next()) {
    acc += it.key().length + it.value().length;
    n++;
  }
  it.close();
  sink = (sink + acc) | 0;
  return n;
}

/** Units per wall-clock second; `cpu` (if given) gets units per second of this process's CPU time. */
function timedRate(units: () => number, cpu?: number[]): number {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const n = units();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  cpu?.push(n / ((c.user + c.system) / 1e6));
  return n / (wall / 1000);
}

/**
 * Alternates the impls round by round (the first impl of a round alternates too), after one
 * untimed warm-up round, and records each impl's median rate and the median per-round ratio.
 */
function paired(ctx: SuiteContext, name: string, unit: string, rounds: number, impls: ReadonlyArray<readonly [string, () => number]>, params: Record<string, unknown>): void {
  const rates = impls.map(() => [] as number[]);
  const cpuRates = impls.map(() => [] as number[]);
  const ratios: number[] = [];
  const cpuRatios: number[] = [];
  for (let r = -1; r < rounds; r++) {
    const order = r % 2 === 0 ? impls.map((_, i) => i) : impls.map((_, i) => impls.length - 1 - i);
    const round: number[] = [];
    const cpuRound: number[] = [];
    for (const i of order) {
      const cpu: number[] = [];
      round[i] = timedRate(impls[i]![1], cpu);
      cpuRound[i] = cpu[0]!;
    }
    if (r < 0) continue;
    round.forEach((x, i) => rates[i]!.push(x));
    cpuRound.forEach((x, i) => cpuRates[i]!.push(x));
    ratios.push(round[0]! / round[1]!);
    cpuRatios.push(cpuRound[0]! / cpuRound[1]!);
  }
  impls.forEach(([impl], i) => {
    const xs = rates[i]!;
    const ops = median(xs);
    ctx.record({
      case: name,
      impl,
      ops_per_s: ops,
      rme_pct: ((Math.max(...xs) - Math.min(...xs)) / 2 / ops) * 100,
      samples: xs.length,
      mean_ms_per_call: 1000 / ops,
      ops_per_call: 1,
      params: { ...params, unit },
      // CPU-time rates: on a machine shared with other jobs, wall time also counts time this
      // process waited for a core; CPU time (user + system, GC threads included) does not.
      extra: {
        rounds: xs.map((x) => Math.round(x)),
        median_ratio_wasm_vs_js: median(ratios),
        cpu_rate_median: Math.round(median(cpuRates[i]!)),
        cpu_median_ratio_wasm_vs_js: median(cpuRatios),
      },
    });
  });
}

export default {
  ours: 'wasm',
  anchor: 'js',
  async run(ctx: SuiteContext): Promise<void> {
    const keys = Math.max(10_000, Math.round(1_000_000 * ctx.scale));
    const engine = new MemoryEngine();
    const t0 = performance.now();
    const entries = await load(engine, keys);
    console.log(`  loaded ${keys.toLocaleString('en-US')} keys x 3 versions (${entries.toLocaleString('en-US')} write-CF entries) in ${Math.round(performance.now() - t0)} ms`);
    const wasm = createWasmHotPath();
    const js = createJsHotPath();
    const params = { keys, versionsPerKey: VERSIONS.length, readTs: String(READ_TS), keyBytes: KEY_BYTES, valueBytes: 16, page: PAGE };

    // Both paths must see the same keys, or the rates compare different work.
    for (const [what, f] of [['page', scanAllPages], ['KvPair[]', scanAll]] as const) {
      const a = f(engine, wasm);
      const b = f(engine, js);
      if (a !== keys || b !== keys) throw new Error(`${what} scan saw ${a} (wasm) and ${b} (js) visible keys, expected ${keys}`);
    }

    paired(ctx, 'scan end to end (page)', 'visible keys/s', 7, [
      ['wasm', () => scanAllPages(engine, wasm)],
      ['js', () => scanAllPages(engine, js)],
    ], params);
    paired(ctx, 'scan end to end (KvPair[])', 'visible keys/s', 5, [
      ['wasm', () => scanAll(engine, wasm)],
      ['js', () => scanAll(engine, js)],
    ], params);

    const reps = 20;
    const eb = entryBatches(engine, 512);
    const perPassE = entriesAll(js, eb);
    if (entriesAll(wasm, eb) !== perPassE) throw new Error('entries step: wasm and js emitted different pair counts');
    const repeatE = (hp: HotPath) => () => {
      let n = 0;
      for (let i = 0; i < reps; i++) n += entriesAll(hp, eb);
      return n;
    };
    paired(ctx, 'entries step alone', 'visible keys/s', 7, [
      ['wasm', repeatE(wasm)],
      ['js', repeatE(js)],
    ], { ...params, batches: eb.length, entriesPerBatch: HOT_BATCH_MAX });

    const batches = packBatches(engine, 512);
    const perPass = stepAll(js, batches);
    if (stepAll(wasm, batches) !== perPass) throw new Error('batch step: wasm and js found different visible counts');
    const repeat = (hp: HotPath) => () => {
      let n = 0;
      for (let i = 0; i < reps; i++) n += stepAll(hp, batches);
      return n;
    };
    paired(ctx, 'batch step alone', 'visible keys/s', 7, [
      ['wasm', repeat(wasm)],
      ['js', repeat(js)],
    ], { ...params, batches: batches.length, entriesPerBatch: HOT_BATCH_MAX });

    const fill = new EntryBatch(HOT_BATCH_MAX);
    paired(ctx, 'engine readBatch (write CF)', 'keys/s (3 entries each, copied into one packed buffer)', 5, [
      ['readBatch', () => readAll(engine, fill, false) / VERSIONS.length],
      ['generic', () => readAll(engine, fill, true) / VERSIONS.length],
    ], params);

    const walk: number[] = [];
    for (let r = 0; r < 3; r++) walk.push(timedRate(() => walkEngine(engine) / VERSIONS.length));
    ctx.record({
      case: 'engine walk (write CF)',
      impl: 'engine-memory',
      ops_per_s: median(walk),
      rme_pct: 0,
      samples: walk.length,
      mean_ms_per_call: 1000 / median(walk),
      ops_per_call: 1,
      params: { ...params, unit: 'keys/s (3 entries each: next + key + value)' },
      extra: { rounds: walk.map((x) => Math.round(x)) },
    });
    await engine.close();
    if (sink === 0.5) console.log(sink);
  },
};
