import 'reflect-metadata';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { readdirSync } from 'node:fs';
import { createContext, markdownTable, saveResults, type SuiteContext } from './harness.js';

/** A suite module: `export default { ours, anchor, run(ctx) }`. */
export interface SuiteModule {
  readonly ours: string;
  readonly anchor: string;
  run(ctx: SuiteContext): Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url));
const suitesDir = join(here, 'suites');
const available = readdirSync(suitesDir)
  .filter((f) => f.endsWith('.js'))
  .map((f) => f.slice(0, -3))
  .sort();

const args = process.argv.slice(2);
if (args.includes('--list')) {
  console.log(available.join('\n'));
  process.exit(0);
}
if (args.includes('--help') || args.includes('-h')) {
  console.log(`usage: npm run bench -- [suite ...]

Runs benchmark.js suites side by side with their anchors and writes JSON lines and a
Markdown table to bench/results/<suite>.{jsonl,md}.

suites: ${available.join(', ')}   (default: all)

environment:
  BENCH_MAX_TIME=s   seconds per case (default 1)
  BENCH_SCALE=x      multiply dataset sizes (default 1; 0.1 for a quick look)
  FLASHKV_HOTPATH=js|wasm  force one hot-path implementation`);
  process.exit(0);
}
const chosen = args.length ? args : available;
for (const name of chosen) {
  if (!available.includes(name)) {
    console.error(`unknown suite "${name}"; available: ${available.join(', ')}`);
    process.exit(2);
  }
}
const resultsDir = join(here, '..', '..', 'results');
for (const name of chosen) {
  const mod = (await import(join(suitesDir, `${name}.js`))).default as SuiteModule;
  console.log(`# suite ${name} (${mod.ours} vs ${mod.anchor})`);
  const ctx = createContext(name);
  await mod.run(ctx);
  const table = markdownTable(ctx.results, mod.ours, mod.anchor);
  console.log(`\n${table}\n`);
  saveResults(resultsDir, name, ctx.results, table);
}
