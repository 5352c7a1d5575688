import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { defaultTxnPlugins, Kernel, localPlacement, storage, txnClient, type Consensus, type Plugin, type StorageEngine } from '@flashkv/core';
import { MemoryEngine, memoryEngine } from '@flashkv/engine-memory';
import { flashback, type FlashbackPluginOptions } from '@flashkv/flashback';
import { cdc } from '@flashkv/cdc';
import { SERVER, server, type ClusterTopology } from '@flashkv/server';
import type { ClusterNodeHandle, ClusterNodeOptions } from './node.js';

export interface ServeOptions {
  readonly memory?: boolean;
  readonly data: string;
  readonly listen: string;
  readonly token?: string;
  /** `host:port` for Prometheus `GET /metrics` (same token). */
  readonly metrics?: string;
  /** Raft stores in this process (`--cluster n`); absent: one store on LocalConsensus. */
  readonly cluster?: number;
  /** gRPC over TLS (PEM contents); `clientCa` makes the server require client certificates. */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer; readonly clientCa?: Buffer };
  /** pino level for the server's structured logs (stderr); default silent. */
  readonly logLevel?: string;
  /** Run as one store of a multi-process raft cluster (`--store-id`, `--raft-listen`, `--peers`, ...). */
  readonly node?: ClusterNodeOptions;
}

/**
 * `flashkv serve`: one node of the default build (DESIGN.md section 11) — engine-lsm under
 * --data (engine-memory with --memory), LocalConsensus, Storage, flashback, CDC and the gRPC server.
 * With `cluster: n`, n raft stores replicate every region in this process instead of
 * LocalConsensus, store s on its own engine (engine-lsm under <data>/store-<s>).
 * Resolves once the node has stopped after SIGINT/SIGTERM.
 */
export async function serve(options: ServeOptions): Promise<void> {
  // A generated token is printed once: a node never runs without one (issue 7: every call needs it).
  // With client certificates required (tls.clientCa) and no --token, the certificate is the credential.
  const certAuth = options.tls?.clientCa !== undefined;
  const token = options.token !== undefined && options.token !== '' ? options.token : certAuth ? undefined : randomBytes(18).toString('base64url');
  const n = options.cluster;
  const storeDir = (s: number) => (n === undefined ? options.data : join(options.data, `store-${s}`));
  let engine: Plugin;
  if (options.memory === true) engine = memoryEngine();
  else {
    // Loaded only when used: engine-lsm starts a worker thread.
    const { lsmEngine } = await import('@flashkv/engine-lsm');
    engine = lsmEngine({ dir: storeDir(1) });
  }
  // Stores 2..n of a cluster: opened here, closed after the kernel (the raft plugin does not own them).
  const extra: StorageEngine[] = [];
  const engineFor = async (s: number): Promise<StorageEngine> => {
    let e: StorageEngine;
    if (options.memory === true) e = new MemoryEngine();
    else {
      const { LsmEngine } = await import('@flashkv/engine-lsm');
      e = await LsmEngine.open({ dir: storeDir(s) });
    }
    extra.push(e);
    return e;
  };
  let consensusPlugins: Plugin[];
  // Every store of an in-process cluster answers at this node's address; the leader is whichever store's peer leads.
  let topology = n === undefined ? undefined : (consensus: Consensus | undefined, self: () => string | undefined): ClusterTopology | undefined => inProcessTopology(consensus, n, self);
  const nodeOpts = options.node;
  let flashbackOptions: FlashbackPluginOptions = {};
  if (nodeOpts !== undefined) {
    // One store of a cluster of processes: raft over TCP, placement in the replicated meta group.
    const { clusterNode, nodeTopology, leadRegionHere } = await import('./node.js');
    const handle: ClusterNodeHandle = { node: undefined };
    flashbackOptions = { leadRegion: leadRegionHere(handle, nodeOpts.storeId, nodeOpts.grpcPeers) };
    consensusPlugins = [clusterNode(nodeOpts, handle), storage(), txnClient()];
    topology = (_c, self) => nodeTopology(handle, nodeOpts.storeId, nodeOpts.grpcPeers, self);
  } else if (n === undefined) consensusPlugins = defaultTxnPlugins();
  else {
    const { raft } = await import('@flashkv/raft');
    consensusPlugins = [localPlacement(), raft({ stores: n, engineFor }), storage(), txnClient()];
  }
  // CDC ticks every 200 ms rather than TiKV's 1 s: a flashback waits for resolved ts to pass its
  // version, and `flashkv changefeed --until-ts` for the global resolved ts, so a slow tick is felt.
  let kernel: Kernel;
  try {
    kernel = await Kernel.start({ plugins: [engine, ...consensusPlugins, flashback(flashbackOptions), cdc({ tickMs: 200 }), server({
          listen: options.listen,
          ...(topology !== undefined ? { topology } : {}),
          ...(token !== undefined ? { token } : {}),
          ...(options.metrics !== undefined ? { metricsListen: options.metrics } : {}),
          ...(options.tls !== undefined ? { tls: options.tls } : {}),
          ...(options.logLevel !== undefined ? { logLevel: options.logLevel as 'info', logStream: process.stderr } : {}),
        })] });
  } catch (e) {
    await closeAll(extra);
    throw e;
  }
  const endpoint = kernel.resolve(SERVER).address!;
  const out = process.stdout;
  out.write(`flashkv serving on ${endpoint} (engine: ${options.memory === true ? 'memory' : `lsm, data in ${options.data}`}${n === undefined ? '' : `; raft, ${n} stores in this process`}${nodeOpts === undefined ? '' : `; raft store ${nodeOpts.storeId} of ${nodeOpts.peers.size}, raft on ${nodeOpts.raftListen.host}:${nodeOpts.raftListen.port}`})\n`);
  out.write(token !== undefined ? `  token: ${token}\n` : '  auth: client certificates signed by --tls-client-ca\n');
  const srv = kernel.resolve(SERVER);
  if (srv.metricsPort !== undefined) {
    const host = options.metrics!.replace(/:\d+$/, '');
    out.write(`  metrics: curl -H 'authorization: Bearer ${token}' http://${host}:${srv.metricsPort}/metrics\n`);
  }
  out.write(`  talk to it from another shell:\n`);
  out.write(`    export FLASHKV_ENDPOINT=${endpoint}${token !== undefined ? ` FLASHKV_TOKEN=${token}` : ''}\n`);
  if (options.tls !== undefined) out.write(`    export FLASHKV_TLS_CA=<the CA that signed the server certificate>${options.tls.clientCa !== undefined ? ' FLASHKV_TLS_CERT=<client.crt> FLASHKV_TLS_KEY=<client.key>' : ''}\n`);
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
  await closeAll(extra);
  out.write('flashkv stopped\n');
}

async function closeAll(engines: readonly StorageEngine[]): Promise<void> {
  for (const e of engines) await e.close();
}

/** What the raft plugin's in-process consensus exposes of its stores (ClusterConsensus.members). */
interface InProcessMembers {
  readonly members?: ReadonlyArray<{ readonly store: { readonly storeId: number; readonly peers: ReadonlyMap<number, { readonly peerId: number; isLeader(): boolean }> } }>;
}

/** Store addresses (all this node's) and region leaders of `serve --cluster n`. */
function inProcessTopology(consensus: Consensus | undefined, n: number, self: () => string | undefined): ClusterTopology | undefined {
  const members = (consensus as InProcessMembers | undefined)?.members;
  if (members === undefined) return undefined;
  return {
    storeAddress: (storeId) => (storeId >= 1 && storeId <= n ? self() : undefined),
    leaderOf: (regionId) => {
      for (const m of members) {
        const p = m.store.peers.get(regionId);
        if (p?.isLeader() === true) return { peerId: p.peerId, storeId: m.store.storeId };
      }
      return undefined;
    },
  };
}
