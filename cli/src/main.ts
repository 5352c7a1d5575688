#!/usr/bin/env node
// The `flashkv` command line (issue 7, DESIGN.md section 11).
import 'reflect-metadata';
// Library deprecation notices (grpc-js setting an IP as TLS server name) are not for CLI users:
// every error is one line on stderr.
process.noDeprecation = true;
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import type { FlashKvClient, RemoteFlashbackProgress } from '@flashkv/server';
import { errorLine, hex, table, text } from './format.js';

const DEFAULT_ENDPOINT = '127.0.0.1:20160';
const te = new TextEncoder();

interface ConnOptions {
  endpoint?: string;
  token?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsServerName?: string;
}

/** Thrown for bad command input: printed like any other error, exit code 2. */
class UsageError extends Error {}

function withConn(cmd: Command): Command {
  return cmd
    .addOption(new Option('--endpoint <host:port>', 'server address').env('FLASHKV_ENDPOINT').default(DEFAULT_ENDPOINT))
    .addOption(new Option('--token <token>', 'bearer token the server printed').env('FLASHKV_TOKEN'))
    .addOption(new Option('--tls-ca <file>', 'connect with TLS, trusting the CA certificate in this PEM file').env('FLASHKV_TLS_CA'))
    .addOption(new Option('--tls-cert <file>', 'client certificate (PEM) for a server that requires one').env('FLASHKV_TLS_CERT'))
    .addOption(new Option('--tls-key <file>', 'private key (PEM) of --tls-cert').env('FLASHKV_TLS_KEY'))
    .addOption(new Option('--tls-server-name <name>', "name to check the server's certificate against, if not the endpoint's host").env('FLASHKV_TLS_SERVER_NAME'));
}

/** Reads a PEM file named by a flag; a missing or unreadable file is a usage error naming the flag. */
async function pemFile(flag: string, path: string): Promise<Buffer> {
  const { readFile } = await import('node:fs/promises');
  try {
    return await readFile(path);
  } catch (e) {
    throw new UsageError(`${flag}: cannot read "${path}" (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
}

// Modules beyond commander load inside the command that needs them: every CLI call is a process
// start, and `--help` or a usage error should not pay for gRPC, the kernel or an engine.
async function connect(o: ConnOptions): Promise<FlashKvClient> {
  const hasToken = o.token !== undefined && o.token !== '';
  if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  if ((o.tlsCert !== undefined || o.tlsServerName !== undefined) && o.tlsCa === undefined) throw new UsageError('--tls-cert and --tls-server-name need --tls-ca');
  // A client certificate can stand in for the token (a server with --tls-client-ca accepts it).
  if (!hasToken && o.tlsCert === undefined) throw new UsageError('no token: pass --token or set FLASHKV_TOKEN (flashkv serve prints it)');
  let tls: { ca: Buffer; cert?: Buffer; key?: Buffer; serverName?: string } | undefined;
  if (o.tlsCa !== undefined) {
    tls = { ca: await pemFile('--tls-ca', o.tlsCa) };
    if (o.tlsCert !== undefined) tls = { ...tls, cert: await pemFile('--tls-cert', o.tlsCert), key: await pemFile('--tls-key', o.tlsKey!) };
    if (o.tlsServerName !== undefined) tls = { ...tls, serverName: o.tlsServerName };
  }
  const { FlashKvClient } = await import('@flashkv/server');
  return new FlashKvClient({ endpoint: o.endpoint ?? DEFAULT_ENDPOINT, ...(hasToken ? { token: o.token! } : {}), ...(tls !== undefined ? { tls } : {}) });
}

/** Runs a client command: one error line on stderr and a non-zero exit on failure. */
function action<A extends unknown[]>(fn: (...args: A) => Promise<number | void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      const code = await fn(...args);
      process.exitCode = typeof code === 'number' ? code : 0;
    } catch (e) {
      process.stderr.write(`flashkv: ${errorLine(e)}\n`);
      process.exitCode = e instanceof UsageError ? 2 : 1;
    }
  };
}

function examples(lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;
}

function hostPort(flag: string, v: string): { host: string; port: number } {
  const m = /^(.+):(\d{1,5})$/.exec(v);
  if (m === null || Number(m[2]) > 65535) throw new UsageError(`${flag}: expected host:port, got "${v}"`);
  return { host: m[1]!, port: Number(m[2]) };
}

/** `id=host:port,...` as a map; every id a positive integer, once. */
function idList(flag: string, v: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const item of v.split(',')) {
    const m = /^(\d{1,6})=(.+:\d{1,5})$/.exec(item.trim());
    if (m === null || Number(m[1]) < 1) throw new UsageError(`${flag}: expected id=host:port,... with ids from 1, got "${item}"`);
    if (out.has(Number(m[1]))) throw new UsageError(`${flag}: store ${m[1]} is listed twice`);
    out.set(Number(m[1]), m[2]!);
  }
  return out;
}

/** The node options of `serve --store-id ...`, or undefined when none of them is given. */
function nodeOptions(o: { storeId?: string; raftListen?: string; peers?: string; grpcPeers?: string; clusterToken?: string; token?: string }) {
  if (o.storeId === undefined && o.raftListen === undefined && o.peers === undefined && o.grpcPeers === undefined) return undefined;
  if (o.storeId === undefined || o.raftListen === undefined || o.peers === undefined || o.grpcPeers === undefined) throw new UsageError('a cluster node needs --store-id, --raft-listen, --peers and --grpc-peers together');
  if (!/^\d{1,6}$/.test(o.storeId) || Number(o.storeId) < 1) throw new UsageError(`--store-id must be a positive integer, got "${o.storeId}"`);
  const storeId = Number(o.storeId);
  const raftListen = hostPort('--raft-listen', o.raftListen);
  const peers = new Map([...idList('--peers', o.peers)].map(([id, a]) => [id, hostPort('--peers', a)] as const));
  const grpcPeers = idList('--grpc-peers', o.grpcPeers);
  if (!peers.has(storeId)) throw new UsageError(`--peers must list this store (${storeId}) too`);
  if ([...peers.keys()].sort().join() !== [...grpcPeers.keys()].sort().join()) throw new UsageError('--peers and --grpc-peers must list the same store ids');
  const clusterToken = o.clusterToken ?? o.token;
  if (clusterToken === undefined || clusterToken === '') throw new UsageError('a cluster node needs --token (the same on every node) or --cluster-token');
  if (o.token === undefined || o.token === '') throw new UsageError('a cluster node needs --token, the same on every node (clients may talk to any of them)');
  return { storeId, raftListen, peers, grpcPeers, clusterToken };
}

function uint(what: string, v: string): bigint {
  if (!/^[0-9]{1,20}$/.test(v)) throw new UsageError(`${what} must be a non-negative integer, got "${v}"`);
  return BigInt(v);
}

export function program(): Command {
  const p = new Command('flashkv')
    .description('FlashKV: a transactional, ordered key-value store with point-in-time flashback')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', examples(['flashkv serve --memory --token s3cret', 'export FLASHKV_TOKEN=s3cret', 'flashkv put user:1 Ada', 'flashkv get user:1', 'flashkv flashback --to-tso 449012345678901248', 'flashkv changefeed --start-ts 0 --out feed.jsonl']));

  p.command('serve')
    .description('start one node (engine-lsm under --data, or engine-memory) with the gRPC server')
    .option('--memory', 'keep data in memory (engine-memory); nothing is written to disk')
    .option('--data <dir>', 'data directory for engine-lsm', './data')
    .option('--listen <host:port>', 'address to bind; port 0 picks a free port', DEFAULT_ENDPOINT)
    .addOption(new Option('--token <token>', 'token clients must send (generated and printed when absent)').env('FLASHKV_TOKEN'))
    .option('--metrics <host:port>', 'serve Prometheus metrics at http://host:port/metrics (same token)')
    .option('--cluster <n>', 'run n raft stores in this process (a replicated cluster; data in <data>/store-<id>)')
    .option('--store-id <id>', 'run as store <id> of a multi-process cluster (with --raft-listen, --peers, --grpc-peers)')
    .option('--raft-listen <host:port>', "this store's raft (TCP transport) address")
    .option('--peers <list>', 'raft addresses of every store: id=host:port,... (the same list on every node)')
    .option('--grpc-peers <list>', 'gRPC (--listen) addresses of every store: id=host:port,... (for leader hints to clients)')
    .addOption(new Option('--cluster-token <token>', 'shared secret of the raft connections between stores (default: --token)').env('FLASHKV_CLUSTER_TOKEN'))
    .option('--tls-cert <file>', 'serve gRPC over TLS with this certificate (PEM); needs --tls-key')
    .option('--tls-key <file>', 'private key (PEM) of --tls-cert')
    .option('--tls-client-ca <file>', 'require client certificates signed by this CA (PEM); with it the token is optional for clients that present one')
    .addOption(new Option('--log-level <level>', 'structured (pino) logs on stderr').choices(['silent', 'fatal', 'error', 'warn', 'info', 'debug', 'trace']).env('FLASHKV_LOG_LEVEL'))
    .addHelpText('after', examples(['flashkv serve --memory', 'flashkv serve --data ./data --listen 127.0.0.1:20160 --token s3cret --metrics 127.0.0.1:20180', 'flashkv serve --cluster 3 --data ./cluster-data', 'flashkv serve --store-id 1 --listen 127.0.0.1:20161 --raft-listen 127.0.0.1:7001 --peers 1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003 --grpc-peers 1=127.0.0.1:20161,2=127.0.0.1:20162,3=127.0.0.1:20163 --data ./node-1 --token s3cret', 'flashkv serve --memory --tls-cert server.crt --tls-key server.key --log-level info']))
    .action(action(async (o: { memory?: boolean; data: string; listen: string; token?: string; metrics?: string; cluster?: string; tlsCert?: string; tlsKey?: string; tlsClientCa?: string; logLevel?: string; storeId?: string; raftListen?: string; peers?: string; grpcPeers?: string; clusterToken?: string }) => {
      if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
      if (o.tlsClientCa !== undefined && o.tlsCert === undefined) throw new UsageError('--tls-client-ca needs --tls-cert and --tls-key');
      const tls =
        o.tlsCert === undefined
          ? undefined
          : {
              cert: await pemFile('--tls-cert', o.tlsCert),
              key: await pemFile('--tls-key', o.tlsKey!),
              ...(o.tlsClientCa !== undefined ? { clientCa: await pemFile('--tls-client-ca', o.tlsClientCa) } : {}),
            };
      let cluster: number | undefined;
      if (o.cluster !== undefined) {
        if (!/^[0-9]{1,2}$/.test(o.cluster) || Number(o.cluster) < 1 || Number(o.cluster) > 9) throw new UsageError(`--cluster must be a store count from 1 to 9, got "${o.cluster}"`);
        cluster = Number(o.cluster);
      }
      const node = nodeOptions(o);
      if (node !== undefined && cluster !== undefined) throw new UsageError('--cluster (stores in one process) and --store-id (one store of a cluster of processes) exclude each other');
      const { serve } = await import('./serve.js');
      await serve({ ...(node !== undefined ? { node } : {}), ...(o.memory === true ? { memory: true } : {}), data: o.data, listen: o.listen, ...(o.token !== undefined ? { token: o.token } : {}), ...(o.metrics !== undefined ? { metrics: o.metrics } : {}), ...(cluster !== undefined ? { cluster } : {}), ...(tls !== undefined ? { tls } : {}), ...(o.logLevel !== undefined ? { logLevel: o.logLevel } : {}) });
    }));

  p.command('demo')
    .description('run the flashback story on a fresh in-memory node and print the transcript')
    .addHelpText('after', examples(['flashkv demo']))
    .action(action(async () => {
      const { demo } = await import('./demo.js');
      const { default: cliProgress } = await import('cli-progress');
      const bar = new cliProgress.SingleBar({ format: '  flashback {phase} [{bar}] {value}/{total} region steps', stream: process.stderr, hideCursor: false }, cliProgress.Presets.shades_classic);
      let active = false;
      const code = await demo(
        (line = '') => {
          if (active) {
            bar.stop();
            active = false;
          }
          process.stdout.write(`${line}\n`);
        },
        (p) => {
          const total = Math.max(1, p.regionsTotal * 2);
          if (!active) {
            bar.start(total, 0, { phase: p.phase });
            active = true;
          }
          bar.setTotal(total);
          bar.update(p.regionsPrepared + p.regionsFinished, { phase: p.phase.padEnd(7) });
        },
      );
      if (active) bar.stop();
      return code;
    }));

  withConn(p.command('put').description('write one key in its own transaction; prints the commit ts'))
    .argument('<key>')
    .argument('<value>')
    .addHelpText('after', examples(['flashkv put user:1 "Ada Lovelace"']))
    .action(action(async (key: string, value: string, o: ConnOptions) => {
      const c = await connect(o);
      try {
        const tx = await c.begin();
        tx.put(te.encode(key), te.encode(value));
        process.stdout.write(`committed at ts ${await tx.commit()}\n`);
      } finally {
        c.close();
      }
    }));

  withConn(p.command('delete').description('delete one key in its own transaction; prints the commit ts'))
    .argument('<key>')
    .addHelpText('after', examples(['flashkv delete user:1']))
    .action(action(async (key: string, o: ConnOptions) => {
      const c = await connect(o);
      try {
        const tx = await c.begin();
        tx.delete(te.encode(key));
        process.stdout.write(`committed at ts ${await tx.commit()}\n`);
      } finally {
        c.close();
      }
    }));

  withConn(p.command('txn').description('run several operations in one transaction: "put K V", "delete K", "get K"'))
    .argument('<ops...>', 'operations, one per argument')
    .addHelpText('after', examples(['flashkv txn "put user:1 Ada" "delete user:2" "get user:1"']))
    .action(action(async (ops: string[], o: ConnOptions) => {
      // Parsed in full before connecting: a typo in the third op must not leave the first two applied.
      const parsed = ops.map((raw) => {
        const m = /^\s*(put|delete|get)\s+(\S+)(?:\s+([\s\S]*))?$/.exec(raw);
        if (m === null) throw new UsageError(`cannot parse "${raw}": expected "put <key> <value>", "delete <key>" or "get <key>"`);
        const [, op, key, value] = m as unknown as [string, 'put' | 'delete' | 'get', string, string | undefined];
        if (op === 'put' && value === undefined) throw new UsageError(`"${raw}": put needs a value`);
        if (op !== 'put' && value !== undefined && value.trim() !== '') throw new UsageError(`"${raw}": ${op} takes only a key`);
        return { op, key, value: value ?? '' };
      });
      const c = await connect(o);
      try {
        const tx = await c.begin();
        for (const { op, key, value } of parsed) {
          if (op === 'put') tx.put(te.encode(key), te.encode(value));
          else if (op === 'delete') tx.delete(te.encode(key));
          else {
            const v = await tx.get(te.encode(key));
            process.stdout.write(v === undefined ? `${key} (not found)\n` : `${key} = ${text(v)}\n`);
          }
        }
        process.stdout.write(`committed at ts ${await tx.commit()}\n`);
      } finally {
        c.close();
      }
    }));

  withConn(p.command('get').description('print the latest value of a key (exit 1 if absent)'))
    .argument('<key>')
    .option('--ts <tso>', 'read as of this TSO instead of now')
    .addHelpText('after', examples(['flashkv get user:1', 'flashkv get user:1 --ts 449012345678901248']))
    .action(action(async (key: string, o: ConnOptions & { ts?: string }) => {
      const c = await connect(o);
      try {
        const ts = o.ts !== undefined ? uint('--ts', o.ts) : await c.getTs();
        const v = await c.get(te.encode(key), ts);
        if (v === undefined) {
          process.stderr.write(`flashkv: key "${key}" not found\n`);
          return 1;
        }
        process.stdout.write(`${text(v)}\n`);
      } finally {
        c.close();
      }
    }));

  withConn(p.command('scan').description('list keys in [start, end) as a table or JSON'))
    .option('--start <key>', 'first key (inclusive)')
    .option('--end <key>', 'end key (exclusive)')
    .option('--limit <n>', 'at most n rows', '100')
    .option('--ts <tso>', 'read as of this TSO instead of now')
    .option('--json', 'print a JSON array of { key, value }')
    .addHelpText('after', examples(['flashkv scan', 'flashkv scan --start user: --end user; --limit 10 --json']))
    .action(action(async (o: ConnOptions & { start?: string; end?: string; limit: string; ts?: string; json?: boolean }) => {
      const limit = Number(uint('--limit', o.limit));
      const c = await connect(o);
      try {
        const ts = o.ts !== undefined ? uint('--ts', o.ts) : await c.getTs();
        const pairs = await c.scan({ ts, ...(o.start !== undefined ? { start: te.encode(o.start) } : {}), ...(o.end !== undefined ? { end: te.encode(o.end) } : {}), ...(limit > 0 ? { limit } : {}) });
        if (o.json === true) process.stdout.write(`${JSON.stringify(pairs.map((kv) => ({ key: text(kv.key), value: text(kv.value) })))}\n`);
        else process.stdout.write(`${table(['KEY', 'VALUE'], pairs.map((kv) => [text(kv.key), text(kv.value)]))}\n(${pairs.length} rows at ts ${ts})\n`);
      } finally {
        c.close();
      }
    }));

  withConn(p.command('tso').description('print a fresh timestamp from the node\'s TSO'))
    .addHelpText('after', examples(['flashkv tso']))
    .action(action(async (o: ConnOptions) => {
      const c = await connect(o);
      try {
        process.stdout.write(`${await c.getTs()}\n`);
      } finally {
        c.close();
      }
    }));

  withConn(p.command('regions').description('list regions (encoded key bounds in hex)'))
    .option('--json', 'print JSON')
    .addHelpText('after', examples(['flashkv regions', 'flashkv regions --json']))
    .action(action(async (o: ConnOptions & { json?: boolean }) => {
      const c = await connect(o);
      try {
        const rs = await c.regions();
        const rows = rs.map((r) => ({
          id: r.id,
          start: hex(r.startKey),
          end: hex(r.endKey),
          version: r.epoch.version,
          confVer: r.epoch.confVer,
          // A peer is id@store, plus the store's gRPC address when the node knows it; * marks the leader.
          peers: r.peers.map((x) => `${x.id}@store${x.storeId}${x.address !== '' ? `(${x.address})` : ''}${x.id === r.leaderPeerId ? '*' : ''}`).join(','),
          leader: r.peers.find((x) => x.id === r.leaderPeerId)?.address ?? '',
          inFlashback: r.inFlashback,
        }));
        if (o.json === true) process.stdout.write(`${JSON.stringify(rows)}\n`);
        else process.stdout.write(`${table(['ID', 'START', 'END', 'EPOCH', 'PEERS', 'FLASHBACK'], rows.map((r) => [String(r.id), r.start || '-inf', r.end || '+inf', `${r.confVer}/${r.version}`, r.peers, r.inFlashback ? 'yes' : 'no']))}\n`);
      } finally {
        c.close();
      }
    }));

  withConn(p.command('split').description('admin: split the region holding <key> at <key> (through raft on a raft node)'))
    .argument('<key>', 'the first key of the new right half (UTF-8)')
    .option('--json', 'print the two halves as JSON')
    .addHelpText('after', examples(['flashkv split user:5000', 'flashkv split order: --json', 'flashkv regions   # see the result']))
    .action(action(async (key: string, o: ConnOptions & { json?: boolean }) => {
      if (key === '') throw new UsageError('split needs a non-empty key');
      const c = await connect(o);
      try {
        const { left, right } = await c.split(te.encode(key));
        const half = (r: typeof left) => ({ id: r.id, start: hex(r.startKey), end: hex(r.endKey), version: r.epoch.version, confVer: r.epoch.confVer });
        if (o.json === true) process.stdout.write(`${JSON.stringify({ left: half(left), right: half(right) })}\n`);
        else process.stdout.write(`split at ${JSON.stringify(key)}: region ${left.id} [${hex(left.startKey) || '-inf'}, ${hex(left.endKey)}) and region ${right.id} [${hex(right.startKey)}, ${hex(right.endKey) || '+inf'}), epoch version ${right.epoch.version}\n`);
      } finally {
        c.close();
      }
    }));

  withConn(p.command('gc-safe-point').description('admin: print the GC safe point, or move it forward with --set (it never moves back)'))
    .option('--set <tso>', 'advance the safe point to this TSO (refused if behind the current one, ahead of the TSO, or while GC is paused)')
    .option('--json', 'print JSON')
    .addHelpText('after', examples(['flashkv gc-safe-point', 'flashkv gc-safe-point --set "$(flashkv tso)"', 'flashkv gc-safe-point --json']))
    .action(action(async (o: ConnOptions & { set?: string; json?: boolean }) => {
      const target = o.set === undefined ? undefined : uint('--set', o.set);
      const c = await connect(o);
      try {
        const g = target === undefined ? await c.gcSafePoint() : await c.updateGcSafePoint(target);
        if (o.json === true) process.stdout.write(`${JSON.stringify({ safePoint: g.safePoint.toString(), paused: g.paused, pausedBy: g.pausedBy })}\n`);
        else process.stdout.write(`${g.safePoint}${g.paused ? ` (GC paused by ${g.pausedBy.join(', ')})` : ''}\n`);
      } finally {
        c.close();
      }
    }));

  withConn(p.command('gc').description("admin: run GC once over every region at --safe-point (default: placement's safe point)"))
    .option('--safe-point <tso>', "collect at this TSO (capped by placement's safe point)")
    .addHelpText('after', examples(['flashkv gc-safe-point --set "$(flashkv tso)" && flashkv gc', 'flashkv gc --safe-point 449012345678901248']))
    .action(action(async (o: ConnOptions & { safePoint?: string }) => {
      const at = o.safePoint === undefined ? 0n : uint('--safe-point', o.safePoint);
      const c = await connect(o);
      try {
        const r = await c.gc(at);
        process.stdout.write(r.paused ? `GC is paused; nothing collected (safe point ${r.safePoint})\n` : `GC at ${r.safePoint}: ${r.keys} keys looked at, ${r.deletedVersions} old versions deleted\n`);
      } finally {
        c.close();
      }
    }));

  withConn(p.command('flashback').description('roll a key range back to how it was at a time or TSO (with --preview: only count what would change)'))
    .option('--to <time>', "local time 'YYYY-MM-DD HH:MM:SS'")
    .option('--to-tso <tso>', 'a TSO, e.g. one `flashkv put` or `flashkv tso` printed')
    .option('--start <key>', 'first key of the range (default: the whole key space)')
    .option('--end <key>', 'end key of the range, exclusive')
    .option('--preview', 'print what would change; change nothing')
    .addOption(new Option('--lock-policy <policy>', 'locks in the range: roll them all back, or commit those whose primary committed').choices(['rollback', 'resolve']))
    .addHelpText('after', examples(["flashkv flashback --to '2026-11-22 05:00:00'", 'flashkv flashback --to-tso 449012345678901248 --start user: --end user;', 'flashkv flashback --to-tso 449012345678901248 --preview', 'flashkv flashback --to-tso 449012345678901248 --lock-policy resolve']))
    .action(action(async (o: ConnOptions & { to?: string; toTso?: string; start?: string; end?: string; preview?: boolean; lockPolicy?: 'rollback' | 'resolve' }) => {
      if ((o.to === undefined) === (o.toTso === undefined)) throw new UsageError('give exactly one of --to <time> and --to-tso <tso>');
      let target: { version: bigint } | { time: Date };
      if (o.toTso !== undefined) target = { version: uint('--to-tso', o.toTso) };
      else {
        // Parsed here so the time is the user's local time, whatever the server's zone.
        const { parseFlashbackTime } = await import('@flashkv/flashback');
        try {
          target = { time: parseFlashbackTime(o.to!) };
        } catch (e) {
          throw new UsageError(e instanceof Error ? e.message : String(e));
        }
      }
      const range = { ...(o.start !== undefined ? { startKey: te.encode(o.start) } : {}), ...(o.end !== undefined ? { endKey: te.encode(o.end) } : {}) };
      const c = await connect(o);
      try {
        if (o.preview === true) {
          const pv = await c.flashbackPreview({ ...target, ...range });
          process.stdout.write(`flashback preview to version ${pv.version} (${pv.regions} regions): ${pv.keysToRewrite} keys to rewrite — ${pv.toUpdate} updated, ${pv.toDelete} deleted, ${pv.toRestore} restored, ${pv.unchanged} unchanged; ${pv.locks} locks to roll back\n`);
          for (const s of pv.sample) process.stdout.write(`  ${s.kind.padEnd(9)} ${text(s.key)}: ${s.current === undefined ? '(none)' : text(s.current)} -> ${s.target === undefined ? '(none)' : text(s.target)}\n`);
          return;
        }
        const { default: cliProgress } = await import('cli-progress');
        const bar = new cliProgress.SingleBar({ format: 'flashback {phase} [{bar}] {value}/{total} region steps | {keys} keys', stream: process.stderr, hideCursor: false }, cliProgress.Presets.shades_classic);
        let started = false;
        const onProgress = (p: RemoteFlashbackProgress) => {
          const payload = { phase: p.phase.padEnd(7), keys: p.keysRewritten };
          if (!started) {
            bar.start(Math.max(1, p.regionsTotal * 2), 0, payload);
            started = true;
          }
          bar.setTotal(Math.max(1, p.regionsTotal * 2));
          bar.update(p.regionsPrepared + p.regionsFinished, payload);
        };
        // Ctrl-C stops watching, not the job: a half-done flashback would leave regions in
        // flashback state, so the server always finishes it.
        const watching = new AbortController();
        const onInt = () => watching.abort();
        process.once('SIGINT', onInt);
        let last: RemoteFlashbackProgress;
        try {
          last = await c.flashback({ ...target, ...range, ...(o.lockPolicy !== undefined ? { lockPolicy: o.lockPolicy } : {}) }, onProgress, watching.signal);
        } catch (e) {
          if (watching.signal.aborted) throw new Error('stopped watching; the flashback continues on the server (flashkv regions shows regions still in flashback)');
          throw e;
        } finally {
          process.off('SIGINT', onInt);
          if (started) bar.stop();
        }
        process.stdout.write(
          `flashback ${last.jobId} done: version ${last.version}, ${last.regionsFinished} regions, ${last.keysRewritten} keys rewritten, ${last.locksRolledBack} locks rolled back, commit ts ${last.commitTs}, ${Math.round(last.elapsedMs)} ms\n`,
        );
      } finally {
        c.close();
      }
    }));

  withConn(p.command('changefeed').description('stream change events from a TSO as JSON lines (stdout, or appended to --out) until Ctrl-C, --until-ts or --max-events'))
    .requiredOption('--start-ts <tso>', 'deliver what committed after this TSO, then live events (0: everything)')
    .option('--start <key>', 'first key of the range (default: the whole key space)')
    .option('--end <key>', 'end key of the range, exclusive')
    .option('--out <file>', 'append the lines to this file instead of stdout')
    .option('--with-old-value', 'add each row\'s previous committed value (oldValue, null when none)')
    .option('--until-ts <tso>', 'stop once the global resolved ts reaches this TSO (every commit at or below it was printed)')
    .option('--max-events <n>', 'stop after n row events (prewrite, commit, committed, rollback; resolved-ts lines do not count)')
    .addHelpText(
      'after',
      examples(['flashkv changefeed --start-ts 0', 'flashkv changefeed --start-ts 449012345678901248 --start user: --end user; --out feed.jsonl', 'flashkv changefeed --start-ts 0 --max-events 100 --with-old-value', 'flashkv changefeed --start-ts "$(flashkv tso)" --until-ts 449012399999999999']) +
        '\nOne JSON object per line: keys and values hex, timestamps decimal strings. A globalResolvedTs\nline is a checkpoint: reopen a stopped feed with --start-ts set to the last one seen.\n',
    )
    .action(action(async (o: ConnOptions & { startTs: string; start?: string; end?: string; out?: string; withOldValue?: boolean; untilTs?: string; maxEvents?: string }) => {
      const startTs = uint('--start-ts', o.startTs);
      const untilTs = o.untilTs !== undefined ? uint('--until-ts', o.untilTs) : undefined;
      const maxEvents = o.maxEvents !== undefined ? Number(uint('--max-events', o.maxEvents)) : undefined;
      if (maxEvents === 0) throw new UsageError('--max-events must be at least 1');
      const { eventToJson } = await import('@flashkv/cdc');
      const c = await connect(o);
      const { createWriteStream } = await import('node:fs');
      const out = o.out !== undefined ? createWriteStream(o.out, { flags: 'a' }) : process.stdout;
      const opened = new Promise<void>((resolve, reject) => {
        if (o.out === undefined) return resolve();
        out.once('open', () => resolve());
        out.once('error', reject);
      });
      // Ctrl-C / SIGTERM end the iteration (cancelling the call, so the server drops the feed);
      // what was printed is flushed and the exit code is 0: stopping a feed is its normal end.
      const stopping = new AbortController();
      let stoppedBy: string | undefined;
      const onSignal = (sig: string) => () => {
        stoppedBy = sig;
        stopping.abort();
      };
      const onInt = onSignal('SIGINT');
      const onTerm = onSignal('SIGTERM');
      process.once('SIGINT', onInt);
      process.once('SIGTERM', onTerm);
      let rows = 0;
      let checkpoint: bigint | undefined;
      try {
        await opened;
        const feed = c.changefeed({ startTs, ...(o.start !== undefined ? { startKey: te.encode(o.start) } : {}), ...(o.end !== undefined ? { endKey: te.encode(o.end) } : {}), withOldValue: o.withOldValue === true }, stopping.signal);
        for await (const e of feed) {
          // Waiting for 'drain' keeps a slow file or pipe from filling memory; the server ends a
          // feed this falls too far behind with CDC_LAGGING rather than dropping events.
          if (!out.write(`${eventToJson(e)}\n`)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
          if (e.type === 'globalResolvedTs') {
            checkpoint = e.ts;
            if (untilTs !== undefined && e.ts >= untilTs) break;
          } else if (e.type !== 'resolvedTs' && maxEvents !== undefined && ++rows >= maxEvents) break;
        }
      } finally {
        process.off('SIGINT', onInt);
        process.off('SIGTERM', onTerm);
        c.close();
        if (o.out !== undefined) await new Promise<void>((resolve) => out.end(() => resolve()));
        else await new Promise<void>((resolve) => out.write('', () => resolve()));
      }
      if (stoppedBy !== undefined) process.stderr.write(`flashkv: changefeed stopped by ${stoppedBy}${checkpoint !== undefined ? `; resume with --start-ts ${checkpoint}` : ''}\n`);
    }));

  p.command('bench')
    .description('run benchmark suites side by side with their anchors (LevelDB, RocksDB, sorted-btree, ...); needs a FlashKV checkout (the @flashkv/bench package)')
    .argument('[suite...]', 'suites to run (default: all; --list shows them)')
    .option('--list', 'list the suites and exit')
    .option('--max-time <s>', 'seconds per benchmark case (BENCH_MAX_TIME)')
    .option('--scale <x>', 'multiply dataset sizes, e.g. 0.1 for a quick look (BENCH_SCALE)')
    .addHelpText('after', examples(['flashkv bench --list', 'flashkv bench codec --scale 0.1', 'flashkv bench engine-lsm txn']) + '\nResults: JSON lines and a Markdown table in bench/results/<suite>.{jsonl,md}.\n')
    .action(action(async (suites: string[], o: { list?: boolean; maxTime?: string; scale?: string }) => {
      const num = (flag: string, v: string | undefined): string | undefined => {
        if (v === undefined) return undefined;
        if (!/^[0-9]*\.?[0-9]+$/.test(v) || Number(v) <= 0) throw new UsageError(`${flag} must be a positive number, got "${v}"`);
        return v;
      };
      const maxTime = num('--max-time', o.maxTime);
      const scale = num('--scale', o.scale);
      let runner: string;
      try {
        runner = fileURLToPath(import.meta.resolve('@flashkv/bench/dist/src/run.js'));
      } catch {
        throw new Error('the benchmark suites are not installed here: run flashkv bench from a FlashKV checkout after npm ci && npm run build');
      }
      if (!existsSync(runner)) throw new Error(`the benchmark runner ${runner} is not built: run npm run build first`);
      const { spawn } = await import('node:child_process');
      const env = { ...process.env, ...(maxTime !== undefined ? { BENCH_MAX_TIME: maxTime } : {}), ...(scale !== undefined ? { BENCH_SCALE: scale } : {}) };
      const args = o.list === true ? ['--list'] : suites;
      return new Promise<number>((resolve, reject) => {
        const child = spawn(process.execPath, [runner, ...args], { stdio: 'inherit', env });
        child.on('error', reject);
        child.on('exit', (code, signal) => resolve(code ?? (signal !== null ? 1 : 0)));
      });
    }));

  return p;
}

await program().parseAsync(process.argv);
