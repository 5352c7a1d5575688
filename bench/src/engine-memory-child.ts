import 'reflect-metadata';
import { performance } from 'node:perf_hooks';
import { compareBytes, WriteBatch } from '@flashkv/core';
import { MemoryEngine } from '@flashkv/engine-memory';
import { BATCH, BTree, KEY_BYTES, KEY_SEED, makeEntries, sortedEntries, Splitmix, VALUE_BYTES, type AnchorTree, type Entries } from './engine-memory-data.js';

/**
 * One measurement of the engine-memory suite in a fresh process, so that neither the other
 * implementation's data nor an earlier pass's garbage shares the heap with it. Prints one JSON
 * line on stdout.
 *
 *   fill <impl> <seq|random> <n>   time one full load of pre-generated entries
 *   rss  <impl> <n> [views|arrays] load entries made batch by batch, report peak RSS
 *
 * impl is `engine-memory` (batches of 256 through `engine.write`, awaited) or `sorted-btree`
 * (the same entries with `set`, compared by core's compareBytes).
 */

export type Impl = 'engine-memory' | 'sorted-btree';

async function loadOurs(engine: MemoryEngine, e: Entries, from: number, to: number, batch: WriteBatch): Promise<void> {
  for (let i = from; i < to; i += BATCH) {
    batch.clear();
    const end = Math.min(to, i + BATCH);
    for (let j = i; j < end; j++) batch.put('default', e.keys[j]!, e.values[j]!);
    await engine.write(batch);
  }
}

function loadAnchor(tree: AnchorTree, e: Entries, from: number, to: number): void {
  for (let j = from; j < to; j++) tree.set(e.keys[j]!, e.values[j]!);
}

async function fill(impl: Impl, order: 'seq' | 'random', n: number): Promise<object> {
  const random = makeEntries(n, KEY_SEED);
  const e = order === 'seq' ? sortedEntries(random, compareBytes) : random;
  let entries: number;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  if (impl === 'engine-memory') {
    const engine = new MemoryEngine();
    await loadOurs(engine, e, 0, n, new WriteBatch());
    entries = engine.count('default');
  } else {
    const tree = new BTree<Uint8Array, Uint8Array>(undefined, compareBytes);
    loadAnchor(tree, e, 0, n);
    entries = tree.size;
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  // CPU time of the whole process, GC helper threads included.
  const cpuMs = (cpu.user + cpu.system) / 1000;
  if (entries !== n) throw new Error(`${impl} holds ${entries} entries after loading ${n}`);
  return { impl, order, n, ms, cpuMs, ops_per_s: (n / ms) * 1000, cpu_ops_per_s: (n / cpuMs) * 1000 };
}

/**
 * Entries are made one batch at a time and handed over, as a caller producing data would:
 * sorted-btree keeps the caller's arrays, engine-memory copies them and they become garbage.
 * `views`: one buffer per batch, keys and values as views into it (the cheapest arrays a
 * caller can hand over). `arrays`: a fresh Uint8Array per key and per value, as encoders such
 * as TextEncoder or Buffer.from produce them.
 */
async function rss(impl: Impl, n: number, layout: 'views' | 'arrays'): Promise<object> {
  const rng = new Splitmix(KEY_SEED);
  const engine = impl === 'engine-memory' ? new MemoryEngine() : null;
  const tree = impl === 'sorted-btree' ? new BTree<Uint8Array, Uint8Array>(undefined, compareBytes) : null;
  const batch = new WriteBatch();
  const per = KEY_BYTES + VALUE_BYTES;
  for (let i = 0; i < n; i += BATCH) {
    const count = Math.min(BATCH, n - i);
    const buf = new Uint8Array(count * per);
    rng.fill(buf);
    const e: Entries = { keys: [], values: [] };
    for (let j = 0; j < count; j++) {
      if (layout === 'views') {
        e.keys.push(new Uint8Array(buf.buffer, j * per, KEY_BYTES));
        e.values.push(new Uint8Array(buf.buffer, j * per + KEY_BYTES, VALUE_BYTES));
      } else {
        e.keys.push(buf.slice(j * per, j * per + KEY_BYTES));
        e.values.push(buf.slice(j * per + KEY_BYTES, (j + 1) * per));
      }
    }
    if (engine !== null) await loadOurs(engine, e, 0, count, batch);
    else loadAnchor(tree!, e, 0, count);
  }
  const entries = engine !== null ? engine.count('default') : tree!.size;
  if (entries !== n) throw new Error(`${impl} holds ${entries} entries after loading ${n}`);
  const mem = process.memoryUsage();
  return { impl, n, maxRSS_kib: process.resourceUsage().maxRSS, rss: mem.rss, heapTotal: mem.heapTotal, heapUsed: mem.heapUsed, external: mem.external };
}

const [mode, impl, a, b] = process.argv.slice(2);
if (impl !== 'engine-memory' && impl !== 'sorted-btree') throw new Error(`unknown impl ${impl}`);
const out =
  mode === 'fill' ? await fill(impl, a as 'seq' | 'random', Number(b)) : mode === 'rss' ? await rss(impl, Number(a), b === 'arrays' ? 'arrays' : 'views') : null;
if (out === null) throw new Error(`unknown mode ${mode}`);
process.stdout.write(JSON.stringify(out) + '\n');
