import { BatchPacker, createJsHotPath, packBatch, type EncodeKeysOptions, type HotPath, type PackedBatch } from '@flashkv/core';
import { createWasmHotPath } from '@flashkv/asm';
import { median, sliceRate, type BenchCase, type SuiteContext } from '../harness.js';

/*
 * Batch key encoding (DESIGN.md section 10): the WASM hot path against the TS reference on the
 * same work. Every call includes what a caller pays: the copy into WASM memory (inside
 * encodeKeys) and a read over every output key, so a "win" cannot come from skipping work.
 * Keys get the 'z' prefix and a timestamp, as write-CF keys do.
 */

const IMPLS: readonly (readonly [string, () => HotPath])[] = [
  ['wasm', createWasmHotPath],
  ['js', createJsHotPath],
];

const OPTIONS: EncodeKeysOptions = { dataPrefix: true };

/** Deterministic key bytes (a 32-bit LCG), so every run and impl sees the same keys. */
function makeKeys(count: number, length: number, seed: number): Uint8Array[] {
  let s = seed >>> 0;
  return Array.from({ length: count }, () => {
    const k = new Uint8Array(length);
    for (let i = 0; i < length; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      k[i] = s >>> 24;
    }
    return k;
  });
}

function makeTs(count: number): BigUint64Array {
  // TSO-shaped: physical ms << 18 | logical.
  return BigUint64Array.from({ length: count }, (_, i) => (1_718_000_000_000n << 18n) | BigInt(i));
}

// Results are folded in here so no engine can drop the work as dead code.
let sink = 0;

/** Touches every output key (its last byte) without copying it. */
function readAll(out: PackedBatch): void {
  const { data, offsets, count } = out;
  let acc = 0;
  for (let i = 0; i < count; i++) acc += data[offsets[i + 1]! - 1]!;
  sink = (sink + acc) | 0;
}

/** A speed comparison only means something if both impls produce the same bytes. */
function mustAgree(name: string, input: PackedBatch, ts: BigUint64Array): void {
  const [a, b] = IMPLS.map(([impl, make]) => {
    const out = make().encodeKeys(input, ts, OPTIONS);
    return { impl, bytes: Buffer.from(out.data.subarray(0, out.offsets[out.count])).toString('hex') };
  });
  if (a!.bytes !== b!.bytes) throw new Error(`${name}: ${a!.impl} and ${b!.impl} encode differently`);
}

function packedCases(name: string, keys: readonly Uint8Array[]): BenchCase[] {
  const input = packBatch(keys);
  const ts = makeTs(keys.length);
  mustAgree(name, input, ts);
  const params = { keys: keys.length, keyBytes: keys[0]!.length, ts: true, dataPrefix: true };
  return IMPLS.map(([impl, make]) => {
    const hp = make();
    return { name, impl, opsPerCall: keys.length, params, fn: () => readAll(hp.encodeKeys(input, ts, OPTIONS)) };
  });
}

/**
 * The caller holds one Uint8Array per key, so each call packs them first: with `packBatch`
 * (allocates a new batch each time) or with a reused `BatchPacker`.
 */
function arrayCases(name: string, keys: readonly Uint8Array[], packer: 'packBatch' | 'BatchPacker'): BenchCase[] {
  const ts = makeTs(keys.length);
  mustAgree(name, packBatch(keys), ts);
  const params = { keys: keys.length, keyBytes: keys[0]!.length, ts: true, dataPrefix: true, packer };
  return IMPLS.map(([impl, make]) => {
    const hp = make();
    if (packer === 'packBatch') {
      return { name, impl, opsPerCall: keys.length, params, fn: () => readAll(hp.encodeKeys(packBatch(keys), ts, OPTIONS)) };
    }
    const p = new BatchPacker();
    return { name, impl, opsPerCall: keys.length, params, fn: () => readAll(hp.encodeKeys(p.pack(keys), ts, OPTIONS)) };
  });
}

/**
 * benchmark.js times one impl after the other, and on a shared machine the load can change in
 * between. This alternates short slices of the two impls of a case, so both see the same
 * conditions, and records each impl's median rate plus the median of the per-round ratios.
 */
function paired(ctx: SuiteContext, ours: BenchCase, anchor: BenchCase, rounds: number, sliceMs: number): void {
  const pair = [ours, anchor] as const;
  const rates: number[][] = [[], []];
  const ratios: number[] = [];
  for (let r = -3; r < rounds; r++) {
    const round = pair.map((c) => sliceRate(c.fn, sliceMs, 64) * (c.opsPerCall ?? 1));
    if (r < 0) continue; // warm-up rounds let both tiers of both impls settle
    rates[0]!.push(round[0]!);
    rates[1]!.push(round[1]!);
    ratios.push(round[0]! / round[1]!);
  }
  pair.forEach((c, k) => {
    const xs = rates[k]!;
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1));
    const per = c.opsPerCall ?? 1;
    const ops = median(xs);
    ctx.record({
      case: `${c.name} [paired]`,
      impl: c.impl,
      ops_per_s: ops,
      rme_pct: ((1.96 * sd) / Math.sqrt(xs.length) / mean) * 100,
      samples: xs.length,
      mean_ms_per_call: (per / ops) * 1000,
      ops_per_call: per,
      ...(c.params ? { params: c.params } : {}),
      extra: { method: `median of ${rounds} alternating ${sliceMs} ms slices`, median_ratio_vs_anchor: median(ratios) },
    });
  });
}

export default {
  ours: 'wasm',
  anchor: 'js',
  async run(ctx: SuiteContext): Promise<void> {
    const cases: BenchCase[] = [
      ...packedCases('encode 1 key', makeKeys(1, 16, 1)),
      ...packedCases('encode 256 keys (16 B)', makeKeys(256, 16, 2)),
      ...packedCases('encode 256 keys (64 B)', makeKeys(256, 64, 3)),
      ...arrayCases('packBatch+encode 256 (16 B)', makeKeys(256, 16, 4), 'packBatch'),
      ...arrayCases('BatchPacker+encode 256 (16 B)', makeKeys(256, 16, 4), 'BatchPacker'),
    ];
    await ctx.run(cases);
    const byName = (name: string) => cases.filter((c) => c.name === name);
    for (const name of ['encode 1 key', 'encode 256 keys (16 B)']) {
      const [ours, anchor] = byName(name);
      paired(ctx, ours!, anchor!, 21, 40);
    }
    if (sink === 0x7fffffff) console.log('(sink)');
  },
};
