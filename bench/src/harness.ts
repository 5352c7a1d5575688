import Benchmark from 'benchmark';
import { mkdirSync, appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * One benchmark case. `fn` is timed by benchmark.js; when one call does `opsPerCall` units of
 * work (a batch of 256 keys, ten `next()`s after a seek), ops_per_s counts units, not calls.
 * `impl` names what is measured (ours, or the anchor) so rows line up side by side.
 */
export interface BenchCase {
  readonly name: string;
  readonly impl: string;
  readonly fn: () => void;
  readonly opsPerCall?: number;
  /** Runs before timing starts (outside benchmark.js's clock). */
  readonly setup?: () => void | Promise<void>;
  readonly teardown?: () => void | Promise<void>;
  /** Recorded with the result (dataset size, key and value lengths, ...). */
  readonly params?: Record<string, unknown>;
}

export interface BenchResult {
  readonly suite: string;
  readonly case: string;
  readonly impl: string;
  readonly ops_per_s: number;
  readonly rme_pct: number;
  readonly samples: number;
  readonly mean_ms_per_call: number;
  readonly ops_per_call: number;
  readonly params?: Record<string, unknown>;
  readonly extra?: Record<string, unknown>;
  readonly node: string;
  readonly at: string;
}

export interface SuiteContext {
  readonly suite: string;
  /** Max seconds benchmark.js spends on each case (BENCH_MAX_TIME, default 1). */
  readonly maxTime: number;
  /** Dataset-size multiplier for quick runs (BENCH_SCALE, default 1). */
  readonly scale: number;
  run(cases: readonly BenchCase[]): Promise<BenchResult[]>;
  /** Records a measurement made outside benchmark.js (for example peak RSS of a child process). */
  record(result: Omit<BenchResult, 'suite' | 'node' | 'at'>): BenchResult;
  readonly results: BenchResult[];
}

export function createContext(suite: string): SuiteContext {
  const maxTime = Number(process.env.BENCH_MAX_TIME ?? 1);
  const scale = Number(process.env.BENCH_SCALE ?? 1);
  const results: BenchResult[] = [];
  const stamp = () => ({ node: process.version, at: new Date().toISOString() });
  return {
    suite,
    maxTime,
    scale,
    results,
    record(r) {
      const full: BenchResult = { suite, ...r, ...stamp() };
      results.push(full);
      console.log(formatLine(full));
      return full;
    },
    async run(cases) {
      const out: BenchResult[] = [];
      for (const c of cases) {
        await c.setup?.();
        const bench = new Benchmark(`${c.name} [${c.impl}]`, c.fn, { maxTime, minSamples: 5 });
        bench.run({ async: false });
        await c.teardown?.();
        if (bench.error) throw bench.error;
        const per = c.opsPerCall ?? 1;
        const r: BenchResult = {
          suite,
          case: c.name,
          impl: c.impl,
          ops_per_s: bench.hz * per,
          rme_pct: bench.stats.rme,
          samples: bench.stats.sample.length,
          mean_ms_per_call: bench.stats.mean * 1000,
          ops_per_call: per,
          ...(c.params ? { params: c.params } : {}),
          ...stamp(),
        };
        results.push(r);
        out.push(r);
        console.log(formatLine(r));
      }
      return out;
    },
  };
}

function formatLine(r: BenchResult): string {
  return `  ${r.case.padEnd(28)} ${r.impl.padEnd(18)} ${fmt(r.ops_per_s).padStart(14)} ops/s  ±${r.rme_pct.toFixed(1)}%`;
}

export function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/**
 * A Markdown table: one row per case, one column per impl, plus the ratio of `ours` to
 * `anchor` when both are present.
 */
export function markdownTable(results: readonly BenchResult[], ours: string, anchor: string): string {
  const cases = [...new Set(results.map((r) => r.case))];
  const impls = [...new Set(results.map((r) => r.impl))];
  const head = `| case | ${impls.join(' | ')} | ${ours} / ${anchor} |`;
  const sep = `|${'---|'.repeat(impls.length + 2)}`;
  const rows = cases.map((c) => {
    const by = (i: string) => results.find((r) => r.case === c && r.impl === i);
    const cells = impls.map((i) => {
      const r = by(i);
      return r ? fmt(r.ops_per_s) : '';
    });
    const o = by(ours);
    const a = by(anchor);
    const ratio = o && a ? `${(o.ops_per_s / a.ops_per_s).toFixed(2)}x` : '';
    return `| ${c} | ${cells.join(' | ')} | ${ratio} |`;
  });
  return [head, sep, ...rows].join('\n');
}

/** Appends results as JSON lines to bench/results/<suite>.jsonl and writes <suite>.md. */
export function saveResults(dir: string, suite: string, results: readonly BenchResult[], table: string): void {
  mkdirSync(dir, { recursive: true });
  appendFileSync(join(dir, `${suite}.jsonl`), results.map((r) => JSON.stringify(r)).join('\n') + '\n');
  writeFileSync(join(dir, `${suite}.md`), `# ${suite}\n\n${table}\n`);
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Calls per second of `fn` over one wall-clock slice of about `ms` milliseconds, for paired
 * measurements that alternate slices of two impls so load on a shared machine hits both alike.
 * The clock is read once per `callsPerCheck` calls, so a fast `fn` is not dominated by it.
 */
export function sliceRate(fn: () => void, ms: number, callsPerCheck = 1): number {
  const budget = BigInt(Math.round(ms * 1e6));
  const t0 = process.hrtime.bigint();
  let calls = 0;
  let elapsed = 0n;
  do {
    for (let i = 0; i < callsPerCheck; i++) fn();
    calls += callsPerCheck;
    elapsed = process.hrtime.bigint() - t0;
  } while (elapsed < budget);
  return calls / (Number(elapsed) / 1e9);
}
