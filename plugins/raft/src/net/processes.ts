// Spawns raft node processes (dist/src/node-main.js) on loopback: the process tests and the raft bench.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RaftClient } from './client.js';
import type { NetAddress } from './tcp-transport.js';

export const NODE_MAIN = fileURLToPath(new URL('../node-main.js', import.meta.url));

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export interface ProcClusterOptions {
  readonly stores?: number;
  readonly engine?: 'lsm' | 'memory';
  readonly tickMs?: number;
  readonly electionTick?: number;
  readonly testHooks?: boolean;
  readonly seed?: number;
  readonly token?: string;
  /** Where data dirs go (a fresh temp dir by default, removed by `stop`). */
  readonly dir?: string;
}

/** N node processes; each can be killed (any signal) and restarted on the same port and data dir. */
export class ProcCluster {
  readonly nodes = new Map<number, NetAddress>();
  private readonly procs = new Map<number, ChildProcess>();
  readonly token: string;
  readonly dir: string;
  private readonly ownDir: boolean;
  readonly stderr = new Map<number, string>();

  private constructor(private readonly options: ProcClusterOptions) {
    this.token = options.token ?? 'test-cluster-token';
    this.ownDir = options.dir === undefined;
    this.dir = options.dir ?? mkdtempSync(join(tmpdir(), 'flashkv-raft-'));
  }

  static async start(options: ProcClusterOptions = {}): Promise<ProcCluster> {
    const c = new ProcCluster(options);
    const n = options.stores ?? 3;
    for (let i = 1; i <= n; i++) c.nodes.set(i, { host: '127.0.0.1', port: await freePort() });
    await Promise.all([...c.nodes.keys()].map((id) => c.spawn(id)));
    return c;
  }

  private args(id: number): string[] {
    const o = this.options;
    const a = this.nodes.get(id)!;
    const peers = [...this.nodes].map(([s, x]) => `${s}=${x.host}:${x.port}`).join(',');
    const out = [NODE_MAIN, '--store-id', String(id), '--listen', `${a.host}:${a.port}`, '--peers', peers, '--dir', join(this.dir, `s${id}`), '--engine', o.engine ?? 'lsm'];
    if (o.tickMs !== undefined) out.push('--tick-ms', String(o.tickMs));
    if (o.electionTick !== undefined) out.push('--election-tick', String(o.electionTick));
    if (o.seed !== undefined) out.push('--seed', String(o.seed));
    if (o.testHooks) out.push('--test-hooks');
    return out;
  }

  /** Starts node `id` and resolves once it prints READY. */
  spawn(id: number): Promise<void> {
    const child = spawn(process.execPath, this.args(id), { env: { ...process.env, FLASHKV_CLUSTER_TOKEN: this.token }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.procs.set(id, child);
    this.stderr.set(id, '');
    child.stderr!.on('data', (d: Buffer) => this.stderr.set(id, (this.stderr.get(id)! + d.toString()).slice(-4000)));
    return new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`node ${id} did not start: ${this.stderr.get(id)}`)), 20000);
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('READY')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('exit', (code, sig) => {
        clearTimeout(timer);
        reject(new Error(`node ${id} exited (${code ?? sig}) before READY: ${this.stderr.get(id)}`));
      });
    });
  }

  /** Kills node `id` with a signal and waits for the process to be gone. */
  async kill(id: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.procs.get(id);
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill(signal);
    await gone;
    this.procs.delete(id);
  }

  alive(id: number): boolean {
    const p = this.procs.get(id);
    return p !== undefined && p.exitCode === null && p.signalCode === null;
  }

  client(options: { timeoutMs?: number; deadlineMs?: number; sharedConnections?: boolean } = {}): RaftClient {
    return new RaftClient({ nodes: this.nodes, token: this.token, ...options });
  }

  /** The store every live node agrees leads (waits for one). */
  async leader(client: RaftClient, ms = 10000): Promise<number> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      for (const id of this.nodes.keys()) {
        if (!this.alive(id)) continue;
        try {
          const s = await client.status(id);
          if (s.isLeader) return id;
        } catch {
          // a node that is down or starting
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('no leader within the deadline');
  }

  async stop(): Promise<void> {
    await Promise.all([...this.procs.keys()].map((id) => this.kill(id, 'SIGKILL')));
    if (this.ownDir) rmSync(this.dir, { recursive: true, force: true });
  }
}
