import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { defaultTxnPlugins, Kernel, STORAGE, TxnClient, timerSleep } from '@flashkv/core';
import { memoryEngine } from '@flashkv/engine-memory';
import * as grpc from '@grpc/grpc-js';
import { FlashKvClient } from '@flashkv/server';
import { median, type SuiteContext } from '../harness.js';
import { ECHO_PATH, loadKeys } from '../server-child.js';
import { benchKey, BENCH_TOKEN, KEY_BYTES, VALUE_BYTES } from '../server-data.js';

/*
 * Issue 7's goals over gRPC on loopback, one node: point gets with 16 concurrent clients
 * (>= 20,000 ops/s) and single-key transactions (begin; put; commit, >= 5,000 txn/s; a 1-key
 * txn commits in 1PC: a Tso call and a Prewrite call).
 *
 * The server runs in a child process (bench/src/server-child.ts), so client and server do not
 * share an event loop; the 16 clients are 16 async workers in this process, each looping its
 * operation for a wall-clock slice. Impls:
 *   flashkv-grpc-batched one FlashKvClient with `batching: true` shared by the 16 callers (as
 *                        16 threads share one TiKV client): what they ask while a Batch call is
 *                        in flight goes out together in the next (up to 2 in flight)
 *   flashkv-grpc         16 FlashKvClients, one call per request, one TCP connection (grpc-js
 *                        shares a subchannel between channels with equal options)
 *   flashkv-grpc-16conn  16 FlashKvClients, a connection each ('grpc.use_local_subchannel_pool')
 *   grpc-js-echo         (gets only) a bare grpc-js unary echo of 32 bytes in the same child
 *                        process: no protobuf, auth, metrics or storage; the floor a grpc-js
 *                        call costs on this machine, so the gap between it and flashkv-grpc is
 *                        ours and the gap between it and in-process is grpc-js's
 *   in-process (anchor)  the same operations without gRPC in this process: kernel STORAGE.get
 *                        for gets, core's TxnClient for txns, on a node loaded the same way
 * Seven rounds of 0.7 s slices alternate the impls (load on the shared machine hits all alike); the median round is
 * recorded, with CPU microseconds per op of the server process and of this (client) process,
 * which say where the time goes, and the load average.
 */

const CLIENTS = 16;
const ROUNDS = 7;

interface ServerProc {
  readonly endpoint: string;
  readonly echoEndpoint: string;
  cpu(): Promise<number>;
  stop(): Promise<void>;
}

async function spawnServer(keys: number): Promise<ServerProc> {
  const script = fileURLToPath(new URL('../server-child.js', import.meta.url));
  const child = spawn(process.execPath, [...(process.env['SERVER_CHILD_ARGS']?.split(' ').filter(Boolean) ?? []), script, String(keys)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const waiting: Array<(l: string) => void> = [];
  lines.on('line', (l) => waiting.shift()?.(l));
  const next = () => new Promise<string>((resolve) => waiting.push(resolve));
  const first = JSON.parse(await next()) as { endpoint: string; echoEndpoint: string };
  return {
    endpoint: first.endpoint,
    echoEndpoint: first.echoEndpoint,
    async cpu() {
      const p = next();
      child.stdin!.write('cpu\n');
      const u = JSON.parse(await p) as { user: number; system: number };
      return u.user + u.system;
    },
    async stop() {
      child.stdin!.write('quit\n');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

/** Ops per second of CLIENTS workers each looping `op` until `ms` have passed. */
async function slice(ms: number, op: (worker: number, n: number) => Promise<void>): Promise<{ rate: number; ops: number }> {
  let ops = 0;
  const t0 = performance.now();
  const end = t0 + ms;
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, w) => {
      for (let n = 0; performance.now() < end; n++) {
        await op(w, n);
        ops++;
      }
    }),
  );
  return { rate: ops / ((performance.now() - t0) / 1000), ops };
}

/**
 * CPU milliseconds of a fixed integer loop (2e7 iterations): how fast this machine runs plain JS
 * right now. On a shared, overloaded machine the same code costs several times more CPU, so
 * the us/op figures are to be read against it.
 */
function calibrationMs(): number {
  const c0 = process.cpuUsage();
  let x = 0;
  for (let i = 0; i < 2e7; i++) x = (x + i * 7) | 0;
  const c = process.cpuUsage(c0);
  if (x === 42) console.log('');
  return (c.user + c.system) / 1000;
}

interface Measured {
  rate: number;
  serverUsPerOp?: number;
  clientUsPerOp: number;
}

export default {
  ours: 'flashkv-grpc-batched',
  anchor: 'in-process',
  async run(ctx: SuiteContext): Promise<void> {
    const keys = Math.max(1000, Math.round(10_000 * ctx.scale));
    const ms = Math.max(300, Math.round(700 * ctx.maxTime));
    const value = new Uint8Array(VALUE_BYTES).fill(0x62);
    const srv = await spawnServer(keys);
    const shared = Array.from({ length: CLIENTS }, () => new FlashKvClient({ endpoint: srv.endpoint, token: BENCH_TOKEN }));
    const own = Array.from({ length: CLIENTS }, () => new FlashKvClient({ endpoint: srv.endpoint, token: BENCH_TOKEN, channelOptions: { 'grpc.use_local_subchannel_pool': 1 } }));
    const echo = Array.from({ length: CLIENTS }, () => new grpc.Client(srv.echoEndpoint, grpc.credentials.createInsecure()));
    const payload = Buffer.alloc(32, 1);
    const same = (b: Buffer): Buffer => b;
    const echoCall = (c: grpc.Client) =>
      new Promise<Buffer>((resolve, reject) => c.makeUnaryRequest(ECHO_PATH, same, same, payload, (e, r) => (e ? reject(e) : resolve(r!))));
    const batched = new FlashKvClient({ endpoint: srv.endpoint, token: BENCH_TOKEN, batching: true });
    const kernel = await Kernel.start({ plugins: [memoryEngine(), ...defaultTxnPlugins()] });
    await loadKeys(kernel, keys);
    const storage = kernel.resolve(STORAGE);
    const txnClient = new TxnClient({ storage, sleep: timerSleep });
    // Warm up every path (connections, region directories, JIT).
    for (const c of [...shared, ...own, batched]) await c.get(benchKey(0), await c.getTs());
    for (const c of echo) await echoCall(c);

    // Distinct txn keys per round, impl, worker and iteration: no conflicts, no overwrites.
    let txnTag = 0x74786e00;
    const gets: Record<string, (w: number, n: number, ts: bigint) => Promise<unknown>> = {
      'flashkv-grpc-batched': (w, n, ts) => batched.get(benchKey((w * 7919 + n * 104_729) % keys), ts),
      'flashkv-grpc': (w, n, ts) => shared[w]!.get(benchKey((w * 7919 + n * 104_729) % keys), ts),
      'flashkv-grpc-16conn': (w, n, ts) => own[w]!.get(benchKey((w * 7919 + n * 104_729) % keys), ts),
      'grpc-js-echo': (w) => echoCall(echo[w]!),
      'in-process': (w, n, ts) => storage.get(benchKey((w * 7919 + n * 104_729) % keys), ts),
    };
    const txns: Record<string, (w: number, n: number, tag: number) => Promise<unknown>> = {
      'flashkv-grpc-batched': async (w, n, tag) => {
        const tx = await batched.begin();
        tx.put(benchKey(w * 1_000_000 + n, tag), value);
        await tx.commit();
      },
      'flashkv-grpc': async (w, n, tag) => {
        const tx = await shared[w]!.begin();
        tx.put(benchKey(w * 1_000_000 + n, tag), value);
        await tx.commit();
      },
      'flashkv-grpc-16conn': async (w, n, tag) => {
        const tx = await own[w]!.begin();
        tx.put(benchKey(w * 1_000_000 + n, tag), value);
        await tx.commit();
      },
      'in-process': async (w, n, tag) => {
        const tx = await txnClient.begin();
        await tx.put(benchKey(w * 1_000_000 + n, tag), value);
        await tx.commit();
      },
    };
    const measure = async (impl: string, body: () => Promise<{ rate: number; ops: number }>): Promise<Measured> => {
      const remote = impl !== 'in-process';
      const s0 = remote ? await srv.cpu() : 0;
      const c0 = process.cpuUsage();
      const { rate, ops } = await body();
      const c = process.cpuUsage(c0);
      const out: Measured = { rate, clientUsPerOp: (c.user + c.system) / ops };
      if (remote) out.serverUsPerOp = ((await srv.cpu()) - s0) / ops;
      return out;
    };
    const results: Record<string, Record<string, Measured[]>> = { 'point-get x16': {}, 'single-key txn x16': {} };
    const load: number[] = [];
    const calib: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      load.push(loadavg()[0]!);
      calib.push(calibrationMs());
      for (const impl of Object.keys(gets)) {
        const ts = await shared[0]!.getTs();
        (results['point-get x16']![impl] ??= []).push(await measure(impl, () => slice(ms, (w, n) => gets[impl]!(w, n, ts).then(() => undefined))));
      }
      for (const impl of Object.keys(txns)) {
        const tag = txnTag++;
        (results['single-key txn x16']![impl] ??= []).push(await measure(impl, () => slice(ms, (w, n) => txns[impl]!(w, n, tag).then(() => undefined))));
      }
    }
    load.push(loadavg()[0]!);
    for (const [name, byImpl] of Object.entries(results)) {
      for (const [impl, runs] of Object.entries(byImpl)) {
        const rate = median(runs.map((r) => r.rate));
        const pick = runs.find((r) => r.rate === rate) ?? runs[0]!;
        ctx.record({
          case: name,
          impl,
          ops_per_s: rate,
          rme_pct: 0,
          samples: runs.length,
          mean_ms_per_call: 1000 / rate,
          ops_per_call: 1,
          params: { clients: CLIENTS, keys, keyBytes: KEY_BYTES, valueBytes: VALUE_BYTES, sliceMs: ms, rounds: ROUNDS, loadavg1: load.map((l) => Number(l.toFixed(2))), calibrationCpuMs: calib.map((c) => Number(c.toFixed(0))) },
          extra: {
            rates: runs.map((r) => Math.round(r.rate)),
            ...(impl === 'flashkv-grpc-batched' ? { opsPerBatch: Number((batched.batchStats.ops / Math.max(1, batched.batchStats.batches)).toFixed(1)) } : {}),
            clientCpuUsPerOp: Number(pick.clientUsPerOp.toFixed(1)),
            ...(pick.serverUsPerOp !== undefined ? { serverCpuUsPerOp: Number(pick.serverUsPerOp.toFixed(1)) } : {}),
          },
        });
        console.log(`    rounds ${runs.map((r) => Math.round(r.rate)).join(', ')}; client ${pick.clientUsPerOp.toFixed(1)} us/op${pick.serverUsPerOp !== undefined ? `, server ${pick.serverUsPerOp.toFixed(1)} us/op` : ''}`);
      }
    }
    console.log(`  load average (1 min) per round: ${load.map((l) => l.toFixed(2)).join(', ')}; calibration loop CPU ms per round: ${calib.map((c) => c.toFixed(0)).join(', ')}`);
    for (const c of [...shared, ...own, ...echo, batched]) c.close();
    await txnClient.idle();
    await kernel.stop();
    await srv.stop();
  },
};
