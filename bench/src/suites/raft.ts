import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcCluster, RaftClient, freePort } from '@flashkv/raft';
import { median, type SuiteContext } from '../harness.js';

/*
 * Raft across processes (issue 8 goals): 3 node processes on loopback on engine-lsm (every
 * acknowledged put is fsynced on a majority), 16 concurrent clients, 16-byte keys, 100-byte values.
 * Ours: 16 RaftClients, which share one connection per node as RaftClients of a process do by
 * default (requests of callers resumed in the same turn leave in one write);
 * RAFT_BENCH_OWN_CONNECTIONS=1 gives each its own connection, as each etcd client has.
 * Anchor: etcd 3.x, 3 members on loopback (its WAL fsynced the same way), driven through its HTTP
 * gateway `/v3/kv/put` by 16 concurrent keep-alive HTTP clients. The two alternate in slices of
 * RAFT_BENCH_SECONDS (default 5) for RAFT_BENCH_ROUNDS rounds (default 3) so load on the shared
 * machine hits both; medians are reported. Then leader failover: the leader process is killed
 * with SIGKILL under a trickle of writes and the time to the first acknowledged write after the
 * kill is measured (default timings: 100 ms ticks, election timeout 10-20 ticks), for ours and
 * for etcd (its defaults: 100 ms heartbeat, 1 s election timeout).
 *
 * Goals: >= 2x etcd's puts/s with p99 no worse; failover <= 3 s.
 */

const CLIENTS = 16;
const KEY = 16;
const VALUE = 100;

interface Slice {
  readonly opsPerSec: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
}

function keyBytes(prefix: number, i: number): Uint8Array {
  const k = new Uint8Array(KEY);
  const s = `${prefix.toString(36)}-${i}`;
  for (let j = 0; j < s.length && j < KEY; j++) k[j] = s.charCodeAt(j);
  for (let j = s.length; j < KEY; j++) k[j] = 0x2e;
  return k;
}

const VALUE_BYTES = new Uint8Array(VALUE).fill(0x76);

/** Runs `put` from CLIENTS concurrent loops for `ms`; latency per acknowledged put. */
async function drive(ms: number, put: (client: number, i: number) => Promise<void>): Promise<Slice> {
  const lat: number[] = [];
  let errors = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, c) => {
      for (let i = 0; performance.now() - t0 < ms; i++) {
        const s = performance.now();
        try {
          await put(c, i);
          lat.push(performance.now() - s);
        } catch {
          errors++;
        }
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const at = (q: number): number => (lat.length === 0 ? NaN : lat[Math.min(lat.length - 1, Math.floor(lat.length * q))]!);
  return { opsPerSec: lat.length / secs, p50: at(0.5), p99: at(0.99), errors };
}

// ---- etcd ----

class Etcd {
  private readonly procs = new Map<number, ChildProcess>();
  readonly clientPorts: number[] = [];
  private readonly peerPorts: number[] = [];
  private readonly dir = mkdtempSync(join(tmpdir(), 'bench-etcd-'));
  private readonly agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });

  static available(): string | undefined {
    const r = spawnSync('etcd', ['--version'], { encoding: 'utf8' });
    if (r.error || r.status !== 0) return undefined;
    return r.stdout.split('\n')[0];
  }

  async start(): Promise<void> {
    for (let i = 0; i < 3; i++) {
      this.clientPorts.push(await freePort());
      this.peerPorts.push(await freePort());
    }
    for (let i = 0; i < 3; i++) this.spawn(i);
    const end = Date.now() + 30000;
    while ((await this.leader()) === undefined) {
      if (Date.now() > end) throw new Error('etcd did not elect a leader');
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  spawn(i: number): void {
    const cluster = this.peerPorts.map((p, j) => `e${j}=http://127.0.0.1:${p}`).join(',');
    const args = [
      '--name', `e${i}`,
      '--data-dir', join(this.dir, `e${i}`),
      '--listen-client-urls', `http://127.0.0.1:${this.clientPorts[i]}`,
      '--advertise-client-urls', `http://127.0.0.1:${this.clientPorts[i]}`,
      '--listen-peer-urls', `http://127.0.0.1:${this.peerPorts[i]}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${this.peerPorts[i]}`,
      '--initial-cluster', cluster,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', 'flashkv-bench',
      '--log-level', 'error',
    ];
    this.procs.set(i, spawn('etcd', args, { stdio: 'ignore' }));
  }

  post(i: number, path: string, body: unknown, timeoutMs = 5000): Promise<{ status: number; json: Record<string, unknown> }> {
    const data = JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: this.clientPorts[i], path, method: 'POST', agent: this.agent, timeout: timeoutMs, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            try {
              resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString() || '{}') });
            } catch (e) {
              reject(e);
            }
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end(data);
    });
  }

  /** Index of the member that leads, per the members' own status. */
  async leader(): Promise<number | undefined> {
    for (let i = 0; i < 3; i++) {
      if (!this.procs.has(i)) continue;
      try {
        const r = await this.post(i, '/v3/maintenance/status', {}, 1000);
        const header = r.json['header'] as { member_id?: string } | undefined;
        if (r.json['leader'] !== undefined && header?.member_id === r.json['leader']) return i;
      } catch {
        // starting or down
      }
    }
    return undefined;
  }

  async put(i: number, key: Uint8Array, value: Uint8Array): Promise<void> {
    const r = await this.post(i, '/v3/kv/put', { key: Buffer.from(key).toString('base64'), value: Buffer.from(value).toString('base64') });
    if (r.status !== 200 || r.json['error'] !== undefined) throw new Error(`etcd put: ${r.status} ${JSON.stringify(r.json)}`);
  }

  /** SIGKILL, resolved once the process is gone. */
  async kill(i: number): Promise<void> {
    const p = this.procs.get(i);
    this.procs.delete(i);
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGKILL');
    await gone;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.procs.keys()].map((i) => this.kill(i)));
    this.agent.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---- failover ----

/**
 * Kills the leader under a trickle of writes; ms from the kill signal to the first acknowledged
 * write among those started after the leader process was gone (a write the old leader finished
 * just before the signal landed does not count).
 */
async function failover(kill: () => Promise<void>, put: (i: number) => Promise<void>): Promise<number> {
  let killedAt = 0;
  let deadAt = 0;
  let firstAfter = 0;
  let stop = false;
  const writer = (async () => {
    for (let i = 0; !stop; i++) {
      const started = performance.now();
      try {
        await put(i);
        if (deadAt > 0 && started >= deadAt && firstAfter === 0) firstAfter = performance.now();
      } catch {
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  })();
  await new Promise((r) => setTimeout(r, 300));
  killedAt = performance.now();
  await kill();
  deadAt = performance.now();
  const end = Date.now() + 20000;
  while (firstAfter === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  stop = true;
  await writer;
  return firstAfter === 0 ? NaN : firstAfter - killedAt;
}

export default {
  ours: 'flashkv-raft',
  anchor: 'etcd',
  async run(ctx: SuiteContext): Promise<void> {
    const seconds = Number(process.env['RAFT_BENCH_SECONDS'] ?? 5) * ctx.scale;
    const rounds = Number(process.env['RAFT_BENCH_ROUNDS'] ?? 3);
    const failovers = Number(process.env['RAFT_BENCH_FAILOVERS'] ?? 3);
    const etcdVersion = Etcd.available();
    if (!etcdVersion) console.log('  etcd is not installed (apt-get install etcd-server etcd-client): the etcd anchor is SKIPPED, ours runs alone');
    else console.log(`  anchor: ${etcdVersion}`);

    const ours = await ProcCluster.start({ engine: 'lsm' });
    const etcd = etcdVersion ? new Etcd() : undefined;
    const clients: RaftClient[] = [];
    try {
      await etcd?.start();
      const admin = ours.client();
      clients.push(admin);
      // RAFT_BENCH_OWN_CONNECTIONS=1: one connection per client, as the etcd clients have.
      const own = process.env['RAFT_BENCH_OWN_CONNECTIONS'] === '1';
      if (own) console.log('  flashkv-raft clients: one connection each (RAFT_BENCH_OWN_CONNECTIONS=1)');
      for (let c = 0; c < CLIENTS; c++) clients.push(ours.client({ timeoutMs: 5000, deadlineMs: 20000, ...(own ? { sharedConnections: false } : {}) }));
      await ours.leader(admin);
      const etcdLeader = etcd ? (await etcd.leader())! : 0;
      // Warm up both (connections, JIT, first elections done).
      await drive(1000, (c, i) => clients[1 + c]!.put(keyBytes(900 + c, i), VALUE_BYTES).then(() => undefined));
      if (etcd) await drive(1000, (c, i) => etcd.put(etcdLeader, keyBytes(900 + c, i), VALUE_BYTES));

      const mine: Slice[] = [];
      const theirs: Slice[] = [];
      const loads: number[] = [];
      for (let r = 0; r < rounds; r++) {
        loads.push(loadavg()[0]!);
        const a = await drive(seconds * 1000, (c, i) => clients[1 + c]!.put(keyBytes(r * 100 + c, i), VALUE_BYTES).then(() => undefined));
        mine.push(a);
        console.log(`  round ${r + 1} flashkv-raft ${Math.round(a.opsPerSec)} puts/s p50 ${a.p50.toFixed(1)} ms p99 ${a.p99.toFixed(1)} ms errors ${a.errors} (load ${loads[r]!.toFixed(1)})`);
        if (etcd) {
          const b = await drive(seconds * 1000, (c, i) => etcd.put(etcdLeader, keyBytes(r * 100 + c, i), VALUE_BYTES));
          theirs.push(b);
          console.log(`  round ${r + 1} etcd         ${Math.round(b.opsPerSec)} puts/s p50 ${b.p50.toFixed(1)} ms p99 ${b.p99.toFixed(1)} ms errors ${b.errors}`);
        }
      }
      const summary = (xs: Slice[]) => ({ opsPerSec: median(xs.map((x) => x.opsPerSec)), p50: median(xs.map((x) => x.p50)), p99: median(xs.map((x) => x.p99)), errors: xs.reduce((s, x) => s + x.errors, 0) });
      const params = { clients: CLIENTS, keyBytes: KEY, valueBytes: VALUE, seconds, rounds, nodes: 3, engine: 'engine-lsm (fsync)', loadavg1: loads };
      const m = summary(mine);
      ctx.record({ case: 'put, 16 clients, 3 procs', impl: 'flashkv-raft', ops_per_s: m.opsPerSec, rme_pct: 0, samples: rounds, mean_ms_per_call: 1000 / m.opsPerSec, ops_per_call: 1, params, extra: { p50_ms: m.p50, p99_ms: m.p99, errors: m.errors, rounds: mine } });
      if (etcd) {
        const e = summary(theirs);
        ctx.record({ case: 'put, 16 clients, 3 procs', impl: 'etcd', ops_per_s: e.opsPerSec, rme_pct: 0, samples: rounds, mean_ms_per_call: 1000 / e.opsPerSec, ops_per_call: 1, params: { ...params, engine: etcdVersion, via: 'HTTP gateway /v3/kv/put, keep-alive' }, extra: { p50_ms: e.p50, p99_ms: e.p99, errors: e.errors, rounds: theirs } });
        console.log(`  median: flashkv-raft ${Math.round(m.opsPerSec)} puts/s p99 ${m.p99.toFixed(1)} ms | etcd ${Math.round(e.opsPerSec)} puts/s p99 ${e.p99.toFixed(1)} ms | ratio ${(m.opsPerSec / e.opsPerSec).toFixed(2)}x`);
      }

      // Failover: leader killed -> first acknowledged write.
      const ourTimes: number[] = [];
      for (let f = 0; f < failovers; f++) {
        const leader = await ours.leader(admin);
        const ms = await failover(
          () => ours.kill(leader, 'SIGKILL'),
          (i) => clients[1]!.put(keyBytes(5000 + f, i), VALUE_BYTES).then(() => undefined),
        );
        ourTimes.push(ms);
        console.log(`  failover ${f + 1} flashkv-raft: ${ms.toFixed(0)} ms (killed store ${leader})`);
        await ours.spawn(leader);
        await new Promise((r) => setTimeout(r, 1500));
      }
      ctx.record({ case: 'failover: kill -9 leader -> first write (ms)', impl: 'flashkv-raft', ops_per_s: median(ourTimes), rme_pct: 0, samples: failovers, mean_ms_per_call: median(ourTimes), ops_per_call: 1, params: { tickMs: 100, electionTick: 10 }, extra: { unit: 'ms (not ops/s)', runs: ourTimes } });
      if (etcd) {
        const times: number[] = [];
        for (let f = 0; f < failovers; f++) {
          const leader = (await etcd.leader())!;
          const others = [0, 1, 2].filter((i) => i !== leader);
          let n = 0;
          const ms = await failover(
            () => etcd.kill(leader),
            // A client of the surviving members (it cannot know the next leader in advance).
            (i) => etcd.put(others[n++ % 2]!, keyBytes(6000 + f, i), VALUE_BYTES),
          );
          times.push(ms);
          console.log(`  failover ${f + 1} etcd: ${ms.toFixed(0)} ms`);
          etcd.spawn(leader);
          const end = Date.now() + 20000;
          while ((await etcd.leader()) === undefined && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
          await new Promise((r) => setTimeout(r, 1500));
        }
        ctx.record({ case: 'failover: kill -9 leader -> first write (ms)', impl: 'etcd', ops_per_s: median(times), rme_pct: 0, samples: failovers, mean_ms_per_call: median(times), ops_per_call: 1, params: { defaults: 'heartbeat 100 ms, election 1000 ms' }, extra: { unit: 'ms (not ops/s)', runs: times } });
      }
    } finally {
      for (const c of clients) c.close();
      await ours.stop();
      await etcd?.stop();
    }
  },
};
