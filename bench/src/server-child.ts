import 'reflect-metadata';
import { createInterface } from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import { defaultTxnPlugins, Kernel, PLACEMENT, STORAGE, type Kernel as K } from '@flashkv/core';
import { memoryEngine } from '@flashkv/engine-memory';
import { SERVER, server } from '@flashkv/server';
import { benchKey, BENCH_TOKEN, VALUE_BYTES } from './server-data.js';

/**
 * The server side of the `server` bench suite, in a process of its own so that the gRPC server
 * and the 16 clients do not share one event loop (or one core's worth of JS). Starts an
 * engine-memory node with the default txn plugins and the gRPC server on 127.0.0.1:0, loads
 * `keys` keys (16-byte keys, 64-byte values, 1PC in batches of 256), prints
 * `{"endpoint","echoEndpoint","loaded"}` on stdout, then answers stdin lines:
 *   cpu   -> {"user","system"} CPU microseconds of this process so far
 *   quit  -> stops the kernel and exits
 *   node server-child.js <keys>
 */
/**
 * A bare grpc-js server with one unary method that answers its request bytes (no protobuf, no
 * auth, no storage): the floor of what a grpc-js unary call costs on this machine.
 */
export const ECHO_PATH = '/bench.Echo/Echo';
const same = (b: Buffer): Buffer => b;
export const ECHO_METHOD = { path: ECHO_PATH, requestStream: false, responseStream: false, requestSerialize: same, requestDeserialize: same, responseSerialize: same, responseDeserialize: same } as const;

async function startEcho(): Promise<{ server: grpc.Server; endpoint: string }> {
  const echo = new grpc.Server();
  echo.addService({ Echo: ECHO_METHOD }, { Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, call.request) });
  const port = await new Promise<number>((resolve, reject) => echo.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { server: echo, endpoint: `127.0.0.1:${port}` };
}

export async function loadKeys(kernel: K, keys: number): Promise<void> {
  const storage = kernel.resolve(STORAGE);
  const placement = kernel.resolve(PLACEMENT);
  const value = new Uint8Array(VALUE_BYTES).fill(0x61);
  for (let i = 0; i < keys; i += 256) {
    const mutations = [];
    for (let j = i; j < Math.min(keys, i + 256); j++) mutations.push({ op: 'put' as const, key: benchKey(j), value });
    const startTs = await placement.getTs();
    const r = await storage.prewrite({ mutations, primary: mutations[0]!.key, startTs, lockTtl: 3000n, tryOnePc: true });
    if (r.onePcCommitTs === 0n) throw new Error('bench load expected 1PC (one region)');
  }
}

if (process.argv[1]?.endsWith('server-child.js') === true) {
  const keys = Number(process.argv[2] ?? 10_000);
  const kernel = await Kernel.start({ plugins: [memoryEngine(), ...defaultTxnPlugins(), server({ listen: '127.0.0.1:0', token: BENCH_TOKEN, logLevel: 'warn' })] });
  await loadKeys(kernel, keys);
  const echo = await startEcho();
  process.stdout.write(`${JSON.stringify({ endpoint: kernel.resolve(SERVER).address, echoEndpoint: echo.endpoint, loaded: keys })}\n`);
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line === 'cpu') {
      const u = process.cpuUsage();
      process.stdout.write(`${JSON.stringify({ user: u.user, system: u.system })}\n`);
    } else if (line === 'quit') {
      rl.close();
    }
  });
  rl.once('close', () => {
    echo.server.forceShutdown();
    void kernel.stop().then(() => process.exit(0));
  });
}
