import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { defaultTxnPlugins, isKvError, Kernel, type KvErrorCode } from '@flashkv/core';
import { memoryEngine } from '@flashkv/engine-memory';
import { flashback } from '@flashkv/flashback';
import { cdc, type CdcPluginOptions } from '@flashkv/cdc';
import { FlashKvClient, SERVER, server } from '../src/index.js';

export const TOKEN = 'test-token-7f3a';
export const te = new TextEncoder();
export const td = new TextDecoder();
export const b = (s: string): Uint8Array => te.encode(s);
export const s = (u: Uint8Array | undefined): string | undefined => (u === undefined ? undefined : td.decode(u));

export interface Node {
  readonly kernel: Kernel;
  readonly endpoint: string;
  client(token?: string): FlashKvClient;
  stop(): Promise<void>;
}

/** A memory-engine node with flashback (and CDC when `cdc` is given) and the server on 127.0.0.1, port 0. */
export async function mustStartNode(options: { maxMessageBytes?: number; withFlashback?: boolean; metricsListen?: string; cdc?: CdcPluginOptions } = {}): Promise<Node> {
  const kernel = await Kernel.start({
    plugins: [
      memoryEngine(),
      ...defaultTxnPlugins(),
      ...(options.withFlashback === false ? [] : [flashback({ resumeOnStart: false })]),
      ...(options.cdc !== undefined ? [cdc(options.cdc)] : []),
      server({ listen: '127.0.0.1:0', token: TOKEN, shutdownGraceMs: 2000, ...(options.maxMessageBytes !== undefined ? { maxMessageBytes: options.maxMessageBytes } : {}), ...(options.metricsListen !== undefined ? { metricsListen: options.metricsListen } : {}) }),
    ],
  });
  const endpoint = kernel.resolve(SERVER).address;
  if (endpoint === undefined) throw new Error('server did not report its address');
  const clients: FlashKvClient[] = [];
  return {
    kernel,
    endpoint,
    client(token = TOKEN) {
      const c = new FlashKvClient({ endpoint, token, deadlineMs: 10_000 });
      clients.push(c);
      return c;
    },
    async stop() {
      for (const c of clients) c.close();
      await kernel.stop();
    },
  };
}

/** Resolves the rejection of `p`, or throws when it resolved. */
export async function mustReject(p: Promise<unknown>): Promise<Error & { code?: unknown }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { code?: unknown };
  }
  throw new Error('expected a rejection, got a result');
}

/** The call failed with gRPC `status` and (when given) KvError `code`. */
export async function mustFailWith(p: Promise<unknown>, status: grpc.status, code?: KvErrorCode): Promise<Error> {
  const e = await mustReject(p);
  const got = isKvError(e) ? (e.details['grpcStatus'] as number) : (e as grpc.ServiceError).code;
  if (got !== status) throw new Error(`expected gRPC status ${grpc.status[status]}, got ${String(grpc.status[got as number] ?? got)}: ${e.message}`);
  if (code !== undefined && !isKvError(e, code)) throw new Error(`expected KvError ${code}, got ${isKvError(e) ? e.code : 'no KvError'}: ${e.message}`);
  return e;
}

/** Spawns `node <script> ...args` (`script` next to this file in dist/test) and resolves its first stdout line. */
export async function spawnLine(script: string, args: string[], stderr?: string[]): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(process.execPath, [fileURLToPath(new URL(script, import.meta.url)), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.on('data', (d: Buffer) => stderr?.push(d.toString()));
  let buf = '';
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} printed no line in 20 s; stderr: ${stderr?.join('')}`)), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(buf.slice(0, nl));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited ${code} before printing; stderr: ${stderr?.join('')}`));
    });
  });
  return { child, line };
}
