#!/usr/bin/env node
import 'reflect-metadata';
import { mkdirSync } from 'node:fs';
import { LsmEngine } from '@flashkv/engine-lsm';
import type { StorageEngine } from '@flashkv/core';
import { RaftNode } from './net/node.js';
import type { NetAddress } from './net/tcp-transport.js';

/*
 * A raft store as its own process:
 *
 *   node dist/src/node-main.js --store-id 1 --listen 127.0.0.1:7001 \
 *     --peers 1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003 --dir ./data/s1
 *
 * The cluster token comes from FLASHKV_CLUSTER_TOKEN (or --token). Prints one line
 * `READY <storeId> <host>:<port>` on stdout once it listens; SIGTERM/SIGINT stop it cleanly.
 */

const USAGE = `usage: node-main --store-id N --listen host:port --peers id=host:port,... --dir DIR
  [--engine lsm|memory] [--token T | env FLASHKV_CLUSTER_TOKEN] [--tick-ms 100]
  [--election-tick 10] [--heartbeat-tick 1] [--seed N] [--pipeline-at 8] [--lazy-commit-ms 2] [--test-hooks]`;

function parseAddr(s: string): NetAddress {
  const i = s.lastIndexOf(':');
  const port = Number(s.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad address "${s}"`);
  return { host: s.slice(0, i), port };
}

function parseArgs(argv: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument "${a}"`);
    if (a === '--test-hooks' || a === '--help') out.set(a.slice(2), 'true');
    else {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      out.set(a.slice(2), v);
    }
  }
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.has('help')) {
    console.log(USAGE);
    return;
  }
  const need = (k: string): string => {
    const v = args.get(k);
    if (v === undefined) throw new Error(`--${k} is required\n${USAGE}`);
    return v;
  };
  const storeId = Number(need('store-id'));
  const listen = parseAddr(need('listen'));
  const peers = new Map<number, NetAddress>();
  for (const part of need('peers').split(',')) {
    const [id, addr] = part.split('=');
    peers.set(Number(id), parseAddr(addr ?? ''));
  }
  const token = args.get('token') ?? process.env['FLASHKV_CLUSTER_TOKEN'];
  if (!token) throw new Error('a cluster token is required (FLASHKV_CLUSTER_TOKEN or --token)');
  const engineName = args.get('engine') ?? 'lsm';
  let engine: StorageEngine;
  if (engineName === 'lsm') {
    const dir = need('dir');
    mkdirSync(dir, { recursive: true });
    engine = await LsmEngine.open({ dir });
  } else if (engineName === 'memory') {
    const { ReferenceEngine } = await import('@flashkv/core/testing');
    engine = new ReferenceEngine();
  } else throw new Error(`unknown engine "${engineName}"`);
  const num = (k: string): number | undefined => (args.has(k) ? Number(args.get(k)) : undefined);
  const electionTick = num('election-tick');
  const heartbeatTick = num('heartbeat-tick');
  const tickMs = num('tick-ms');
  const seed = num('seed');
  const pipelineAt = num('pipeline-at');
  const lazyCommitMs = num('lazy-commit-ms');
  const node = await RaftNode.start({
    storeId,
    listen,
    peers,
    token,
    engine,
    ...(electionTick !== undefined || heartbeatTick !== undefined
      ? { raft: { ...(electionTick !== undefined ? { electionTick } : {}), ...(heartbeatTick !== undefined ? { heartbeatTick } : {}) } }
      : {}),
    ...(tickMs !== undefined ? { tickMs } : {}),
    ...(seed !== undefined ? { seed } : {}),
    ...(pipelineAt !== undefined ? { pipelineAt } : {}),
    ...(lazyCommitMs !== undefined ? { lazyCommitMs } : {}),
    testHooks: args.has('test-hooks'),
  });
  const a = node.address();
  process.stdout.write(`READY ${storeId} ${a.host}:${a.port}\n`);
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await node.stop();
    await (engine as { close?: () => Promise<void> }).close?.();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
