import 'reflect-metadata';
import { defaultTxnPlugins, Kernel } from '@flashkv/core';
import { memoryEngine } from '@flashkv/engine-memory';
import { flashback } from '@flashkv/flashback';
import { cdc } from '@flashkv/cdc';
import { SERVER, server } from '../src/index.js';

/**
 * A FlashKV node in a process of its own for the cross-process tests: engine-memory, flashback,
 * CDC and the server on 127.0.0.1 port 0 with metrics. Prints `{"endpoint","metricsPort","pid"}`
 * as one line on stdout; pino logs (info) go to stderr. SIGTERM stops the kernel and exits 0.
 *   node child-server.js <token>
 */
const token = process.argv[2] ?? 'child-token';
const kernel = await Kernel.start({
  plugins: [memoryEngine(), ...defaultTxnPlugins(), flashback({ resumeOnStart: false }), cdc({ tickMs: 50 }), server({ listen: '127.0.0.1:0', token, metricsListen: '127.0.0.1:0', logLevel: 'info', shutdownGraceMs: 2000 })],
});
const srv = kernel.resolve(SERVER);
process.stdout.write(`${JSON.stringify({ endpoint: srv.address, metricsPort: srv.metricsPort, pid: process.pid })}\n`);
process.once('SIGTERM', () => {
  kernel.stop().then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
});
