import { performance } from 'node:perf_hooks';
import { LocalConsensus, LocalPlacement, Storage, TxnClient, WriteBatch, systemClock, timerSleep } from '@flashkv/core';
import { MemoryEngine } from '@flashkv/engine-memory';
import type { SuiteContext } from '../harness.js';

/*
 * Single-key transactions on engine-memory through the whole txn stack (TxnClient -> Storage ->
 * scheduler latches -> commands -> LocalConsensus -> engine), 16 concurrent clients, each txn
 * `begin; put(key, value); commit` on its own key (no conflicts), issue 3's goals:
 * 2PC >= 20,000 commits/s ('flashkv-2pc': prewrite, then commit of the primary) and
 * 1PC >= 40,000 commits/s ('flashkv-1pc': one prewrite that commits).
 *
 * The anchor is a plain engine-memory `write` of the same key and value bytes (one put per
 * batch, 16 concurrent writers): the ratio ours / anchor is the cost of the transaction layer
 * over the bare engine write, not a comparison with another database.
 *
 * Throughput is timed by hand around the awaited concurrent loop (ctx.record), since every
 * commit is asynchronous.
 */

const CLIENTS = 16;
const KEY = 16;
const VALUE = 64;

function keyOf(client: number, i: number): Uint8Array {
  const k = new Uint8Array(KEY);
  const v = new DataView(k.buffer);
  v.setUint32(0, 0x74786e00); // 'txn\0'
  v.setUint32(4, client);
  v.setUint32(8, i);
  return k;
}

async function timed(total: number, body: (client: number) => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, (_, c) => body(c)));
  return total / ((performance.now() - t0) / 1000);
}

async function runTxns(onePc: boolean, perClient: number, value: Uint8Array): Promise<{ rate: number; paths: Record<string, number> }> {
  const engine = new MemoryEngine();
  const placement = await LocalPlacement.open({ engine, clock: systemClock });
  const storage = new Storage({ consensus: new LocalConsensus({ engine, placement }), placement });
  const client = new TxnClient({ storage, sleep: timerSleep, onePc });
  const paths: Record<string, number> = {};
  const rate = await timed(CLIENTS * perClient, async (c) => {
    for (let i = 0; i < perClient; i++) {
      const txn = await client.begin();
      await txn.put(keyOf(c, i), value);
      await txn.commit();
      const p = txn.commitPath ?? 'none';
      paths[p] = (paths[p] ?? 0) + 1;
    }
  });
  await client.idle();
  await placement.drain();
  await engine.close();
  return { rate, paths };
}

async function runEngineWrites(perClient: number, value: Uint8Array): Promise<number> {
  const engine = new MemoryEngine();
  const rate = await timed(CLIENTS * perClient, async (c) => {
    for (let i = 0; i < perClient; i++) await engine.write(new WriteBatch().put('default', keyOf(c, i), value));
  });
  await engine.close();
  return rate;
}

export default {
  ours: 'flashkv-2pc',
  anchor: 'engine-memory-write',
  async run(ctx: SuiteContext): Promise<void> {
    const perClient = Math.max(100, Math.round(5000 * ctx.scale));
    const value = new Uint8Array(VALUE).fill(0x61);
    const params = { clients: CLIENTS, perClient, keyBytes: KEY, valueBytes: VALUE };
    const rounds = 3;
    // Rounds alternate the three impls so load changes on a shared machine hit all of them; the
    // median round of each is recorded.
    const rates: Record<string, number[]> = { 'flashkv-2pc': [], 'flashkv-1pc': [], 'engine-memory-write': [] };
    const paths: Record<string, Record<string, number>> = {};
    // One untimed pass first, so the JIT has compiled the txn path before any recorded round.
    await runTxns(false, Math.max(50, perClient >> 2), value);
    await runTxns(true, Math.max(50, perClient >> 2), value);
    await runEngineWrites(Math.max(50, perClient >> 2), value);
    for (let r = 0; r < rounds; r++) {
      const two = await runTxns(false, perClient, value);
      rates['flashkv-2pc']!.push(two.rate);
      paths['flashkv-2pc'] = two.paths;
      const one = await runTxns(true, perClient, value);
      rates['flashkv-1pc']!.push(one.rate);
      paths['flashkv-1pc'] = one.paths;
      rates['engine-memory-write']!.push(await runEngineWrites(perClient, value));
    }
    for (const [impl, list] of Object.entries(rates)) {
      const sorted = [...list].sort((a, b) => a - b);
      const median = sorted[Math.floor(sorted.length / 2)]!;
      ctx.record({
        case: 'single-key txn x16 clients',
        impl,
        ops_per_s: median,
        rme_pct: 0,
        samples: rounds,
        mean_ms_per_call: 1000 / median,
        ops_per_call: 1,
        params: { ...params, ...(paths[impl] ? { commitPaths: paths[impl] } : {}) },
        extra: { rounds: list.map((x) => Math.round(x)) },
      });
    }
  },
};
