import { performance } from 'node:perf_hooks';
import { HOT_BATCH_MAX, MvccReader, WriteBatch, codec, createJsHotPath, tsCfKey, type HotPath, type KvPair, type PackedBatch } from '@flashkv/core';
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
 * - 'scan end to end': MvccReader.scan over the whole range, in pages of PAGE keys (a client's
 *   paging; one result array per page), through the real scanner with each HotPath.
 * - 'batch step alone': the kernel without engine iteration: HotPath.mvccScanBatch over
 *   pre-packed 256-entry batches of the same data, copy-in included, reading every result.
 * - 'engine walk (write CF)': what the scanner pays before any MVCC work (iterator next + key +
 *   value over the same entries), one impl, to show where end-to-end time goes.
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

/** One full scan in pages; returns the visible keys seen. */
function scanAll(engine: MemoryEngine, hp: HotPath): number {
  const reader = new MvccReader(engine.snapshot());
  let seen = 0;
  let start: Uint8Array | undefined;
  for (;;) {
    const page: KvPair[] = reader.scan({ ts: READ_TS, limit: PAGE, ...(start !== undefined ? { start } : {}) }, hp);
    seen += page.length;
    if (page.length < PAGE) break;
    const last = page[page.length - 1]!;
    sink = (sink + last.value.length) | 0;
    // The next page starts right after the last key: its raw bytes plus a zero byte.
    start = new Uint8Array(last.key.length + 1);
    start.set(last.key);
  }
  return seen;
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

function timedRate(units: () => number): number {
  const t0 = performance.now();
  const n = units();
  return n / ((performance.now() - t0) / 1000);
}

/**
 * Alternates the impls round by round (the first impl of a round alternates too), after one
 * untimed warm-up round, and records each impl's median rate and the median per-round ratio.
 */
function paired(ctx: SuiteContext, name: string, unit: string, rounds: number, impls: ReadonlyArray<readonly [string, () => number]>, params: Record<string, unknown>): void {
  const rates = impls.map(() => [] as number[]);
  const ratios: number[] = [];
  for (let r = -1; r < rounds; r++) {
    const order = r % 2 === 0 ? impls.map((_, i) => i) : impls.map((_, i) => impls.length - 1 - i);
    const round: number[] = [];
    for (const i of order) round[i] = timedRate(impls[i]![1]);
    if (r < 0) continue;
    round.forEach((x, i) => rates[i]!.push(x));
    ratios.push(round[0]! / round[1]!);
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
      extra: { rounds: xs.map((x) => Math.round(x)), median_ratio_wasm_vs_js: median(ratios) },
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
    const a = scanAll(engine, wasm);
    const b = scanAll(engine, js);
    if (a !== keys || b !== keys) throw new Error(`scan saw ${a} (wasm) and ${b} (js) visible keys, expected ${keys}`);

    paired(ctx, 'scan end to end', 'visible keys/s', 5, [
      ['wasm', () => scanAll(engine, wasm)],
      ['js', () => scanAll(engine, js)],
    ], params);

    const batches = packBatches(engine, 512);
    const perPass = stepAll(js, batches);
    if (stepAll(wasm, batches) !== perPass) throw new Error('batch step: wasm and js found different visible counts');
    const reps = 20;
    const repeat = (hp: HotPath) => () => {
      let n = 0;
      for (let i = 0; i < reps; i++) n += stepAll(hp, batches);
      return n;
    };
    paired(ctx, 'batch step alone', 'visible keys/s', 7, [
      ['wasm', repeat(wasm)],
      ['js', repeat(js)],
    ], { ...params, batches: batches.length, entriesPerBatch: HOT_BATCH_MAX });

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
