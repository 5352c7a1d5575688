import { randomBytes } from 'node:crypto';
import { defaultTxnPlugins, Kernel, type Plugin } from '@flashkv/core';
import { memoryEngine } from '@flashkv/engine-memory';
import { flashback } from '@flashkv/flashback';
import { cdc } from '@flashkv/cdc';
import { SERVER, server } from '@flashkv/server';

export interface ServeOptions {
  readonly memory?: boolean;
  readonly data: string;
  readonly listen: string;
  readonly token?: string;
  /** `host:port` for Prometheus `GET /metrics` (same token). */
  readonly metrics?: string;
}

/**
 * `flashkv serve`: one node of the default build (DESIGN.md section 11) — engine-lsm under
 * --data (engine-memory with --memory), LocalConsensus, Storage, flashback, CDC and the gRPC server.
 * Resolves once the node has stopped after SIGINT/SIGTERM.
 */
export async function serve(options: ServeOptions): Promise<void> {
  // A generated token is printed once: a node never runs without one (issue 7: every call needs it).
  const token = options.token !== undefined && options.token !== '' ? options.token : randomBytes(18).toString('base64url');
  let engine: Plugin;
  if (options.memory === true) engine = memoryEngine();
  else {
    // Loaded only when used: engine-lsm starts a worker thread.
    const { lsmEngine } = await import('@flashkv/engine-lsm');
    engine = lsmEngine({ dir: options.data });
  }
  // CDC ticks every 200 ms rather than TiKV's 1 s: a flashback waits for resolved ts to pass its
  // version, and `flashkv changefeed --until-ts` for the global resolved ts, so a slow tick is felt.
  const kernel = await Kernel.start({ plugins: [engine, ...defaultTxnPlugins(), flashback(), cdc({ tickMs: 200 }), server({ listen: options.listen, token, ...(options.metrics !== undefined ? { metricsListen: options.metrics } : {}) })] });
  const endpoint = kernel.resolve(SERVER).address!;
  const out = process.stdout;
  out.write(`flashkv serving on ${endpoint} (engine: ${options.memory === true ? 'memory' : `lsm, data in ${options.data}`})\n`);
  out.write(`  token: ${token}\n`);
  const srv = kernel.resolve(SERVER);
  if (srv.metricsPort !== undefined) {
    const host = options.metrics!.replace(/:\d+$/, '');
    out.write(`  metrics: curl -H 'authorization: Bearer ${token}' http://${host}:${srv.metricsPort}/metrics\n`);
  }
  out.write(`  talk to it from another shell:\n`);
  out.write(`    export FLASHKV_ENDPOINT=${endpoint} FLASHKV_TOKEN=${token}\n`);
  out.write(`    flashkv put hello world && flashkv get hello && flashkv scan\n`);
  out.write(`  Ctrl-C stops it\n`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      out.write(`\n${signal}: stopping\n`);
      resolve();
    };
    const onInt = () => stop('SIGINT');
    const onTerm = () => stop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
  await kernel.stop();
  out.write('flashkv stopped\n');
}
